// Package web serves Valise's web UI for users: log in and out, the first-login password
// change, the language switch, the compose page (files uploaded by the browser with the
// vendored tus-js-client to /api/v1/uploads), and the sent list with each send's detail,
// resend and revoke. Pages are server-rendered with html/template, in French by default and
// in English by Accept-Language or the language switch (the go-i18n catalogs of package locale).
// Static files (the page's own app.js and style.css, the vendored tus-js-client and htmx) are
// embedded and served under /static/ with long cache lifetimes keyed by their content hash.
//
// Sessions: the __Host-session cookie (Secure, HttpOnly, SameSite=Lax, Path=/) holds an
// account session token; account enforces the 12 h and 30 min idle limits. Every POST
// carries a CSRF token, in the form field "csrf" or the X-CSRF-Token header: for a session
// it is the HMAC-SHA256 of the session's ID under Config.CSRFKey; before login it is the HMAC
// of a random nonce kept in the __Host-csrf cookie. Every page is sent with a strict CSP (no
// inline script or style), nosniff, no-referrer, HSTS and no-store.
//
// The recipients' link pages (/s/{token}: the page, its password and code forms, the dead-link
// page) are served here too, without session or CSRF (link.go); the downloads below them
// (/s/{token}/files/…, /s/{token}/zip) are httpd/api's, which asks LinkError for a browser's
// error page.
//
// fasthttp's memory rules (docs/dependencies.md, trap 4): nothing obtained from a RequestCtx is kept
// after the handler returns.
package web

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"valise/account"
	"valise/fault"
	"valise/httpd/route"
	"valise/httpd/status"
	"valise/internal/keyrate"
	"valise/locale"
	"valise/transfer"
	"valise/userid"
)

// Errors of the web layer itself.
var (
	// ErrCSRF is answered (403) to a POST without a valid CSRF token, or from another origin.
	ErrCSRF = fault.New(fault.Forbidden, "csrf", "web: missing or invalid CSRF token")
	// ErrNoSession is SessionPrincipal's refusal (401 from the uploads): no live session of a
	// user who needs no password change, or a change without its CSRF header.
	ErrNoSession = fault.New(fault.Unauthorized, "unauthorized", "web: no valid session")
	// ErrBodyTooLarge is answered (413) to a form above Config.MaxBodyBytes.
	ErrBodyTooLarge = status.ErrBodyTooLarge
	// ErrBadRequest is answered (400) to a form that cannot be parsed.
	ErrBadRequest = status.ErrBadRequest
)

// Accounts is what the web UI needs of account; *account.Service implements it. Every method
// is called from request goroutines, concurrently, and honours ctx. Errors meant for the
// user are *account.UserError values.
type Accounts interface {
	// CheckPassword authenticates an e-mail address and password (lockout included), from
	// the client address account.WithClientIP put in ctx. account.ErrLocked and ErrBusy
	// refuse before any check; ErrBadCredentials answers a wrong password, or a right one
	// that came too late.
	CheckPassword(ctx context.Context, email, password string) (account.User, error)
	// CreateSession opens a session for userID and returns its token, given once.
	CreateSession(ctx context.Context, userID userid.ID) (string, account.Session, error)
	// Session returns the live session with this token and its user, after a linearizable
	// read; account.ErrInvalidToken, ErrSessionExpired or ErrDisabled when refused.
	Session(ctx context.Context, token string) (account.Session, account.User, error)
	// DeleteSession ends a session; an unknown token is not an error.
	DeleteSession(ctx context.Context, token string) error
	// SetPassword sets a chosen password (policy checked: account.ErrWeakPassword), clears
	// must-change-password and ends every other session and token of the user: the session
	// whose token is keepSession lives on.
	SetPassword(ctx context.Context, email, password, keepSession string) error
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
	// ResendLink mints a new link for one recipient (the old one stops working) and mails it
	// in lang; an error wrapping transfer.ErrNotNotified when the link was made but not
	// mailed.
	ResendLink(ctx context.Context, owner userid.ID, id transfer.SendID, recipient, lang string, n transfer.Notifier) (transfer.Invitation, transfer.Send, error)
	// Revoke ends a send at once, on every node.
	Revoke(ctx context.Context, owner userid.ID, id transfer.SendID) error
	// Confirm lifts a send's suspension after a restore; nothing for a send not suspended.
	Confirm(ctx context.Context, owner userid.ID, id transfer.SendID) error
	// GetFile returns owner's complete file.
	GetFile(ctx context.Context, owner userid.ID, id transfer.FileID) (transfer.File, error)
}

// Limits says how much a user may upload and send, so the compose page checks sizes, quota
// and the size of a send before the first byte flows. transfer.Service implements it from
// its policy and usage. Called from request goroutines; it must answer quickly.
type Limits interface {
	// UploadLimits returns owner's limits now (transfer.Limits documents each).
	UploadLimits(ctx context.Context, owner userid.ID) (transfer.Limits, error)
}

// Deps are the Handler's collaborators; Limits and Logger are optional (no Limits: the
// server's checks alone, at upload time).
type Deps struct {
	Accounts Accounts
	Sends    Sends
	// Links serves the recipients' link pages (link.go).
	Links  Links
	Mailer transfer.Mailer // *notify.Sender
	Limits Limits
	Logger *slog.Logger
}

// Config tunes the Handler.
type Config struct {
	// PublicURL is the base of the links in mails, "https://valise.example.org" (no
	// trailing slash).
	PublicURL string `toml:"public_url"`
	// CSRFKey keys the CSRF tokens' HMAC; at least 32 random bytes, the same on every node
	// (a session may move between nodes).
	CSRFKey []byte `toml:"-"`
	// ProductName is the name shown in the pages' header and titles.
	ProductName string `toml:"product_name"`
	// Colors override the default palette (branding); empty fields keep Valise's colours.
	Colors Colors `toml:"colors"`
	// Logo is shown before the product name in every page's header, served at /static/logo;
	// none when its Data is empty. ParseLogo reads it from the branding.logo setting.
	Logo Logo `toml:"-"`
	// MaxBodyBytes bounds a form's body.
	MaxBodyBytes int `toml:"max_body_bytes"`
	// SessionMaxAge is the session cookie's Max-Age; account enforces the real limits.
	SessionMaxAge time.Duration `toml:"session_max_age"`
	// ScanWait is no longer used: a send whose files are still being scanned is created at
	// once and waits for the antivirus (issue 16 item 3). Kept so that configurations that
	// set it still load.
	//
	// Deprecated: ignored.
	ScanWait time.Duration `toml:"scan_wait"`
	// RequestTimeout bounds the domain calls of one request (a session lookup, a password
	// check waiting for its Argon2 slot): past it the request is answered, never left hanging.
	RequestTimeout time.Duration `toml:"request_timeout"`
	// LoginPerAddress limits sign-in attempts (POST /login) per client address, on this node.
	LoginPerAddress Rate `toml:"login_per_address"`
	// LoginPerAccount limits sign-in attempts per e-mail address typed (a user's or not), on
	// this node.
	LoginPerAccount Rate `toml:"login_per_account"`
	// KeepaliveEvery is how often the compose page tells the server the user is still there
	// while its uploads run (POST /keepalive): a long upload is activity, and its session
	// must not end idle under it. Keep it well below account's idle limit.
	KeepaliveEvery time.Duration `toml:"keepalive_every"`
}

// Colors are the brand's colours, "#rrggbb". The pages use them as CSS variables; each must
// keep a 4.5:1 contrast with the background of its scheme (CheckBrandColor). Without
// BrandDark, the dark scheme uses Brand lightened until it reads there.
type Colors struct {
	// Brand colours links and primary buttons in the light scheme.
	Brand string `toml:"brand"`
	// BrandDark is Brand in the dark scheme (prefers-color-scheme: dark).
	BrandDark string `toml:"brand_dark"`
}

// DefaultConfig returns the defaults; the caller sets PublicURL and CSRFKey.
func DefaultConfig() Config {
	return Config{
		ProductName:    "Valise",
		MaxBodyBytes:   256 << 10,
		SessionMaxAge:  12 * time.Hour,
		ScanWait:       30 * time.Second,
		KeepaliveEvery: 5 * time.Minute,
		RequestTimeout: 30 * time.Second,
		// A person mistyping needs a handful; the account's lockout stops guessing anyway.
		LoginPerAddress: Rate{PerMinute: 20, Burst: 20},
		LoginPerAccount: Rate{PerMinute: 30, Burst: 30},
	}
}

// Validate reports the first thing wrong with c.
func (c *Config) Validate() error {
	u, err := url.Parse(c.PublicURL)
	switch {
	case err != nil || u.Scheme != "https" || u.Host == "" || strings.HasSuffix(c.PublicURL, "/"):
		return fmt.Errorf("web config: public_url %q must be an https URL without trailing slash", c.PublicURL)
	case len(c.CSRFKey) < 32:
		return errors.New("web config: csrf key shorter than 32 bytes")
	case c.ProductName == "" || len(c.ProductName) > 100:
		return errors.New("web config: product_name must hold 1 to 100 bytes")
	case c.MaxBodyBytes < 4<<10:
		return errors.New("web config: max_body_bytes below 4 KiB")
	case c.SessionMaxAge <= 0:
		return errors.New("web config: session_max_age must be positive")
	case !validColor(c.Colors.Brand) || !validColor(c.Colors.BrandDark):
		return fmt.Errorf("web config: colors must be #rrggbb, got %q and %q", c.Colors.Brand, c.Colors.BrandDark)
	case c.Colors.Brand != "" && CheckBrandColor(c.Colors.Brand, false) != nil:
		return fmt.Errorf("web config: brand colour: %w", CheckBrandColor(c.Colors.Brand, false))
	case c.Colors.BrandDark != "" && CheckBrandColor(c.Colors.BrandDark, true) != nil:
		return fmt.Errorf("web config: dark brand colour: %w", CheckBrandColor(c.Colors.BrandDark, true))
	case len(c.Logo.Data) > MaxLogoBytes:
		return fmt.Errorf("web config: logo larger than %d bytes", MaxLogoBytes)
	case len(c.Logo.Data) > 0 && !knownLogoType(c.Logo.ContentType):
		return fmt.Errorf("web config: logo type %q is not an accepted image type", c.Logo.ContentType)
	case c.KeepaliveEvery <= 0:
		return errors.New("web config: keepalive_every must be positive")
	case c.ScanWait < 0:
		return errors.New("web config: scan_wait must not be negative")
	case c.RequestTimeout <= 0:
		return errors.New("web config: request_timeout must be positive")
	case !c.LoginPerAddress.valid() || !c.LoginPerAccount.valid():
		return errors.New("web config: login_per_address and login_per_account need a positive per_minute and burst")
	}
	return nil
}

// Route is one method and path pattern the Handler serves (httpd/route: a segment in braces,
// "{id}", matches one non-empty path segment; a pattern ending in "/*" matches every path
// below). Public routes answer without a session; the others redirect to /login (GET) or
// answer 403 (POST).
type Route = route.Route

// Handler serves the web UI. It is safe for concurrent use.
type Handler struct {
	cfg    Config
	deps   Deps
	logger *slog.Logger
	pages  *pages
	// linkTmpl renders the recipients' link pages (link.go); never changed after New.
	linkTmpl *template.Template
	static   *staticFiles
	routes   *route.Table[handler]
	// Sign-in rate limits, never nil.
	loginByAddress, loginByAccount *keyrate.Limiter
}

// New returns a Handler.
func New(cfg Config, deps Deps) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Accounts == nil || deps.Sends == nil || deps.Links == nil || deps.Mailer == nil {
		return nil, errors.New("web: Deps.Accounts, Sends, Links and Mailer are required")
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := locale.Load(); err != nil {
		return nil, err
	}
	st, err := newStaticFiles()
	if err != nil {
		return nil, err
	}
	st.add("brand.css", "text/css; charset=utf-8", brandCSS(cfg.Colors))
	if len(cfg.Logo.Data) > 0 {
		st.add("logo", cfg.Logo.ContentType, cfg.Logo.Data)
	}
	pg, err := newPages(st)
	if err != nil {
		return nil, err
	}
	lt, err := parseLinkTemplates()
	if err != nil {
		return nil, err
	}
	h := &Handler{
		linkTmpl: lt,
		cfg:      cfg,
		deps:     deps,
		logger:   logger.With("component", "web"),
		pages:    pg,
		static:   st,

		loginByAddress: newLimiter(cfg.LoginPerAddress),
		loginByAccount: newLimiter(cfg.LoginPerAccount),
	}
	h.routes = h.table()
	return h, nil
}

// LogoURL returns the path of the brand's logo with its content hash ("/static/logo?v=…"),
// for other pages that show the brand (a link's page), or "" without a logo.
func (h *Handler) LogoURL() string {
	if _, ok := h.static.files["logo"]; !ok {
		return ""
	}
	return h.static.url("logo")
}

// Handle serves ctx when its path is one of Routes' patterns and returns true; otherwise it
// writes nothing and returns false. A known path with another method gets 405.
func (h *Handler) Handle(ctx *fasthttp.RequestCtx) bool {
	m, allowed, ok := h.routes.Find(string(ctx.Method()), string(ctx.Path()))
	if ok {
		h.serve(ctx, m)
		return true
	}
	if allowed == nil {
		return false
	}
	pageHeaders(ctx)
	ctx.Response.Header.Set("Allow", route.Allow(allowed))
	ctx.SetStatusCode(fasthttp.StatusMethodNotAllowed)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString("method not allowed\n")
	return true
}

// Routes lists every route a Handler serves, in a stable order, built from the same table
// the Handler routes with.
func Routes() []Route {
	var h *Handler // method values on a nil receiver are never called here
	return h.table().Routes()
}
