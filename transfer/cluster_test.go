package transfer

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"valise/raftfsm/rafttest"
)

// A revoked link is refused at once on every node: public reads are linearizable, so a
// follower that has not applied the revocation yet waits for it (issue 11).
func TestRevokedLinkRefusedOnEveryNode(t *testing.T) {
	e, c, svcOn := newClusterEnv(t)
	leader := c.Leader(t)
	f := e.upload("u1", "a.bin", randomData(500, 1), VerdictClean)
	tok := e.send("u1", []File{f}, []string{"bob@example.org"}, Options{}).Invitations[0].Token
	sendID := func() SendID {
		list, err := e.svc.ListSends(e.ctx, "u1")
		if err != nil || len(list) != 1 {
			t.Fatalf("ListSends = %v, %v", list, err)
		}
		return list[0].ID
	}()

	followers := c.Followers(t)
	for _, i := range followers {
		// Open on a follower: the view is served; the tracking, which needs the leader, is
		// best effort.
		if v, err := svcOn(i).OpenLink(e.ctx, tok, "", "192.0.2.1"); err != nil || len(v.Files) != 1 {
			t.Fatalf("node %d before the revocation: %+v, %v", i, v, err)
		}
	}
	if err := e.svc.Revoke(e.ctx, "u1", sendID); err != nil {
		t.Fatal(err)
	}
	for _, i := range append(followers, leader) {
		if _, err := svcOn(i).OpenLink(e.ctx, tok, "", "192.0.2.1"); err != ErrLinkNotFound {
			t.Fatalf("node %d right after the revocation: %v, want ErrLinkNotFound", i, err)
		}
		if _, err := svcOn(i).StartDownload(e.ctx, tok, "", f.ID, "192.0.2.1", false); err != ErrLinkNotFound {
			t.Fatalf("node %d download right after the revocation: %v", i, err)
		}
	}
	c.RequireSameState(t)
}

// newClusterEnv starts a 3-node cluster and returns an env whose service (e.svc) runs on its
// leader, and svcOn, which makes a service on node i; the env's blobstore and clock serve all.
func newClusterEnv(t *testing.T) (*env, *rafttest.Cluster, func(i int) *Service) {
	c := rafttest.NewCluster(t, 3)
	leader := c.Leader(t)
	warmUp(t, c.Store(leader))
	e := newEnv(t)
	svcOn := func(i int) *Service {
		svc, err := New(DefaultConfig(), Deps{
			Store: c.Store(i), Blobs: e.blobs, Hasher: testHasher{}, Logger: testLogger(t),
			Now: e.clock.Now, Rand: lockedRand{R: rand.NewChaCha8([32]byte{byte(i)})},
		})
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	e.meta, e.svc = c.Store(leader), svcOn(leader)
	return e, c, svcOn
}

// A suspension after a restore, and its confirmation by the sender, hold at once
// on every node: the key is read after the linearizable read, as the link is (issue 19).
func TestSuspendedLinkOnEveryNode(t *testing.T) {
	e, c, svcOn := newClusterEnv(t)
	f := e.upload("u1", "a.bin", randomData(500, 1), VerdictClean)
	created := e.send("u1", []File{f}, []string{"bob@example.org"}, Options{})
	tok := created.Invitations[0].Token
	e.suspendAt(SuspendValue(e.clock.Now().Add(time.Second)))
	nodes := append(c.Followers(t), c.Leader(t))
	for _, i := range nodes {
		if _, err := svcOn(i).OpenLink(e.ctx, tok, "", "192.0.2.1"); !errors.Is(err, ErrSuspended) {
			t.Fatalf("node %d right after the suspension: %v, want ErrSuspended", i, err)
		}
	}
	e.clock.Advance(time.Minute)
	if err := e.svc.Confirm(e.ctx, "u1", created.Send.ID); err != nil {
		t.Fatalf("Confirm: %v", err)
	}
	for _, i := range nodes {
		if _, err := svcOn(i).StartDownload(e.ctx, tok, "", f.ID, "192.0.2.1", false); err != nil {
			t.Fatalf("node %d right after the confirmation: %v", i, err)
		}
	}
	c.RequireSameState(t)
}
