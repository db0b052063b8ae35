package web

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"valise/account"
	"valise/httpd/tus"
	"valise/internal/poll"
	"valise/userid"
)

// countingBackend is a tus backend that counts the uploads in progress (created, not yet
// complete) and holds every Write until the test releases it: the uploads then stay in
// progress for as long as the test needs to see how many the page runs at once.
type countingBackend struct {
	tus.Backend
	stop chan struct{} // closed at the test's end: every held Write goes on

	mu      sync.Mutex // guards the fields below
	left    map[string]int64
	active  int             // uploads in progress
	most    int             // the most uploads in progress at once
	done    int             // uploads complete
	waiting []chan struct{} // held Writes
}

func (c *countingBackend) Create(ctx context.Context, r tus.CreateRequest) (string, error) {
	id, err := c.Backend.Create(ctx, r)
	if err != nil || r.Length == 0 {
		return id, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.left[id] = r.Length
	c.active++
	c.most = max(c.most, c.active)
	return id, nil
}

func (c *countingBackend) Write(ctx context.Context, principal userid.ID, id string, offset int64, chunk tus.Chunk) (int64, error) {
	ch := make(chan struct{})
	c.mu.Lock()
	c.waiting = append(c.waiting, ch)
	c.mu.Unlock()
	select {
	case <-ch:
	case <-c.stop:
	case <-ctx.Done():
	}
	n, err := c.Backend.Write(ctx, principal, id, offset, chunk)
	c.mu.Lock()
	defer c.mu.Unlock()
	if size, ok := c.left[id]; ok && n >= size {
		delete(c.left, id)
		c.active--
		c.done++
	}
	return n, err
}

// releaseWhen lets the held Writes go on once at least want uploads are in progress, and
// reports how many uploads are complete and the most that were in progress at once.
func (c *countingBackend) releaseWhen(want func(done int) int) (done, most int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.waiting) > 0 && c.active >= want(c.done) {
		for _, ch := range c.waiting {
			close(ch)
		}
		c.waiting = nil
	}
	return c.done, c.most
}

// TestBrowserUploadsTwoAtATime guards issue 16 (the memory budget admits 3 transfers per
// user and refuses the rest with 503): the compose page started every file of a folder at
// once, so a folder of many files had uploads refused. The page now runs at most two
// uploads at a time. Five files are picked; the server holds each upload's bytes until two
// are in progress (or every one left is), counts the most in progress at once, and sees all
// five complete and the send go out.
func TestBrowserUploadsTwoAtATime(t *testing.T) {
	const files, maxActive = 5, 2
	b := newBrowser(t)
	e := newEnv(t)
	cb := &countingBackend{stop: make(chan struct{}), left: map[string]int64{}}
	t.Cleanup(func() { close(cb.stop) })
	e.mountUploadsWrapped(t, nil, func(inner tus.Backend) tus.Backend {
		cb.Backend = inner
		return cb
	})
	alice, _ := e.addUser("alice@example.org", testPassword, account.LangFR)

	dir := t.TempDir()
	var paths []string
	for i := range files {
		data := make([]byte, 100_000+i)
		rand.Read(data)
		p := filepath.Join(dir, fmt.Sprintf("f%d.bin", i))
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}

	b.signIn(e.base, "alice@example.org", "send-form")
	b.do("pick five files",
		chromedp.SendKeys(chromedp.ID("to"), "bob@example.org"),
		chromedp.SetUploadFiles(chromedp.ID("files"), paths))
	most := 0
	poll.Until(t, "the five uploads", func() bool {
		var done int
		// Hold the bytes until as many uploads are in progress as the page may run (fewer
		// only when fewer are left): a page that starts more shows them here.
		done, most = cb.releaseWhen(func(done int) int { return min(maxActive, files-done) })
		return done == files
	})
	if most > maxActive {
		t.Fatalf("%d uploads in progress at once, want at most %d", most, maxActive)
	}
	b.do("the form has every file",
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.querySelectorAll("#file-ids input[name=file]").length === %d`, files)))
	stored, err := e.sends.ListFiles(e.ctx, alice.ID)
	if err != nil || len(stored) != files {
		t.Fatalf("files %d, %v; want %d", len(stored), err, files)
	}
	for _, f := range stored {
		e.sayClean(alice.ID, f.ID)
	}
	b.do("send", chromedp.Click(chromedp.ID("send-submit")), chromedp.WaitVisible(chromedp.CSS("input.link-url")))
	s, err := e.sends.GetSend(e.ctx, alice.ID, sends0(t, e, alice.ID))
	if err != nil || len(s.Files) != files {
		t.Fatalf("send: %d files, %v; want %d", len(s.Files), err, files)
	}
}
