package transfer

import (
	"errors"
	"strings"
	"testing"

	"valise/raftfsm"
)

// An administrator sees every owner's sends and uploads in progress, reads any send, and
// revokes any: the link stops at once and the journal names the administrator and the owner.
func TestAdminAcrossOwners(t *testing.T) {
	e := newEnv(t)
	fa := e.upload("alice", "a.bin", randomData(300, 1), VerdictClean)
	fb := e.upload("bob", "b.bin", randomData(300, 2), VerdictClean)
	sa := e.send("alice", []File{fa}, []string{"carol@example.org"}, Options{})
	sb := e.send("bob", []File{fb}, []string{"dave@example.org"}, Options{})
	if _, err := e.svc.CreateUpload(e.ctx, "bob", "half.bin", 1000, nil); err != nil {
		t.Fatal(err)
	}

	all, err := e.svc.AllSends(e.ctx)
	if err != nil || len(all) != 2 || all[0].ID != sb.Send.ID || all[1].ID != sa.Send.ID || all[0].State != StatusActive {
		t.Fatalf("AllSends = %+v, %v", all, err)
	}
	ups, err := e.svc.AllUploads(e.ctx)
	if err != nil || len(ups) != 1 || ups[0].Owner != "bob" || ups[0].Name != "half.bin" || ups[0].ResumeState != nil {
		t.Fatalf("AllUploads = %+v, %v", ups, err)
	}
	got, err := e.svc.AnySend(e.ctx, sa.Send.ID)
	if err != nil || got.Owner != "alice" || len(got.Recipients) != 1 || got.State != StatusActive {
		t.Fatalf("AnySend = %+v, %v", got, err)
	}
	if _, err := e.svc.AnySend(e.ctx, "0190b3a4-0000-7000-8000-000000000000"); !errors.Is(err, ErrSendNotFound) {
		t.Fatalf("AnySend of nothing = %v", err)
	}

	if err := e.svc.RevokeAsAdmin(e.ctx, sa.Send.ID, "local administrator (uid 0)"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.OpenLink(e.ctx, sa.Invitations[0].Token, "", "192.0.2.1"); !errors.Is(err, ErrLinkNotFound) {
		t.Fatalf("the revoked link opens: %v", err)
	}
	if err := e.svc.RevokeAsAdmin(e.ctx, sa.Send.ID, "again"); err != nil {
		t.Fatalf("revoking again = %v", err)
	}
	var revokes []raftfsm.Entry
	if err := e.meta.Journal(1, func(en raftfsm.Entry) error {
		if en.Action == "send.revoke" {
			revokes = append(revokes, en)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(revokes) != 1 || revokes[0].Actor != "local administrator (uid 0)" || !strings.Contains(string(revokes[0].Details), `"owner":"alice"`) {
		t.Fatalf("revoke entries %+v", revokes)
	}
	if got, _ := e.svc.AnySend(e.ctx, sa.Send.ID); got.State != StatusRevoked {
		t.Fatalf("state after revoke %s", got.State)
	}
}
