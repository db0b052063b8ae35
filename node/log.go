package node

import (
	"io"
	"log/slog"

	"valise/internal/logkey"
)

// Log attribute keys used by the node.
const (
	logNodeID = logkey.NodeID
	logAddr   = logkey.Addr
	logDisk   = logkey.Disk
	logFileID = logkey.FileID
	logSendID = logkey.SendID
	logStep   = logkey.Step
)

// newLogger returns the node's logger, writing to w as cfg says.
func newLogger(cfg LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	switch cfg.Level {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
