package adminapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestAllowed pins what each role may do (issue 20): a manager reads everything and acts on
// users, tokens and transfers only.
func TestAllowed(t *testing.T) {
	for _, tc := range []struct {
		name, role, method, path string
		want                     bool
	}{
		{"supervisor sets a setting", RoleSupervisor, http.MethodPut, PathSettings + "/branding.name", true},
		{"supervisor issues a certificate", RoleSupervisor, http.MethodPost, PathAdminCerts, true},
		{"manager reads status", RoleManager, http.MethodGet, PathStatus, true},
		{"manager reads settings", RoleManager, http.MethodGet, PathSettings, true},
		{"manager sets a setting", RoleManager, http.MethodPut, PathSettings + "/branding.name", false},
		{"manager adds a user", RoleManager, http.MethodPost, PathUsers, true},
		{"manager edits a user", RoleManager, http.MethodPatch, PathUser + "/a%40example.org", true},
		{"manager imports users", RoleManager, http.MethodPost, PathUserImport, true},
		{"manager disables a user", RoleManager, http.MethodPost, PathUserDisable, true},
		{"manager checks a password", RoleManager, http.MethodPost, PathPasswordCheck, true},
		{"manager revokes a token", RoleManager, http.MethodDelete, PathTokens + "/t1", true},
		{"manager revokes a transfer", RoleManager, http.MethodPost, PathTransfers + "/s1" + PathTransferRevokeSuffix, true},
		{"manager verifies the journal", RoleManager, http.MethodPost, PathJournalVerify, true},
		{"manager runs a selftest", RoleManager, http.MethodPost, PathSelftest, false},
		{"manager issues a certificate", RoleManager, http.MethodPost, PathAdminCerts, false},
		{"manager revokes a certificate", RoleManager, http.MethodDelete, PathAdminCerts + "/bob", false},
		{"manager heals", RoleManager, http.MethodPost, PathHeal, false},
		{"manager under a look-alike prefix", RoleManager, http.MethodPost, PathUsers + "x", false},
		{"no role", "", http.MethodGet, PathStatus, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Allowed(tc.role, tc.method, tc.path); got != tc.want {
				t.Fatalf("Allowed(%q, %s %s) = %v, want %v", tc.role, tc.method, tc.path, got, tc.want)
			}
		})
	}
}

// callerService records the caller of its Status calls.
type callerService struct {
	stubService
	got chan Caller
}

func (s callerService) Status(ctx context.Context) (Status, error) {
	c, _ := CallerFrom(ctx)
	s.got <- c
	return s.stubService.Status(ctx)
}

// TestSocketCallerFromPeerCredentials: over the Unix socket, with ConnContext, the caller is
// the peer process's uid (SO_PEERCRED): this test's own.
func TestSocketCallerFromPeerCredentials(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "a.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	svc := callerService{got: make(chan Caller, 1)}
	srv := &http.Server{Handler: NewHandler(svc, slog.New(slog.DiscardHandler)), ReadHeaderTimeout: 5 * time.Second, ConnContext: ConnContext}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
	c := NewClient(sock)
	defer c.Close()
	if _, err := c.Status(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := <-svc.got
	want := fmt.Sprintf("local administrator (uid %d)", os.Getuid())
	if got.Actor() != want || got.Role != RoleSupervisor {
		t.Fatalf("caller %+v (%q), want %q, a supervisor", got, got.Actor(), want)
	}
}

// TestTCPWithoutTLSRefused: the handler never serves a caller it cannot name (plain TCP).
func TestTCPWithoutTLSRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: NewHandler(stubService{}, slog.New(slog.DiscardHandler)), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
	resp, err := http.Get("http://" + ln.Addr().String() + PathStatus)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d over plain TCP, want 403", resp.StatusCode)
	}
}

// TestTLSClientNotRunning: nothing listening at the admin URL is ErrNotRunning, as for the
// socket; a refusal of the certificate at a request is ErrCertRefused.
func TestTLSClientNotRunning(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := &Client{base: "https://" + addr, hc: &http.Client{}}
	if _, err := c.Status(context.Background()); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Status with nothing listening = %v, want ErrNotRunning", err)
	}
	if err := error(Errorf(CodeForbidden, "%s", MsgCertRefused)); !errors.Is(err, ErrCertRefused) {
		t.Fatal("a forbidden answer refusing the certificate is not ErrCertRefused")
	}
	if _, err := NewTLSClient("http://"+addr, t.TempDir()); err == nil {
		t.Fatal("NewTLSClient accepted an http:// URL")
	}
}
