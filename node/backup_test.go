package node

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"valise/adminapi"
	"valise/backup"
	"valise/internal/poll"
	"valise/raftfsm"
)

// testClock is the schedule's clock, moved by the test: a scheduled backup falls due without
// waiting for backup.interval.
type testClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *testClock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// backupNode is a one-node cluster served in process, its backup schedule looking every few
// milliseconds on the test's clock.
type backupNode struct {
	n     *instance
	c     *adminapi.Client
	clock *testClock
}

func newBackupNode(t *testing.T) *backupNode {
	t.Helper()
	h := initHealNode(t, 1, "")
	bn := &backupNode{c: h.c, clock: &testClock{t: time.Now()}}
	h.prepare = func(n *instance) { n.backups = &backupScheduler{tick: 20 * time.Millisecond, now: bn.clock.now} }
	h.serve()
	bn.n = h.n
	return bn
}

func (bn *backupNode) set(t *testing.T, key, value string) {
	t.Helper()
	if _, err := bn.c.SetSetting(t.Context(), key, value); err != nil {
		t.Fatalf("settings set %s %s: %v", key, value, err)
	}
}

// records returns the recorded scheduled backups, newest first.
func (bn *backupNode) records(t *testing.T) []adminapi.BackupRecord {
	t.Helper()
	l, err := bn.c.Backups(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(l.Backups, func(r adminapi.BackupRecord) bool { return !r.Scheduled })
}

// waitRecords waits until want scheduled backups are recorded and returns them.
func (bn *backupNode) waitRecords(t *testing.T, want int) []adminapi.BackupRecord {
	t.Helper()
	var recs []adminapi.BackupRecord
	poll.UntilNil(t, "the scheduled backups recorded", func() error {
		if recs = bn.records(t); len(recs) != want {
			return errors.New("not yet")
		}
		return nil
	})
	return recs
}

// journalActions returns the actions of the journal's entries, in order.
func journalActions(t *testing.T, store *raftfsm.Store) []string {
	t.Helper()
	var out []string
	if err := store.Journal(0, func(e raftfsm.Entry) error { out = append(out, e.Action); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBackupThroughAdminSocket takes a backup as the command line does, reads it back
// offline, and refuses it with another identity or another expected key (issue 19).
func TestBackupThroughAdminSocket(t *testing.T) {
	bn := newBackupNode(t)
	ctx := t.Context()
	if _, err := bn.c.AddUser(ctx, adminapi.UserAddRequest{Email: "bob@example.org"}); err != nil {
		t.Fatal(err)
	}
	var e *adminapi.Error
	if _, _, err := bn.c.Backup(ctx, adminapi.BackupRequest{}, &bytes.Buffer{}, nil); !errors.As(err, &e) || e.Code != adminapi.CodeInvalidValue {
		t.Fatalf("a backup with neither passphrase nor recipient: %v, want invalid_value", err)
	}
	if _, _, err := bn.c.Backup(ctx, adminapi.BackupRequest{Recipient: "age1nope"}, &bytes.Buffer{}, nil); !errors.As(err, &e) || e.Code != adminapi.CodeInvalidValue {
		t.Fatalf("a backup to a bad recipient: %v, want invalid_value", err)
	}
	// An age recipient, not a passphrase: scrypt costs seconds under the race detector (the
	// command-line script and package backup cover passphrases).
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	other, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	start, size, err := bn.c.Backup(ctx, adminapi.BackupRequest{Recipient: id.Recipient().String()}, &buf, nil)
	if err != nil {
		t.Fatal(err)
	}
	key := bn.n.keys.SigningFingerprint()
	if start.SigningKey != key || start.Index == 0 || size != int64(buf.Len()) {
		t.Fatalf("announced %+v, %d bytes for %d written", start, size, buf.Len())
	}
	rep, err := VerifyBackup(bytes.NewReader(buf.Bytes()), Unlock{Identity: []byte(id.String())}, key)
	if err != nil {
		t.Fatalf("VerifyBackup = %v", err)
	}
	if rep.Index != start.Index || rep.SigningKey != key || rep.Users != 2 || rep.Cluster != bn.n.cluster.ID || rep.JournalEntries == 0 {
		t.Fatalf("report %+v", rep)
	}
	if _, err := VerifyBackup(bytes.NewReader(buf.Bytes()), Unlock{Identity: []byte(other.String())}, ""); !errors.Is(err, backup.ErrWrongSecret) {
		t.Fatalf("VerifyBackup with another identity = %v, want ErrWrongSecret", err)
	}
	if _, err := VerifyBackup(bytes.NewReader(buf.Bytes()), Unlock{Identity: []byte(id.String())}, "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"); !errors.Is(err, backup.ErrUntrustedKey) {
		t.Fatalf("VerifyBackup expecting another key = %v, want ErrUntrustedKey", err)
	}
	sum := sha256.Sum256(buf.Bytes())
	l, err := bn.c.Backups(ctx)
	if err != nil || len(l.Backups) != 1 {
		t.Fatalf("Backups = %+v, %v", l, err)
	}
	if r := l.Backups[0]; r.ID != start.ID || r.Scheduled || r.Size != size || r.SHA256 != hex.EncodeToString(sum[:]) || r.Finished.IsZero() || r.Error != "" {
		t.Fatalf("record %+v", r)
	}
	st, err := bn.c.Status(ctx)
	if err != nil || st.LastBackup == nil || st.LastBackup.ID != start.ID || st.Cluster.SigningKey != key || st.Cluster.ID == "" {
		t.Fatalf("status cluster %+v, last backup %+v, %v", st.Cluster, st.LastBackup, err)
	}
	if !slices.Contains(journalActions(t, bn.n.store), auditBackupCreate) {
		t.Fatal("the backup is not journalled")
	}
}

// TestScheduledBackups runs the schedule on a real node with the test's clock: a backup per
// interval into backup.dir, readable with the recipient's identity, backup.keep of them kept,
// and a failure (backup.dir unusable) recorded and journalled, never silent (issue 19).
func TestScheduledBackups(t *testing.T) {
	bn := newBackupNode(t)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bn.set(t, "backup.dir", dir)
	bn.set(t, "backup.recipient", id.Recipient().String())
	bn.set(t, "backup.keep", "2")
	bn.set(t, "backup.interval", "1h")

	recs := bn.waitRecords(t, 1)
	first := recs[0]
	if first.Error != "" || first.Node != bn.n.cfg.Node.ID || filepath.Dir(first.Path) != dir ||
		!strings.HasPrefix(filepath.Base(first.Path), "valise-"+bn.n.cluster.ID+"-") {
		t.Fatalf("first scheduled backup %+v", first)
	}
	b, err := os.ReadFile(first.Path)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(b); int64(len(b)) != first.Size || hex.EncodeToString(sum[:]) != first.SHA256 {
		t.Fatalf("%s: %d bytes, recorded %d and %s", first.Path, len(b), first.Size, first.SHA256)
	}
	rep, err := VerifyBackup(bytes.NewReader(b), Unlock{Identity: []byte(id.String() + "\n")}, bn.n.keys.SigningFingerprint())
	if err != nil || rep.Index != first.Index {
		t.Fatalf("VerifyBackup = %+v, %v", rep, err)
	}

	for i := 2; i <= 4; i++ {
		bn.clock.advance(time.Hour)
		recs = bn.waitRecords(t, i)
	}
	for _, r := range recs {
		if r.Error != "" {
			t.Fatalf("scheduled backup failed: %+v", r)
		}
	}
	poll.UntilNil(t, "the old backups pruned", func() error {
		recs = bn.records(t)
		live := slices.DeleteFunc(slices.Clone(recs), func(r adminapi.BackupRecord) bool { return r.Deleted })
		if files, _ := filepath.Glob(filepath.Join(dir, "*")); len(live) != 2 || len(files) != 2 {
			return errors.New("not yet")
		}
		return nil
	})
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if !recs[2].Deleted || !recs[3].Deleted || !slices.Equal(files, []string{recs[1].Path, recs[0].Path}) {
		t.Fatalf("files in backup.dir %v, records %+v: want the 2 newest kept", files, recs)
	}

	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	bn.set(t, "backup.dir", filepath.Join(notDir, "sub"))
	bn.clock.advance(time.Hour)
	recs = bn.waitRecords(t, 5)
	if recs[0].Error == "" || !recs[0].Finished.IsZero() {
		t.Fatalf("a backup into an unusable backup.dir: %+v, want its error recorded", recs[0])
	}
	st, err := bn.c.Status(t.Context())
	if err != nil || st.LastBackup == nil || st.LastBackup.Error == "" {
		t.Fatalf("status' last backup %+v, %v: want the failure", st.LastBackup, err)
	}

	// A schedule that keeps failing keeps only the last keepFailed records of its failures.
	var olds []adminapi.BackupRecord
	for i := range keepFailed + 5 {
		at := recs[0].Started.Add(-time.Duration(i+1) * time.Minute)
		olds = append(olds, adminapi.BackupRecord{ID: backupID(at), Node: "n-old", Scheduled: true, Started: at, Error: "disk full"})
	}
	must(t, bn.n.proposeBackupRecords(auditBackupFail, olds...))
	bn.n.backups.mu.Lock()
	bn.n.backups.prune()
	bn.n.backups.mu.Unlock()
	failed := slices.DeleteFunc(bn.records(t), func(r adminapi.BackupRecord) bool { return r.Error == "" })
	if len(failed) != keepFailed || failed[0].ID != recs[0].ID {
		t.Fatalf("%d records of failed backups kept, newest %s: want %d, newest %s", len(failed), failed[0].ID, keepFailed, recs[0].ID)
	}

	acts := journalActions(t, bn.n.store)
	for _, a := range []string{auditBackupCreate, auditBackupPrune, auditBackupFail} {
		if !slices.Contains(acts, a) {
			t.Errorf("no %s in the journal", a)
		}
	}
}

// TestBackupSettings checks the backup settings' validation.
func TestBackupSettings(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key, value string
		ok         bool
	}{
		{"backup.interval", "", true},
		{"backup.interval", "0", true},
		{"backup.interval", "24h", true},
		{"backup.interval", "10s", false},
		{"backup.interval", "daily", false},
		{"backup.dir", "", true},
		{"backup.dir", "/var/backups/valise", true},
		{"backup.dir", "backups", false},
		{"backup.dir", "/var/backups/../etc", false},
		{"backup.keep", "7", true},
		{"backup.keep", "0", false},
		{"backup.keep", "x", false},
		{"backup.recipient", "", true},
		{"backup.recipient", id.Recipient().String(), true},
		{"backup.recipient", id.String(), false}, // the identity, not its public key
		{"backup.recipient", "age1nope", false},
	} {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			if err := validateSetting(tc.key, tc.value); (err == nil) != tc.ok {
				t.Fatalf("validateSetting(%q, %q) = %v, want ok %v", tc.key, tc.value, err, tc.ok)
			}
		})
	}
}
