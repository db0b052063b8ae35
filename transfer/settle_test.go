package transfer

import (
	"testing"

	"valise/scan"
)

// TestSettleWaitingSendsAfterRestart guards issue 16 item 3: a verdict recorded while no hook
// could settle the send (a restart between the two, another node's scan) is caught by
// SettleWaitingSends, which the node runs with its rescan of held files.
func TestSettleWaitingSendsAfterRestart(t *testing.T) {
	for _, tc := range []struct {
		name      string
		verdict   Verdict
		wantState SendStatus
	}{
		{"clean", VerdictClean, StatusActive},
		{"infected", VerdictInfected, StatusCancelled},
		{"still pending", VerdictPending, StatusPendingScan},
		{"held: scanner down", VerdictNotScanned, StatusPendingScan},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			f := e.upload(owner, "a.pdf", randomData(4000, 7), VerdictPending)
			c := e.send(owner, []File{f}, []string{"bob@example.org"}, Options{})
			if c.Send.State != StatusPendingScan {
				t.Fatalf("state %s", c.Send.State)
			}
			if tc.verdict != VerdictPending {
				reason := ""
				if tc.verdict == VerdictNotScanned {
					reason = scan.ReasonScannerDown.Code()
				}
				// The verdict is recorded and the node stops before any hook ran.
				if err := e.svc.SetVerdict(e.ctx, f.ID, tc.verdict, reason); err != nil {
					t.Fatal(err)
				}
			}
			settled, err := e.svc.SettleWaitingSends(e.ctx)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := e.svc.GetSend(e.ctx, owner, c.Send.ID)
			if got.State != tc.wantState {
				t.Fatalf("state %s, want %s", got.State, tc.wantState)
			}
			switch tc.wantState {
			case StatusActive:
				if len(settled) != 1 || len(settled[0].Invitations) != 1 {
					t.Fatalf("settled %+v, want one invitation", settled)
				}
			case StatusCancelled:
				if len(settled) != 1 || !settled[0].Cancelled {
					t.Fatalf("settled %+v, want cancelled", settled)
				}
			default:
				if len(settled) != 0 {
					t.Fatalf("settled %+v while a file waits", settled)
				}
			}
		})
	}
}

// TestRevokeWaitingSendNeverMails guards issue 16 item 3: a send revoked while it waits for
// the antivirus stays revoked when its files turn clean; no link is issued, no mail leaves.
func TestRevokeWaitingSendNeverMails(t *testing.T) {
	e := newEnv(t)
	f := e.upload(owner, "a.pdf", randomData(4000, 9), VerdictPending)
	c := e.send(owner, []File{f}, []string{"bob@example.org"}, Options{})
	if err := e.svc.Revoke(e.ctx, owner, c.Send.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.SetVerdict(e.ctx, f.ID, VerdictClean, ""); err != nil {
		t.Fatal(err)
	}
	for _, settle := range []func() ([]Settled, error){
		func() ([]Settled, error) { return e.svc.SettleSendsOf(e.ctx, f.ID) },
		func() ([]Settled, error) { return e.svc.SettleWaitingSends(e.ctx) },
	} {
		if got, err := settle(); err != nil || len(got) != 0 {
			t.Fatalf("settled a revoked send: %+v, %v", got, err)
		}
	}
	if got, _ := e.svc.GetSend(e.ctx, owner, c.Send.ID); got.State != StatusRevoked || !got.Recipients[0].LinkIssued.IsZero() {
		t.Fatalf("state %s, link issued %v", got.State, got.Recipients[0].LinkIssued)
	}
}
