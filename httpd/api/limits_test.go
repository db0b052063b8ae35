package api

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"valise/internal/membudget"
	"valise/internal/poll"
	"valise/transfer"
	"valise/userid"
)

// sendOf uploads n files of owner, sends them to one recipient and returns the link token,
// the send's ID and the file IDs.
func sendOf(t *testing.T, w *world, n int) (token string, id transfer.SendID, files []string) {
	t.Helper()
	a, bearer := w.user("lea@example.org", "Léa")
	for i := range n {
		files = append(files, string(w.upload(a.ID, fmt.Sprintf("f%d.bin", i), randomData(5000+i, uint64(i+1))).ID))
	}
	var cs createdSendJSON
	r := w.api("POST", "/api/v1/sends", bearer, createSendJSON{To: []string{"marc@example.org"}, Files: files})
	mustStatus(t, r, 201)
	r.json(t, &cs)
	return linkToken(t, w.outbox(1)[0]), cs.Send.ID, files
}

// TestDownloadPastMemoryBudget is the slow-download flood of issue 16 item 5 (each slow
// download held ~21 MiB and a zip 45 MiB, with no bound on how many ran): a download or a zip
// that finds no room in the node's memory budget waits briefly and gets 503 with
// Retry-After, before anything is counted; zips are bounded apart; once there is room they
// go through, and the stream gives its reservation back when it ends.
func TestDownloadPastMemoryBudget(t *testing.T) {
	const mib = 1 << 20
	w := newWorld(t)
	b, err := membudget.New(20*mib, 10*mib)
	if err != nil {
		t.Fatal(err)
	}
	g, err := membudget.NewGate(b, membudget.GateConfig{
		Costs: [3]int64{10 * mib, 10 * mib, 10 * mib}, Wait: 20 * time.Millisecond, MaxZips: 1, RetryAfter: 9 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.h.deps.Gate = g // before any request: the handler reads it per request
	tok, sendID, files := sendOf(t, w, 2)
	file := "/s/" + tok + "/files/" + files[0]
	zip := "/s/" + tok + "/zip"

	held := []*membudget.Reservation{}
	for _, k := range []string{"link:other-a", "link:other-b"} {
		r, ok := b.TryAcquire(10*mib, k, "ip:192.0.2.7"+k[len(k)-1:])
		if !ok {
			t.Fatal("could not fill the budget")
		}
		held = append(held, r)
	}
	for _, path := range []string{file, zip} {
		r := w.call("GET", path, nil, nil, false)
		if r.StatusCode != 503 || r.Header.Get("Retry-After") != "9" {
			t.Fatalf("GET %s past the budget: %d Retry-After %q %s; want 503 with Retry-After 9", path, r.StatusCode, r.Header.Get("Retry-After"), r.body)
		}
	}
	for _, r := range held {
		r.Release()
	}
	// A zip streaming elsewhere holds the only zip slot: a second zip is refused.
	other, err := g.Admit(t.Context(), membudget.Zip, "link:other-c")
	if err != nil {
		t.Fatal(err)
	}
	if r := w.call("GET", zip, nil, nil, false); r.StatusCode != 503 {
		t.Fatalf("second zip while the slot is held: %d, want 503", r.StatusCode)
	}
	other.Release()
	mustStatus(t, w.call("GET", file, nil, nil, false), 200)
	mustStatus(t, w.call("GET", zip, nil, nil, false), 200)
	poll.Until(t, "the streams' reservations released", func() bool { return b.Used() == 0 })

	// The refusals counted nothing: one download of file 0 alone, and the zip's two.
	owner := w.accountOf(t, "lea@example.org")
	poll.Until(t, "downloads recorded", func() bool {
		s, err := w.transfer.GetSend(w.ctx, owner, sendID)
		return err == nil && s.Recipients[0].DownloadCount >= 3
	})
	if s, _ := w.transfer.GetSend(w.ctx, owner, sendID); s.Recipients[0].DownloadCount != 3 {
		t.Fatalf("%d downloads recorded, want 3: a refused request was counted", s.Recipients[0].DownloadCount)
	}
}

// TestParallelZipsRecordEveryDownload is the zip flood of issue 16 item 5 (ten zips of one
// send at once lost 558 download records to conflicts on the send's record): ten concurrent
// zips of a 20-file send record all 200 downloads.
func TestParallelZipsRecordEveryDownload(t *testing.T) {
	const zips, nfiles = 10, 20
	w := newWorld(t)
	tok, sendID, _ := sendOf(t, w, nfiles)
	var wg sync.WaitGroup
	for range zips {
		wg.Go(func() {
			r := w.call("GET", "/s/"+tok+"/zip", nil, nil, false)
			if r.StatusCode != 200 {
				t.Errorf("zip: %d %s", r.StatusCode, r.body)
			}
		})
	}
	wg.Wait()
	owner := w.accountOf(t, "lea@example.org")
	var got int
	poll.Until(t, strconv.Itoa(zips*nfiles)+" downloads recorded", func() bool {
		s, err := w.transfer.GetSend(w.ctx, owner, sendID)
		if err != nil {
			t.Fatal(err)
		}
		got = s.Recipients[0].DownloadCount
		return got >= zips*nfiles
	})
	if got != zips*nfiles {
		t.Fatalf("%d downloads recorded, want %d", got, zips*nfiles)
	}
}

// accountOf returns the ID of the user with email.
func (w *world) accountOf(t *testing.T, email string) userid.ID {
	t.Helper()
	u, err := w.accounts.ByEmail(w.ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}
