package transfer

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestLeaseFences walks an upload's lease through two nodes (issue 18): the second is refused
// while the first's lease is live and takes it over once expired; from then on every call of
// the first under its old lease (renew, claim, progress, completion) is refused with ErrLocked
// and records nothing, and its release leaves the new holder alone; a record without a lease
// is refused while one is live; claimed generations only grow, across holders and releases;
// a node takes its own lease back at once (a restart); the lease goes with the upload.
func TestLeaseFences(t *testing.T) {
	const ttl = 10 * time.Second
	e := newEnv(t)
	up, err := e.svc.CreateUpload(e.ctx, "alice", "f.bin", 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := up.ID
	a, err := e.svc.AcquireLease(e.ctx, "alice", id, "node-a", ttl, 1)
	if err != nil || a.Gen != 1 || a.Epoch != 1 {
		t.Fatalf("first lease %+v, %v: want generation 1, epoch 1", a, err)
	}
	if _, err := e.svc.RecordProgressLeased(e.ctx, "alice", a, 0, 10, []byte("state a")); err != nil {
		t.Fatalf("record under the lease: %v", err)
	}
	if _, err := e.svc.AcquireLease(e.ctx, "alice", id, "node-b", ttl, 1); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "node-a") {
		t.Fatalf("acquire while another node's lease is live = %v, want ErrLocked naming node-a", err)
	}
	if _, err := e.svc.RecordProgress(e.ctx, "alice", id, 10, 20, []byte("no lease")); !errors.Is(err, ErrLocked) {
		t.Fatalf("record without a lease while one is live = %v, want ErrLocked", err)
	}
	if _, err := e.svc.AcquireLease(e.ctx, "bob", id, "node-b", ttl, 1); !errors.Is(err, ErrUploadNotFound) {
		t.Fatalf("acquire another user's upload = %v, want ErrUploadNotFound", err)
	}

	e.clock.Advance(ttl) // node-a dies: nothing renews its lease
	b, err := e.svc.AcquireLease(e.ctx, "alice", id, "node-b", ttl, 1)
	if err != nil || b.Gen != 2 || b.Epoch != 2 {
		t.Fatalf("takeover %+v, %v: want generation 2, epoch 2", b, err)
	}
	if b, err = e.svc.ClaimGeneration(e.ctx, b, 7); err != nil || b.Gen != 7 {
		t.Fatalf("claim generation 7: %+v, %v", b, err)
	}
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"renew", func() error { _, err := e.svc.RenewLease(e.ctx, a, ttl); return err }},
		{"claim", func() error { _, err := e.svc.ClaimGeneration(e.ctx, a, 9); return err }},
		{"progress", func() error {
			_, err := e.svc.RecordProgressLeased(e.ctx, "alice", a, 10, 20, []byte("stale"))
			return err
		}},
		{"complete", func() error {
			_, err := e.svc.CompleteUploadLeased(e.ctx, "alice", a, Completion{Manifest: []byte("m"), SHA256: strings.Repeat("ab", 32), Verdict: VerdictClean})
			return err
		}},
	} {
		if err := tc.call(); !errors.Is(err, ErrLocked) {
			t.Errorf("%s under the lease taken over = %v, want ErrLocked", tc.name, err)
		}
	}
	if got, err := e.svc.GetUpload(e.ctx, "alice", id); err != nil || got.Offset != 10 || string(got.ResumeState) != "state a" {
		t.Fatalf("upload after the stale holder's calls: %+v, %v; want offset 10 unchanged", got, err)
	}
	if err := e.svc.ReleaseLease(e.ctx, a); err != nil {
		t.Fatalf("release of a lease taken over: %v", err)
	}
	if l, err := e.svc.GetLease(id); err != nil || l.Holder != "node-b" || l.Gen != 7 {
		t.Fatalf("lease after the stale release %+v, %v: want node-b's, generation 7", l, err)
	}

	if b, err = e.svc.RenewLease(e.ctx, b, ttl); err != nil {
		t.Fatalf("renew: %v", err)
	}
	again, err := e.svc.AcquireLease(e.ctx, "alice", id, "node-b", ttl, 3)
	if err != nil || again.Epoch != 3 || again.Gen != 8 {
		t.Fatalf("node-b takes its own live lease back (a restart): %+v, %v; want epoch 3, generation 8", again, err)
	}
	if _, err := e.svc.RecordProgressLeased(e.ctx, "alice", b, 10, 20, nil); !errors.Is(err, ErrLocked) {
		t.Fatalf("record under the lease of node-b's previous process = %v, want ErrLocked", err)
	}
	if err := e.svc.ReleaseLease(e.ctx, again); err != nil {
		t.Fatal(err)
	}
	c, err := e.svc.AcquireLease(e.ctx, "alice", id, "node-c", ttl, 20)
	if err != nil || c.Gen != 20 {
		t.Fatalf("acquire after a release, asking for 20: %+v, %v", c, err)
	}
	if _, err := e.svc.RecordProgressLeased(e.ctx, "alice", c, 10, 100, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CompleteUploadLeased(e.ctx, "alice", c, Completion{Manifest: []byte("m"), SHA256: strings.Repeat("ab", 32), Verdict: VerdictClean}); err != nil {
		t.Fatalf("complete under the lease: %v", err)
	}
	if l, err := e.svc.GetLease(id); err != nil || l != (Lease{Upload: id}) {
		t.Fatalf("lease after completion %+v, %v: want none", l, err)
	}
}
