// Package api serves Valise's REST API under /api/v1 (accounts' tokens, sends, files, the
// public link API) and the recipients' downloads under /s/{token} (a file, the zip), on
// fasthttp, with the hand-written OpenAPI 3.1 document at /api/v1/openapi.json. It answers
// JSON and file bytes only: the recipients' pages (/s/{token} itself and its forms) are
// httpd/web's, which also renders the error page of a browser's refused download
// (Deps.Pages).
//
// The tus uploads at /api/v1/uploads are served by httpd/tus, mounted beside this handler;
// Handler.Principal authenticates them the same way. The OpenAPI document describes them too.
//
// The Handler reaches the domain through the small interfaces below, declared here for what
// it uses: *account.Service is the Accounts, *transfer.Service the Sends and Links, a tiny
// adapter over blobstore the Files, and *notify.Sender the Mailer (transfer.Mailer: the mails
// are composed by transfer's use cases, which the handlers call with the Notifier).
//
// Authentication: `Authorization: Bearer vls_…` (account.AuthenticateToken, a linearizable
// check); the principal is kept in the request's user values (PrincipalFrom). Only the routes
// marked Public in Routes answer without it: the OpenAPI document and everything reached by a
// link token, which is itself the credential (256 bits) and is rate-limited per client
// address (transfer.AllowLinkAttempt). A revoked, expired, used-up or unknown link answers the
// same 404, byte for byte.
//
// Every response carries nosniff, no-referrer, HSTS, a sandboxing CSP and no-store; shared
// files are always attachments. Errors are JSON {"code", "message"}, the message in the
// caller's language (French unless Accept-Language prefers English, or the user's language);
// errorStatus is the one place where error kinds become status codes.
//
// fasthttp's memory rules (docs/dependencies.md, trap 4): nothing obtained from a RequestCtx is kept
// after the handler returns; the zip stream's callback gets copies of everything it needs.
package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/text/language"

	"valise/account"
	"valise/fault"
	"valise/httpd/route"
	"valise/httpd/status"
	"valise/internal/membudget"
	"valise/transfer"
	"valise/userid"
)

// Errors of the HTTP layer itself, with their fault kinds so that errorStatus maps them with
// the domain's (from account and transfer) in one table.
var (
	// ErrUnauthorized is answered (401) to a request without valid credentials on a route
	// that needs them.
	ErrUnauthorized = fault.New(fault.Unauthorized, "unauthorized", "api: authentication required")
	// ErrRouteNotFound is answered (404) for an ID that does not name the caller's object.
	ErrRouteNotFound = fault.New(fault.NotFound, "not_found", "api: not found")
	// ErrMethodNotAllowed is answered (405) for a known path with another method.
	ErrMethodNotAllowed = fault.New(fault.NotAllowed, "method_not_allowed", "api: method not allowed")
	// ErrBadRequest is answered (400) for a body that is not the JSON or form expected.
	ErrBadRequest = status.ErrBadRequest
	// ErrBodyTooLarge is answered (413) for a request body above Config.MaxBodyBytes.
	ErrBodyTooLarge = status.ErrBodyTooLarge
	// ErrUnsupportedMediaType is answered (415) for a body that is not application/json
	// (or a form, on the page routes).
	ErrUnsupportedMediaType = status.ErrUnsupportedMediaType
	// ErrRateLimited is answered (429) when a client address tried too many links.
	ErrRateLimited = status.ErrRateLimited
	// ErrRangeNotSatisfiable is answered (416) for a Range outside the file.
	ErrRangeNotSatisfiable = fault.New(fault.OutOfRange, "range_not_satisfiable", "api: range not satisfiable")
	// ErrOverloaded is answered (503, with Retry-After) when a download found no room in the
	// node's memory budget within the gate's wait (limits.go).
	ErrOverloaded = fault.New(fault.Unavailable, "server_busy", "api: memory budget exhausted")
)

// Accounts is what the API needs of account; *account.Service implements it. Every method is
// called from request goroutines, concurrently, and honours ctx.
type Accounts interface {
	// AuthenticateToken returns the user and token of a bearer token "vls_…" after a
	// linearizable read; an error wrapping account.ErrInvalidToken or account.ErrDisabled
	// when it must be refused.
	AuthenticateToken(ctx context.Context, bearer string) (account.User, account.Token, error)
	// MailContact returns a user's name, address and language, for a receipt to a sender
	// (transfer.Contacts); account.ErrNotFound if gone.
	MailContact(ctx context.Context, userID userid.ID) (name, email, lang string, err error)
	// CreateToken makes a token for userID and returns it with its secret, shown once.
	CreateToken(ctx context.Context, userID userid.ID, name string) (account.Token, string, error)
	// ListTokens returns userID's tokens without secrets.
	ListTokens(ctx context.Context, userID userid.ID) ([]account.Token, error)
	// TokenByID returns a token without secret; account.ErrNotFound if none.
	TokenByID(ctx context.Context, id string) (account.Token, error)
	// RevokeToken deletes a token; account.ErrNotFound if none.
	RevokeToken(ctx context.Context, id string) error
}

// Sends is the sender's side of transfer; *transfer.Service implements it. Owner-scoped
// methods answer another owner's object as not found.
type Sends interface {
	// SendFiles creates a send and mails each recipient their invitation, recording it.
	SendFiles(ctx context.Context, owner userid.ID, req transfer.SendRequest, n transfer.Notifier) (transfer.Created, error)
	// ListSends returns owner's sends, newest first.
	ListSends(ctx context.Context, owner userid.ID) ([]transfer.Send, error)
	// GetSend returns owner's send with per-recipient tracking.
	GetSend(ctx context.Context, owner userid.ID, id transfer.SendID) (transfer.Send, error)
	// ResendLink mints a new link for one recipient (the old one stops working), mails it in
	// lang and returns the send as it is now; an error wrapping transfer.ErrNotNotified when
	// the link was made but not mailed.
	ResendLink(ctx context.Context, owner userid.ID, id transfer.SendID, recipient, lang string, n transfer.Notifier) (transfer.Invitation, transfer.Send, error)
	// Revoke ends a send at once, on every node.
	Revoke(ctx context.Context, owner userid.ID, id transfer.SendID) error
	// Confirm lifts a send's suspension after a restore; nothing for a send not suspended.
	Confirm(ctx context.Context, owner userid.ID, id transfer.SendID) error
	// MailReceipt mails the sender of r's send a receipt for files.
	MailReceipt(ctx context.Context, r transfer.Receipt, files []transfer.LinkFile, n transfer.Notifier) error
	// GetFile returns owner's complete file (the manifest is never shown).
	GetFile(ctx context.Context, owner userid.ID, id transfer.FileID) (transfer.File, error)
}

// Links is the recipients' side of transfer; *transfer.Service implements it. Every call on
// a link that is unknown, revoked, expired or used up returns transfer.ErrLinkNotFound.
type Links interface {
	// AllowLinkAttempt takes one token from ip's bucket; false means refuse (429).
	AllowLinkAttempt(ip string) bool
	// OpenLink returns what the recipient sees and records the opening: only what the
	// challenges need (Locked) until grant passed them all.
	OpenLink(ctx context.Context, token, grant, clientIP string) (transfer.LinkView, error)
	// CheckLinkPassword checks the send's password, given from client address clientIP,
	// and returns a grant.
	CheckLinkPassword(ctx context.Context, token, grant, password, clientIP string) (transfer.Grant, error)
	// MailEmailCode makes a code for the link and mails it to its recipient in lang; it
	// returns when the code expires.
	MailEmailCode(ctx context.Context, token, lang string, n transfer.Notifier) (time.Time, error)
	// CheckEmailCode checks a mailed code, given from client address clientIP, and returns
	// a grant.
	CheckEmailCode(ctx context.Context, token, grant, code, clientIP string) (transfer.Grant, error)
	// StartDownload allows one file's download and returns its ticket (with the manifest).
	StartDownload(ctx context.Context, token, grant string, fileID transfer.FileID, clientIP string, rangeReq bool) (transfer.Ticket, error)
	// FinishDownload records a download started by StartDownload that served served bytes
	// (-1: no body was sent) and releases its hold on the download limit.
	FinishDownload(ctx context.Context, t transfer.Ticket, served int64) (transfer.Outcome, error)
}

// Files opens stored files for reading; the node adapts blobstore.Store.Open to it.
type Files interface {
	// OpenFile decodes a manifest (as transfer keeps it) and opens the file's plaintext. The
	// reader must support Seek (Range requests seek by block) and be closed by the caller. It
	// is called from request goroutines and from response stream writers, concurrently.
	OpenFile(ctx context.Context, manifest []byte) (io.ReadSeekCloser, error)
}

// Sweeper runs the retention job early; *transfer.Job implements it. Optional.
type Sweeper interface {
	// Trigger asks for a sweep soon; it never blocks.
	Trigger()
}

// The domain's services are the interfaces above.
var (
	_ Accounts = (*account.Service)(nil)
	_ Sends    = (*transfer.Service)(nil)
	_ Links    = (*transfer.Service)(nil)
	_ Sweeper  = (*transfer.Job)(nil)
)

// Deps are the Handler's collaborators; all but Sweeper are required.
type Deps struct {
	// Accounts authenticates bearer tokens and manages them (*account.Service).
	Accounts Accounts
	// Sends is the sender's side of transfer (*transfer.Service).
	Sends Sends
	// Links is the recipients' side of transfer (*transfer.Service).
	Links Links
	// Files opens stored files (the node's adapter over blobstore.Store).
	Files Files
	// Mailer queues invitations, codes and receipts (*notify.Sender).
	Mailer transfer.Mailer
	// Sweeper is poked when a download used a send up (*transfer.Job); nil: the periodic
	// sweep alone ends used-up sends.
	Sweeper Sweeper
	// Gate admits downloads and zips into the node's memory budget and bounds the zips
	// streaming at once (limits.go); nil admits all.
	Gate *membudget.Gate
	// Pages renders the error page of a browser's download that cannot start (httpd/web's
	// Handler); nil answers JSON to browsers too.
	Pages LinkPages
	// Logger; nil discards.
	Logger *slog.Logger
}

// LinkPages renders the HTML answers of a link's downloads for browsers; *web.Handler
// implements it. The API itself writes JSON only.
type LinkPages interface {
	// LinkError answers status with the error page of code (a stable error code, as in the
	// JSON answers), in the request's language. Called on the request goroutine, after the
	// security headers and Retry-After are set; it must not keep ctx.
	LinkError(ctx *fasthttp.RequestCtx, status int, code string)
	// ShowsNotice reports whether the link's page shows the notice of error code after a
	// redirect to it with ?e=code; the API redirects a browser's refused download there with
	// those codes only. Safe for concurrent use.
	ShowsNotice(code string) bool
}

// Config tunes the Handler.
type Config struct {
	// PublicURL is the base of the links in mails, "https://valise.example.org" (no
	// trailing slash): a recipient's link is PublicURL + "/s/" + token. Handler.SetPublicURL
	// changes it while serving.
	PublicURL string `toml:"public_url"`
	// MaxBodyBytes bounds a JSON or form request body.
	MaxBodyBytes int `toml:"max_body_bytes"`
	// RequestTimeout bounds the domain calls of one request (a request's own reads and
	// writes are bounded by the server's timeouts).
	RequestTimeout time.Duration `toml:"request_timeout"`
	// StreamTimeout bounds the domain calls made while a download streams (opening the
	// file, recording the download) after the handler returned.
	StreamTimeout time.Duration `toml:"stream_timeout"`
	// CopyBufferSize is the buffer of a download's copy loop.
	CopyBufferSize int `toml:"copy_buffer_size"`
}

// DefaultConfig returns the defaults; the caller sets PublicURL.
func DefaultConfig() Config {
	return Config{
		MaxBodyBytes:   64 << 10,
		RequestTimeout: 30 * time.Second,
		StreamTimeout:  time.Minute,
		CopyBufferSize: 256 << 10,
	}
}

// Validate reports the first thing wrong with c.
func (c *Config) Validate() error {
	if err := checkPublicURL(c.PublicURL); err != nil {
		return err
	}
	switch {
	case c.MaxBodyBytes < 1<<10:
		return errors.New("api config: max_body_bytes below 1 KiB")
	case c.StreamTimeout <= 0 || c.RequestTimeout <= 0:
		return errors.New("api config: request_timeout and stream_timeout must be positive")
	case c.CopyBufferSize < 4<<10:
		return errors.New("api config: copy_buffer_size below 4 KiB")
	}
	return nil
}

// checkPublicURL reports whether pub can be Config.PublicURL.
func checkPublicURL(pub string) error {
	u, err := url.Parse(pub)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(pub, "/") {
		return fmt.Errorf("api config: public_url %q must be an https URL without trailing slash", pub)
	}
	return nil
}

// Handler serves the API and the links' downloads. It is safe for concurrent use.
type Handler struct {
	cfg     Config // cfg.PublicURL is only the first publicURL
	deps    Deps
	logger  *slog.Logger
	matcher language.Matcher
	routes  *route.Table[handler]
	product atomic.Pointer[string] // the product name the mails sign with; never nil
	openapi []byte
	baseCtx context.Context // cancelled by Close: ends the streams still running
	cancel  context.CancelFunc

	// publicURL is the base of the links in mails: cfg.PublicURL, then SetPublicURL's. Never
	// nil.
	publicURL atomic.Pointer[string]
}

// New returns a Handler.
func New(cfg Config, deps Deps) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Accounts == nil || deps.Sends == nil || deps.Links == nil || deps.Files == nil || deps.Mailer == nil {
		return nil, errors.New("api: Deps.Accounts, Sends, Links, Files and Mailer are required")
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Handler{
		cfg:     cfg,
		deps:    deps,
		logger:  logger.With("component", "api"),
		matcher: language.NewMatcher([]language.Tag{language.French, language.English}),
		openapi: openAPIDocument,
		baseCtx: ctx,
		cancel:  cancel,
	}
	h.publicURL.Store(&cfg.PublicURL)
	h.routes = h.table()
	h.SetProduct("")
	return h, nil
}

// SetPublicURL makes pub, which follows Config.PublicURL's rules, the base of the links in
// the mails queued from now on. A public_url change needs no new Handler: one replaced would
// have to be kept, to end its streams, until the node stops (issue 17 item 4).
func (h *Handler) SetPublicURL(pub string) error {
	if err := checkPublicURL(pub); err != nil {
		return err
	}
	h.publicURL.Store(&pub)
	return nil
}

// PublicURL returns the base of the links in mails.
func (h *Handler) PublicURL() string { return *h.publicURL.Load() }

// Close ends the downloads still streaming (their domain calls are cancelled). The Handler
// must not serve after Close.
func (h *Handler) Close() { h.cancel() }

// Handle serves ctx when its path is one of Routes' patterns and returns true; otherwise it
// writes nothing and returns false, so the server can try its other handlers (tus, health)
// or answer 404. A known path with another method gets 405.
func (h *Handler) Handle(ctx *fasthttp.RequestCtx) bool {
	m, allowed, ok := h.routes.Find(string(ctx.Method()), string(ctx.Path()))
	if ok {
		securityHeaders(ctx, m.Value.kind)
		rctx, cancel := context.WithTimeout(h.baseCtx, h.cfg.RequestTimeout)
		defer cancel()
		if !m.Public {
			p, err := h.authenticate(rctx, ctx)
			if err != nil {
				if cl := ctx.Request.Header.ContentLength(); cl > 0 || cl == -1 {
					ctx.SetConnectionClose() // a stranger's body is never read
				}
				h.fail(ctx, err)
				return true
			}
			ctx.SetUserValue(principalKey, p)
		}
		m.Value.serve(ctx, call{Context: rctx, params: m.Params})
		return true
	}
	if allowed == nil {
		return false
	}
	securityHeaders(ctx, kindAPI)
	ctx.Response.Header.Set("Allow", route.Allow(allowed))
	h.fail(ctx, ErrMethodNotAllowed)
	return true
}

// clientIP is the client's address: the peer's, or the one the trusted proxies vouch for,
// which httpd has put in the request's remote address (httpd/clientip.go); no header is read
// here.
func clientIP(ctx *fasthttp.RequestCtx) string { return ctx.RemoteIP().String() }

// SetProduct changes the product name the mails sign with from now on (the branding.name
// setting); "" keeps "Valise".
func (h *Handler) SetProduct(name string) {
	if name == "" {
		name = "Valise"
	}
	h.product.Store(&name)
}
