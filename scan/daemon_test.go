package scan

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"valise/internal/poll"
)

func TestDaemonStatusTestSignatures(t *testing.T) {
	realClamd(t)
	st := shared.daemon.Status()
	if !st.Running || st.Reason != "" {
		t.Fatalf("status %+v, want running", st)
	}
	if !st.TestSignaturesOnly {
		t.Fatal("TestSignaturesOnly false with no official database")
	}
	if st.DBAge < 0 || st.DBAge > time.Hour {
		t.Fatalf("database age %v", st.DBAge)
	}
	if !strings.HasPrefix(st.Version, "ClamAV ") {
		t.Fatalf("version %q", st.Version)
	}
	if st.PID == 0 || len(st.Socket) > maxSocketPath {
		t.Fatalf("pid %d socket %q", st.PID, st.Socket)
	}
}

func TestDaemonConfigFile(t *testing.T) {
	realClamd(t)
	d := shared.daemon
	conf, err := os.ReadFile(d.conf)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"AlertExceedsMax yes", "Foreground yes", "TemporaryDirectory " + d.tmp,
		"StreamMaxLength 1048576", "MaxFileSize 1048576", "MaxScanSize 1048576",
	} {
		if !strings.Contains(string(conf), want+"\n") {
			t.Errorf("clamd.conf lacks %q:\n%s", want, conf)
		}
	}
	if strings.Contains(string(conf), "LogFile") {
		t.Error("clamd.conf sets a LogFile")
	}
	info, err := os.Stat(d.tmp)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o700 {
		t.Fatalf("temporary directory mode %v, want 0700", info.Mode().Perm())
	}
}

func TestDaemonDefaultLimits(t *testing.T) {
	cfg := DefaultDaemonConfig()
	cfg.Dir = t.TempDir()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	d, err := NewDaemon(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	conf := d.config()
	for _, want := range []string{"StreamMaxLength 2147483647", "MaxFileSize 2147483647", "MaxScanSize 2147483647", "AlertExceedsMax yes"} {
		if !strings.Contains(conf, want+"\n") {
			t.Errorf("default clamd.conf lacks %q", want)
		}
	}
}

func TestDaemonRestartsAfterKill(t *testing.T) {
	realClamd(t) // clamd is installed
	// A data directory deep enough that the socket must move to the temporary directory.
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 60), strings.Repeat("e", 60))
	cfg := DefaultDaemonConfig()
	cfg.Dir = dir
	cfg.StreamMaxLength = testLimit
	cfg.RestartMin = 20 * time.Millisecond
	cfg.RestartMax = 100 * time.Millisecond
	cfg.StartTimeout = 3 * time.Minute
	d, err := NewDaemon(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := d.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	st := d.Status()
	if !strings.HasPrefix(st.Socket, os.TempDir()) || len(st.Socket) > maxSocketPath {
		t.Fatalf("socket %q for a long data directory", st.Socket)
	}
	pid := st.PID
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	poll.UntilNil(t, "clamd restarted after kill -9", func() error {
		if s := d.Status(); !s.Running || s.Restarts < 1 || s.PID == pid {
			return errors.New(s.Reason)
		}
		return nil
	})
	if v, err := d.Client().Scan(ctx, strings.NewReader(string(EICAR()))); err != nil || v.Kind != KindInfected {
		t.Fatalf("scan after restart = %v, %v", v, err)
	}
	newPID := d.Status().PID
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(newPID, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("clamd %d still there after Close: %v", newPID, err)
	}
	if _, err := os.Stat(filepath.Dir(st.Socket)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket directory left behind: %v", err)
	}
	if s := d.Status(); s.Running {
		t.Fatalf("status after Close %+v", s)
	}
}

func TestDaemonMissingBinary(t *testing.T) {
	cfg := DefaultDaemonConfig()
	cfg.Dir = t.TempDir()
	cfg.Binary = filepath.Join(t.TempDir(), "no-clamd")
	d, err := NewDaemon(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Start(context.Background()); err == nil {
		t.Fatal("Start succeeded without clamd")
	}
	st := d.Status()
	if st.Running || !strings.Contains(st.Reason, "clamd not found") {
		t.Fatalf("status %+v, want not running and why", st)
	}
}

func TestDaemonBrokenDatabaseKeepsTrying(t *testing.T) {
	realClamd(t)
	cfg := DefaultDaemonConfig()
	cfg.Dir = t.TempDir()
	cfg.RestartMin = 10 * time.Millisecond
	cfg.RestartMax = 50 * time.Millisecond
	cfg.StartTimeout = 3 * time.Minute
	cfg.DatabaseDir = filepath.Join(cfg.Dir, "db")
	if err := os.MkdirAll(cfg.DatabaseDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.DatabaseDir, "broken.ndb"), []byte("not a signature\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := NewDaemon(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Start(context.Background()); err == nil {
		t.Fatal("Start succeeded with a broken database")
	}
	poll.Until(t, "restart attempts", func() bool { return d.Status().Restarts >= 2 })
	if st := d.Status(); st.Running || st.Reason == "" {
		t.Fatalf("status %+v, want not running and why", st)
	}
}

func TestPrepareDatabase(t *testing.T) {
	for _, tc := range []struct {
		name     string
		files    []string
		testOnly bool
	}{
		{"empty directory", nil, true},
		{"unofficial database only", []string{"local.ndb"}, true},
		{"official cvd", []string{"main.cvd"}, false},
		{"official cld", []string{"daily.cld"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			// A test signature left from a run without the official database.
			if err := os.WriteFile(filepath.Join(dir, TestSignatureFile), []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, f := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			testOnly, newest, err := prepareDatabase(dir)
			if err != nil {
				t.Fatal(err)
			}
			if testOnly != tc.testOnly || newest.IsZero() {
				t.Fatalf("testOnly %v newest %v", testOnly, newest)
			}
			b, err := os.ReadFile(filepath.Join(dir, TestSignatureFile))
			if tc.testOnly && (err != nil || !strings.HasPrefix(string(b), "Valise.Test.EICAR:0:*:")) {
				t.Fatalf("test signature %q, %v", b, err)
			}
			if !tc.testOnly && !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("test signature kept beside the official database: %v", err)
			}
		})
	}
}

func TestDaemonConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*DaemonConfig)
	}{
		{"no dir", func(c *DaemonConfig) { c.Dir = "" }},
		{"limit beyond 2 GiB - 1", func(c *DaemonConfig) { c.StreamMaxLength = StreamLimit + 1 }},
		{"zero threads", func(c *DaemonConfig) { c.MaxThreads = -1 }},
		{"backoff max below min", func(c *DaemonConfig) { c.RestartMin, c.RestartMax = time.Minute, time.Second }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultDaemonConfig()
			cfg.Dir = "/x"
			tc.mod(&cfg)
			if err := cfg.Validate(); err == nil {
				t.Fatal("Validate accepted it")
			}
		})
	}
}

func TestDatabaseAgeFromHeader(t *testing.T) {
	dir := t.TempDir()
	built := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	head := fmt.Sprintf("ClamAV-VDB:20 Nov 2026 08-00 +0000:27466:2070000:90:0123:sig:builder:%d", built.Unix())
	head += strings.Repeat(" ", cvdHeaderSize-len(head))
	if err := os.WriteFile(filepath.Join(dir, "daily.cvd"), []byte(head+"body"), 0o644); err != nil {
		t.Fatal(err)
	}
	testOnly, newest, err := prepareDatabase(dir)
	if err != nil || testOnly || !newest.Equal(built) {
		t.Fatalf("prepareDatabase = %v, %v, %v; want the header's build time %v", testOnly, newest, err, built)
	}
}

func FuzzParseCVDHeader(f *testing.F) {
	f.Add([]byte("ClamAV-VDB:20 Nov 2026 08-00 +0000:27466:2070000:90:0123:sig:builder:1795680000   "))
	f.Add([]byte("ClamAV-VDB:::::::"))
	f.Add([]byte("ClamAV-VDB:a:b:c:d:e:f:g:-5"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, head []byte) {
		built, err := ParseCVDHeader(head)
		if err == nil && (built.IsZero() || built.Before(time.Unix(1, 0))) {
			t.Fatalf("build time %v from %q", built, head)
		}
	})
}

// TestDaemonDatabaseMirror guards issue 16 item 7: an offline node had no way to get real
// signatures but copying files by hand. With a database mirror set, the supervisor writes a
// freshclam.conf that names it as a private mirror (checked here by ClamAV's own clamconf),
// and runs the real freshclam against it before clamd starts: here an HTTP server on
// loopback with no database, so freshclam asks it for daily.cvd, the update fails, the status
// says so, and the node keeps the test signatures and says that too.
func TestDaemonDatabaseMirror(t *testing.T) {
	realClamd(t) // ClamAV is installed
	freshclam, err := exec.LookPath("freshclam")
	if err != nil {
		missing(t, "no freshclam (install clamav-freshclam: make test does)")
	}
	var mu sync.Mutex
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.Path)
		mu.Unlock()
		http.NotFound(w, r)
	}))
	defer srv.Close()
	cfg := DefaultDaemonConfig()
	cfg.Dir = t.TempDir()
	cfg.DatabaseMirror = srv.URL
	cfg.Freshclam = freshclam
	d, err := NewDaemon(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.prepare(); err != nil {
		t.Fatal(err)
	}
	conf, err := os.ReadFile(filepath.Join(cfg.Dir, "freshclam.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"PrivateMirror " + srv.URL, "DatabaseDirectory " + d.cfg.DatabaseDir} {
		if !strings.Contains(string(conf), want+"\n") {
			t.Errorf("freshclam.conf lacks %q:\n%s", want, conf)
		}
	}
	if clamconf, err := exec.LookPath("clamconf"); err == nil {
		out, err := exec.Command(clamconf, "-c", cfg.Dir).CombinedOutput()
		if err != nil {
			t.Fatalf("clamconf: %v\n%s", err, out)
		}
		for _, want := range []string{`PrivateMirror = "` + srv.URL + `"`, `DatabaseDirectory = "` + d.cfg.DatabaseDir + `"`, "ScriptedUpdates disabled"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("clamconf does not read %q from the generated freshclam.conf:\n%s", want, out)
			}
		}
	}

	d.updateDatabase()
	if err := d.refreshDatabase(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := strings.Join(asked, " ")
	mu.Unlock()
	if !strings.Contains(got, "/daily.c") {
		t.Fatalf("freshclam did not ask the mirror for the daily database; it asked %q", got)
	}
	st := d.Status()
	if !strings.Contains(st.DatabaseUpdate, "failed") || !strings.Contains(st.DatabaseUpdate, srv.URL) {
		t.Fatalf("status of a failed update: %q", st.DatabaseUpdate)
	}
	if !st.TestSignaturesOnly || !d.Client().TestSignaturesOnly {
		t.Fatal("after a failed update the node no longer says it has test signatures only")
	}
}

func TestValidateMirror(t *testing.T) {
	for _, tc := range []struct {
		mirror string
		ok     bool
	}{
		{"", true},
		{"http://mirror.example.org", true},
		{"https://mirror.example.org:8443/clamav", true},
		{"mirror.example.org", true},
		{"mirror.example.org:8080", true},
		{"ftp://mirror.example.org", false},
		{"http://mirror.example.org\nDatabaseDirectory /etc", false}, // a second directive
		{"http://mirror.example.org #x", false},
		{"http://user:pw@mirror.example.org", false},
		{"mirror.example.org/clamav?x=1", false},
	} {
		t.Run(tc.mirror, func(t *testing.T) {
			if err := ValidateMirror(tc.mirror); (err == nil) != tc.ok {
				t.Fatalf("ValidateMirror(%q) = %v, want ok %v", tc.mirror, err, tc.ok)
			}
		})
	}
}
