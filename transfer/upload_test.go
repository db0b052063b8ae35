package transfer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"valise/blobstore"
	"valise/userid"
)

// quotaMap gives per-owner quotas; owners not in it get the policy's.
type quotaMap map[userid.ID]int64

func (q quotaMap) Quota(_ context.Context, owner userid.ID) (int64, error) {
	if v, ok := q[owner]; ok {
		return v, nil
	}
	return -1, nil
}

func TestCreateUploadLimits(t *testing.T) {
	e := newEnv(t, func(c *Config, d *Deps) {
		c.Policy.MaxFileSize = 1000
		c.Policy.QuotaBytes = 1500
		d.Quotas = quotaMap{"small": 100, "unlimited": 0}
	})
	for _, tc := range []struct {
		name  string
		owner userid.ID
		size  int64
		md    map[string]string
		want  error
	}{
		{"within limit", "u1", 1000, nil, nil},
		{"over policy size", "u1", 1001, nil, ErrTooLarge},
		{"over quota", "u1", 501, nil, ErrQuotaExceeded},
		{"quota left", "u1", 500, nil, nil},
		{"quota is per owner", "u2", 1000, nil, nil},
		{"negative size", "u1", -1, nil, ErrInvalidSize},
		{"per-user quota", "small", 101, nil, ErrQuotaExceeded},
		{"per-user no quota", "unlimited", 1000, nil, nil},
		{"per-user no quota again", "unlimited", 1000, nil, nil},
		{"empty owner", "", 1, nil, ErrInvalidOwner},
		{"metadata with control", "u3", 1, map[string]string{"k": "a\nb"}, ErrInvalidMetadata},
		{"metadata too big", "u3", 1, map[string]string{"k": strings.Repeat("x", 5000)}, ErrInvalidMetadata},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.CreateUpload(e.ctx, tc.owner, "f.bin", tc.size, tc.md)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("CreateUpload(%s, %d) = %v, want %v", tc.owner, tc.size, err, tc.want)
			}
		})
	}
	if u, _ := e.svc.Usage(e.ctx, "u1"); u != 1500 {
		t.Fatalf("usage of u1 = %d, want 1500", u)
	}
}

// UploadLimits reports the policy's file size and send size and what is left of the quota:
// per user, from the policy, or none (-1).
func TestUploadLimits(t *testing.T) {
	e := newEnv(t, func(c *Config, d *Deps) {
		c.Policy.MaxFileSize = 1000
		c.Policy.QuotaBytes = 1500
		c.Policy.MaxSendBytes = 5000
		d.Quotas = quotaMap{"small": 100, "unlimited": 0}
	})
	if _, err := e.svc.CreateUpload(e.ctx, "u1", "f.bin", 600, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CreateUpload(e.ctx, "small", "f.bin", 100, nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		owner userid.ID
		left  int64
	}{
		{"policy quota, partly used", "u1", 900},
		{"policy quota, unused", "u2", 1500},
		{"per-user quota used up", "small", 0},
		{"per-user no quota", "unlimited", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := e.svc.UploadLimits(e.ctx, tc.owner)
			if want := (Limits{MaxFile: 1000, QuotaLeft: tc.left, MaxSend: 5000, MaxFiles: DefaultConfig().MaxFilesPerSend}); err != nil || l != want {
				t.Fatalf("UploadLimits(%s) = %+v, %v; want %+v", tc.owner, l, err, want)
			}
		})
	}
	t.Run("policy change", func(t *testing.T) {
		p := e.svc.policy()
		p.MaxFileSize, p.QuotaBytes, p.MaxSendBytes = 2000, 0, 0
		if err := e.svc.SetPolicy(p); err != nil {
			t.Fatal(err)
		}
		if l, err := e.svc.UploadLimits(e.ctx, "u1"); err != nil || l != (Limits{MaxFile: 2000, QuotaLeft: -1, MaxFiles: DefaultConfig().MaxFilesPerSend}) {
			t.Fatalf("after SetPolicy: %+v, %v; want 2000, -1, 0", l, err)
		}
	})
}

// Two PATCHes at the same offset race: exactly one may record its progress (tus 409 for the
// other), whatever the interleaving.
func TestRecordProgressConcurrentConflict(t *testing.T) {
	e := newEnv(t)
	up, err := e.svc.CreateUpload(e.ctx, "u1", "f.bin", 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		const racers = 4
		var wg sync.WaitGroup
		errs := make([]error, racers)
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = e.svc.RecordProgress(e.ctx, "u1", up.ID, int64(round*10), int64(round*10+10), []byte{byte(i)})
			}()
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, ErrOffsetMismatch):
				t.Fatalf("round %d: unexpected error %v", round, err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d PATCHes won, want exactly 1 (%v)", round, won, errs)
		}
	}
	got, err := e.svc.GetUpload(e.ctx, "u1", up.ID)
	if err != nil || got.Offset != 50 {
		t.Fatalf("upload after the races: %+v, %v", got, err)
	}
}

func TestRecordProgressChecks(t *testing.T) {
	e := newEnv(t)
	up, err := e.svc.CreateUpload(e.ctx, "u1", "f.bin", 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name             string
		owner            userid.ID
		expected, newOff int64
		want             error
	}{
		{"wrong expected offset", "u1", 5, 10, ErrOffsetMismatch},
		{"past the declared size", "u1", 0, 101, ErrInvalidSize},
		{"backwards", "u1", 0, -1, ErrInvalidSize},
		{"another owner's upload", "u2", 0, 10, ErrUploadNotFound},
		{"good", "u1", 0, 10, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.RecordProgress(e.ctx, tc.owner, up.ID, tc.expected, tc.newOff, nil)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("RecordProgress = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := e.svc.GetUpload(e.ctx, "u1", "not-an-id"); !errors.Is(err, ErrUploadNotFound) {
		t.Fatalf("GetUpload(bad id) = %v", err)
	}
	e.clock.Advance(25 * time.Hour)
	if _, err := e.svc.GetUpload(e.ctx, "u1", up.ID); !errors.Is(err, ErrUploadExpired) {
		t.Fatalf("GetUpload after 25 h = %v, want ErrUploadExpired", err)
	}
}

func TestCompleteUploadVerdicts(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name        string
		verdict     Verdict
		quarantined bool
		sendable    bool
	}{
		{"clean", VerdictClean, false, true},
		{"clean in windows", VerdictCleanWindows, false, true},
		{"infected is quarantined", VerdictInfected, true, false},
		{"not scanned is held", VerdictNotScanned, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := e.upload("u1", "f.bin", randomData(1000, 1), tc.verdict)
			if f.Quarantined != tc.quarantined || f.Verdict != tc.verdict || f.Size != 1000 {
				t.Fatalf("file = %+v", f)
			}
			_, err := e.svc.CreateSend(e.ctx, "u1", SendRequest{To: []string{"bob@example.org"}, FileIDs: []FileID{f.ID}})
			var nse *FileNotSendableError
			if tc.sendable != (err == nil) || (!tc.sendable && (!errors.As(err, &nse) || nse.Verdict != tc.verdict)) {
				t.Fatalf("CreateSend = %v, sendable %v", err, tc.sendable)
			}
		})
	}
	if _, err := e.svc.CompleteUpload(e.ctx, "u1", "0190a6f6-0000-7000-8000-000000000000", Completion{Manifest: []byte{1}, SHA256: strings.Repeat("0", 64), Verdict: "maybe"}); !errors.Is(err, ErrInvalidVerdict) {
		t.Fatalf("bad verdict: %v", err)
	}
}

// A rescan's verdict replaces the first: a not-scanned file becomes sendable when clean.
func TestSetVerdictReleasesHeldFile(t *testing.T) {
	e := newEnv(t)
	f := e.upload("u1", "f.bin", randomData(300, 2), VerdictNotScanned)
	if err := e.svc.SetVerdict(e.ctx, f.ID, VerdictClean, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CreateSend(e.ctx, "u1", SendRequest{To: []string{"bob@example.org"}, FileIDs: []FileID{f.ID}}); err != nil {
		t.Fatalf("CreateSend after rescan: %v", err)
	}
}

// Stale uploads expire: the record goes, the quota comes back, the partial shards are
// removed through the resume state without its keys.
func TestSweepExpiresStaleUploads(t *testing.T) {
	e := newEnv(t)
	up, err := e.svc.CreateUpload(e.ctx, "u1", "big.bin", 5000, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := e.bs.Create(e.ctx, blobstore.FileID(up.ID))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(randomData(1300, 3)); err != nil {
		t.Fatal(err)
	}
	st, err := w.Checkpoint(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	stb, _ := st.MarshalBinary()
	if _, err := e.svc.RecordProgress(e.ctx, "u1", up.ID, 0, 1300, stb); err != nil {
		t.Fatal(err)
	}
	if countFiles(t, e.dirs, up.ID) == 0 {
		t.Fatal("no partial shard on disk before the sweep")
	}
	if list, _ := e.svc.ExpiredUploads(e.ctx, e.clock.Now()); len(list) != 0 {
		t.Fatalf("fresh upload listed as expired: %v", list)
	}
	e.clock.Advance(24*time.Hour + time.Second)
	if list, _ := e.svc.ExpiredUploads(e.ctx, e.clock.Now()); len(list) != 1 || list[0].ID != up.ID {
		t.Fatalf("ExpiredUploads = %v", list)
	}
	rep, err := e.svc.Sweep(e.ctx)
	if err != nil || rep.UploadsExpired != 1 || rep.ShardsDeleted != 1 {
		t.Fatalf("Sweep = %+v, %v", rep, err)
	}
	if _, err := e.svc.GetUpload(e.ctx, "u1", up.ID); !errors.Is(err, ErrUploadNotFound) {
		t.Fatalf("upload after sweep: %v", err)
	}
	if u, _ := e.svc.Usage(e.ctx, "u1"); u != 0 {
		t.Fatalf("usage after expiry = %d", u)
	}
	if n := countFiles(t, e.dirs, up.ID); n != 0 {
		t.Fatalf("%d partial shard files left", n)
	}
}

func TestCancelUpload(t *testing.T) {
	e := newEnv(t)
	up, err := e.svc.CreateUpload(e.ctx, "u1", "f.bin", 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.CancelUpload(e.ctx, "u2", up.ID); !errors.Is(err, ErrUploadNotFound) {
		t.Fatalf("cancel by another owner: %v", err)
	}
	if err := e.svc.CancelUpload(e.ctx, "u1", up.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.GetUpload(e.ctx, "u1", up.ID); !errors.Is(err, ErrUploadNotFound) {
		t.Fatalf("after cancel: %v", err)
	}
}

// The errors package upload returns keep their codes (tus and the API answer them).
func TestUploaderErrorCodes(t *testing.T) {
	for err, code := range map[error]string{
		ErrLocked:           "upload_locked",
		ErrChecksumMismatch: "checksum_mismatch",
		ErrChunkIncomplete:  "chunk_incomplete",
		ErrFileScanning:     "file_scanning",
		&FileNotSendableError{Verdict: VerdictPending}:    "file_scanning",
		&FileNotSendableError{Verdict: VerdictNotScanned}: "file_not_sendable",
	} {
		if got := Code(fmt.Errorf("write: %w", err)); got != code {
			t.Errorf("Code(%v) = %q, want %q", err, got, code)
		}
	}
}

// TestExportsForUpload guards issue 17 item 7: the reads and the record transfer exports for
// package upload alone keep the contracts the byte path relies on, each checked once here
// rather than only through the Pipeline.
func TestExportsForUpload(t *testing.T) {
	e := newEnv(t)
	up, err := e.svc.CreateUpload(e.ctx, owner, "a.bin", 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := e.upload(owner, "b.bin", randomData(500, 3), VerdictPending)
	const unknown = FileID("0190a4a0-0000-7000-8000-00000000000f")

	t.Run("owns", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			owner userid.ID
			id    FileID
			want  bool
		}{
			{"own upload", owner, up.ID, true},
			{"own file", owner, f.ID, true},
			{"another's upload", "bob", up.ID, false},
			{"another's file", "bob", f.ID, false},
			{"unknown", owner, unknown, false},
			{"not a UUID", owner, "../x", false},
		} {
			if got := e.svc.OwnsUploadOrFile(tc.owner, tc.id); got != tc.want {
				t.Errorf("%s: OwnsUploadOrFile = %v, want %v", tc.name, got, tc.want)
			}
		}
	})
	t.Run("records", func(t *testing.T) {
		if ok, err := e.svc.UploadRecorded(up.ID); !ok || err != nil {
			t.Errorf("UploadRecorded(upload) = %v, %v", ok, err)
		}
		if ok, err := e.svc.UploadRecorded(unknown); ok || err != nil {
			t.Errorf("UploadRecorded(unknown) = %v, %v", ok, err)
		}
		if _, err := e.svc.UploadRecord("bob", up.ID); !errors.Is(err, ErrUploadNotFound) {
			t.Errorf("UploadRecord of another's upload: %v, want ErrUploadNotFound", err)
		}
		if got, err := e.svc.FileRecord(f.ID); err != nil || got.Owner != owner || got.Version == 0 {
			t.Errorf("FileRecord: %+v, %v", got, err)
		}
		if _, err := e.svc.FileRecord(unknown); !errors.Is(err, ErrFileNotFound) {
			t.Errorf("FileRecord(unknown): %v, want ErrFileNotFound", err)
		}
		if err := e.svc.LinearizableRead(e.ctx); err != nil {
			t.Errorf("LinearizableRead on the leader: %v", err)
		}
		var seen []FileID
		err := e.svc.ScanFiles(func(sf File) error {
			if sf.Version == 0 {
				t.Errorf("ScanFiles gave %s without its version", sf.ID)
			}
			seen = append(seen, sf.ID)
			return nil
		})
		if err != nil || len(seen) != 1 || seen[0] != f.ID {
			t.Errorf("ScanFiles saw %v, %v; want the one file", seen, err)
		}
	})
	t.Run("settle once", func(t *testing.T) {
		got, err := e.svc.SettleVerdict(e.ctx, f.ID, VerdictClean, "")
		if err != nil || got.Verdict != VerdictClean {
			t.Fatalf("SettleVerdict: %s, %v", got.Verdict, err)
		}
		if _, err := e.svc.SettleVerdict(e.ctx, f.ID, VerdictInfected, "x"); !errors.Is(err, ErrNotPending) {
			t.Fatalf("second SettleVerdict: %v, want ErrNotPending", err)
		}
		if _, err := e.svc.SettleVerdict(e.ctx, unknown, VerdictClean, ""); !errors.Is(err, ErrFileNotFound) {
			t.Fatalf("SettleVerdict of an unknown file: %v, want ErrFileNotFound", err)
		}
	})
	t.Run("expired upload still readable", func(t *testing.T) {
		e.clock.Advance(DefaultConfig().UploadTTL + time.Minute)
		if _, err := e.svc.GetUpload(e.ctx, owner, up.ID); !errors.Is(err, ErrUploadExpired) {
			t.Fatalf("GetUpload: %v, want ErrUploadExpired", err)
		}
		if got, err := e.svc.UploadRecord(owner, up.ID); err != nil || got.ID != up.ID || got.Version == 0 {
			t.Fatalf("UploadRecord of the expired upload: %+v, %v", got, err)
		}
	})
}
