package api

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/valyala/fasthttp"

	"valise/account"
	"valise/blobstore"
	"valise/blobstore/blobtest"
	"valise/httpd/tus"
	"valise/httpd/tus/tustest"
	"valise/httpd/web"
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

// storeFiles is the node's adapter from a transfer manifest to a blobstore reader.
type storeFiles struct{ bs *blobstore.Store }

func (f storeFiles) OpenFile(ctx context.Context, manifest []byte) (io.ReadSeekCloser, error) {
	var m blobstore.Manifest
	if err := m.UnmarshalBinary(manifest); err != nil {
		return nil, err
	}
	return f.bs.Open(ctx, m)
}

// testHasher hashes link passwords cheaply (transfertest.Hasher).
type testHasher = transfertest.Hasher

// world is one test's appliance: real metadata, accounts, transfers, blobstore and mail
// outbox behind the Handler, served by fasthttp over TLS on 127.0.0.1:0.
type world struct {
	t        *testing.T
	ctx      context.Context
	meta     *raftfsm.Store
	accounts *account.Service
	transfer *transfer.Service
	bs       *blobstore.Store
	mail     *notify.Sender
	h        *Handler
	web      *web.Handler // the link pages, mounted after the API as the node does
	tus      *tus.Server  // mounted beside the API, as the node does, on a file backend
	base     string       // https://127.0.0.1:port
	client   *http.Client
	val      validator.Validator
}

type worldOption func(*transfer.Config)

func withLinkBurst(n int) worldOption {
	return func(c *transfer.Config) { c.LinkRate.Burst = n }
}

func newWorld(t *testing.T, opts ...worldOption) *world {
	t.Helper()
	return newWorldOn(t, newMetadata(t), opts...)
}

// newWorldOn is newWorld on the metadata store meta (a node of a rafttest cluster).
func newWorldOn(t *testing.T, meta *raftfsm.Store, opts ...worldOption) *world {
	t.Helper()
	w := &world{t: t, ctx: t.Context()}
	w.meta = meta
	w.bs = newBlobstore(t)
	acfg := account.DefaultConfig()
	acfg.Password.MemoryKiB = 256
	acfg.Password.Iterations = 1
	var err error
	if w.accounts, err = account.New(acfg, w.meta, testLogger(t)); err != nil {
		t.Fatal(err)
	}
	tcfg := transfer.DefaultConfig()
	tcfg.LinkRate.Burst = 1000
	for _, o := range opts {
		o(&tcfg)
	}
	w.transfer, err = transfer.New(tcfg, transfer.Deps{
		Store: w.meta, Blobs: transfer.NewStoreBlobs(w.bs), Hasher: testHasher{}, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	ncfg := notify.DefaultConfig()
	ncfg.From = "valise@example.org"
	if w.mail, err = notify.New(ncfg, w.meta, testLogger(t)); err != nil {
		t.Fatal(err)
	}
	wcfg := web.DefaultConfig()
	wcfg.PublicURL = "https://valise.example.org"
	wcfg.CSRFKey = bytes.Repeat([]byte{42}, 32)
	if w.web, err = web.New(wcfg, web.Deps{
		Accounts: w.accounts, Sends: w.transfer, Links: w.transfer, Mailer: w.mail, Logger: testLogger(t),
	}); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.PublicURL = "https://valise.example.org"
	w.h, err = New(cfg, Deps{
		Accounts: w.accounts, Sends: w.transfer, Links: w.transfer, Files: storeFiles{w.bs},
		Mailer: w.mail, Pages: w.web, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.h.Close)
	tb, err := tustest.Open(tustest.Config{Dir: t.TempDir(), MaxSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if w.tus, err = tus.New(tus.DefaultConfig(), tb, w.h.Principal, testLogger(t)); err != nil {
		t.Fatal(err)
	}
	w.serve()
	doc, err := libopenapi.NewDocument(OpenAPI())
	if err != nil {
		t.Fatalf("parse OpenAPI: %v", err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("OpenAPI validator: %v", errs)
	}
	w.val = v
	return w
}

// serve starts fasthttp over TLS with a fresh self-signed certificate, as the node does.
func (w *world) serve() {
	t := w.t
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			if strings.HasPrefix(string(ctx.Path()), "/api/v1/uploads") {
				w.tus.Handle(ctx)
				return
			}
			if !w.h.Handle(ctx) && !w.web.Handle(ctx) {
				ctx.SetStatusCode(fasthttp.StatusNotFound)
			}
		},
		StreamRequestBody: true,
		ReadBufferSize:    64 << 10,
		WriteBufferSize:   64 << 10,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		Logger:            fasthttpLog{t},
	}
	done := make(chan error, 1)
	go func() {
		done <- srv.Serve(tls.NewListener(ln, &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}))
	}()
	t.Cleanup(func() {
		if err := srv.Shutdown(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	pool := x509.NewCertPool()
	leaf, _ := x509.ParseCertificate(der)
	pool.AddCert(leaf)
	jar, _ := cookiejar.New(nil)
	w.client = &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableCompression: true},
		Jar:       jar,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
		Timeout: 2 * time.Minute,
	}
	w.base = "https://" + ln.Addr().String()
}

type fasthttpLog struct{ t *testing.T }

func (l fasthttpLog) Printf(format string, args ...any) { l.t.Logf("fasthttp: "+format, args...) }

// reply is a response read whole.
type reply struct {
	*http.Response
	body []byte
}

func (r reply) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// call makes a request and, when validate is set, checks it and its response against the
// OpenAPI document.
func (w *world) call(method, path string, hdr map[string]string, body []byte, validate bool) reply {
	w.t.Helper()
	req, err := http.NewRequestWithContext(w.ctx, method, w.base+path, bytes.NewReader(body))
	if err != nil {
		w.t.Fatal(err)
	}
	if body == nil {
		req.Body = http.NoBody
		req.ContentLength = 0
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		w.t.Fatalf("%s %s: %v", method, path, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		w.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	if validate {
		vreq, _ := http.NewRequest(method, w.base+path, bytes.NewReader(body))
		for k, v := range hdr {
			vreq.Header.Set(k, v)
		}
		resp.Body = io.NopCloser(bytes.NewReader(b))
		if ok, errs := w.val.ValidateHttpRequestResponse(vreq, resp); !ok {
			for _, e := range errs {
				w.t.Errorf("OpenAPI: %s %s → %d: %s (%s)", method, path, resp.StatusCode, e.Message, e.Reason)
				for _, se := range e.SchemaValidationErrors {
					w.t.Errorf("  schema: %s at %s", se.Reason, se.FieldPath)
				}
			}
		}
	}
	return reply{Response: resp, body: b}
}

// api calls with a bearer token and a JSON body, validating both ways.
func (w *world) api(method, path, bearer string, v any) reply {
	w.t.Helper()
	hdr := map[string]string{}
	if bearer != "" {
		hdr["Authorization"] = "Bearer " + bearer
	}
	var body []byte
	if v != nil {
		var err error
		if body, err = json.Marshal(v); err != nil {
			w.t.Fatal(err)
		}
		hdr["Content-Type"] = "application/json"
	}
	return w.call(method, path, hdr, body, true)
}

// user adds a user and returns them with a fresh access token.
func (w *world) user(email, name string) (account.User, string) {
	w.t.Helper()
	u, _, err := w.accounts.Add(w.ctx, account.NewUser{Email: email, Name: name})
	if err != nil {
		w.t.Fatalf("add user: %v", err)
	}
	_, secret, err := w.accounts.CreateToken(w.ctx, u.ID, "test")
	if err != nil {
		t := w.t
		t.Fatalf("create token: %v", err)
	}
	return u, secret
}

// upload stores data as owner's file through transfer and the real blobstore, as the tus
// backend does, with a clean verdict.
func (w *world) upload(owner userid.ID, name string, data []byte) transfer.File {
	w.t.Helper()
	return w.uploadAt(owner, "", name, data)
}

// uploadAt is upload with the file's path inside a dropped folder (relativePath metadata).
func (w *world) uploadAt(owner userid.ID, rel, name string, data []byte) transfer.File {
	w.t.Helper()
	return filetest.Store(w.ctx, w.t, w.transfer, w.bs, owner, rel, name, data)
}

// outbox returns the mails in the outbox, waiting (polling, no sleep-to-wait) until there
// are at least n.
func (w *world) outbox(n int) []notify.Message {
	w.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		msgs, err := w.mail.Outbox(w.ctx)
		if err != nil {
			w.t.Fatal(err)
		}
		if len(msgs) >= n || time.Now().After(deadline) {
			if len(msgs) < n {
				w.t.Fatalf("outbox has %d mails, want %d", len(msgs), n)
			}
			return msgs
		}
		<-tick.C
	}
}

var linkRE = regexp.MustCompile(`https://valise\.example\.org/s/([A-Za-z0-9_-]{43})`)

// linkToken finds the link token in a mail.
func linkToken(t *testing.T, m notify.Message) string {
	t.Helper()
	got := linkRE.FindStringSubmatch(m.Text)
	if got == nil {
		t.Fatalf("no link in mail %q", m.Text)
	}
	return got[1]
}

func randomData(n int, seed uint64) []byte {
	r := mrand.New(mrand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}
