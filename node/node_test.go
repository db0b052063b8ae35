package node

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"valise/adminapi"
	"valise/certstore"
	"valise/internal/poll"
)

// fastRaft elects a one-node cluster quickly.
var fastRaft = RaftConfig{
	HeartbeatTimeout:   100 * time.Millisecond,
	ElectionTimeout:    100 * time.Millisecond,
	LeaderLeaseTimeout: 50 * time.Millisecond,
	CommitTimeout:      10 * time.Millisecond,
	SnapshotThreshold:  8192,
}

// shortDir returns a directory with a short path, for Unix sockets.
func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "vn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// serveLeader runs a node of cfg in process until the returned stop, once it leads (its
// admin socket answers through c).
func serveLeader(t *testing.T, cfg Config, c *adminapi.Client) (*instance, func()) {
	t.Helper()
	n, err := newInstance(cfg, t.Output())
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.run(runCtx) }()
	poll.UntilNil(t, "the node serving", func() error {
		st, err := c.Status(runCtx)
		if err != nil {
			return err
		}
		if st.Raft.State != "Leader" {
			return errors.New(st.Raft.State)
		}
		return nil
	})
	return n, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}
}

// TestInitRun initialises a node in process, serves it, and drives it through its admin socket:
// status, selftest, settings, users, journal; then stops it and serves it again.
func TestInitRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	sock := filepath.Join(shortDir(t), "a.sock")
	ctx := context.Background()
	res, err := Init(ctx, InitOptions{
		DataDir: dir, Disks: 3, AdminEmail: "root@example.org",
		Listen: "127.0.0.1:0", ClusterListen: "127.0.0.1:0", AdminSocket: sock, Raft: &fastRaft,
		Settings: map[string]string{"branding.name": "Test"}, Domains: []string{"example.org"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.AdminPassword == "" || !strings.HasPrefix(res.CAFingerprint, "SHA256:") {
		t.Fatalf("init result %+v", res)
	}
	if len(res.CAPermitted) < 2 || res.CAPermitted[0] != "localhost" || res.CAPermitted[1] != "example.org" {
		t.Fatalf("init's CA permits %q: want localhost, example.org, then the private ranges", res.CAPermitted)
	}
	if len(res.CANotPermitted) != 0 {
		t.Fatalf("init says %q are outside the CA's constraints: the node listens on 127.0.0.1", res.CANotPermitted)
	}
	t.Run("init refuses a non-empty directory", func(t *testing.T) {
		_, err := Init(ctx, InitOptions{DataDir: dir, Disks: 1, AdminEmail: "a@example.org", Listen: "127.0.0.1:0", ClusterListen: "127.0.0.1:0"})
		if !errors.Is(err, ErrNotEmpty) {
			t.Fatalf("second Init = %v, want ErrNotEmpty", err)
		}
	})
	t.Run("init cleans up after a failure", func(t *testing.T) {
		d := filepath.Join(t.TempDir(), "bad")
		_, err := Init(ctx, InitOptions{DataDir: d, Disks: 1, AdminEmail: "not an address", Listen: "127.0.0.1:0", ClusterListen: "127.0.0.1:0", Raft: &fastRaft})
		if err == nil {
			t.Fatal("Init accepted a bad administrator e-mail")
		}
		if _, serr := os.Stat(d); !os.IsNotExist(serr) {
			t.Fatalf("a failed init left %s behind (%v)", d, serr)
		}
	})

	cfg, err := LoadConfig(filepath.Join(dir, ConfigFileName), dir)
	if err != nil {
		t.Fatal(err)
	}
	c := adminapi.NewClient(sock)
	defer c.Close()

	serve := func(t *testing.T) (n *instance, stop func()) { return serveLeader(t, cfg, c) }

	served1, stop := serve(t)
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Disks) != 3 || !st.Journal.Verified || st.Node.Addresses.HTTPS == "" || strings.HasSuffix(st.Node.Addresses.HTTPS, ":0") {
		t.Fatalf("status %+v", st)
	}
	var served *x509.Certificate
	t.Run("certificate from certmagic", func(t *testing.T) {
		served = servedCert(t, dir, st.Node.Addresses.HTTPS)
	})
	t.Run("shard server answers", func(t *testing.T) { checkShardServer(t, served1) })
	t.Run("a second run is refused", func(t *testing.T) {
		c2 := cfg
		c2.Network.AdminSocket = filepath.Join(shortDir(t), "b.sock")
		if err := run(ctx, c2, t.Output()); !errors.Is(err, ErrRunning) {
			t.Fatalf("second Run = %v, want ErrRunning", err)
		}
	})
	var kept string
	t.Run("selftest", func(t *testing.T) {
		var steps []string
		r, err := c.Selftest(ctx, adminapi.SelftestRequest{Size: 3<<20 + 12345, Keep: true}, func(s adminapi.SelftestStep) { steps = append(steps, s.Name) })
		if err != nil || !r.OK {
			t.Fatalf("selftest = %+v, %v", r, err)
		}
		if strings.Join(steps, ",") != "write,commit,read" {
			t.Fatalf("steps %v", steps)
		}
		kept = r.ID
	})
	t.Run("settings", func(t *testing.T) {
		s, err := c.Setting(ctx, "branding.name")
		if err != nil || s.Value != "Test" || !s.Set {
			t.Fatalf("seeded setting = %+v, %v", s, err)
		}
		if _, err := c.SetSetting(ctx, "smtp.password", "hunter2"); err != nil {
			t.Fatal(err)
		}
		s, err = c.Setting(ctx, "smtp.password")
		if err != nil || s.Value != "(set)" {
			t.Fatalf("secret setting shown as %+v, %v", s, err)
		}
		var e *adminapi.Error
		if _, err := c.SetSetting(ctx, "smtp.port", "x"); !errors.As(err, &e) || e.Code != adminapi.CodeInvalidValue {
			t.Fatalf("bad value: %v", err)
		}
	})
	var password string
	t.Run("users", func(t *testing.T) {
		u, err := c.AddUser(ctx, adminapi.UserAddRequest{Email: "bob@example.org", Role: "manager", Lang: "en"})
		if err != nil || u.Role != "manager" || u.Password == "" {
			t.Fatalf("add = %+v, %v", u, err)
		}
		password = u.Password
		if ok, err := c.CheckPassword(ctx, "bob@example.org", password); err != nil || !ok {
			t.Fatalf("check = %v, %v", ok, err)
		}
		if ok, err := c.CheckPassword(ctx, "root@example.org", res.AdminPassword); err != nil || !ok {
			t.Fatalf("admin check = %v, %v", ok, err)
		}
	})
	t.Run("disable enable and tokens", func(t *testing.T) {
		tok, err := c.CreateToken(ctx, adminapi.TokenCreateRequest{Email: "bob@example.org"})
		if err != nil || !strings.HasPrefix(tok.Token, "vls_") || tok.ID == "" {
			t.Fatalf("token create = %+v, %v", tok, err)
		}
		if u, err := c.SetUserDisabled(ctx, "bob@example.org", true); err != nil || !u.Disabled {
			t.Fatalf("disable = %+v, %v", u, err)
		}
		if ok, err := c.CheckPassword(ctx, "bob@example.org", password); err != nil || ok {
			t.Fatalf("a disabled user's password check = %v, %v", ok, err)
		}
		var e *adminapi.Error
		if _, err := c.CreateToken(ctx, adminapi.TokenCreateRequest{Email: "bob@example.org"}); !errors.As(err, &e) || e.Code != adminapi.CodeConflict {
			t.Fatalf("token for a disabled user: %v, want conflict", err)
		}
		if u, err := c.SetUserDisabled(ctx, "bob@example.org", false); err != nil || u.Disabled {
			t.Fatalf("enable = %+v, %v", u, err)
		}
		if ok, err := c.CheckPassword(ctx, "bob@example.org", password); err != nil || !ok {
			t.Fatalf("an enabled user's password check = %v, %v", ok, err)
		}
		if err := c.RevokeToken(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
		if err := c.RevokeToken(ctx, tok.ID); !errors.As(err, &e) || e.Code != adminapi.CodeNotFound {
			t.Fatalf("second revoke: %v, want not_found", err)
		}
		if _, err := c.SetUserDisabled(ctx, "nobody@example.org", true); !errors.As(err, &e) || e.Code != adminapi.CodeNotFound {
			t.Fatalf("disable an unknown user: %v, want not_found", err)
		}
	})
	t.Run("outbox empty", func(t *testing.T) {
		o, err := c.Outbox(ctx)
		if err != nil || len(o.Mails) != 0 {
			t.Fatalf("outbox = %+v, %v", o, err)
		}
	})
	t.Run("default deny", func(t *testing.T) {
		checkDefaultDeny(t, dir, st.Node.Addresses.HTTPS)
	})
	t.Run("web UI branding", func(t *testing.T) {
		checkWebBranding(t, c, dir, st.Node.Addresses.HTTPS, "Test")
	})
	t.Run("scanner", func(t *testing.T) {
		st, err := c.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sc := st.Scanner
		if !sc.Private || !strings.HasPrefix(sc.Address, "unix:") {
			t.Fatalf("scanner %+v: want the private clamd", sc)
		}
		if !sc.Running {
			if os.Getenv("VALISE_REQUIRE_ALL") == "1" {
				t.Fatalf("clamd not running: %s", sc.Reason)
			}
			t.Skipf("clamd not running: %s", sc.Reason)
		}
		if sc.Version == "" || sc.Reason != "" {
			t.Fatalf("scanner %+v", sc)
		}
		if !hasOfficialClamDB(officialClamDB) && !sc.TestSignaturesOnly {
			t.Fatalf("scanner %+v: no official database, want test_signatures_only", sc)
		}
		// issue 16 item 7: status says how to install real signatures offline.
		if sc.TestSignaturesOnly && (!strings.Contains(sc.Advice, "clamd.database_mirror") || !strings.Contains(sc.Advice, ".cvd")) {
			t.Fatalf("scanner %+v: test signatures only, with no advice on real ones", sc)
		}
	})
	t.Run("certificate for a new public_url host", func(t *testing.T) {
		if _, err := c.SetSetting(ctx, "public_url", "https://Files.Example.org:8443"); err != nil {
			t.Fatal(err)
		}
		poll.UntilNil(t, "a certificate for files.example.org", func() error {
			_, err := dialCert(t, dir, st.Node.Addresses.HTTPS, "files.example.org")
			return err
		})
	})
	// issue 17 item 4: each public_url change built another API handler, and the node kept
	// every one until it stopped. The one handler now takes each new URL.
	t.Run("public_url changes keep one API handler", func(t *testing.T) {
		h := served1.api.h.Load()
		if h == nil {
			t.Fatal("no API handler mounted")
		}
		for i := range 100 {
			pub := fmt.Sprintf("https://files.example.org:%d", 9000+i)
			if _, err := c.SetSetting(ctx, "public_url", pub); err != nil {
				t.Fatal(err)
			}
			if served1.api.h.Load() != h {
				t.Fatalf("change %d mounted another API handler", i)
			}
			if got := h.PublicURL(); got != pub {
				t.Fatalf("change %d: the API's links use %s, want %s", i, got, pub)
			}
		}
	})
	stop()

	// A restart keeps metadata, shards and certificates.
	_, stop = serve(t)
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()
	t.Run("certificate loaded from the metadata", func(t *testing.T) {
		st, err := c.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		again := servedCert(t, dir, st.Node.Addresses.HTTPS)
		if served != nil && !again.Equal(served) {
			t.Fatalf("after a restart the node serves another certificate (serial %v, was %v): want the stored one", again.SerialNumber, served.SerialNumber)
		}
	})
	if ok, err := c.CheckPassword(ctx, "bob@example.org", password); err != nil || !ok {
		t.Fatalf("check after restart = %v, %v", ok, err)
	}
	r, err := c.Selftest(ctx, adminapi.SelftestRequest{VerifyID: kept}, nil)
	if err != nil || !r.OK || r.Size != 3<<20+12345 {
		t.Fatalf("verify kept selftest after restart = %+v, %v", r, err)
	}
	rep, err := c.VerifyJournal(ctx)
	if err != nil || !rep.OK || rep.Entries < 5 {
		t.Fatalf("journal = %+v, %v", rep, err)
	}
	stop()
	stopped = true
	t.Run("certificate stored in the metadata", func(t *testing.T) {
		stored, names := storedManagedCert(t, cfg)
		if served != nil && !stored.Equal(served) {
			t.Fatalf("the stored certificate (serial %v) is not the one served (serial %v)", stored.SerialNumber, served.SerialNumber)
		}
		for _, name := range []string{"localhost", "files.example.org"} {
			if want := "certificates/" + certstore.IssuerKey + "/" + name; !slices.Contains(names, want) {
				t.Errorf("stored certificates %q: want %s too", names, want)
			}
		}
	})
}
