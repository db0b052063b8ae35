package transfer

import (
	"math/rand/v2"
	"testing"

	"valise/raftfsm/rafttest"
)

// A revoked link is refused at once on every node: public reads are linearizable, so a
// follower that has not applied the revocation yet waits for it (issue 11).
func TestRevokedLinkRefusedOnEveryNode(t *testing.T) {
	c := rafttest.NewCluster(t, 3)
	leader := c.Leader(t)
	warmUp(t, c.Store(leader))

	e := newEnv(t) // its blobstore and clock; the services below use the cluster
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
	e.svc = svcOn(leader)
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
