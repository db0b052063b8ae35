package transfer

import (
	"errors"
	"fmt"
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

// TestReceiptFloodLimited guards issue 16 item 9: a recipient who downloaded the same file
// a thousand times mailed the sender a thousand receipts. A concurrent burst of complete
// downloads now calls for at most one receipt per recipient and file (or zip) and
// Config.Receipt.PerSend per send in a window, while every download is still recorded for
// the sent page; the window's end gives the budget back.
func TestReceiptFloodLimited(t *testing.T) {
	for _, tc := range []struct {
		name         string
		perSend      int
		files, recps int
		repeat       int  // complete downloads of each file by each recipient
		zip          bool // the files come in zips
		want         int  // receipts due
	}{
		{"same file over and over", 20, 1, 1, 24, false, 1},
		{"one per recipient and file", 20, 2, 3, 4, false, 6},
		{"per send", 4, 3, 3, 3, false, 4},
		{"a zip is one download", 20, 3, 1, 6, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config, _ *Deps) {
				c.Receipt = ReceiptConfig{PerSend: tc.perSend, Window: time.Hour}
			})
			var files []File
			for i := range tc.files {
				files = append(files, e.upload(owner, fmt.Sprintf("f%d.pdf", i), randomData(1000+i, uint64(i+1)), VerdictClean))
			}
			var to []string
			for i := range tc.recps {
				to = append(to, fmt.Sprintf("r%d@example.org", i))
			}
			c := e.send(owner, files, to, Options{Receipts: true})
			download := func(token string, f File) (Outcome, error) {
				tk, err := e.svc.StartDownload(e.ctx, token, "", f.ID, "192.0.2.1", false)
				if err != nil {
					return Outcome{}, fmt.Errorf("start download: %w", err)
				}
				tk.Zip = tc.zip
				for {
					// A burst on one send may outlast change's attempts (ErrBusy): nothing
					// was recorded nor claimed then, so try again.
					out, err := e.svc.FinishDownload(e.ctx, tk, f.Size)
					if !errors.Is(err, ErrBusy) {
						return out, err
					}
				}
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			receipts := 0
			for _, inv := range c.Invitations {
				for range tc.repeat {
					for _, f := range files {
						wg.Add(1)
						go func() {
							defer wg.Done()
							out, err := download(inv.Token, f)
							if err != nil {
								t.Errorf("download: %v", err)
								return
							}
							if !out.Counted {
								t.Errorf("a complete download did not count: %+v", out)
							}
							if out.ReceiptDue {
								mu.Lock()
								receipts++
								mu.Unlock()
							}
						}()
					}
				}
			}
			wg.Wait()
			if receipts != tc.want {
				t.Fatalf("%d receipts due for %d downloads, want %d", receipts, tc.recps*tc.files*tc.repeat, tc.want)
			}
			// Every download is still recorded: the sent page shows them all.
			s, err := e.svc.GetSend(e.ctx, owner, c.Send.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range s.Recipients {
				if r.DownloadCount != tc.files*tc.repeat {
					t.Errorf("%s: %d downloads recorded, want %d", r.Address, r.DownloadCount, tc.files*tc.repeat)
				}
			}
			e.clock.Advance(time.Hour)
			if out, err := download(c.Invitations[0].Token, files[0]); err != nil || !out.ReceiptDue {
				t.Fatalf("download after the window: %+v, %v; want a receipt", out, err)
			}
		})
	}
}
