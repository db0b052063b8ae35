package raftfsm

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestRaftLoggerToSlog(t *testing.T) {
	var buf syncBuffer
	l := newRaftLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), hclog.Warn)
	l.Info("chatty", "k", 1)
	l.Named("snapshots").Warn("heartbeat timeout reached", "peer", "n2")
	l.Error("boom", "error", "disk")
	l.Warn("heartbeat timeout reached, starting election", "last-leader-addr", "", "last-leader-id", "")
	l.Warn("heartbeat timeout reached, starting election", "last-leader-addr", "a:1", "last-leader-id", "n1")
	out := buf.String()
	for _, tc := range []struct {
		name, want string
		present    bool
	}{
		{"info dropped", "chatty", false},
		{"warn kept with its args", `level=WARN msg="heartbeat timeout reached" peer=n2`, true},
		{"logger name kept", "raft_logger=raft.snapshots", true},
		{"error kept", `level=ERROR msg=boom error=disk`, true},
		{"first election after start told as info", `level=INFO msg="heartbeat timeout reached, starting election" last-leader-addr="" last-leader-id=""`, true},
		{"election after losing a leader kept as warn", `level=WARN msg="heartbeat timeout reached, starting election" last-leader-addr=a:1 last-leader-id=n1`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Contains(out, tc.want) != tc.present {
				t.Fatalf("output %q: contains %q = %v, want %v", out, tc.want, !tc.present, tc.present)
			}
		})
	}
}
