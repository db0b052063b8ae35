package adminapi

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TestWhileStarting: every call, a known route or not, is CodeUnavailable until the node
// serves, then reaches the Service (issue 17 item 4: moved from node, which wrote the admin
// API's answer itself).
func TestWhileStarting(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "a.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var serving atomic.Bool
	srv := &http.Server{
		Handler:           WhileStarting(serving.Load, NewHandler(stubService{}, slog.New(slog.DiscardHandler))),
		ReadHeaderTimeout: 5 * time.Second,
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
	c := NewClient(sock)
	t.Cleanup(c.Close)
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"status", func() error { _, err := c.Status(ctx); return err }},
		{"set setting", func() error { _, err := c.SetSetting(ctx, "public_url", "https://y"); return err }},
		{"revoke token", func() error { return c.RevokeToken(ctx, "t1") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			serving.Store(false)
			var e *Error
			if err := tc.call(); !errors.As(err, &e) || e.Code != CodeUnavailable {
				t.Fatalf("while starting: %v, want %s", err, CodeUnavailable)
			}
			serving.Store(true)
			if err := tc.call(); err != nil {
				t.Fatalf("once serving: %v", err)
			}
		})
	}
}
