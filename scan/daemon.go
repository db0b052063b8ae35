package scan

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"valise/internal/logkey"
)

// ErrDaemonClosed is returned by Daemon.Start after Close, and ErrDaemonStarted by a second Start.
var (
	ErrDaemonClosed  = errors.New("scan: clamd supervisor closed")
	ErrDaemonStarted = errors.New("scan: clamd supervisor already started")
)

// eicarHex is the 68-byte EICAR anti-virus test file, hex-encoded so that this source file is
// not itself a test virus.
const eicarHex = "58354f2150254041505b345c505a58353428505e2937434329377d2445494341522d5354414e444152442d414e544956495255532d544553542d46494c452124482b482a"

// EICAR returns the 68-byte EICAR anti-virus test file, which every clamd database detects,
// the built-in test signatures included.
func EICAR() []byte {
	b, err := hex.DecodeString(eicarHex)
	if err != nil {
		panic(err) // a constant
	}
	return b
}

// TestSignatureFile is the name of the built-in signature database the Daemon writes into a
// database directory that holds no official database. Its body signature matches the EICAR
// string anywhere in a stream; clamd reports it as "Valise.Test.EICAR.UNOFFICIAL".
const TestSignatureFile = "valise-test-eicar.ndb"

// officialDatabases are the files freshclam installs; any one present means real signatures.
var officialDatabases = [...]string{"main.cvd", "main.cld", "daily.cvd", "daily.cld"}

// maxSocketPath keeps the socket path below the ~107-byte limit of Unix socket addresses.
const maxSocketPath = 100

// DaemonConfig configures the supervisor of the node's private clamd.
type DaemonConfig struct {
	// Binary is clamd's path. Default: "clamd" looked up in PATH, then /usr/sbin/clamd.
	Binary string `toml:"binary"`
	// Dir holds clamd.conf, the socket and the private temporary directory (created 0700).
	// When Dir/clamd.sock would pass 100 bytes, the socket goes into a fresh directory under
	// the system temporary directory instead (DaemonStatus.Socket says where). Required.
	Dir string `toml:"dir"`
	// DatabaseDir is the signature database directory. Default: Dir/db.
	DatabaseDir string `toml:"database_dir"`
	// MaxThreads is clamd's MaxThreads: concurrent scans. Default 4.
	MaxThreads int `toml:"max_threads"`
	// StreamMaxLength is clamd's StreamMaxLength, MaxFileSize and MaxScanSize, in bytes.
	// Default and maximum StreamLimit (2 GiB − 1). Tests lower it.
	StreamMaxLength int64 `toml:"stream_max_length"`
	// MaxScanTime is clamd's MaxScanTime: past it a scan ends in a limit alert, which is
	// "not scanned". Default 10 minutes.
	MaxScanTime time.Duration `toml:"max_scan_time"`
	// StartTimeout bounds the wait for clamd's first PONG after each start (loading the
	// official database takes tens of seconds). Default 2 minutes.
	StartTimeout time.Duration `toml:"start_timeout"`
	// RestartMin and RestartMax bound the back-off between restarts of a clamd that died or
	// did not start: it doubles from RestartMin up to RestartMax. Defaults 1 s and 1 min.
	RestartMin time.Duration `toml:"restart_min"`
	RestartMax time.Duration `toml:"restart_max"`
	// StopTimeout is how long Close waits after SIGTERM before SIGKILL. Default 5 s.
	StopTimeout time.Duration `toml:"stop_timeout"`
	// DatabaseMirror is an organisation's own mirror of the official signature database: an
	// http(s) URL or a host name, served to freshclam as a PrivateMirror (no DNS, no
	// internet). When set, the supervisor writes Dir/freshclam.conf and runs freshclam into
	// DatabaseDir before each start of clamd; a failed update keeps what DatabaseDir holds.
	// "" (the default): no update.
	DatabaseMirror string `toml:"database_mirror"`
	// Freshclam is freshclam's path. Default: "freshclam" looked up in PATH, then
	// /usr/bin/freshclam.
	Freshclam string `toml:"freshclam"`
	// UpdateTimeout bounds one freshclam run. Default 5 minutes.
	UpdateTimeout time.Duration `toml:"update_timeout"`
}

// DefaultDaemonConfig returns the defaults; Dir still has to be set.
func DefaultDaemonConfig() DaemonConfig {
	return DaemonConfig{
		MaxThreads:      4,
		StreamMaxLength: StreamLimit,
		MaxScanTime:     10 * time.Minute,
		StartTimeout:    2 * time.Minute,
		RestartMin:      time.Second,
		RestartMax:      time.Minute,
		StopTimeout:     5 * time.Second,
		UpdateTimeout:   5 * time.Minute,
	}
}

// Validate checks the configuration and fills zero fields with defaults.
func (c *DaemonConfig) Validate() error {
	d := DefaultDaemonConfig()
	if c.Dir == "" {
		return errors.New("clamd config: dir is required")
	}
	if c.DatabaseDir == "" {
		c.DatabaseDir = filepath.Join(c.Dir, "db")
	}
	if c.MaxThreads == 0 {
		c.MaxThreads = d.MaxThreads
	}
	if c.StreamMaxLength == 0 {
		c.StreamMaxLength = d.StreamMaxLength
	}
	if c.MaxScanTime == 0 {
		c.MaxScanTime = d.MaxScanTime
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = d.StartTimeout
	}
	if c.RestartMin == 0 {
		c.RestartMin = d.RestartMin
	}
	if c.RestartMax == 0 {
		c.RestartMax = d.RestartMax
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = d.StopTimeout
	}
	if c.UpdateTimeout == 0 {
		c.UpdateTimeout = d.UpdateTimeout
	}
	if err := ValidateMirror(c.DatabaseMirror); err != nil {
		return fmt.Errorf("clamd config: %w", err)
	}
	switch {
	case c.MaxThreads < 1 || c.MaxThreads > 256:
		return fmt.Errorf("clamd config: max_threads %d out of 1..256", c.MaxThreads)
	case c.StreamMaxLength < 1 || c.StreamMaxLength > StreamLimit:
		return fmt.Errorf("clamd config: stream_max_length %d out of 1..%d", c.StreamMaxLength, StreamLimit)
	case c.MaxScanTime < time.Millisecond || c.StartTimeout < 0 || c.RestartMin < 0 || c.RestartMax < c.RestartMin || c.StopTimeout < 0 || c.UpdateTimeout < 0:
		return errors.New("clamd config: negative or inconsistent durations")
	}
	return nil
}

// ValidateMirror checks a database mirror: "" (none), an http or https URL with a host, or a
// bare host name with an optional port. It must not hold spaces or control characters, since
// it is written into freshclam.conf.
func ValidateMirror(mirror string) error {
	if mirror == "" {
		return nil
	}
	if strings.ContainsFunc(mirror, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '#' }) {
		return fmt.Errorf("database mirror %q: spaces, control characters and # are not allowed", truncate(mirror))
	}
	u, err := url.Parse(mirror)
	if err == nil && u.Scheme != "" && u.Host != "" {
		if u.Scheme != "http" && u.Scheme != "https" {
			return fmt.Errorf("database mirror %q: http or https only", truncate(mirror))
		}
		if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("database mirror %q: no user, query or fragment", truncate(mirror))
		}
		return nil
	}
	if _, err := url.Parse("http://" + mirror); err != nil || strings.ContainsAny(mirror, "/?@") {
		return fmt.Errorf("database mirror %q: not an http(s) URL nor a host name", truncate(mirror))
	}
	return nil
}

// DaemonStatus is what the supervisor knows of its clamd, for `status`, the console and logs.
type DaemonStatus struct {
	// Running is true while clamd answers: between its first PONG and its exit.
	Running bool
	// Reason says why clamd is not running ("" when it is), e.g. "clamd not found" or
	// "clamd exited: signal: killed; restarting in 2s".
	Reason string
	// Version is clamd's VERSION reply.
	Version string
	// TestSignaturesOnly is true when no official database was found and only the built-in
	// EICAR test signature is loaded: nothing real is detected.
	TestSignaturesOnly bool
	// DBAge is the age of the newest file in the database directory.
	DBAge time.Duration
	// DatabaseDir is the signature database directory clamd loads.
	DatabaseDir string
	// DatabaseUpdate says how the last update from DaemonConfig.DatabaseMirror went ("" when
	// no mirror is set), e.g. "updated from http://mirror.example.org at 2026-12-07T13:00:00Z"
	// or "update from http://mirror.example.org failed: …".
	DatabaseUpdate string
	// Socket is the path of clamd's socket.
	Socket string
	// PID is clamd's process ID while it runs.
	PID int
	// Restarts counts the starts after the first one.
	Restarts int
}

// Daemon supervises a private clamd child process: it writes its configuration, a test
// signature database when no official one exists, starts it, waits for it to answer, and
// restarts it with back-off when it dies, until Close.
type Daemon struct {
	cfg       DaemonConfig
	logger    *slog.Logger
	socket    string
	sockDir   string // a directory created for the socket under the temp dir, or ""
	conf      string
	freshConf string // Dir/freshclam.conf, written when DatabaseMirror is set
	tmp       string
	out       *lineLog

	stop chan struct{} // closed by Close
	done chan struct{} // closed when the supervisor returned
	// ctx ends at Close: it cuts a freshclam run.
	ctx    context.Context
	cancel context.CancelFunc

	mu sync.Mutex // guards the fields below
	// status is the published status; DBAge is computed from dbTime at read.
	status  DaemonStatus
	dbTime  time.Time
	started bool
	closed  bool
}

// NewDaemon checks cfg and prepares a supervisor; Start runs clamd.
func NewDaemon(cfg DaemonConfig, logger *slog.Logger) (*Daemon, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger = logger.With("component", "clamd")
	d := &Daemon{
		cfg:       cfg,
		logger:    logger,
		conf:      filepath.Join(cfg.Dir, "clamd.conf"),
		freshConf: filepath.Join(cfg.Dir, "freshclam.conf"),
		tmp:       filepath.Join(cfg.Dir, "tmp"),
		out:       &lineLog{logger: logger},
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.status.DatabaseDir = cfg.DatabaseDir
	d.socket = filepath.Join(cfg.Dir, "clamd.sock")
	d.status.Reason = "not started"
	return d, nil
}

// Client returns a client of the supervised clamd. When only the built-in test signatures
// are loaded, the client says so (Client.TestSignaturesOnly) and so do its clean verdicts.
func (d *Daemon) Client() *Client {
	d.mu.Lock()
	defer d.mu.Unlock()
	return &Client{Network: "unix", Addr: d.socket, TestSignaturesOnly: d.status.TestSignaturesOnly}
}

// Status returns the supervisor's current view of clamd.
func (d *Daemon) Status() DaemonStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.status
	if !d.dbTime.IsZero() {
		s.DBAge = time.Since(d.dbTime)
	}
	return s
}

func (d *Daemon) setReason(format string, args ...any) {
	d.mu.Lock()
	d.status.Running = false
	d.status.PID = 0
	d.status.Reason = fmt.Sprintf(format, args...)
	d.mu.Unlock()
}

// Start prepares the directories, the configuration and the database, starts clamd and waits
// until it answers PING, or until ctx ends or the first start fails. An error leaves the node
// serving without a scanner: Status says why, and unless the binary is missing or the
// directories cannot be prepared, the supervisor keeps restarting clamd with back-off in the
// background until Close.
func (d *Daemon) Start(ctx context.Context) error {
	d.mu.Lock()
	switch {
	case d.closed:
		d.mu.Unlock()
		return ErrDaemonClosed
	case d.started:
		d.mu.Unlock()
		return ErrDaemonStarted
	}
	d.started = true
	d.mu.Unlock()

	bin, err := d.binary()
	if err != nil {
		d.setReason("%v", err)
		close(d.done)
		return err
	}
	if err := d.prepare(); err != nil {
		d.setReason("%v", err)
		close(d.done)
		return err
	}
	first := make(chan error, 1)
	go d.supervise(bin, first)
	select {
	case err := <-first:
		return err
	case <-ctx.Done():
		return fmt.Errorf("start clamd: %w", ctx.Err())
	}
}

func (d *Daemon) binary() (string, error) {
	return lookBinary(d.cfg.Binary, "clamd", "/usr/sbin/clamd", "install clamav-daemon")
}

// lookBinary finds a program: configured when not "", else name in PATH, else fallback.
func lookBinary(configured, name, fallback, install string) (string, error) {
	if configured != "" {
		if _, err := os.Stat(configured); err != nil {
			return "", fmt.Errorf("%s not found: %w", name, err)
		}
		return configured, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	if _, err := os.Stat(fallback); err == nil {
		return fallback, nil
	}
	return "", fmt.Errorf("%s not found in PATH nor %s: %s", name, filepath.Dir(fallback), install)
}

// prepare creates the directories, picks the socket path, writes the test database when
// needed and the configuration.
func (d *Daemon) prepare() error {
	if err := os.MkdirAll(d.cfg.Dir, 0o700); err != nil {
		return fmt.Errorf("prepare clamd dir: %w", err)
	}
	// clamd writes each scanned stream to a plaintext file here: private, and emptied of
	// what a crashed clamd left behind.
	if err := os.RemoveAll(d.tmp); err != nil {
		return fmt.Errorf("empty clamd temporary dir: %w", err)
	}
	if err := os.Mkdir(d.tmp, 0o700); err != nil {
		return fmt.Errorf("create clamd temporary dir: %w", err)
	}
	if len(d.socket) > maxSocketPath {
		dir, err := os.MkdirTemp("", "valise-clamd-")
		if err != nil {
			return fmt.Errorf("create clamd socket dir: %w", err)
		}
		d.mu.Lock()
		d.sockDir = dir
		d.socket = filepath.Join(dir, "clamd.sock")
		d.mu.Unlock()
		d.logger.Info("clamd socket path too long in the data directory, using the temporary directory",
			"socket", d.socket)
	}
	d.mu.Lock()
	d.status.Socket = d.socket
	d.mu.Unlock()
	if d.cfg.DatabaseMirror != "" {
		if err := os.WriteFile(d.freshConf, []byte(d.freshclamConfig()), 0o600); err != nil {
			return fmt.Errorf("write freshclam config: %w", err)
		}
	}
	if err := d.refreshDatabase(); err != nil {
		return err
	}
	if err := os.WriteFile(d.conf, []byte(d.config()), 0o600); err != nil {
		return fmt.Errorf("write clamd config: %w", err)
	}
	return nil
}

// refreshDatabase brings the database directory in line (prepareDatabase) and publishes what
// it holds.
func (d *Daemon) refreshDatabase() error {
	testOnly, dbTime, err := prepareDatabase(d.cfg.DatabaseDir)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.status.TestSignaturesOnly = testOnly
	d.dbTime = dbTime
	d.mu.Unlock()
	if testOnly {
		d.logger.Warn("no official ClamAV database: clamd runs with the built-in test signatures only, "+
			"and clean verdicts say so; install real signatures offline from a mirror (database mirror) "+
			"or by copying main.cvd, daily.cvd and bytecode.cvd into the database directory",
			"database_dir", d.cfg.DatabaseDir)
	}
	return nil
}

// freshclamConfig is freshclam.conf: the mirror as a PrivateMirror (no DNS lookup, no
// scripted updates: whole .cvd files from the organisation's server), the database directory,
// and the current user as the database owner (freshclam started as root would otherwise
// switch to the clamav user, who may not write the node's directory).
func (d *Daemon) freshclamConfig() string {
	lines := []string{
		"DatabaseDirectory " + d.cfg.DatabaseDir,
		"PrivateMirror " + d.cfg.DatabaseMirror,
		"ScriptedUpdates no",
		"DNSDatabaseInfo no",
		"Foreground yes",
		"ConnectTimeout 30",
		"ReceiveTimeout 0",
		"MaxAttempts 2",
		"TestDatabases yes",
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		lines = append(lines, "DatabaseOwner "+u.Username)
	}
	return "# Written by Valise at each start of clamd; edits are lost.\n" + strings.Join(lines, "\n") + "\n"
}

// updateDatabase runs freshclam against DatabaseMirror (a no-op without one), bounded by
// UpdateTimeout and cut by Close, and publishes the outcome in DaemonStatus.DatabaseUpdate.
// A failure is logged and leaves the database as it was.
func (d *Daemon) updateDatabase() {
	if d.cfg.DatabaseMirror == "" {
		return
	}
	result := func(format string, args ...any) {
		d.mu.Lock()
		d.status.DatabaseUpdate = fmt.Sprintf(format, args...)
		d.mu.Unlock()
	}
	bin, err := lookBinary(d.cfg.Freshclam, "freshclam", "/usr/bin/freshclam", "install clamav-freshclam")
	if err != nil {
		result("update from %s failed: %v", d.cfg.DatabaseMirror, err)
		d.logger.Error("signature database not updated", "mirror", d.cfg.DatabaseMirror, logkey.Err, err)
		return
	}
	ctx, cancel := context.WithTimeout(d.ctx, d.cfg.UpdateTimeout)
	defer cancel()
	out := &lineLog{logger: d.logger.With("program", "freshclam")}
	cmd := exec.CommandContext(ctx, bin, "--config-file="+d.freshConf, "--stdout")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Dir = d.cfg.Dir
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	if err == nil && out.failed() {
		// freshclam may exit 0 after "Update failed".
		err = errors.New("freshclam reported a failure")
	}
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w: %w", err, ctx.Err())
		}
		result("update from %s failed: %v%s", d.cfg.DatabaseMirror, err, out.tail())
		d.logger.Error("signature database not updated from the mirror: clamd keeps the database it has",
			"mirror", d.cfg.DatabaseMirror, logkey.Err, err, "freshclam", out.tail())
		return
	}
	result("updated from %s at %s", d.cfg.DatabaseMirror, time.Now().UTC().Format(time.RFC3339))
	d.logger.Info("signature database updated from the mirror", "mirror", d.cfg.DatabaseMirror)
}

// config is clamd.conf. Limits: clamd accepts values up to 4000M and beyond, but libclamav
// cannot scan past 2 GiB − 1 (and clamps its file size limit to 2147483645), so StreamLimit is
// the most that means anything. AlertExceedsMax makes clamd report data past a limit instead
// of calling it clean.
func (d *Daemon) config() string {
	lim := d.cfg.StreamMaxLength
	lines := []string{
		"Foreground yes",
		"LocalSocket " + d.socket,
		"LocalSocketMode 600",
		"FixStaleSocket yes",
		"DatabaseDirectory " + d.cfg.DatabaseDir,
		"TemporaryDirectory " + d.tmp,
		fmt.Sprintf("StreamMaxLength %d", lim),
		fmt.Sprintf("MaxFileSize %d", lim),
		fmt.Sprintf("MaxScanSize %d", lim),
		fmt.Sprintf("MaxScanTime %d", d.cfg.MaxScanTime.Milliseconds()),
		"AlertExceedsMax yes",
		fmt.Sprintf("MaxThreads %d", d.cfg.MaxThreads),
		"SelfCheck 600",
	}
	return "# Written by Valise at each start; edits are lost.\n" + strings.Join(lines, "\n") + "\n"
}

// prepareDatabase writes the test signature when dir holds no official database (and removes
// it when one appeared), and returns whether only test signatures are loaded and the newest
// database file's modification time.
func prepareDatabase(dir string) (testOnly bool, newest time.Time, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, time.Time{}, fmt.Errorf("create clamd database dir: %w", err)
	}
	official := false
	for _, name := range officialDatabases {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			official = true
		}
	}
	test := filepath.Join(dir, TestSignatureFile)
	if official {
		if err := os.Remove(test); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, time.Time{}, fmt.Errorf("remove test signatures: %w", err)
		}
	} else {
		want := []byte("Valise.Test.EICAR:0:*:" + eicarHex + "\n")
		if have, err := os.ReadFile(test); err != nil || !bytes.Equal(have, want) {
			if err := os.WriteFile(test, want, 0o644); err != nil {
				return false, time.Time{}, fmt.Errorf("write test signatures: %w", err)
			}
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, time.Time{}, fmt.Errorf("read clamd database dir: %w", err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		t := time.Time{}
		if ext := filepath.Ext(e.Name()); ext == ".cvd" || ext == ".cld" {
			// The build time in the header, not the download time.
			if f, err := os.Open(filepath.Join(dir, e.Name())); err == nil {
				head := make([]byte, cvdHeaderSize)
				n, _ := io.ReadFull(f, head)
				f.Close()
				t, _ = ParseCVDHeader(head[:n])
			}
		}
		if t.IsZero() {
			if info, err := e.Info(); err == nil {
				t = info.ModTime()
			}
		}
		if t.After(newest) {
			newest = t
		}
	}
	return !official, newest, nil
}

// cvdHeaderSize is the size of the text header of a .cvd or .cld database.
const cvdHeaderSize = 512

// ParseCVDHeader returns the build time in the header of an official ClamAV database
// (.cvd or .cld): "ClamAV-VDB:<date>:<version>:<signatures>:<level>:<md5>:<signature>:<builder>:<unix time>",
// padded with spaces to 512 bytes.
func ParseCVDHeader(head []byte) (time.Time, error) {
	line := strings.TrimRight(string(head), " \x00\n")
	fields := strings.Split(line, ":")
	if len(fields) < 9 || fields[0] != "ClamAV-VDB" {
		return time.Time{}, errors.New("parse database header: not a ClamAV-VDB header")
	}
	secs, err := strconv.ParseInt(strings.TrimSpace(fields[8]), 10, 64)
	if err != nil || secs <= 0 || secs > 1<<40 {
		return time.Time{}, fmt.Errorf("parse database header: build time %q", truncate(fields[8]))
	}
	return time.Unix(secs, 0).UTC(), nil
}

// supervise runs clamd until Close, restarting it with back-off. It reports the outcome of
// the first start on first. It stays locked to its OS thread, so that the child's parent
// death signal (sent when the thread that started it ends) fires only when the supervisor
// itself is gone.
func (d *Daemon) supervise(bin string, first chan<- error) {
	runtime.LockOSThread()
	defer close(d.done)
	backoff := d.cfg.RestartMin
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			d.mu.Lock()
			d.status.Restarts++
			d.mu.Unlock()
			if err := d.prepare(); err != nil {
				d.logger.Error("clamd restart", logkey.Err, err)
			}
		}
		if d.cfg.DatabaseMirror != "" {
			d.updateDatabase()
			if err := d.refreshDatabase(); err != nil {
				d.logger.Error("signature database after the update", logkey.Err, err)
			}
		}
		began := time.Now()
		err := d.runOnce(bin, first)
		first = nil // reported
		select {
		case <-d.stop:
			d.setReason("stopped")
			return
		default:
		}
		if time.Since(began) > 10*d.cfg.RestartMax {
			backoff = d.cfg.RestartMin // it ran long: a fresh failure
		}
		d.setReason("%v; restarting in %v", err, backoff)
		d.logger.Error("clamd is down: files are held unscanned", logkey.Err, err, "restart_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-d.stop:
			t.Stop()
			d.setReason("stopped")
			return
		case <-t.C:
		}
		backoff = min(2*backoff, d.cfg.RestartMax)
	}
}

// runOnce starts clamd, waits for its first PONG (reporting it on first, if not nil), then
// waits until clamd exits or Close. It returns why clamd is not running any more.
func (d *Daemon) runOnce(bin string, first chan<- error) error {
	report := func(err error) {
		if first != nil {
			first <- err
			first = nil
		}
	}
	cmd := exec.Command(bin, "--config-file="+d.conf)
	cmd.Stdout, cmd.Stderr = d.out, d.out
	cmd.SysProcAttr = sysProcAttr()
	cmd.Dir = d.cfg.Dir
	if err := cmd.Start(); err != nil {
		err = fmt.Errorf("start clamd: %w", err)
		report(err)
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	d.mu.Lock()
	d.status.PID = cmd.Process.Pid
	d.status.Reason = "starting"
	d.mu.Unlock()

	version, err := d.waitReady(exited)
	if err != nil {
		d.terminate(cmd, exited)
		err = fmt.Errorf("start clamd: %w", err)
		report(err)
		return err
	}
	d.mu.Lock()
	d.status.Running = true
	d.status.Reason = ""
	d.status.Version = version
	d.mu.Unlock()
	d.logger.Info("clamd ready", "pid", cmd.Process.Pid, "version", version, "socket", d.socket)
	report(nil)

	select {
	case err := <-exited:
		if err == nil {
			err = errors.New("exit status 0")
		}
		return fmt.Errorf("clamd exited: %w%s", err, d.out.tail())
	case <-d.stop:
		d.terminate(cmd, exited)
		return nil
	}
}

// waitReady polls PING until clamd answers, exits, StartTimeout passes, or Close.
func (d *Daemon) waitReady(exited chan error) (string, error) {
	c := d.Client()
	c.Timeout = time.Second
	deadline := time.Now().Add(d.cfg.StartTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		last = c.Ping(ctx)
		var version string
		if last == nil {
			version, last = c.Version(ctx)
		}
		cancel()
		if last == nil {
			return version, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no PONG within %v: %w%s", d.cfg.StartTimeout, last, d.out.tail())
		}
		select {
		case err := <-exited:
			exited <- err // for terminate
			return "", fmt.Errorf("clamd exited before answering: %v%s", err, d.out.tail())
		case <-d.stop:
			return "", ErrDaemonClosed
		case <-tick.C:
		}
	}
}

// terminate stops clamd: SIGTERM, then SIGKILL after StopTimeout; it reaps the process.
func (d *Daemon) terminate(cmd *exec.Cmd, exited chan error) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(d.cfg.StopTimeout)
	defer t.Stop()
	select {
	case <-exited:
	case <-t.C:
		d.logger.Warn("clamd ignored SIGTERM, killing it")
		_ = cmd.Process.Kill()
		<-exited
	}
}

// Close stops clamd (SIGTERM, then SIGKILL), waits for the supervisor, and removes the socket
// directory it created under the temporary directory. It is safe to call more than once.
func (d *Daemon) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	started := d.started
	d.mu.Unlock()
	close(d.stop)
	d.cancel()
	if started {
		<-d.done
	}
	d.mu.Lock()
	sockDir := d.sockDir
	d.mu.Unlock()
	if sockDir != "" {
		if err := os.RemoveAll(sockDir); err != nil {
			return fmt.Errorf("remove clamd socket dir: %w", err)
		}
	}
	return nil
}

// lineLog logs clamd's output line by line (lines saying "error" at warn level, the rest at
// debug) and keeps the last lines, which explain a failed start.
type lineLog struct {
	logger *slog.Logger

	mu       sync.Mutex // guards partial, last and sawError
	partial  []byte
	last     []string
	sawError bool // a line started "ERROR:"
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimSpace(string(l.partial[:i]))
		l.partial = l.partial[i+1:]
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "ERROR:") {
			l.sawError = true
		}
		if strings.Contains(strings.ToLower(line), "error") {
			l.logger.Warn("clamd output", "line", line)
		} else {
			l.logger.Debug("clamd output", "line", line)
		}
		l.last = append(l.last, line)
		if len(l.last) > 5 {
			l.last = l.last[1:]
		}
	}
	if len(l.partial) > 4096 {
		l.partial = l.partial[:0]
	}
	return len(p), nil
}

// failed reports whether a line said ERROR (freshclam's failures).
func (l *lineLog) failed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sawError
}

// tail returns the last lines of output, formatted to end an error message.
func (l *lineLog) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.last) == 0 {
		return ""
	}
	return " (clamd said: " + strings.Join(l.last, " | ") + ")"
}
