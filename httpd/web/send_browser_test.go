package web

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"valise/account"
	"valise/internal/poll"
	"valise/transfer"
	"valise/userid"
)

// TestBrowserComposeAndSend goes through the compose page in chromium against the real
// uploader (blobstore and metadata): two recipients, a generated password, a file uploaded by
// the page's JavaScript, the form sent with the upload's ID; the links page shows one link
// and QR code per recipient, the mails are in the outbox, and the sent pages list the send
// with the file's SHA-256. There is no clamd here: the test gives the verdict the scanner
// would (clean) once the upload is complete.
func TestBrowserComposeAndSend(t *testing.T) {
	b := newBrowser(t)
	e := newEnv(t)
	e.mountUploads(t, nil)
	alice, _ := e.addUser("alice@example.org", testPassword, account.LangFR)

	data := make([]byte, 3<<20+17)
	rand.Read(data)
	sum := sha256.Sum256(data)
	path := filepath.Join(t.TempDir(), "rapport annuel.pdf")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}

	b.signIn(e.base, "alice@example.org", "send-form")
	b.do("compose",
		chromedp.SendKeys(chromedp.ID("to"), "bob@example.org, carol@example.org"),
		chromedp.SendKeys(chromedp.ID("subject"), "Rapport annuel"),
		chromedp.SendKeys(chromedp.ID("message"), "Bonjour,\nle rapport."),
		chromedp.Click(chromedp.ID("generate")),
		chromedp.SetUploadFiles(chromedp.ID("files"), []string{path}),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll("#file-ids input[name=file]").length === 1`))
	b.shot("compose")
	password := eval[string](b, "password", `document.getElementById("password").value`)
	id := transfer.FileID(eval[string](b, "file ID", `document.querySelector("#file-ids input[name=file]").value`))

	e.sayClean(alice.ID, id)
	f, err := e.sends.GetFile(e.ctx, alice.ID, id)
	if err != nil || f.SHA256 != hex.EncodeToString(sum[:]) || f.Name != "rapport annuel.pdf" {
		t.Fatalf("stored file %+v, %v; want SHA-256 %x", f, err, sum)
	}

	b.do("send", chromedp.Click(chromedp.ID("send-submit")), chromedp.WaitVisible(chromedp.ID("link-1")))
	links := eval[[]string](b, "links", `Array.from(document.querySelectorAll("input.link-url")).map(i => i.value)`)
	if len(links) != 2 || !strings.HasPrefix(links[0], "https://valise.example.org/s/") {
		b.fail("links", fmt.Errorf("links %q", links))
	}
	if n := eval[int](b, "QR codes", `Array.from(document.querySelectorAll("img.qr")).filter(i => i.complete && i.naturalWidth > 0).length`); n != 2 {
		b.fail("QR codes", fmt.Errorf("%d QR codes drawn", n))
	}
	b.shot("links")
	b.checkAccessibility("links page")
	if loc := eval[string](b, "address after send", `location.pathname`); loc != "/sent/"+string(sends0(t, e, alice.ID)) {
		b.fail("address after send", fmt.Errorf("address bar at %s: a reload would send again", loc))
	}
	out, err := e.mail.Outbox(e.ctx)
	if err != nil || len(out) != 2 {
		t.Fatalf("outbox: %d mails, %v", len(out), err)
	}
	sends, err := e.sends.ListSends(e.ctx, alice.ID)
	if err != nil || len(sends) != 1 || !sends[0].Options.PasswordRequired {
		t.Fatalf("sends %+v, %v", sends, err)
	}
	// The generated password is the link's: the recipient's challenge accepts it.
	tokens := strings.TrimPrefix(links[0], "https://valise.example.org/s/")
	if _, err := e.sends.CheckLinkPassword(e.ctx, tokens, "", password, "127.0.0.1"); err != nil {
		t.Fatalf("the generated password does not open the link: %v", err)
	}

	b.do("sent list", chromedp.Navigate(e.base+"/sent"), chromedp.WaitVisible(chromedp.ID("sent-table")))
	b.checkAccessibility("sent list")
	b.do("detail", chromedp.Click(chromedp.CSS("#sent-table a")), chromedp.WaitVisible(chromedp.ID("recipients")))
	if txt := eval[string](b, "detail hash", `document.querySelector("code.hash").textContent`); txt != hex.EncodeToString(sum[:]) {
		b.fail("detail hash", fmt.Errorf("SHA-256 shown %q", txt))
	}
	b.shot("detail")
	b.checkAccessibility("detail page")
}

// sayClean plays the scanner's part where the test runs none: it waits for the background
// scan to give up (no clamd), then records the file as clean.
func (e *env) sayClean(owner userid.ID, id transfer.FileID) {
	e.t.Helper()
	poll.Until(e.t, "the scan to settle", func() bool {
		f, err := e.sends.GetFile(e.ctx, owner, id)
		return err == nil && f.Verdict != transfer.VerdictPending
	})
	if err := e.sends.SetVerdict(e.ctx, id, transfer.VerdictClean, ""); err != nil {
		e.t.Fatal(err)
	}
}

// sends0 returns the ID of owner's only send.
func sends0(t *testing.T, e *env, owner userid.ID) transfer.SendID {
	t.Helper()
	sends, err := e.sends.ListSends(e.ctx, owner)
	if err != nil || len(sends) != 1 {
		t.Fatalf("sends: %d, %v", len(sends), err)
	}
	return sends[0].ID
}

// TestBrowserFolderSend gives the compose page a whole folder, by its folder picker and by
// drag and drop (Chrome's own drag events, so the page walks the dropped folder's entries):
// every file is uploaded with its path inside the folder, the sent page shows the paths, and
// the recipient's zip holds the same tree with the same bytes.
func TestBrowserFolderSend(t *testing.T) {
	for _, how := range []string{"picker", "drop"} {
		t.Run(how, func(t *testing.T) { testFolderSend(t, how) })
	}
}

// dropFiles drags the files or folders at paths from outside the browser and drops them on
// the element with ID id.
func dropFiles(id string, paths []string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		box, err := chromedp.Evaluate[[]float64](fmt.Sprintf(`(function () { var el = document.getElementById(%q); el.scrollIntoView({block: "center"}); var r = el.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()`, id))(ctx, tg)
		if err != nil {
			return chromedp.Void{}, err
		}
		data := &input.DragData{Items: []*input.DragDataItem{}, Files: paths, DragOperationsMask: 1}
		for _, typ := range []input.DispatchDragEventType{input.DispatchDragEventTypeDragEnter, input.DispatchDragEventTypeDragOver, input.DispatchDragEventTypeDrop} {
			if _, err := cdp.Call(ctx, tg, input.DispatchDragEvent, input.DispatchDragEventParams{Type: typ, X: box[0], Y: box[1], Data: data}); err != nil {
				return chromedp.Void{}, fmt.Errorf("%s: %w", typ, err)
			}
		}
		return chromedp.Void{}, nil
	}
}

func testFolderSend(t *testing.T, how string) {
	b := newBrowser(t)
	e := newEnv(t)
	e.mountUploads(t, nil)
	alice, _ := e.addUser("alice@example.org", testPassword, account.LangFR)

	root := filepath.Join(t.TempDir(), "Rapport")
	want := map[string][]byte{
		"Rapport/plan.pdf":           make([]byte, 200_000),
		"Rapport/annexes/photo.jpg":  make([]byte, 300_001),
		"Rapport/annexes/été/a.txt":  []byte("été\n"),
		"Rapport/annexes/été/vide.b": {},
	}
	for rel, data := range want {
		rand.Read(data)
		p := filepath.Join(filepath.Dir(root), filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	b.signIn(e.base, "alice@example.org", "send-form")
	give := chromedp.SetUploadFiles(chromedp.ID("folder"), []string{root})
	if how == "drop" {
		give = dropFiles("drop", []string{root})
	}
	b.do(how+" a folder",
		chromedp.SendKeys(chromedp.ID("to"), "bob@example.org"),
		give,
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.querySelectorAll("#file-ids input[name=file]").length === %d`, len(want))))
	b.shot("folder-" + how)
	files, err := e.sends.ListFiles(e.ctx, alice.ID)
	if err != nil || len(files) != len(want) {
		t.Fatalf("files %+v, %v", files, err)
	}
	for _, f := range files {
		sum := sha256.Sum256(want[f.Path()])
		if _, ok := want[f.Path()]; !ok || f.SHA256 != hex.EncodeToString(sum[:]) {
			t.Fatalf("stored %q (folder %q), SHA-256 %s: not one of the folder's files", f.Path(), f.Folder, f.SHA256)
		}
		e.sayClean(alice.ID, f.ID)
	}

	b.do("send", chromedp.Click(chromedp.ID("send-submit")), chromedp.WaitVisible(chromedp.CSS("input.link-url")))
	link := eval[string](b, "link", `document.querySelector("input.link-url").value`)
	b.do("detail", chromedp.Navigate(e.base+"/sent/"+string(sends0(t, e, alice.ID))), chromedp.WaitVisible(chromedp.ID("recipients")))
	shown := eval[string](b, "detail files", `document.body.textContent`)
	for rel := range want {
		if !strings.Contains(shown, rel) {
			b.fail("detail files", fmt.Errorf("the sent page does not show %q", rel))
		}
	}

	r := e.newClient().get("/s/" + strings.TrimPrefix(link, "https://valise.example.org/s/") + "/zip")
	if r.StatusCode != 200 {
		t.Fatalf("zip: status %d", r.StatusCode)
	}
	if cd := r.Header.Get("Content-Disposition"); !strings.Contains(cd, `filename="Rapport.zip"`) {
		t.Errorf("the folder's zip is named %q, want Rapport.zip", cd)
	}
	zr, err := zip.NewReader(strings.NewReader(r.body), int64(len(r.body)))
	if err != nil {
		t.Fatal(err)
	}
	if len(zr.File) != len(want) {
		t.Fatalf("zip holds %d entries, want %d", len(zr.File), len(want))
	}
	for _, zf := range zr.File {
		rc, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, want[zf.Name]) {
			t.Fatalf("zip entry %q: %d bytes, %v; not the folder's file", zf.Name, len(got), err)
		}
	}
}
