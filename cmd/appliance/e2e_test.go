package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/rogpeppe/go-internal/testscript"

	"valise/internal/poll"
)

// The commands of this file drive the node over HTTPS as a client would: tus uploads (cut,
// resumed, interrupted by a kill -9), the REST API, link downloads with Range; and a real SMTP
// relay (go-smtp, STARTTLS + PLAIN) inside the test process that receives and parses the
// mails. State shared between the commands of one script lives in its scriptState.

// stateKey is the testscript value holding a script's *scriptState.
type stateKey struct{}

// scriptState is what the commands of one script share.
type scriptState struct {
	mu      sync.Mutex   // guards the fields below
	smtp    *testSMTP    // the relay, once started
	pending []func()     // interrupted uploads to release at the end
	tusURL  string       // the upload interrupted by tusstart, for tusresume
	client  *http.Client // HTTPS client trusting the cluster CA, per CA file
	caFile  string
}

func stateOf(ts *testscript.TestScript) *scriptState {
	return ts.Value(stateKey{}).(*scriptState)
}

// e2eSetup adds the state to a script's environment.
func e2eSetup(env *testscript.Env) {
	st := &scriptState{}
	env.Values[stateKey{}] = st
	env.Defer(func() {
		st.mu.Lock()
		defer st.mu.Unlock()
		for _, f := range st.pending {
			f()
		}
		if st.smtp != nil {
			st.smtp.close()
		}
		if st.client != nil {
			st.client.CloseIdleConnections()
		}
	})
}

// e2eCmds are the commands of this file.
func e2eCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"smtpd":       cmdSMTPD,
		"mails":       cmdMails,
		"genfile":     cmdGenFile,
		"sha256eq":    cmdSHA256Eq,
		"setenvlast":  cmdSetenvLast,
		"setenvjson":  cmdSetenvJSON,
		"api":         cmdAPI,
		"tusup":       cmdTusUp,
		"tusstart":    cmdTusStart,
		"tusresume":   cmdTusResume,
		"download":    cmdDownload,
		"grepmail":    cmdGrepMail,
		"waitverdict": cmdWaitVerdict,
		"tusgen":      cmdTusGen,
		"peakrss":     cmdPeakRSS,
	}
}

// httpsClient returns the script's client trusting $CAFILE (set by waitready).
func httpsClient(ts *testscript.TestScript) *http.Client {
	st := stateOf(ts)
	st.mu.Lock()
	defer st.mu.Unlock()
	ca := ts.Getenv("CAFILE")
	if st.client != nil && st.caFile == ca {
		return st.client
	}
	pemBytes, err := os.ReadFile(ca)
	ts.Check(err)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		ts.Fatalf("no certificate in %s", ca)
	}
	tr := &http.Transport{
		TLSClientConfig:    &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		DisableCompression: true,
		WriteBufferSize:    256 << 10,
		ReadBufferSize:     256 << 10,
	}
	// The last PATCH of a large file waits for its scan (windows of 1 GiB past 2 GiB).
	st.client = &http.Client{Transport: tr, Timeout: 30 * time.Minute}
	st.caFile = ca
	return st.client
}

// baseURL is https://$HTTPS.
func baseURL(ts *testscript.TestScript) string {
	h := ts.Getenv("HTTPS")
	if h == "" {
		ts.Fatalf("no $HTTPS: run waitready first")
	}
	return "https://" + h
}

// expandBraces replaces ${NAME} in s by the script's variables.
func expandBraces(ts *testscript.TestScript, s string) string {
	return os.Expand(s, ts.Getenv)
}

// genfile FILE SIZE [SEED]: writes SIZE pseudo-random bytes (suffixes K, M, G).
func cmdGenFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: genfile FILE SIZE [SEED]")
	}
	size, err := parseSize(args[1])
	ts.Check(err)
	seed := uint64(1)
	if len(args) == 3 {
		seed, err = strconv.ParseUint(args[2], 10, 64)
		ts.Check(err)
	}
	var key [32]byte
	key[0] = byte(seed)
	rng := mrand.NewChaCha8(key)
	f, err := os.Create(ts.MkAbs(args[0]))
	ts.Check(err)
	defer f.Close()
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		n := int64(len(buf))
		n = min(n, left)
		_, _ = rng.Read(buf[:n])
		_, err := f.Write(buf[:n])
		ts.Check(err)
		left -= n
	}
	ts.Check(f.Close())
}

func fileSHA256(ts *testscript.TestScript, path string) string {
	f, err := os.Open(ts.MkAbs(path))
	ts.Check(err)
	defer f.Close()
	h := sha256.New()
	_, err = io.Copy(h, f)
	ts.Check(err)
	return hex.EncodeToString(h.Sum(nil))
}

// sha256eq A B: the files have the same SHA-256; B may also be a hex digest.
func cmdSHA256Eq(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: sha256eq FILE FILE|HEX")
	}
	a := fileSHA256(ts, args[0])
	b := args[1]
	if len(b) != 64 || strings.ContainsAny(b, "/.") {
		b = fileSHA256(ts, b)
	}
	if (a == b) == neg {
		ts.Fatalf("sha256 %s = %s, other %s", args[0], a, b)
	}
}

// setenvlast NAME: sets NAME to the last non-empty line of the last command's stdout.
func cmdSetenvLast(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: setenvlast NAME")
	}
	lines := strings.Split(strings.TrimSpace(ts.ReadFile("stdout")), "\n")
	ts.Setenv(args[0], strings.TrimSpace(lines[len(lines)-1]))
}

// setenvjson NAME PATH: sets NAME to the value at PATH in the last stdout's JSON.
func cmdSetenvJSON(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: setenvjson NAME PATH")
	}
	ts.Setenv(args[0], fmt.Sprint(lookupJSON(ts, args[1])))
}

// api [-token T] [-grant G] [-status N] [-savegrant NAME] METHOD PATH [JSON]: calls the REST
// API at $HTTPS and prints the response body; ${VAR} in PATH and JSON are expanded. The
// status must be N (default: 2xx).
func cmdAPI(ts *testscript.TestScript, neg bool, args []string) {
	fs := flag.NewFlagSet("api", flag.ContinueOnError)
	token := fs.String("token", "", "bearer token")
	grant := fs.String("grant", "", "link grant")
	status := fs.Int("status", 0, "expected status")
	saveGrant := fs.String("savegrant", "", "variable to set to the X-Valise-Grant answered")
	ts.Check(fs.Parse(args))
	rest := fs.Args()
	if neg || len(rest) < 2 || len(rest) > 3 {
		ts.Fatalf("usage: api [-token T] [-grant G] [-status N] [-savegrant NAME] METHOD PATH [JSON]")
	}
	var body io.Reader
	if len(rest) == 3 {
		body = strings.NewReader(expandBraces(ts, rest[2]))
	}
	req, err := http.NewRequest(rest[0], baseURL(ts)+expandBraces(ts, rest[1]), body)
	ts.Check(err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if *token != "" {
		req.Header.Set("Authorization", "Bearer "+*token)
	}
	if *grant != "" {
		req.Header.Set("X-Valise-Grant", *grant)
	}
	req.Header.Set("Accept-Language", "en")
	resp, err := httpsClient(ts).Do(req)
	ts.Check(err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	ts.Check(err)
	fmt.Fprintf(ts.Stdout(), "%s", b)
	ts.Logf("%s %s: %s", rest[0], rest[1], resp.Status)
	if *status != 0 && resp.StatusCode != *status || *status == 0 && resp.StatusCode/100 != 2 {
		ts.Fatalf("%s %s: %s, want %d: %s", rest[0], rest[1], resp.Status, *status, b)
	}
	if *saveGrant != "" {
		g := resp.Header.Get("X-Valise-Grant")
		if g == "" {
			ts.Fatalf("no X-Valise-Grant in the answer")
		}
		ts.Setenv(*saveGrant, g)
	}
}

// tusClient is a minimal tus 1.0 client over the script's HTTPS client.
type tusClient struct {
	ts    *testscript.TestScript
	hc    *http.Client
	token string
}

func (c tusClient) do(method, url string, hdr map[string]string, body io.Reader, length int64) *http.Response {
	req, err := http.NewRequest(method, url, body)
	c.ts.Check(err)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Authorization", "Bearer "+c.token)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if body != nil {
		req.ContentLength = length
		req.Header.Set("Content-Type", "application/offset+octet-stream")
	}
	resp, err := c.hc.Do(req)
	c.ts.Check(err)
	return resp
}

// create POSTs a new upload for name of size bytes and returns its URL.
func (c tusClient) create(name string, size int64) string {
	md := "filename " + base64.StdEncoding.EncodeToString([]byte(name))
	resp := c.do(http.MethodPost, baseURL(c.ts)+"/api/v1/uploads", map[string]string{
		"Upload-Length": strconv.FormatInt(size, 10), "Upload-Metadata": md,
	}, nil, 0)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		c.ts.Fatalf("tus POST: %s: %s", resp.Status, b)
	}
	loc := resp.Header.Get("Location")
	if strings.HasPrefix(loc, "/") {
		loc = baseURL(c.ts) + loc
	}
	return loc
}

// offset HEADs the upload.
func (c tusClient) offset(url string) int64 {
	resp := c.do(http.MethodHead, url, nil, nil, 0)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		c.ts.Fatalf("tus HEAD: %s", resp.Status)
	}
	off, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	c.ts.Check(err)
	return off
}

// patch sends n bytes of f from off; it returns the new offset.
func (c tusClient) patch(url string, f *os.File, off, n int64) int64 {
	resp, b := c.tryPatch(url, f, off, n)
	if resp.StatusCode != http.StatusNoContent {
		c.ts.Fatalf("tus PATCH at %d: %s: %s", off, resp.Status, b)
	}
	got, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	c.ts.Check(err)
	if got != off+n {
		c.ts.Fatalf("tus PATCH at %d of %d bytes: offset %d", off, n, got)
	}
	return got
}

func (c tusClient) tryPatch(url string, f *os.File, off, n int64) (*http.Response, []byte) {
	resp := c.do(http.MethodPatch, url, map[string]string{"Upload-Offset": strconv.FormatInt(off, 10)},
		io.NewSectionReader(f, off, n), n)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, b
}

// cutReader gives n bytes, then fails: the client aborts the request mid-body.
type cutReader struct {
	r io.Reader
	n int64
}

var errCut = errors.New("cut by the test")

func (c *cutReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		return 0, errCut
	}
	if int64(len(p)) > c.n {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	c.n -= int64(n)
	return n, err
}

// uploadFrom PATCHes the rest of f from the upload's offset in chunks of chunk bytes, and
// returns the upload's ID (the file ID).
func (c tusClient) uploadFrom(url string, f *os.File, size, chunk int64) string {
	off := c.offset(url)
	retries := 0
	for off < size {
		n := min(chunk, size-off)
		resp, b := c.tryPatch(url, f, off, n)
		switch resp.StatusCode {
		case http.StatusNoContent:
			off += n
		case http.StatusLocked, http.StatusConflict:
			// The node is still finishing a cut PATCH (423), or it kept more of it than the
			// last HEAD said (409): ask again, as tus clients do.
			if retries++; retries > 600 {
				c.ts.Fatalf("tus PATCH at %d: still %s after %d tries", off, resp.Status, retries)
			}
			c.ts.Logf("PATCH at %d: %s; asking the offset again", off, resp.Status)
			time.Sleep(50 * time.Millisecond) // a client's retry back-off, not a wait for an event
			off = c.offset(url)
		default:
			c.ts.Fatalf("tus PATCH at %d: %s: %s", off, resp.Status, b)
		}
	}
	return url[strings.LastIndexByte(url, '/')+1:]
}

func tusFlags(ts *testscript.TestScript, name string, args []string) (*flag.FlagSet, *int64, *int64) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	chunk := fs.Int64("chunk", 8<<20, "PATCH size")
	cut := fs.Int64("cut", 0, "cut a PATCH after this many bytes into the upload (0: never)")
	fs.Int("refused", 0, "tusup: the POST must answer this status, and nothing is uploaded")
	ts.Check(fs.Parse(args))
	return fs, chunk, cut
}

// tusup [-chunk N] [-cut N] [-refused STATUS] TOKEN FILE: uploads FILE with tus in chunks; with
// -cut, a PATCH is cut by the client after N bytes of the file, and the upload resumes after a
// HEAD. Sets $FILEID. With -refused, the POST must answer STATUS (a policy refusal); with !,
// 401 (a refused token).
func cmdTusUp(ts *testscript.TestScript, neg bool, args []string) {
	fs, chunk, cut := tusFlags(ts, "tusup", args)
	rest := fs.Args()
	if len(rest) != 2 {
		ts.Fatalf("usage: tusup [-chunk N] [-cut N] TOKEN FILE")
	}
	c := tusClient{ts: ts, hc: httpsClient(ts), token: rest[0]}
	if neg {
		// A refused token: the POST must answer 401.
		resp := c.do(http.MethodPost, baseURL(ts)+"/api/v1/uploads", map[string]string{"Upload-Length": "1"}, nil, 0)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			ts.Fatalf("tus POST with a refused token: %s, want 401", resp.Status)
		}
		return
	}
	f, err := os.Open(ts.MkAbs(rest[1]))
	ts.Check(err)
	defer f.Close()
	fi, err := f.Stat()
	ts.Check(err)
	size := fi.Size()
	if refused := fs.Lookup("refused").Value.(flag.Getter).Get().(int); refused != 0 {
		resp := c.do(http.MethodPost, baseURL(ts)+"/api/v1/uploads", map[string]string{
			"Upload-Length": strconv.FormatInt(size, 10), "Upload-Metadata": "filename " + base64.StdEncoding.EncodeToString([]byte("x.bin")),
		}, nil, 0)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != refused {
			ts.Fatalf("tus POST of %d bytes: %s, want %d: %s", size, resp.Status, refused, b)
		}
		fmt.Fprintf(ts.Stdout(), "%s\n", b)
		return
	}
	url := c.create(filepath.Base(rest[1]), size)
	if *cut > 0 && *cut < size {
		// PATCH whole chunks up to the chunk holding the cut, then cut that one.
		off := int64(0)
		for off+*chunk <= *cut {
			off = c.patch(url, f, off, *chunk)
		}
		n := min(*chunk, size-off)
		resp, err := c.hc.Do(func() *http.Request {
			req, err := http.NewRequest(http.MethodPatch, url, &cutReader{r: io.NewSectionReader(f, off, n), n: *cut - off})
			ts.Check(err)
			req.ContentLength = n
			req.Header.Set("Tus-Resumable", "1.0.0")
			req.Header.Set("Authorization", "Bearer "+c.token)
			req.Header.Set("Upload-Offset", strconv.FormatInt(off, 10))
			req.Header.Set("Content-Type", "application/offset+octet-stream")
			return req
		}())
		if err == nil {
			resp.Body.Close()
			ts.Fatalf("the cut PATCH succeeded: %s", resp.Status)
		}
		// The node keeps what it received of the cut chunk (no checksum): HEAD says where
		// to resume. Poll: the node notices the cut when its read fails.
		var got int64
		ts.Check(poll.Within(scriptDeadline, func() error {
			got = c.offset(url)
			if got < off {
				return fmt.Errorf("offset %d went back before %d", got, off)
			}
			return nil
		}))
		ts.Logf("cut at %d: the node resumes at %d", *cut, got)
	}
	id := c.uploadFrom(url, f, size, *chunk)
	if got := c.offset(url); got != size {
		ts.Fatalf("final offset %d, want %d", got, size)
	}
	ts.Setenv("FILEID", id)
	fmt.Fprintf(ts.Stdout(), "file-id: %s\n", id)
}

// tusstart [-chunk N] TOKEN FILE BYTES: creates an upload, PATCHes whole chunks up to BYTES,
// then starts one more PATCH, sends part of it and leaves it hanging (for a kill -9 of the
// node mid-PATCH). tusresume finishes the upload.
func cmdTusStart(ts *testscript.TestScript, neg bool, args []string) {
	fs, chunk, _ := tusFlags(ts, "tusstart", args)
	rest := fs.Args()
	if neg || len(rest) != 3 {
		ts.Fatalf("usage: tusstart [-chunk N] TOKEN FILE BYTES")
	}
	c := tusClient{ts: ts, hc: httpsClient(ts), token: rest[0]}
	f, err := os.Open(ts.MkAbs(rest[1]))
	ts.Check(err)
	defer f.Close()
	fi, err := f.Stat()
	ts.Check(err)
	upto, err := parseSize(rest[2])
	ts.Check(err)
	url := c.create(filepath.Base(rest[1]), fi.Size())
	off := int64(0)
	for off+*chunk <= upto {
		off = c.patch(url, f, off, *chunk)
	}
	// The hanging PATCH: half a chunk goes out, the rest never comes.
	n := min(*chunk, fi.Size()-off)
	head := make([]byte, n/2)
	_, err = f.ReadAt(head, off)
	ts.Check(err)
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPatch, url, pr)
	ts.Check(err)
	req.ContentLength = n
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Upload-Offset", strconv.FormatInt(off, 10))
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	// Its own transport: the hanging connection must not be reused.
	tr := c.hc.Transport.(*http.Transport).Clone()
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err == nil {
			resp.Body.Close()
		}
	}()
	_, err = pw.Write(head)
	ts.Check(err)
	st := stateOf(ts)
	st.mu.Lock()
	st.tusURL = url
	st.pending = append(st.pending, func() { pw.CloseWithError(errCut); <-done; tr.CloseIdleConnections() })
	st.mu.Unlock()
	ts.Logf("PATCH at %d hanging after %d of %d bytes", off, len(head), n)
}

// tusresume [-chunk N] TOKEN FILE: finishes the upload tusstart left, after a HEAD (the node may
// have restarted: its address comes from $HTTPS). Sets $FILEID.
func cmdTusResume(ts *testscript.TestScript, neg bool, args []string) {
	fs, chunk, _ := tusFlags(ts, "tusresume", args)
	rest := fs.Args()
	if neg || len(rest) != 2 {
		ts.Fatalf("usage: tusresume [-chunk N] TOKEN FILE")
	}
	st := stateOf(ts)
	st.mu.Lock()
	url := st.tusURL
	st.mu.Unlock()
	if url == "" {
		ts.Fatalf("no upload started by tusstart")
	}
	// The node's port may have changed with the restart: keep the path.
	url = baseURL(ts) + url[strings.Index(url, "/api/v1/uploads"):]
	c := tusClient{ts: ts, hc: httpsClient(ts), token: rest[0]}
	f, err := os.Open(ts.MkAbs(rest[1]))
	ts.Check(err)
	defer f.Close()
	fi, err := f.Stat()
	ts.Check(err)
	ts.Logf("resuming at %d of %d", c.offset(url), fi.Size())
	id := c.uploadFrom(url, f, fi.Size(), *chunk)
	ts.Setenv("FILEID", id)
	fmt.Fprintf(ts.Stdout(), "file-id: %s\n", id)
}

// waitverdict [-timeout D] TOKEN ID VERDICT: polls GET /api/v1/files/ID until its verdict is
// VERDICT (default timeout: a minute; a windowed scan of GiBs takes longer).
func cmdWaitVerdict(ts *testscript.TestScript, neg bool, args []string) {
	fs := flag.NewFlagSet("waitverdict", flag.ContinueOnError)
	timeout := fs.Duration("timeout", scriptDeadline, "how long to wait")
	ts.Check(fs.Parse(args))
	args = fs.Args()
	if neg || len(args) != 3 {
		ts.Fatalf("usage: waitverdict [-timeout D] TOKEN ID VERDICT")
	}
	var last string
	err := poll.Within(*timeout, func() error {
		req, err := http.NewRequest(http.MethodGet, baseURL(ts)+"/api/v1/files/"+args[1], nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+args[0])
		resp, err := httpsClient(ts).Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		last = string(b)
		var f struct {
			Verdict string `json:"verdict"`
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &f) != nil || f.Verdict != args[2] {
			return fmt.Errorf("file %s: %s %s", args[1], resp.Status, b)
		}
		return nil
	})
	if err != nil {
		ts.Fatalf("verdict not %s: %v", args[2], err)
	}
	fmt.Fprintln(ts.Stdout(), last)
}

// download [-grant G] [-cut N] [-status N] URL OUT: GETs URL (a link's file) into OUT; with
// -cut, the first GET stops after N bytes and a second one resumes with Range: bytes=N-,
// which must answer 206 with the rest.
func cmdDownload(ts *testscript.TestScript, neg bool, args []string) {
	fs := flag.NewFlagSet("download", flag.ContinueOnError)
	grant := fs.String("grant", "", "link grant")
	cut := fs.Int64("cut", 0, "bytes of the first GET")
	status := fs.Int("status", 200, "expected status of the first GET")
	ts.Check(fs.Parse(args))
	rest := fs.Args()
	if neg || len(rest) != 2 {
		ts.Fatalf("usage: download [-grant G] [-cut N] [-status N] URL OUT")
	}
	get := func(rng string) *http.Response {
		req, err := http.NewRequest(http.MethodGet, expandBraces(ts, rest[0]), nil)
		ts.Check(err)
		if *grant != "" {
			req.Header.Set("X-Valise-Grant", *grant)
		}
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := httpsClient(ts).Do(req)
		ts.Check(err)
		return resp
	}
	// OUT "-": nothing is written; $DLSHA is set to the SHA-256 of what came.
	var out io.Writer
	var outFile *os.File
	hash := sha256.New()
	if rest[1] == "-" {
		out = hash
	} else {
		f, err := os.Create(ts.MkAbs(rest[1]))
		ts.Check(err)
		defer f.Close()
		outFile, out = f, io.MultiWriter(f, hash)
	}
	resp := get("")
	if resp.StatusCode != *status {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		ts.Fatalf("GET: %s, want %d: %s", resp.Status, *status, b)
	}
	for _, h := range []string{"X-Content-Type-Options", "Referrer-Policy", "Strict-Transport-Security", "Content-Security-Policy"} {
		if resp.Header.Get(h) == "" {
			ts.Fatalf("GET: no %s header", h)
		}
	}
	if *status != 200 {
		resp.Body.Close()
		return
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") {
		ts.Fatalf("Content-Disposition %q, want an attachment", cd)
	}
	r := io.Reader(resp.Body)
	if *cut > 0 {
		r = io.LimitReader(resp.Body, *cut)
	}
	n, err := io.Copy(out, r)
	ts.Check(err)
	resp.Body.Close() // cut: the rest is never read; the connection is dropped
	if *cut > 0 {
		if n != *cut {
			ts.Fatalf("first GET gave %d bytes, want %d", n, *cut)
		}
		resp = get(fmt.Sprintf("bytes=%d-", n))
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusPartialContent {
			ts.Fatalf("Range GET: %s, want 206", resp.Status)
		}
		if cr := resp.Header.Get("Content-Range"); !strings.HasPrefix(cr, fmt.Sprintf("bytes %d-", n)) {
			ts.Fatalf("Content-Range %q", cr)
		}
		m, err := io.Copy(out, resp.Body)
		ts.Check(err)
		ts.Logf("downloaded %d bytes, then %d with Range", n, m)
	}
	ts.Setenv("DLSHA", hex.EncodeToString(hash.Sum(nil)))
	if outFile != nil {
		ts.Check(outFile.Close())
	}
}

// genReader yields size pseudo-random bytes (ChaCha8 seeded by seed), generated as read.
type genReader struct {
	rng  *mrand.ChaCha8
	left int64
}

func newGenReader(size int64, seed uint64) *genReader {
	var key [32]byte
	key[0] = byte(seed)
	return &genReader{rng: mrand.NewChaCha8(key), left: size}
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.left {
		p = p[:g.left]
	}
	n, _ := g.rng.Read(p)
	g.left -= int64(n)
	return n, nil
}

// tusgen [-chunk N] TOKEN NAME SIZE SEED: uploads SIZE generated bytes (genfile's) with tus in
// chunks, without a file on disk; sets $FILEID and $GENSHA (their SHA-256) and logs the MB/s.
func cmdTusGen(ts *testscript.TestScript, neg bool, args []string) {
	fs, chunk, _ := tusFlags(ts, "tusgen", args)
	rest := fs.Args()
	if neg || len(rest) != 4 {
		ts.Fatalf("usage: tusgen [-chunk N] TOKEN NAME SIZE SEED")
	}
	size, err := parseSize(rest[2])
	ts.Check(err)
	seed, err := strconv.ParseUint(rest[3], 10, 64)
	ts.Check(err)
	c := tusClient{ts: ts, hc: httpsClient(ts), token: rest[0]}
	url := c.create(rest[1], size)
	hash := sha256.New()
	src := io.TeeReader(newGenReader(size, seed), hash)
	start := time.Now()
	for off := int64(0); off < size; {
		n := min(*chunk, size-off)
		resp := c.do(http.MethodPatch, url, map[string]string{"Upload-Offset": strconv.FormatInt(off, 10)}, io.LimitReader(src, n), n)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			ts.Fatalf("tus PATCH at %d: %s: %s", off, resp.Status, b)
		}
		off += n
	}
	el := time.Since(start)
	ts.Logf("uploaded %d bytes in %v: %.0f MB/s", size, el, float64(size)/el.Seconds()/1e6)
	ts.Setenv("FILEID", url[strings.LastIndexByte(url, '/')+1:])
	ts.Setenv("GENSHA", hex.EncodeToString(hash.Sum(nil)))
}

// peakrss DATA MAXMIB: the peak resident memory (VmHWM) of the node serving DATA (its pid is
// in DATA/serve.lock) is below MAXMIB MiB.
func cmdPeakRSS(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: peakrss DATA MAXMIB")
	}
	b, err := os.ReadFile(filepath.Join(ts.MkAbs(args[0]), "serve.lock"))
	ts.Check(err)
	pid := strings.TrimSpace(string(b))
	status, err := os.ReadFile("/proc/" + pid + "/status")
	ts.Check(err)
	maxMiB, err := strconv.ParseInt(args[1], 10, 64)
	ts.Check(err)
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			ts.Check(err)
			ts.Logf("node pid %s: peak RSS %d MiB", pid, kb>>10)
			fmt.Fprintf(ts.Stdout(), "peak-rss-mib: %d\n", kb>>10)
			if kb>>10 >= maxMiB {
				ts.Fatalf("peak RSS %d MiB, want < %d MiB", kb>>10, maxMiB)
			}
			return
		}
	}
	ts.Fatalf("no VmHWM in /proc/%s/status", pid)
}

// testSMTP is a real SMTP relay: STARTTLS with a certificate of its own CA, PLAIN auth.
type testSMTP struct {
	srv  *smtp.Server
	done chan struct{}
	mu   sync.Mutex // guards mails
	got  []smtpMail
}

type smtpMail struct {
	To   []string
	Data []byte
}

const (
	smtpUser = "valise"
	smtpPass = "relay-secret"
)

// smtpd start: starts the relay; sets $SMTP_PORT and writes its CA to $WORK/smtp-ca.pem.
func cmdSMTPD(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 || args[0] != "start" {
		ts.Fatalf("usage: smtpd start")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ts.Check(err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test relay"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs("smtp-ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	s := &testSMTP{done: make(chan struct{})}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &smtpSession{s: s}, nil
	}))
	s.srv.Domain = "localhost"
	s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
	s.srv.AllowInsecureAuth = false
	s.srv.ReadTimeout, s.srv.WriteTimeout = 30*time.Second, 30*time.Second
	go func() { defer close(s.done); _ = s.srv.Serve(ln) }()
	st := stateOf(ts)
	st.mu.Lock()
	st.smtp = s
	st.mu.Unlock()
	ts.Setenv("SMTP_PORT", strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	ts.Setenv("SMTP_USER", smtpUser)
	ts.Setenv("SMTP_PASS", smtpPass)
}

func (s *testSMTP) close() {
	_ = s.srv.Close()
	<-s.done
}

type smtpSession struct {
	s    *testSMTP
	auth bool
	to   []string
}

func (x *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (x *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != smtpUser || pass != smtpPass {
			return errors.New("invalid credentials")
		}
		x.auth = true
		return nil
	}), nil
}

func (x *smtpSession) Mail(string, *smtp.MailOptions) error {
	if !x.auth {
		return smtp.ErrAuthRequired
	}
	return nil
}

func (x *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}

func (x *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.s.mu.Lock()
	x.s.got = append(x.s.got, smtpMail{To: x.to, Data: b})
	x.s.mu.Unlock()
	x.to = nil
	return nil
}

func (x *smtpSession) Reset()        { x.to = nil }
func (x *smtpSession) Logout() error { return nil }

var linkRE = regexp.MustCompile(`https://[^\s"<>]+/s/[A-Za-z0-9_-]{43}`)

// mails N: waits until the relay received N mails, writes each, parsed and decoded, to
// mail/I.txt (headers, then the text part, then the HTML part), and sets LINK_<local part>
// to the link each recipient got and LINKTOKEN_<local part> to its token (the last one, when
// several).
func cmdMails(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: mails N")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	st := stateOf(ts)
	st.mu.Lock()
	s := st.smtp
	st.mu.Unlock()
	if s == nil {
		ts.Fatalf("no relay: run smtpd start first")
	}
	var got []smtpMail
	err = poll.Within(scriptDeadline, func() error {
		s.mu.Lock()
		got = append([]smtpMail(nil), s.got...)
		s.mu.Unlock()
		if len(got) < want {
			return fmt.Errorf("%d mails, want %d", len(got), want)
		}
		return nil
	})
	ts.Check(err)
	if len(got) != want {
		ts.Fatalf("%d mails, want exactly %d", len(got), want)
	}
	ts.Check(os.MkdirAll(ts.MkAbs("mail"), 0o755))
	for i, m := range got {
		text := renderMail(ts, m)
		ts.Check(os.WriteFile(ts.MkAbs(fmt.Sprintf("mail/%d.txt", i+1)), []byte(text), 0o644))
		if link := linkRE.FindString(text); link != "" {
			for _, to := range m.To {
				local, _, _ := strings.Cut(to, "@")
				ts.Setenv("LINK_"+local, link)
				ts.Setenv("LINKTOKEN_"+local, link[strings.LastIndexByte(link, '/')+1:])
			}
		}
	}
}

// renderMail parses a received mail: its headers (decoded), its text and HTML parts.
func renderMail(ts *testscript.TestScript, m smtpMail) string {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	ts.Check(err)
	var b strings.Builder
	dec := new(mime.WordDecoder)
	fmt.Fprintf(&b, "Envelope-To: %s\n", strings.Join(m.To, ", "))
	keys := make([]string, 0, len(msg.Header))
	for k := range msg.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, err := dec.DecodeHeader(msg.Header.Get(k))
		if err != nil {
			v = msg.Header.Get(k)
		}
		fmt.Fprintf(&b, "%s: %s\n", k, v)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	ts.Check(err)
	if !strings.HasPrefix(mt, "multipart/") {
		body, _ := io.ReadAll(msg.Body)
		fmt.Fprintf(&b, "\n%s\n", body)
		return b.String()
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		ts.Check(err)
		body, err := io.ReadAll(p)
		ts.Check(err)
		fmt.Fprintf(&b, "\n--- %s\n%s\n", p.Header.Get("Content-Type"), body)
	}
	return b.String()
}

// grepmail PATTERN FILE: like grep, for the rendered mails (a regexp, multi-line).
func cmdGrepMail(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: grepmail PATTERN FILE")
	}
	re, err := regexp.Compile("(?m)" + args[0])
	ts.Check(err)
	text := ts.ReadFile(args[1])
	if re.MatchString(text) == neg {
		ts.Fatalf("%s: %q matched %v, want %v\n%s", args[1], args[0], !neg, neg, text)
	}
}
