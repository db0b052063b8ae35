package upload

import (
	"errors"
	"testing"

	"valise/scan"
	"valise/transfer"
)

// TestSendWaitsForAntivirus guards issue 16 item 3 with a real clamd: "Envoyer" used to wait
// up to 30 s for the verdict of a file just uploaded, then fail. Now the send is accepted at
// once, waiting for the antivirus, with no link; the verdict's hook releases it (the
// invitations, once) when every file is clean, or cancels it when one is infected.
func TestSendWaitsForAntivirus(t *testing.T) {
	d := startClamd(t)
	for _, tc := range []struct {
		name     string
		infected bool
	}{
		{"clean: released, invitations once", false},
		{"infected: cancelled, sender told", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			held := newHeldClamd(t, d.Client())
			u := newUEnv(t, held.client())
			data := randomData(30000, 41)
			if tc.infected {
				copy(data[9000:], scan.EICAR())
			}
			pending := uploadPending(t, u, held, data, false)
			ready := u.upload(owner, "ready.pdf", randomData(5000, 42), transfer.VerdictClean)

			req := sendOf(pending, ready.ID)
			req.To = []string{"bob@example.org", "carol@example.org"}
			req.Lang = "en"
			created, err := u.svc.CreateSend(u.ctx, owner, req)
			if err != nil {
				t.Fatalf("send of a file still being scanned: %v; want accepted at once", err)
			}
			if created.Send.State != transfer.StatusPendingScan || !created.Send.PendingScan || len(created.Invitations) != 0 {
				t.Fatalf("created: state %s, %d invitations; want pending_scan and none yet", created.Send.State, len(created.Invitations))
			}
			got, err := u.svc.GetSend(u.ctx, owner, created.Send.ID)
			if err != nil || got.State != transfer.StatusPendingScan {
				t.Fatalf("GetSend while scanning: %s, %v", got.State, err)
			}
			if _, err := u.svc.Resend(u.ctx, owner, created.Send.ID, "bob@example.org"); !errors.Is(err, transfer.ErrSendNotActive) {
				t.Fatalf("resend of a waiting send: %v, want transfer.ErrSendNotActive (no link to mail yet)", err)
			}
			if _, err := u.svc.Sweep(u.ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := u.svc.GetFile(u.ctx, owner, ready.ID); err != nil {
				t.Fatalf("the sweep destroyed a file a waiting send carries: %v", err)
			}

			held.release()
			ev := u.eventFor(pending)
			if len(ev.Sends) != 1 || ev.Sends[0].Send.ID != created.Send.ID || ev.Sends[0].Lang != "en" {
				t.Fatalf("the verdict settled %+v; want the waiting send", ev.Sends)
			}
			st := ev.Sends[0]
			got, err = u.svc.GetSend(u.ctx, owner, created.Send.ID)
			if err != nil {
				t.Fatal(err)
			}
			if tc.infected {
				if !st.Cancelled || len(st.Invitations) != 0 || len(st.Infected) != 1 || st.Infected[0].ID != pending {
					t.Fatalf("infected: settled %+v; want cancelled naming the file, no invitation", st)
				}
				if got.State != transfer.StatusCancelled || got.CancelReason != transfer.CancelInfected {
					t.Fatalf("infected: state %s (%s), want cancelled (infected)", got.State, got.CancelReason)
				}
			} else {
				if st.Cancelled || len(st.Invitations) != 2 {
					t.Fatalf("clean: settled %+v; want released with two invitations", st)
				}
				if got.State != transfer.StatusActive || got.Recipients[0].LinkIssued.IsZero() {
					t.Fatalf("clean: state %s, link issued %v", got.State, got.Recipients[0].LinkIssued)
				}
				for _, inv := range st.Invitations {
					v, err := u.svc.OpenLink(u.ctx, inv.Token, "", "192.0.2.1")
					if err != nil || v.Recipient != inv.Recipient {
						t.Fatalf("the released link of %s: %v", inv.Recipient, err)
					}
				}
			}
			// Settled once: the periodic sweep finds nothing left to mail.
			if again, err := u.svc.SettleWaitingSends(u.ctx); err != nil || len(again) != 0 {
				t.Fatalf("second settle: %d sends, %v; want none (the mails leave once)", len(again), err)
			}
		})
	}
}
