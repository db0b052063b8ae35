package web

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"valise/account"
	"valise/blobstore"
	"valise/blobstore/blobtest"
	"valise/internal/testlog"
	"valise/notify"
	"valise/raftfsm"
	"valise/raftfsm/rafttest"
	"valise/transfer"
	"valise/transfer/filetest"
	"valise/transfer/transfertest"
	"valise/userid"
)

func testLogger(t testing.TB) *slog.Logger {
	return testlog.New(t, slog.LevelWarn)
}

// newMetadata starts a real one-node raftfsm.Store in t.TempDir with short timeouts.
func newMetadata(t testing.TB) *raftfsm.Store {
	t.Helper()
	return rafttest.NewStore(t)
}

// newBlobstore builds a real blobstore on three directory disks, 2+1, small blocks.
func newBlobstore(t testing.TB) *blobstore.Store {
	t.Helper()
	bs, _ := blobtest.NewDirStore(t, 3, "2+1", 4096)
	return bs
}

// testHasher hashes link passwords cheaply (transfertest.Hasher).
type testHasher = transfertest.Hasher

// env is one test's world: real metadata, blobstore, account, transfer and notify services
// behind the web Handler, served over TLS on 127.0.0.1:0.
type env struct {
	t        *testing.T
	ctx      context.Context
	meta     *raftfsm.Store
	accounts *account.Service
	sends    *transfer.Service
	mail     *notify.Sender
	bs       *blobstore.Store
	h        *Handler
	base     string // https://127.0.0.1:port
	pool     *x509.CertPool
	extra    atomic.Pointer[func(ctx *fasthttp.RequestCtx) bool] // another mount tried after the handler
}

const testPassword = "correct horse battery staple"

// testLimits gives UploadLimits from a fixed policy and transfer's real usage count.
type testLimits struct {
	sends                   *transfer.Service
	maxFile, quota, maxSend int64
	maxFiles                int
}

func (l testLimits) UploadLimits(ctx context.Context, owner userid.ID) (transfer.Limits, error) {
	used, err := l.sends.Usage(ctx, owner)
	if err != nil {
		return transfer.Limits{}, err
	}
	return transfer.Limits{MaxFile: l.maxFile, QuotaLeft: l.quota - used, MaxSend: l.maxSend, MaxFiles: l.maxFiles}, nil
}

func newEnv(t *testing.T, opts ...func(*env, *Config, *Deps)) *env {
	t.Helper()
	return newEnvWith(t, newBlobstore(t), nil, opts...)
}

// newEnvWith is newEnv on the byte store bs, with account's configuration changed by
// accountCfg when not nil.
func newEnvWith(t *testing.T, bs *blobstore.Store, accountCfg func(*account.Config), opts ...func(*env, *Config, *Deps)) *env {
	t.Helper()
	e := &env{t: t, ctx: t.Context(), bs: bs}
	meta := newMetadata(t)
	e.meta = meta
	acfg := account.DefaultConfig()
	acfg.Password.MemoryKiB = 256
	acfg.Password.Iterations = 1
	acfg.Lockout.Threshold = 3
	if accountCfg != nil {
		accountCfg(&acfg)
	}
	var err error
	if e.accounts, err = account.New(acfg, meta, testLogger(t)); err != nil {
		t.Fatal(err)
	}
	if e.sends, err = transfer.New(transfer.DefaultConfig(), transfer.Deps{
		Store: meta, Blobs: transfer.NewStoreBlobs(e.bs), Hasher: testHasher{}, Logger: testLogger(t),
	}); err != nil {
		t.Fatal(err)
	}
	ncfg := notify.DefaultConfig()
	ncfg.From = "valise@example.org"
	if e.mail, err = notify.New(ncfg, meta, testLogger(t)); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.PublicURL = "https://valise.example.org"
	cfg.CSRFKey = bytes.Repeat([]byte{42}, 32)
	deps := Deps{Accounts: e.accounts, Sends: e.sends, Links: e.sends, Mailer: e.mail, Logger: testLogger(t)}
	for _, o := range opts {
		o(e, &cfg, &deps)
	}
	if e.h, err = New(cfg, deps); err != nil {
		t.Fatal(err)
	}
	e.serve()
	return e
}

// serve starts a fasthttp server over TLS with a fresh self-signed certificate, configured as
// httpd configures its own (streamed request bodies).
func (e *env) serve() {
	t := e.t
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	e.pool = x509.NewCertPool()
	e.pool.AddCert(leaf)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsLn := tls.NewListener(ln, &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}},
		MinVersion:   tls.VersionTLS12, NextProtos: []string{"http/1.1"},
	})
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			if e.h.Handle(ctx) {
				return
			}
			if extra := e.extra.Load(); extra != nil && (*extra)(ctx) {
				return
			}
			ctx.SetStatusCode(fasthttp.StatusNotFound)
		},
		StreamRequestBody: true,
		ReadBufferSize:    64 << 10,
		Logger:            fasthttpLogger{t},
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(tlsLn)
	}()
	t.Cleanup(func() {
		srv.Shutdown()
		<-done
	})
	e.base = "https://" + ln.Addr().String()
}

type fasthttpLogger struct{ t *testing.T }

func (l fasthttpLogger) Printf(format string, args ...any) { l.t.Logf("fasthttp: "+format, args...) }

// addUser creates a user; password "" gives a generated one that must be changed, returned.
func (e *env) addUser(email, password string, lang account.Language) (account.User, string) {
	e.t.Helper()
	u, pw, err := e.accounts.Add(e.ctx, account.NewUser{Email: email, Password: password, Language: lang})
	if err != nil {
		e.t.Fatalf("add user %s: %v", email, err)
	}
	if password != "" {
		pw = password
	}
	return u, pw
}

// upload stores data as owner's clean file through the real path: transfer's bookkeeping and
// the real blobstore.
func (e *env) upload(owner userid.ID, name string, data []byte) transfer.File {
	e.t.Helper()
	return filetest.Store(e.ctx, e.t, e.sends, e.bs, owner, "", name, data)
}

// client is a browser stand-in: a cookie jar, no automatic redirects, a language.
type client struct {
	e    *env
	hc   *http.Client
	lang string // Accept-Language; "" sends none
}

func (e *env) newClient() *client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return &client{e: e, hc: &http.Client{
		Jar:       jar,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.pool}},
		Timeout:   2 * time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// response is a read response.
type response struct {
	*http.Response
	body string
}

func (c *client) do(req *http.Request) response {
	c.e.t.Helper()
	if c.lang != "" {
		req.Header.Set("Accept-Language", c.lang)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.e.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.e.t.Fatalf("read %s: %v", req.URL.Path, err)
	}
	return response{Response: resp, body: string(b)}
}

func (c *client) get(path string) response {
	c.e.t.Helper()
	req, err := http.NewRequestWithContext(c.e.ctx, "GET", c.e.base+path, nil)
	if err != nil {
		c.e.t.Fatal(err)
	}
	return c.do(req)
}

// post sends a form; the CSRF token is the caller's business (form "csrf").
func (c *client) post(path string, form url.Values, header ...string) response {
	c.e.t.Helper()
	req, err := http.NewRequestWithContext(c.e.ctx, "POST", c.e.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return c.do(req)
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the CSRF token of the page at path.
func (c *client) csrf(path string) string {
	c.e.t.Helper()
	r := c.get(path)
	m := csrfRe.FindStringSubmatch(r.body)
	if m == nil {
		c.e.t.Fatalf("no CSRF token on %s (status %d)", path, r.StatusCode)
	}
	return m[1]
}

// login signs in and returns the response to the login POST.
func (c *client) login(email, password string) response {
	c.e.t.Helper()
	tok := c.csrf("/login")
	return c.post("/login", url.Values{"csrf": {tok}, "email": {email}, "password": {password}})
}

// mustLogin signs in and fails the test unless it worked.
func (c *client) mustLogin(email, password string) {
	c.e.t.Helper()
	if r := c.login(email, password); r.StatusCode != http.StatusSeeOther {
		c.e.t.Fatalf("login %s: status %d, body %s", email, r.StatusCode, r.body)
	}
}

// cookie returns the jar's cookie name for the server, or "".
func (c *client) cookie(name string) string {
	u, _ := url.Parse(c.e.base)
	for _, ck := range c.hc.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}
