package node

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"valise/adminapi"
	"valise/transfer"
	"valise/transfer/filetest"
	"valise/userid"
)

// TestAdminTransfers lists every user's sends and uploads in progress through the admin
// socket, filtered and paged, shows one in detail, and revokes it as an administrator.
func TestAdminTransfers(t *testing.T) {
	h := newHealNode(t, 3, "2+1")
	c, ctx, n := h.c, t.Context(), h.n
	ids := map[string]userid.ID{}
	for _, e := range []string{"alice@example.org", "bob@example.org"} {
		u, err := c.AddUser(ctx, adminapi.UserAddRequest{Email: e})
		if err != nil {
			t.Fatal(err)
		}
		ids[e] = userid.ID(u.ID)
	}
	send := func(owner, subject string, to ...string) transfer.Send {
		t.Helper()
		f := filetest.Store(ctx, t, n.transfers, n.blobs, ids[owner], "", subject+".pdf", []byte("the bytes of "+subject))
		cr, err := n.transfers.CreateSend(ctx, ids[owner], transfer.SendRequest{
			From: transfer.Sender{Email: owner}, To: to, Subject: subject, FileIDs: []transfer.FileID{f.ID},
			Options: transfer.Options{DownloadLimit: 3, Receipts: true},
		})
		if err != nil {
			t.Fatal(err)
		}
		return cr.Send
	}
	s1 := send("alice@example.org", "Budget 2027", "carol@example.org")
	s2 := send("alice@example.org", "Holiday photos", "dave@example.org", "erin@example.org")
	s3 := send("bob@example.org", "Contract", "carol@example.org")
	if _, err := n.transfers.CreateUpload(ctx, ids["bob@example.org"], "huge.iso", 1<<30, nil); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		q    adminapi.TransferQuery
		want []string // IDs or upload names, newest first
	}{
		{"all sends", adminapi.TransferQuery{Kind: "send"}, []string{string(s3.ID), string(s2.ID), string(s1.ID)}},
		{"one user", adminapi.TransferQuery{User: "ALICE@example.org"}, []string{string(s2.ID), string(s1.ID)}},
		{"uploads", adminapi.TransferQuery{Kind: "upload"}, []string{"huge.iso"}},
		{"by recipient", adminapi.TransferQuery{Query: "carol@"}, []string{string(s3.ID), string(s1.ID)}},
		{"by file name", adminapi.TransferQuery{Query: "photos.PDF"}, []string{string(s2.ID)}},
		{"uploading", adminapi.TransferQuery{State: adminapi.TransferUploading, User: "bob@example.org"}, []string{"huge.iso"}},
		{"paged", adminapi.TransferQuery{Kind: "send", Offset: 1, Limit: 1}, []string{string(s2.ID)}},
		{"future", adminapi.TransferQuery{Since: time.Now().Add(time.Hour)}, nil},
		{"nobody", adminapi.TransferQuery{User: "zed@example.org"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := c.ListTransfers(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ti := range p.Transfers {
				if ti.Kind == "upload" {
					got = append(got, ti.Subject)
				} else {
					got = append(got, ti.ID)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("got %v, want %v (page %+v)", got, tc.want, p)
			}
		})
	}
	p, err := c.ListTransfers(ctx, adminapi.TransferQuery{})
	if err != nil || p.Total != 4 {
		t.Fatalf("everything: total %d, %v", p.Total, err)
	}
	for _, ti := range p.Transfers {
		if ti.Kind == "upload" {
			if ti.Owner != "bob@example.org" || ti.State != adminapi.TransferUploading {
				t.Fatalf("upload %+v", ti)
			}
			continue
		}
		if ti.State != adminapi.TransferActive || ti.Files != 1 || ti.Bytes == 0 || !strings.HasSuffix(ti.Owner, "@example.org") {
			t.Fatalf("send %+v", ti)
		}
	}

	d, err := c.GetTransfer(ctx, string(s2.ID))
	if err != nil {
		t.Fatal(err)
	}
	if d.Owner != "alice@example.org" || d.Subject != "Holiday photos" || len(d.Recipients) != 2 || d.Recipients[1].Email != "erin@example.org" ||
		len(d.Files) != 1 || d.Files[0].Name != "Holiday photos.pdf" || d.Files[0].Verdict != "clean" || d.DownloadLimit != 3 || !d.Receipt || d.Password {
		t.Fatalf("detail %+v", d)
	}
	var e *adminapi.Error
	if _, err := c.GetTransfer(ctx, "nope"); !errors.As(err, &e) || e.Code != adminapi.CodeNotFound {
		t.Fatalf("GetTransfer(nope) = %v", err)
	}

	ti, err := c.RevokeTransfer(ctx, string(s2.ID))
	if err != nil || ti.State != adminapi.TransferRevoked {
		t.Fatalf("RevokeTransfer = %+v, %v", ti, err)
	}
	if ti, err := c.RevokeTransfer(ctx, string(s2.ID)); err != nil || ti.State != adminapi.TransferRevoked {
		t.Fatalf("revoking again = %+v, %v", ti, err)
	}
	if _, err := c.RevokeTransfer(ctx, "0190b3a4-0000-7000-8000-000000000000"); !errors.As(err, &e) || e.Code != adminapi.CodeNotFound {
		t.Fatalf("revoking nothing = %v", err)
	}
	j, err := c.Journal(ctx, adminapi.JournalQuery{Action: "send.revoke"})
	if err != nil || len(j.Entries) != 1 || j.Entries[0].Target != string(s2.ID) || j.Entries[0].Actor != fmt.Sprintf("local administrator (uid %d)", os.Getuid()) {
		t.Fatalf("revoke entries %+v, %v", j.Entries, err)
	}
	if p, _ := c.ListTransfers(ctx, adminapi.TransferQuery{State: adminapi.TransferRevoked}); p.Total != 1 {
		t.Fatalf("revoked transfers %+v", p)
	}
}
