package main

import (
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

// The web command drives the web UI as a browser would: a cookie jar per script, redirects
// not followed (the script checks where they lead), the CSRF token read from each page.

// webJarKey is the testscript value holding a script's cookie jar.
type webJarKey struct{}

// webSetup gives a script its cookie jar.
func webSetup(env *testscript.Env) error {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return err
	}
	env.Values[webJarKey{}] = jar
	return nil
}

// webCmds are the commands of this file.
func webCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"web": cmdWeb,
	}
}

// csrfFieldRE finds the CSRF token in a page's forms.
var csrfFieldRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// web [-status N] [-lang L] [-csrf] [-tus LENGTH] METHOD PATH [KEY=VALUE...]: sends a request
// to $HTTPS with the script's cookies, as a browser would, a form of the KEY=VALUE pairs
// (url-encoded) when there are any. It prints "status: N", "location: L" and the body, and
// sets $CSRF to the token of the page's forms when it has one. The status must be N (default:
// 2xx). -lang sets Accept-Language; -csrf sends $CSRF in X-CSRF-Token; -tus makes it a tus
// request for an upload of LENGTH bytes.
func cmdWeb(ts *testscript.TestScript, neg bool, args []string) {
	fs := flag.NewFlagSet("web", flag.ContinueOnError)
	status := fs.Int("status", 0, "expected status")
	lang := fs.String("lang", "", "Accept-Language")
	csrf := fs.Bool("csrf", false, "send $CSRF in X-CSRF-Token")
	tusLen := fs.Int64("tus", -1, "a tus creation for an upload of this many bytes")
	ts.Check(fs.Parse(args))
	rest := fs.Args()
	if neg || len(rest) < 2 {
		ts.Fatalf("usage: web [-status N] [-lang L] [-csrf] [-tus LENGTH] METHOD PATH [KEY=VALUE...]")
	}
	var body io.Reader
	if len(rest) > 2 {
		form := url.Values{}
		for _, kv := range rest[2:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				ts.Fatalf("web: %q is not KEY=VALUE", kv)
			}
			form.Add(k, v)
		}
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(rest[0], baseURL(ts)+rest[1], body)
	ts.Check(err)
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if *lang != "" {
		req.Header.Set("Accept-Language", *lang)
	}
	if *csrf {
		req.Header.Set("X-CSRF-Token", ts.Getenv("CSRF"))
	}
	if *tusLen >= 0 {
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Upload-Length", strconv.FormatInt(*tusLen, 10))
		req.Header.Set("Upload-Metadata", "filename "+base64.StdEncoding.EncodeToString([]byte("web.bin")))
	}
	hc := &http.Client{
		Transport:     httpsClient(ts).Transport,
		Jar:           ts.Value(webJarKey{}).(http.CookieJar),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := hc.Do(req)
	ts.Check(err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	ts.Check(err)
	fmt.Fprintf(ts.Stdout(), "status: %d\nlocation: %s\n\n%s", resp.StatusCode, resp.Header.Get("Location"), b)
	ts.Logf("%s %s: %s", rest[0], rest[1], resp.Status)
	if *status != 0 && resp.StatusCode != *status || *status == 0 && resp.StatusCode/100 != 2 {
		ts.Fatalf("%s %s: %s, want %d: %s", rest[0], rest[1], resp.Status, *status, b)
	}
	if m := csrfFieldRE.FindSubmatch(b); m != nil {
		ts.Setenv("CSRF", string(m[1]))
	}
}
