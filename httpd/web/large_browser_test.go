//go:build large

package web

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"valise/account"
	"valise/blobstore/blobtest"
	"valise/transfer"
)

// TestLargeBrowserSend1GiB is the "done when", in chromium: a user sends 1 GiB to two
// recipients with a password through the compose page (the page's tus-js-client, the real
// uploader, blobstore and clamd), and each recipient opens their mailed link in a fresh
// browser context, enters the password and downloads the file with the same SHA-256.
func TestLargeBrowserSend1GiB(t *testing.T) {
	const size = 1 << 30
	b := newBrowserFor(t, 10*time.Minute)
	// The production layout: 1 MiB blocks, 4+2 on six directories.
	bs, _ := blobtest.NewDirStore(t, 6, "4+2", 0)
	e := newEnvWith(t, bs, nil)
	e.mountUploads(t, startClamd(t))
	alice, _ := e.addUser("alice@example.org", testPassword, account.LangFR)

	path := filepath.Join(t.TempDir(), "archive.bin")
	sum := writeRandomFile(t, path, size)

	b.signIn(e.base, "alice@example.org", "send-form")
	const password = "un mot de passe pour deux"
	b.do("compose",
		chromedp.SendKeys(chromedp.ID("to"), "bob@example.org, carol@example.org"),
		chromedp.SendKeys(chromedp.ID("subject"), "Un gigaoctet"),
		chromedp.SendKeys(chromedp.ID("password"), password))
	start := time.Now()
	b.do("upload 1 GiB", chromedp.SetUploadFiles(chromedp.ID("files"), []string{path}),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll("#file-ids input[name=file]").length === 1`,
			chromedp.WithPollingTimeout(5*time.Minute)))
	up := time.Since(start)
	t.Logf("browser upload of 1 GiB in %v (%.0f MB/s)", up.Round(time.Millisecond), size/up.Seconds()/1e6)
	id := transfer.FileID(eval[string](b, "file ID", `document.querySelector("#file-ids input[name=file]").value`))
	// The verdict of 1 GiB comes seconds after the upload (clamd is slower than the network):
	// the send is accepted at once, waiting for the antivirus, and its mails leave with the
	// verdict (issue 16 item 3).
	b.do("send", chromedp.Click(chromedp.ID("send-submit")))
	// The page after sending refreshes itself while the scan runs: wait across navigations.
	b.waitAcross("sent", `document.readyState === "complete" &&
		(document.getElementById("link-1") !== null || document.getElementById("pending-scan") !== null)`)
	waitOutbox(t, e, 2)
	sent := time.Since(start)
	f, err := e.sends.GetFile(e.ctx, alice.ID, id)
	if err != nil || f.SHA256 != hex.EncodeToString(sum[:]) || f.Size != size {
		t.Fatalf("stored file %+v, %v; want %d bytes, SHA-256 %x", f, err, size, sum)
	}
	t.Logf("sent, after clamd's verdict %q, %v after the upload started", f.Verdict, sent.Round(time.Millisecond))
	out, err := e.mail.Outbox(e.ctx)
	if err != nil || len(out) != 2 {
		t.Fatalf("outbox: %d mails, %v", len(out), err)
	}
	for _, who := range []string{"bob@example.org", "carol@example.org"} {
		start := time.Now()
		recipientDownloads(t, b, e, out, who, password, "archive.bin", size, sum)
		t.Logf("%s downloaded 1 GiB in %v", who, time.Since(start).Round(time.Millisecond))
	}
}

// waitOutbox waits until the outbox holds n mails (the verdict of a large file may come long
// after the send; a generous deadline guards against a hang only).
func waitOutbox(t *testing.T, e *env, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Minute)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		out, err := e.mail.Outbox(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox: %d mails, want %d", len(out), n)
		}
		<-tick.C
	}
}

// writeRandomFile writes size random bytes to path and returns their SHA-256.
func writeRandomFile(t *testing.T, path string, size int64) [32]byte {
	t.Helper()
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(out, h), rand.Reader, size); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(fmt.Errorf("write %s: %w", path, err))
	}
	return [32]byte(h.Sum(nil))
}
