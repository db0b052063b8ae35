package node

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"valise/blobstore"
	"valise/httpd"
	"valise/httpd/api"
	"valise/httpd/tus"
	"valise/httpd/uploads"
	"valise/httpd/web"
	"valise/internal/logkey"
	"valise/scan"
	"valise/transfer"
	"valise/upload"
	"valise/userid"
)

// rescanEvery is how often the leader rescans the files held because the scanner was down.
const rescanEvery = time.Minute

// startUploads builds the tus uploads: the upload.Pipeline (blobstore, clamd, metadata)
// behind the tus server, authenticated by bearer token or the web UI's session
// (uploads.Principal). The uploads of interrupted tus sessions resume from their records;
// staged data no record names is removed once a leader is known (afterLeader).
func (n *instance) startUploads() error {
	ucfg := upload.DefaultConfig()
	ucfg.OnFinished = n.uploadFinished
	ucfg.TeeBuffer = liveScanTee // counted in the memory budget (limits.go)
	ucfg.Node = n.cfg.Node.ID    // the holder of the uploads' leases (issue 18)
	var sc upload.Scanner
	if n.scanner != nil && n.scanner.client != nil {
		sc = scannerSource{n.scanner}
	}
	up, err := upload.New(ucfg, n.transfers, n.blobs, sc, n.logger)
	if err != nil {
		return fmt.Errorf("uploader: %w", err)
	}
	n.uploader = up
	n.onStop("uploader", func(context.Context) error { return up.Close() })
	tcfg := tus.DefaultConfig()
	tcfg.Gate = n.memGate
	principal := uploads.Principal(n.accounts, n.web.sessionPrincipal, n.logger)
	ts, err := tus.New(tcfg, uploads.NewBackend(up), principal, n.logger)
	if err != nil {
		return fmt.Errorf("tus server: %w", err)
	}
	n.tus = ts
	return nil
}

// httpDeps are the routes of the HTTPS server: the tus uploads behind the browsers' CSRF
// check (uploads.CSRFGate).
func (n *instance) httpDeps() httpd.Deps {
	d := httpd.Deps{Ready: readiness{n}, API: &n.api, Web: &n.web}
	if n.joins != nil {
		d.Cluster = n.joins
	}
	if n.tus != nil {
		d.Uploads = uploads.CSRFGate(n.tus.Handle)
	}
	return d
}

// uploadFinished mails what a file's verdict settled (the sends that waited for it), and
// tells the sender when their upload was found infected (transfer.Service.NotifyVerdict).
func (n *instance) uploadFinished(ctx context.Context, f upload.Finished) {
	nt, settled := n.notifier(f.Sends)
	n.transfers.NotifyVerdict(ctx, f.File, f.Signature, settled, nt)
}

// rescanHeld rescans, on the leader, the files held because the scanner was down, then
// settles the sends waiting for the antivirus whose verdicts are all in.
func (n *instance) rescanHeld() {
	n.onLeaderEvery(rescanEvery, func() {
		if c, err := n.uploader.RescanHeld(n.bgCtx); err != nil {
			n.logger.Warn("rescan held files", logkey.Err, err, "scanned", c)
		} else if c > 0 {
			n.logger.Info("rescanned held files", "count", c)
		}
		n.settleWaitingSends(n.bgCtx)
	})
}

// scannerSource gives the upload pipeline the node's clamd.
type scannerSource struct{ s *scanner }

// Client implements upload.Scanner. The private clamd's client is asked afresh each time:
// it says whether only test signatures are loaded, which a restart may change.
func (s scannerSource) Client() *scan.Client {
	if s.s.daemon != nil {
		return s.s.daemon.Client()
	}
	return s.s.client
}

// apiMount is the REST API as mounted in the HTTPS server. The handler is set once the
// public URL is known (after the listener is bound: port 0) and serves until the node stops,
// a public_url change given to it (api.Handler.SetPublicURL); before, the API answers 404
// like any unknown path.
type apiMount struct {
	h atomic.Pointer[api.Handler] // nil until set, then never replaced
}

// Handle implements httpd.Mount.
func (m *apiMount) Handle(ctx *fasthttp.RequestCtx) bool {
	h := m.h.Load()
	if h == nil {
		return false
	}
	return h.Handle(ctx)
}

// storeFiles opens stored files for downloads: the manifest as transfer keeps it, decoded.
type storeFiles struct{ s *blobstore.Store }

// OpenFile decodes manifest and opens the file's plaintext.
func (f storeFiles) OpenFile(ctx context.Context, manifest []byte) (io.ReadSeekCloser, error) {
	var m blobstore.Manifest
	if err := m.UnmarshalBinary(manifest); err != nil {
		return nil, fmt.Errorf("decode a file manifest: %w", err)
	}
	return f.s.Open(ctx, m)
}

// startAPI mounts the REST API for the current public URL (the listener is bound by now, so
// a port chosen at start is known). applySettings calls it again when public_url changes:
// the one handler takes the new URL, so that nothing built for the old one is kept (issue 17
// item 4: a replaced handler had to be kept, to end its streams, until the node stopped).
// closeAPI is registered before HTTPS, so that it runs after HTTPS has drained its requests.
func (n *instance) startAPI() error {
	pub := n.publicURL()
	if pub == n.apiURL {
		return nil
	}
	if h := n.api.h.Load(); h != nil {
		if err := h.SetPublicURL(pub); err != nil {
			return fmt.Errorf("rest api: %w", err)
		}
		n.logger.Info("public_url changed: links now use it", "public_url", pub)
	} else {
		acfg := api.DefaultConfig()
		acfg.PublicURL = pub
		h, err := api.New(acfg, api.Deps{
			Accounts: n.accounts,
			Sends:    n.transfers,
			Links:    n.transfers,
			Files:    storeFiles{n.blobs},
			Mailer:   n.mail,
			Sweeper:  n.retention,
			Gate:     n.memGate,
			Pages:    &n.web,
			Logger:   n.logger,
		})
		if err != nil {
			return fmt.Errorf("rest api: %w", err)
		}
		n.api.h.Store(h)
		n.applyBrand()
	}
	n.apiURL = pub
	// A new public host gets its certificate from the cluster CA in the background (the
	// fallback certificate, which does not name it, answers until then).
	if u, err := url.Parse(pub); err == nil && n.https != nil && len(n.permittedNames("public_url", []string{u.Hostname()})) > 0 {
		if err := n.https.ManageNames(u.Hostname()); err != nil {
			n.logger.Warn("manage a certificate for the public_url host", "host", u.Hostname(), logkey.Err, err)
		}
	}
	return nil
}

// branding returns the colours and logo of ws that the web UI can use. A value that settings
// set accepted under older, looser rules (a colour now too pale for WCAG AA) is left out
// with a warning, and Valise's own takes its place: a node never fails to start over it.
func (n *instance) branding(ws webSettings) (web.Colors, web.Logo) {
	var c web.Colors
	for _, v := range []struct {
		key, value string
		dark       bool
		to         *string
	}{
		{"branding.color", ws.color, false, &c.Brand},
		{"branding.color_dark", ws.colorDark, true, &c.BrandDark},
	} {
		if v.value == "" {
			continue
		}
		if err := web.CheckBrandColor(strings.ToLower(v.value), v.dark); err != nil {
			n.logger.Warn("branding setting not applied: Valise's own colour shows", "key", v.key, logkey.Err, err)
			continue
		}
		*v.to = strings.ToLower(v.value)
	}
	logo, err := web.ParseLogo(ws.logo)
	if err != nil {
		n.logger.Warn("branding setting not applied: no logo shows", "key", "branding.logo", logkey.Err, err)
	}
	return c, logo
}

// applyBrand gives the API handler (its mails) the web UI's product name, once both are
// built.
func (n *instance) applyBrand() {
	if n.web.h.Load() == nil || n.api.h.Load() == nil {
		return
	}
	n.api.h.Load().SetProduct(n.webWith.name)
}

// closeAPI ends the API's streams.
func (n *instance) closeAPI(context.Context) error {
	if h := n.api.h.Load(); h != nil {
		h.Close()
	}
	return nil
}

// csrfKeyLabel names the key the web UI's CSRF tokens are keyed with, derived from the
// cluster key-encryption key: the same on every node, so a session may move between them.
const csrfKeyLabel = "valise/web/csrf/v1"

// webMount is the web UI as mounted in the HTTPS server. The handler is set once the public
// URL is known and replaced when public_url or the branding changes (it holds no streams: the
// one replaced is dropped); before, its paths answer 404 and browsers' uploads are refused.
type webMount struct {
	h atomic.Pointer[web.Handler] // nil until set
	// brand is the product name and public URL the handler was built with, for the mails
	// of the node's background work (notifier); nil until set.
	brand atomic.Pointer[transfer.Brand]
}

// Handle implements httpd.Mount.
func (m *webMount) Handle(ctx *fasthttp.RequestCtx) bool {
	h := m.h.Load()
	if h == nil {
		return false
	}
	return h.Handle(ctx)
}

// ShowsNotice reports whether the web UI's link page shows code's notice; false while the
// web UI is not built, so that the API answers the error page instead.
func (m *webMount) ShowsNotice(code string) bool {
	h := m.h.Load()
	return h != nil && h.ShowsNotice(code)
}

// LinkError implements api.LinkPages with the web UI's link error page; before the web UI
// is built, a bare status.
func (m *webMount) LinkError(ctx *fasthttp.RequestCtx, status int, code string) {
	if h := m.h.Load(); h != nil {
		h.LinkError(ctx, status, code)
		return
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString(code + "\n")
}

// sessionPrincipal authenticates a browser's tus request by its web session.
func (m *webMount) sessionPrincipal(ctx *fasthttp.RequestCtx) (userid.ID, error) {
	h := m.h.Load()
	if h == nil {
		return "", web.ErrNoSession
	}
	return h.SessionPrincipal(ctx)
}

// webSettings are the cluster settings the web UI is built with.
type webSettings struct {
	publicURL, name, color, colorDark, logo string
}

// startWeb mounts the web UI for the current public URL and branding settings, after
// startAPI; applySettings calls it again, and it rebuilds the handler when one of them
// changed. The handler holds no streams: the one it replaces needs no closing.
func (n *instance) startWeb() error {
	ws := webSettings{
		publicURL: n.publicURL(),
		name:      n.setting("branding.name"),
		color:     n.setting("branding.color"),
		colorDark: n.setting("branding.color_dark"),
		logo:      n.setting("branding.logo"),
	}
	if ws == n.webWith {
		return nil
	}
	wcfg := web.DefaultConfig()
	wcfg.PublicURL = ws.publicURL
	wcfg.CSRFKey = n.keys.DeriveKey(csrfKeyLabel)
	wcfg.ProductName = ws.name
	wcfg.Colors, wcfg.Logo = n.branding(ws)
	h, err := web.New(wcfg, web.Deps{
		Accounts: n.accounts,
		Sends:    n.transfers,
		Links:    n.transfers,
		Mailer:   n.mail,
		Limits:   n.transfers,
		Logger:   n.logger,
	})
	if err != nil {
		return fmt.Errorf("web ui: %w", err)
	}
	n.web.brand.Store(&transfer.Brand{Product: ws.name, PublicURL: ws.publicURL})
	n.web.h.Store(h)
	if n.webWith != (webSettings{}) {
		n.logger.Info("web UI rebuilt for new settings", "public_url", ws.publicURL, "product_name", ws.name)
	}
	n.webWith = ws
	n.applyBrand()
	return nil
}
