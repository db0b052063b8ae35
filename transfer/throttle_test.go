package transfer

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// TestResendFloodLimited guards issue 16 item 9: resends mailed a recipient a new link as
// often as the sender (or a stolen session) asked, flooding mailboxes and the relay. A
// concurrent burst of resends now gets exactly the budget per send and per user, the rest
// ErrTooManyResends; the window's end gives the budget back.
func TestResendFloodLimited(t *testing.T) {
	for _, tc := range []struct {
		name             string
		perSend, perUser int
		sends            int // the burst spreads over this many sends
		want             int // resends allowed
	}{
		{"per send", 3, 1000, 1, 3},
		{"per user, over several sends", 1000, 5, 4, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config, _ *Deps) {
				c.Resend = ResendConfig{PerSend: tc.perSend, PerUser: tc.perUser, Window: time.Hour}
			})
			f := e.upload(owner, "a.pdf", randomData(2000, 1), VerdictClean)
			var ids []SendID
			for range tc.sends {
				ids = append(ids, e.send(owner, []File{f}, []string{"bob@example.org"}, Options{}).Send.ID)
			}
			const burst = 24
			var wg sync.WaitGroup
			errs := make(chan error, burst)
			for i := range burst {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := e.svc.Resend(e.ctx, owner, ids[i%len(ids)], "bob@example.org")
					errs <- err
				}()
			}
			wg.Wait()
			close(errs)
			ok := 0
			for err := range errs {
				switch {
				case err == nil:
					ok++
				case !errors.Is(err, ErrTooManyResends) || Code(err) != "too_many_resends":
					t.Errorf("resend: %v, want ErrTooManyResends", err)
				}
			}
			if ok != tc.want {
				t.Fatalf("%d of %d concurrent resends went through, want %d", ok, burst, tc.want)
			}
			// Another user is not held back by this one's flood.
			other := e.send("bob", []File{e.upload("bob", "b.pdf", randomData(2000, 2), VerdictClean)}, []string{"carol@example.org"}, Options{})
			if _, err := e.svc.Resend(e.ctx, "bob", other.Send.ID, "carol@example.org"); err != nil {
				t.Fatalf("another user's resend: %v", err)
			}
			e.clock.Advance(time.Hour)
			if _, err := e.svc.Resend(e.ctx, owner, ids[0], "bob@example.org"); err != nil {
				t.Fatalf("resend after the window: %v", err)
			}
		})
	}
}
