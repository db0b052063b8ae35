package raftfsm

import (
	"context"
	"io"
	"log/slog"

	"github.com/hashicorp/go-hclog"

	"valise/internal/logkey"
)

// Log attribute keys of the package.
const (
	attrComponent   = logkey.Component
	attrNodeID      = logkey.NodeID
	attrDir         = logkey.Dir
	attrErr         = logkey.Err
	attrApplied     = logkey.Applied
	attrSnapApplied = logkey.SnapshotApplied
	attrSnapshot    = logkey.Snapshot
	attrRecords     = logkey.Records
	attrJournalSeq  = logkey.JournalSeq
	attrTook        = logkey.Took
	attrRaftLogger  = logkey.RaftLogger
	attrAddr        = logkey.Addr
	attrFailures    = logkey.Failures
)

// hclogSink forwards hashicorp/raft's hclog records at or above min to a slog.Logger.
type hclogSink struct {
	l   *slog.Logger
	min hclog.Level
}

// Accept implements hclog.SinkAdapter.
func (s hclogSink) Accept(name string, level hclog.Level, msg string, args ...any) {
	if level < s.min || level == hclog.Off {
		return
	}
	var lvl slog.Level
	switch {
	case level >= hclog.Error:
		lvl = slog.LevelError
	case level >= hclog.Warn:
		lvl = slog.LevelWarn
	case level >= hclog.Info:
		lvl = slog.LevelInfo
	default:
		lvl = slog.LevelDebug
	}
	if lvl == slog.LevelWarn && firstElection(msg, args) {
		lvl = slog.LevelInfo // every start has one: not worth an operator's attention
	}
	if !s.l.Enabled(context.Background(), lvl) {
		return
	}
	if name != "" {
		args = append(args, attrRaftLogger, name)
	}
	s.l.Log(context.Background(), lvl, msg, args...)
}

// firstElection reports raft's warning that it starts an election when no leader was ever
// known to this node (last-leader-id empty): what every node does once after it starts.
func firstElection(msg string, args []any) bool {
	if msg != "heartbeat timeout reached, starting election" {
		return false
	}
	for i := 0; i+1 < len(args); i += 2 {
		if k, _ := args[i].(string); k == "last-leader-id" {
			v, _ := args[i+1].(string)
			return v == ""
		}
	}
	return false
}

// newRaftLogger returns an hclog.Logger for raft that writes nothing itself and hands every
// record at or above min to logger.
func newRaftLogger(logger *slog.Logger, min hclog.Level) hclog.Logger {
	l := hclog.NewInterceptLogger(&hclog.LoggerOptions{
		Name:   "raft",
		Output: io.Discard,
		Level:  min,
	})
	l.RegisterSink(hclogSink{l: logger, min: min})
	return l
}
