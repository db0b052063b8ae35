package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/valyala/fasthttp"

	"valise/account"
	"valise/httpd/tus"
	"valise/httpd/tus/tustest"
	"valise/internal/poll"
	"valise/transfer"
	"valise/userid"
)

// gatedBackend is tustest's file backend whose next Write, once armed, stops after `after`
// bytes until the test opens the gate: the browser is then mid-upload for as long as the
// test needs, with no sleep and no network emulation.
type gatedBackend struct {
	*tustest.Backend
	after int64

	mu      sync.Mutex    // guards the fields below
	armed   bool          // the next Write is gated
	reached chan struct{} // closed when the gated Write has read `after` bytes
	gate    chan struct{} // closed by the test to let it go on
	id      string        // the gated upload
}

// arm gates the next Write and returns its channels.
func (g *gatedBackend) arm() (reached, gate chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.armed, g.reached, g.gate = true, make(chan struct{}), make(chan struct{})
	return g.reached, g.gate
}

func (g *gatedBackend) gatedID() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.id
}

func (g *gatedBackend) Write(ctx context.Context, principal userid.ID, id string, offset int64, chunk tus.Chunk) (int64, error) {
	g.mu.Lock()
	if g.armed {
		g.armed, g.id = false, id
		chunk = &gatedChunk{Chunk: chunk, left: g.after, reached: g.reached, gate: g.gate}
	}
	g.mu.Unlock()
	return g.Backend.Write(ctx, principal, id, offset, chunk)
}

// gatedChunk passes `left` bytes, then waits for the gate.
type gatedChunk struct {
	tus.Chunk
	left    int64
	reached chan struct{}
	gate    chan struct{}
	once    sync.Once
}

func (c *gatedChunk) Read(p []byte) (int, error) {
	if c.left <= 0 {
		c.once.Do(func() { close(c.reached) })
		<-c.gate
		return c.Chunk.Read(p)
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.Chunk.Read(p)
	c.left -= int64(n)
	return n, err
}

// TestBrowserUploadPauseReload uploads files with the page's own JavaScript (tus-js-client
// against the tus server, authenticated by the session cookie and the CSRF header): one
// paused and resumed mid-upload, one interrupted by a reload and resumed when the same file
// is picked again. The bytes stored match, and the form receives the upload IDs.
func TestBrowserUploadPauseReload(t *testing.T) {
	b := newBrowser(t)
	e := newEnv(t)
	tusDir := t.TempDir()
	fb, err := tustest.Open(tustest.Config{Dir: tusDir, MaxSize: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	gb := &gatedBackend{Backend: fb, after: 1 << 20}
	ts, err := tus.New(tus.DefaultConfig(), gb, e.h.SessionPrincipal, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	mount := func(ctx *fasthttp.RequestCtx) bool {
		p := string(ctx.Path())
		if p != "/api/v1/uploads" && !strings.HasPrefix(p, "/api/v1/uploads/") {
			return false
		}
		ts.Handle(ctx)
		return true
	}
	e.extra.Store(&mount)
	alice, _ := e.addUser("alice@example.org", testPassword, account.LangFR)
	// cutAt checks that the interrupted upload kept the bytes received before the cut.
	cutAt := func(id string) {
		t.Helper()
		info, err := fb.Info(e.ctx, alice.ID, id)
		if err != nil || info.Offset < gb.after || info.Offset >= info.Length {
			t.Fatalf("upload %s after the cut: offset %d of %d, %v; want at least %d kept", id, info.Offset, info.Length, err, gb.after)
		}
	}

	dir := t.TempDir()
	files := map[string][]byte{}
	for _, name := range []string{"pause.bin", "reload.bin"} {
		// Larger than the loopback socket buffers, so a cut leaves bytes unsent.
		data := make([]byte, 32<<20)
		rand.Read(data)
		files[name] = data
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	idCount := func() int {
		return eval[int](b, "count IDs", `document.querySelectorAll("#file-ids input[name=file]").length`)
	}
	waitIDs := func(step string, n int) {
		b.do(step, chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.querySelectorAll("#file-ids input[name=file]").length >= %d`, n),
			chromedp.WithPollingTimeout(3*time.Minute)))
	}
	checkStored := func(name string, id string) {
		t.Helper()
		got, err := os.ReadFile(fb.DataPath(id))
		if err != nil || !bytes.Equal(got, files[name]) {
			t.Fatalf("%s stored as %s: %d bytes, %v; want the %d bytes sent", name, id, len(got), err, len(files[name]))
		}
	}

	b.signIn(e.base, "alice@example.org", "send-form")

	// Pause mid-upload, then resume.
	reached, gate := gb.arm()
	b.do("pick pause.bin", chromedp.SetUploadFiles(chromedp.ID("files"), []string{filepath.Join(dir, "pause.bin")}))
	select {
	case <-reached:
	case <-b.ctx.Done():
		b.fail("upload started", b.ctx.Err())
	}
	b.do("pause", chromedp.Click(chromedp.ID("pause")))
	if txt := eval[string](b, "paused text", `document.getElementById("overall-text").textContent`); txt != "En pause" {
		b.fail("paused text", fmt.Errorf("status %q", txt))
	}
	close(gate)
	id := gb.gatedID()
	poll.Until(t, "the aborted PATCH to end", func() bool { return fb.Writes(id) >= 1 && !fb.Writing(id) })
	cutAt(id)
	b.do("resume", chromedp.Click(chromedp.ID("pause")))
	waitIDs("pause.bin uploaded", 1)
	checkStored("pause.bin", id)

	// Reload mid-upload, pick the same file again: it continues where it stopped.
	reached, gate = gb.arm()
	b.do("pick reload.bin", chromedp.SetUploadFiles(chromedp.ID("files"), []string{filepath.Join(dir, "reload.bin")}))
	select {
	case <-reached:
	case <-b.ctx.Done():
		b.fail("second upload started", b.ctx.Err())
	}
	b.do("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("send-form")))
	close(gate)
	id = gb.gatedID()
	poll.Until(t, "the cut PATCH to end", func() bool { return fb.Writes(id) >= 1 && !fb.Writing(id) })
	cutAt(id)
	if n := idCount(); n != 0 {
		b.fail("after reload", fmt.Errorf("%d file IDs in a fresh form", n))
	}
	b.do("pick reload.bin again", chromedp.SetUploadFiles(chromedp.ID("files"), []string{filepath.Join(dir, "reload.bin")}))
	waitIDs("reload.bin uploaded", 1)
	got := eval[string](b, "resumed ID", `document.querySelector("#file-ids input[name=file]").value`)
	if got != id {
		b.fail("resumed upload", fmt.Errorf("the form carries upload %s, want the resumed %s", got, id))
	}
	if txt := eval[string](b, "done text", `document.getElementById("overall-text").textContent`); txt != "Terminé" {
		b.fail("done text", fmt.Errorf("status %q", txt))
	}
	checkStored("reload.bin", id)
	if created, _ := filepath.Glob(filepath.Join(tusDir, "*.json")); len(created) != 2 {
		t.Fatalf("%d uploads created for 2 files: a resume started over", len(created))
	}
}

// TestBrowserLimitsBeforeUpload: a file above the size limit, files beyond the size of a send
// or beyond the quota left, are refused with a message before any byte flows (no upload is
// created). The page shows the three limits.
func TestBrowserLimitsBeforeUpload(t *testing.T) {
	b := newBrowser(t)
	e := newEnv(t, func(e *env, _ *Config, d *Deps) {
		d.Limits = testLimits{sends: e.sends, maxFile: 3 << 20, quota: 4 << 20, maxSend: 5 << 20, maxFiles: 3}
	})
	tusDir := t.TempDir()
	fb, err := tustest.Open(tustest.Config{Dir: tusDir, MaxSize: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	ts, err := tus.New(tus.DefaultConfig(), fb, e.h.SessionPrincipal, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	mount := func(ctx *fasthttp.RequestCtx) bool {
		if !strings.HasPrefix(string(ctx.Path()), "/api/v1/uploads") {
			return false
		}
		ts.Handle(ctx)
		return true
	}
	e.extra.Store(&mount)
	e.addUser("alice@example.org", testPassword, account.LangFR)
	dir := t.TempDir()
	for name, size := range map[string]int{"big.bin": 3<<20 + 1, "a.bin": 2 << 20, "b.bin": 2<<20 + 1, "c.bin": 2 << 20, "1.txt": 1, "2.txt": 1, "3.txt": 1, "4.txt": 1} {
		if err := os.WriteFile(filepath.Join(dir, name), make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b.signIn(e.base, "alice@example.org", "limits")
	if txt := eval[string](b, "limits shown", `document.getElementById("limits").textContent`); !strings.Contains(txt, "3,1\u00a0Mo") || !strings.Contains(txt, "4,2\u00a0Mo") || !strings.Contains(txt, "au plus 5,2\u00a0Mo par envoi") {
		b.fail("limits shown", fmt.Errorf("limits %q", txt))
	}
	for _, tc := range []struct {
		name  string
		files []string
		want  string
	}{
		{"file too large", []string{"big.bin"}, "Fichier trop grand (maximum 3,1\u00a0Mo) : big.bin"},
		{"beyond the quota", []string{"a.bin", "b.bin"}, "Ces fichiers dépassent l'espace restant (4,2\u00a0Mo)."},
		{"more files than a send carries", []string{"1.txt", "2.txt", "3.txt", "4.txt"}, "Un envoi compte au plus 3 fichiers : compressez le dossier en zip, ou répartissez les fichiers sur plusieurs envois."},
		{"beyond the size of a send", []string{"a.bin", "b.bin", "c.bin"}, "Ces fichiers dépassent ensemble 5,2\u00a0Mo, le maximum d'un envoi : répartissez-les sur plusieurs envois."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var paths []string
			for _, f := range tc.files {
				paths = append(paths, filepath.Join(dir, f))
			}
			b.do("clear", chromedp.Evaluate[chromedp.Void](`document.getElementById("form-error").hidden = true`))
			b.do("pick", chromedp.SetUploadFiles(chromedp.ID("files"), paths),
				chromedp.WaitVisible(chromedp.ID("form-error")))
			if txt := eval[string](b, "message", `document.getElementById("form-error").textContent`); txt != tc.want {
				b.fail("message", fmt.Errorf("message %q, want %q", txt, tc.want))
			}
			if n := eval[int](b, "file rows", `document.querySelectorAll("#file-list li").length`); n != 0 {
				b.fail("file rows", fmt.Errorf("%d files listed", n))
			}
		})
	}
	if created, _ := filepath.Glob(filepath.Join(tusDir, "*.json")); len(created) != 0 {
		t.Fatalf("%d uploads created past the limits", len(created))
	}
}

// TestBrowserLongUploadKeepsSession: an upload that lasts longer than the session's idle
// limit (one long PATCH, so one session lookup at its start) keeps the session alive through
// the page's keepalive, and the send goes through at the end. The idle limit is 2 s here,
// the upload throttled to take about 6.
func TestBrowserLongUploadKeepsSession(t *testing.T) {
	b := newBrowser(t)
	e := newEnvWith(t, newBlobstore(t), func(c *account.Config) {
		c.Session.Idle, c.Session.TouchEvery = 2*time.Second, 200*time.Millisecond
	}, func(_ *env, c *Config, _ *Deps) { c.KeepaliveEvery = 400 * time.Millisecond })
	e.mountUploads(t, nil)
	alice, _ := e.addUser("alice@example.org", testPassword, account.LangFR)
	path := filepath.Join(t.TempDir(), "lent.bin")
	const size = 3 << 20
	if err := os.WriteFile(path, make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}
	b.signIn(e.base, "alice@example.org", "send-form")
	b.do("throttle",
		call(network.Enable, network.EnableParams{}),
		call(network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
			MatchedNetworkConditions: []*network.Conditions{{DownloadThroughput: -1, UploadThroughput: size / 6}},
		}))
	start := time.Now()
	b.do("upload", chromedp.SendKeys(chromedp.ID("to"), "bob@example.org"),
		chromedp.SetUploadFiles(chromedp.ID("files"), []string{path}),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll("#file-ids input[name=file]").length === 1`,
			chromedp.WithPollingTimeout(3*time.Minute)))
	if took := time.Since(start); took < 3*time.Second {
		t.Fatalf("the upload took %v: not longer than the 2 s idle limit, the test proves nothing", took)
	}
	id := transfer.FileID(eval[string](b, "file ID", `document.querySelector("#file-ids input[name=file]").value`))
	e.sayClean(alice.ID, id)
	b.do("send", chromedp.Click(chromedp.ID("send-submit")), chromedp.WaitVisible(chromedp.CSS("input.link-url")))
}

// TestBrowserRefusedName: a file whose name hides its real extension behind a right-to-left
// override is refused by the server; the page says why in French, and shows the name with
// the override made visible instead of obeying it.
func TestBrowserRefusedName(t *testing.T) {
	b := newBrowser(t)
	e := newEnv(t)
	e.mountUploads(t, nil)
	e.addUser("alice@example.org", testPassword, account.LangFR)
	path := filepath.Join(t.TempDir(), "facture\u202Efdp.exe")
	if err := os.WriteFile(path, []byte("MZ"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.signIn(e.base, "alice@example.org", "send-form")
	b.do("pick", chromedp.SetUploadFiles(chromedp.ID("files"), []string{path}), chromedp.WaitVisible(chromedp.ID("form-error")))
	msg := eval[string](b, "message", `document.getElementById("form-error").textContent`)
	if !strings.Contains(msg, "facture\uFFFDfdp.exe") || strings.Contains(msg, "\u202E") || !strings.Contains(msg, "nom de fichier ou de dossier refusé") {
		b.fail("message", fmt.Errorf("message %q", msg))
	}
	if n := eval[int](b, "file IDs", `document.querySelectorAll("#file-ids input[name=file]").length`); n != 0 {
		b.fail("file IDs", fmt.Errorf("%d files kept", n))
	}
}
