package api

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"valise/notify"
)

// TestAttackParallelDownloadsOverLimit: ten parallel downloads of a file sent with a download
// limit of 1 used to all pass the check, and 9 of 10 completed (issue 16 item 9). The hold
// taken through Raft before the first byte lets exactly one through; the others get a clear
// error (409 download_busy while it runs, then 410 or 404 once it used the send up).
func TestAttackParallelDownloadsOverLimit(t *testing.T) {
	w := newWorld(t, withLinkBurst(100))
	a, bearer := w.user("max@example.org", "Max")
	data := randomData(1<<20, 7)
	f := w.upload(a.ID, "a.bin", data)
	mustStatus(t, w.api("POST", "/api/v1/sends", bearer, createSendJSON{
		To: []string{"ned@example.org"}, Files: []string{string(f.ID)}, Options: sendOptionsJSON{DownloadLimit: 1},
	}), 201)
	tok := linkToken(t, w.outbox(1)[0])

	const n = 10
	type result struct {
		status int
		body   []byte
		err    error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			req, err := http.NewRequestWithContext(w.ctx, "GET", w.base+"/s/"+tok+"/files/"+string(f.ID), nil)
			if err != nil {
				results[i].err = err
				return
			}
			resp, err := w.client.Do(req)
			if err != nil {
				results[i].err = err
				return
			}
			defer resp.Body.Close()
			results[i].body, results[i].err = io.ReadAll(resp.Body)
			results[i].status = resp.StatusCode
		}()
	}
	close(start)
	wg.Wait()
	ok := 0
	for i, r := range results {
		switch {
		case r.err != nil:
			t.Fatalf("download %d: %v", i, r.err)
		case r.status == 200 && bytes.Equal(r.body, data):
			ok++
		case r.status == 409 && strings.Contains(string(r.body), `"download_busy"`),
			r.status == 410 && strings.Contains(string(r.body), `"download_limit"`),
			r.status == 404 && strings.Contains(string(r.body), `"link_not_found"`):
		default:
			t.Errorf("download %d: status %d: %.200s", i, r.status, r.body)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d parallel downloads succeeded under a limit of 1", ok, n)
	}
}

// TestAttackRangeRequestsDodgeLimit: ten Range requests for bytes=0-(size-2) each got all but
// the last byte of a file sent with a download limit of 1, and none counted (issue 16 item
// 9). Downloads count by bytes served: the second such request completes one, and the link
// is used up.
func TestAttackRangeRequestsDodgeLimit(t *testing.T) {
	w := newWorld(t, withLinkBurst(100))
	a, bearer := w.user("max@example.org", "Max")
	data := randomData(64<<10, 8)
	f := w.upload(a.ID, "a.bin", data)
	mustStatus(t, w.api("POST", "/api/v1/sends", bearer, createSendJSON{
		To: []string{"ned@example.org"}, Files: []string{string(f.ID)}, Options: sendOptionsJSON{DownloadLimit: 1},
	}), 201)
	tok := linkToken(t, w.outbox(1)[0])
	served := 0
	for i := range 10 {
		r := w.call("GET", "/s/"+tok+"/files/"+string(f.ID), map[string]string{"Range": fmt.Sprintf("bytes=0-%d", len(data)-2)}, nil, false)
		switch r.StatusCode {
		case 206:
			served++
		case 404, 410:
		default:
			t.Fatalf("range request %d: status %d: %s", i, r.StatusCode, r.body)
		}
	}
	if served != 2 {
		t.Fatalf("%d range requests served under a limit of 1, want 2 (the second completes the download)", served)
	}
	mustStatus(t, w.api("GET", "/api/v1/links/"+tok, "", nil), 404)
}

// TestReceiptOnePerDownload: a zip of three files sent one receipt per file; a receipt is one
// mail per completed download of a send, the zip being one download listing its files
// (issue 16 item 9).
func TestReceiptOnePerDownload(t *testing.T) {
	w := newWorld(t)
	a, bearer := w.user("max@example.org", "")
	var ids []string
	for i, name := range []string{"un.txt", "deux.txt", "trois.txt"} {
		f := w.upload(a.ID, name, randomData(1000+i, uint64(i)))
		ids = append(ids, string(f.ID))
	}
	mustStatus(t, w.api("POST", "/api/v1/sends", bearer, createSendJSON{
		To: []string{"ned@example.org"}, Files: ids, Options: sendOptionsJSON{Receipts: true},
	}), 201)
	tok := linkToken(t, w.outbox(1)[0])

	r := w.call("GET", "/s/"+tok+"/zip", nil, nil, true)
	mustStatus(t, r, 200)
	if zr, err := zip.NewReader(bytes.NewReader(r.body), int64(len(r.body))); err != nil || len(zr.File) != 3 {
		t.Fatalf("zip: %v", err)
	}
	mails := w.outbox(2)
	receipts := func() []notify.Message {
		var out []notify.Message
		all, err := w.mail.Outbox(w.ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range all {
			if m.Kind == notify.KindReceipt {
				out = append(out, m)
			}
		}
		return out
	}
	rs := receipts()
	if len(rs) != 1 {
		t.Fatalf("%d receipts for one zip download, want 1 (mails: %d)", len(rs), len(mails))
	}
	for _, name := range []string{"un.txt", "deux.txt", "trois.txt"} {
		if !strings.Contains(rs[0].Text, name) {
			t.Errorf("the zip's receipt lacks %s:\n%s", name, rs[0].Text)
		}
	}
	if strings.Contains(rs[0].Text, "Bonjour ,") || strings.Contains(rs[0].HTML, "Bonjour ,") {
		t.Errorf("receipt greets an empty name:\n%s", rs[0].Text)
	}
	// One file alone: one more receipt.
	mustStatus(t, w.call("GET", "/s/"+tok+"/files/"+ids[0], nil, nil, true), 200)
	w.outbox(3)
	if rs := receipts(); len(rs) != 2 {
		t.Fatalf("%d receipts after a zip and a file, want 2", len(rs))
	}
}
