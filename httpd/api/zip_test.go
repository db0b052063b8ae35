package api

import (
	"archive/zip"
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"valise/httpd/linkgrant"
	"valise/transfer"
)

// TestZipGeneratedPasswordAndLimit sends two files of the same name with a generated
// password and a download limit of one: the password comes back once, the zip holds both
// files under distinct names, and once both were downloaded the link is used up (404).
func TestZipGeneratedPasswordAndLimit(t *testing.T) {
	w := newWorld(t)
	a, bearer := w.user("zoe@example.org", "Zoé")
	one, two := randomData(50_000, 3), randomData(70_000, 4)
	f1 := w.upload(a.ID, "photo.jpg", one)
	f2 := w.upload(a.ID, "photo.jpg", two)
	var cs createdSendJSON
	r := w.api("POST", "/api/v1/sends", bearer, createSendJSON{
		To: []string{"yan@example.org"}, Files: []string{string(f1.ID), string(f2.ID)},
		Options: sendOptionsJSON{GeneratePassword: true, DownloadLimit: 1},
	})
	mustStatus(t, r, 201)
	r.json(t, &cs)
	if cs.Password == "" {
		t.Fatal("no generated password")
	}
	again := w.api("GET", "/api/v1/sends/"+string(cs.Send.ID), bearer, nil)
	if strings.Contains(string(again.body), cs.Password) {
		t.Fatal("the generated password is shown twice")
	}
	tok := linkToken(t, w.outbox(1)[0])
	mustStatus(t, w.call("GET", "/s/"+tok+"/zip", nil, nil, true), 403)
	var g grantJSON
	r = w.api("POST", "/api/v1/links/"+tok+"/password", "", passwordBody{Password: cs.Password})
	mustStatus(t, r, 200)
	r.json(t, &g)
	r = w.call("GET", "/s/"+tok+"/zip", map[string]string{linkgrant.Header: g.Grant}, nil, true)
	mustStatus(t, r, 200)
	if cd := r.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="valise-`) {
		t.Errorf("zip disposition %q", cd)
	}
	zr, err := zip.NewReader(bytes.NewReader(r.body), int64(len(r.body)))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{"photo.jpg": one, "photo (2).jpg": two}
	if len(zr.File) != 2 {
		t.Fatalf("%d entries", len(zr.File))
	}
	for _, zf := range zr.File {
		rc, _ := zf.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(b, want[zf.Name]) {
			t.Errorf("entry %q differs", zf.Name)
		}
	}
	// Each file reached its limit: the send is exhausted and its link dead, polled since
	// the downloads are recorded after the response.
	pollStatus(t, w, "/api/v1/links/"+tok, 404)
}

// pollStatus waits until GET path answers status.
func pollStatus(t *testing.T, w *world, path string, status int) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if r := w.call("GET", path, nil, nil, false); r.StatusCode == status {
			return
		}
		<-tick.C
	}
	t.Fatalf("GET %s never answered %d", path, status)
}

// TestPrincipalForTus checks the PrincipalFunc handed to the tus handler: a valid bearer
// names its user, anything else nobody.
func TestPrincipalForTus(t *testing.T) {
	w := newWorld(t)
	u, bearer := w.user("tus@example.org", "Tus")
	ln := fasthttputil.NewInmemoryListener()
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		id, err := w.h.Principal(ctx)
		if err != nil {
			ctx.SetStatusCode(401)
			return
		}
		ctx.SetBodyString(string(id))
	}}
	go srv.Serve(ln) //nolint:errcheck // ends with Shutdown below
	t.Cleanup(func() { _ = srv.Shutdown() })
	c := &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ln.Dial() }}
	for _, tc := range []struct {
		name, auth string
		want       string
	}{
		{"valid", "Bearer " + bearer, string(u.ID)},
		{"lower-case scheme", "bearer " + bearer, string(u.ID)},
		{"forged", "Bearer vls_AAAA", ""},
		{"none", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI("http://valise/api/v1/uploads")
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			if err := c.Do(req, resp); err != nil {
				t.Fatal(err)
			}
			if got := string(resp.Body()); (tc.want == "" && resp.StatusCode() != 401) || (tc.want != "" && got != tc.want) {
				t.Fatalf("status %d body %q, want %q", resp.StatusCode(), got, tc.want)
			}
		})
	}
}

// TestZipKeepsFolders sends files dropped as a folder tree: the send, the link view and the
// zip keep each file's folder, a repeated path gets " (2)", and a file sent on its own stays
// at the zip's root.
func TestZipKeepsFolders(t *testing.T) {
	w := newWorld(t)
	a, bearer := w.user("ines@example.org", "Inès")
	files := []struct{ rel, name, zipName string }{
		{"Rapport/plan.pdf", "plan.pdf", "Rapport/plan.pdf"},
		{"Rapport/annexes/été/photo.jpg", "photo.jpg", "Rapport/annexes/été/photo.jpg"},
		{"Rapport/annexes/été/photo.jpg", "photo.jpg", "Rapport/annexes/été/photo (2).jpg"},
		{"", "seul.txt", "seul.txt"},
	}
	var ids []string
	want := map[string][]byte{}
	for i, f := range files {
		data := randomData(10_000+i, uint64(i+10))
		ids = append(ids, string(w.uploadAt(a.ID, f.rel, f.name, data).ID))
		want[f.zipName] = data
	}
	var cs createdSendJSON
	r := w.api("POST", "/api/v1/sends", bearer, createSendJSON{To: []string{"yan@example.org"}, Files: ids})
	mustStatus(t, r, 201)
	r.json(t, &cs)
	if got := cs.Send.Files[1].Folder; got != "Rapport/annexes/été" {
		t.Fatalf("send file folder %q", got)
	}
	tok := linkToken(t, w.outbox(1)[0])
	var view transfer.LinkView
	r = w.api("GET", "/api/v1/links/"+tok, "", nil)
	mustStatus(t, r, 200)
	r.json(t, &view)
	if view.Files[0].Folder != "Rapport" || view.Files[3].Folder != "" {
		t.Fatalf("link view folders %q, %q", view.Files[0].Folder, view.Files[3].Folder)
	}
	page := w.call("GET", "/s/"+tok, map[string]string{"Accept": "text/html"}, nil, true)
	mustStatus(t, page, 200)
	if !bytes.Contains(page.body, []byte("<td>Rapport/annexes/été/photo.jpg</td>")) {
		t.Fatalf("the link page does not show the file's folder:\n%s", page.body)
	}
	r = w.call("GET", "/s/"+tok+"/zip", nil, nil, true)
	mustStatus(t, r, 200)
	zr, err := zip.NewReader(bytes.NewReader(r.body), int64(len(r.body)))
	if err != nil {
		t.Fatal(err)
	}
	if len(zr.File) != len(want) {
		t.Fatalf("%d entries, want %d", len(zr.File), len(want))
	}
	for _, zf := range zr.File {
		rc, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(b, want[zf.Name]) {
			t.Errorf("entry %q differs or is unexpected", zf.Name)
		}
	}
}

func TestZipFileName(t *testing.T) {
	ticket := func(folder string) transfer.Ticket { return transfer.Ticket{File: transfer.LinkFile{Folder: folder}} }
	for _, tc := range []struct {
		folders []string
		want    string
	}{
		{[]string{"Rapport", "Rapport/annexes/été"}, "Rapport.zip"},
		{[]string{"Rapport/annexes"}, "Rapport.zip"},
		{[]string{"Rapport", ""}, "valise-0190a6f6.zip"},
		{[]string{"Rapport", "Budget"}, "valise-0190a6f6.zip"},
		{[]string{""}, "valise-0190a6f6.zip"},
		{[]string{".."}, "valise-0190a6f6.zip"},
	} {
		var ts []transfer.Ticket
		for _, f := range tc.folders {
			ts = append(ts, ticket(f))
		}
		if got := zipFileName("0190a6f6-0000-7000-8000-000000000000", ts); got != tc.want {
			t.Errorf("zipFileName(%q) = %q, want %q", tc.folders, got, tc.want)
		}
	}
}

func TestZipNameCleansEveryElement(t *testing.T) {
	for _, tc := range []struct{ folder, name, want string }{
		{"", "a.txt", "a.txt"},
		{"A/B", "a.txt", "A/B/a.txt"},
		{"..", "a.txt", "_/a.txt"},
		{".cache/x\\y", ".a.txt", "cache/x_y/a.txt"},
		{"a/\x01", "", "a/_/file"},
	} {
		if got := zipName(tc.folder, tc.name, map[string]int{}); got != tc.want {
			t.Errorf("zipName(%q, %q) = %q, want %q", tc.folder, tc.name, got, tc.want)
		}
	}
}
