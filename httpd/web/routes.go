package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"
	"strings"

	"github.com/valyala/fasthttp"

	"valise/account"
	"valise/httpd/route"
)

// handler is a route's handler, given the request and the path's parameters.
type handler func(r *request, params map[string]string)

// table lists every route with its handler: the one source of Routes.
func (h *Handler) table() *route.Table[handler] {
	rs := []struct {
		method, pattern string
		public          bool
		serve           func(*request, map[string]string)
	}{
		{"GET", "/", true, h.serveRoot},
		{"GET", "/login", true, h.serveLogin},
		{"POST", "/login", true, h.serveLoginPost},
		{"POST", "/logout", false, h.serveLogout},
		{"POST", "/lang", true, h.serveLang},
		{"GET", "/password", false, h.servePassword},
		{"POST", "/password", false, h.servePasswordPost},
		{"GET", "/send", false, h.serveCompose},
		{"POST", "/send", false, h.serveComposePost},
		{"POST", "/keepalive", false, h.serveKeepalive},
		{"GET", "/sent", false, h.serveSentList},
		{"GET", "/sent/{id}", false, h.serveSentDetail},
		{"POST", "/sent/{id}/resend", false, h.serveResend},
		{"POST", "/sent/{id}/revoke", false, h.serveRevoke},
		{"POST", "/sent/{id}/confirm", false, h.serveConfirm},
		{"GET", "/static/*", true, h.serveStatic},
	}
	t := route.New[handler](route.Options{HeadAsGet: true})
	for _, r := range rs {
		t.Add(Route{Method: r.method, Pattern: r.pattern, Public: r.public}, r.serve)
	}
	h.addLinkRoutes(t)
	return t
}

// request is one request being served, with what the router learnt about it.
type request struct {
	ctx *fasthttp.RequestCtx
	// cx bounds the request's domain calls by Config.RequestTimeout and carries the client
	// address for account; never nil past serve's start.
	cx    context.Context
	lang  string // "fr" or "en"
	user  *account.User
	sess  *account.Session
	token string // the session cookie's value, "" without a session
}

// loggedIn reports whether the request has a live session.
func (r *request) loggedIn() bool { return r.user != nil }

// serve runs one route: headers, language, session, CSRF, then the route's handler.
func (h *Handler) serve(ctx *fasthttp.RequestCtx, rt route.Match[handler]) {
	params := rt.Params
	if strings.HasPrefix(rt.Pattern, "/static/") {
		rt.Value(&request{ctx: ctx}, params)
		return
	}
	cx, cancel := h.requestContext(ctx)
	defer cancel()
	if isLink(rt.Pattern) {
		// A recipient's page: no session, no CSRF, its own headers (link.go).
		rt.Value(&request{ctx: ctx, cx: cx}, params)
		return
	}
	pageHeaders(ctx)
	r := &request{ctx: ctx, cx: cx, lang: h.language(ctx)}
	if tok := string(ctx.Request.Header.Cookie(sessionCookie)); tok != "" && len(tok) <= 512 {
		sess, u, err := h.deps.Accounts.Session(cx, tok)
		switch {
		case err == nil:
			r.user, r.sess, r.token = &u, &sess, tok
		case errors.Is(err, account.ErrInvalidToken) || errors.Is(err, account.ErrSessionExpired) || errors.Is(err, account.ErrDisabled):
			clearCookie(ctx, sessionCookie)
		default:
			h.logger.Warn("session lookup failed", logErr, err)
			h.renderError(r, fasthttp.StatusServiceUnavailable, "error.unavailable")
			return
		}
	}
	if ctx.IsPost() {
		if err := h.readForm(ctx); err != nil {
			status := fasthttp.StatusBadRequest
			if errors.Is(err, ErrBodyTooLarge) {
				status = fasthttp.StatusRequestEntityTooLarge
			}
			h.renderError(r, status, "error.bad_request")
			return
		}
		if err := h.checkCSRF(r); err != nil {
			h.logger.Info("csrf check failed", "path", rt.Pattern, logErr, err)
			h.renderError(r, fasthttp.StatusForbidden, "error.csrf")
			return
		}
	}
	if !rt.Public {
		if !r.loggedIn() {
			if ctx.IsGet() || ctx.IsHead() {
				redirect(ctx, "/login")
				return
			}
			h.renderError(r, fasthttp.StatusForbidden, "error.session")
			return
		}
		// A password issued by an administrator must be changed before anything else.
		if r.user.MustChangePassword && rt.Pattern != "/password" && rt.Pattern != "/logout" {
			redirect(ctx, "/password")
			return
		}
	}
	rt.Value(r, params)
}

// requestContext returns the context of a request's domain calls: ended by
// Config.RequestTimeout, carrying the client address (httpd has put the one its trusted
// proxies vouch for in RemoteAddr). The server's shutdown waits for it, within its own
// deadline.
func (h *Handler) requestContext(ctx *fasthttp.RequestCtx) (context.Context, context.CancelFunc) {
	cx, cancel := context.WithTimeout(context.Background(), h.cfg.RequestTimeout)
	return account.WithClientIP(cx, ctx.RemoteIP().String()), cancel
}

// readForm reads a POST's body, at most Config.MaxBodyBytes, and leaves it in the request
// for PostArgs: a form (application/x-www-form-urlencoded) or nothing.
func (h *Handler) readForm(ctx *fasthttp.RequestCtx) error {
	cl := ctx.Request.Header.ContentLength()
	if cl == 0 {
		return nil
	}
	if cl > h.cfg.MaxBodyBytes {
		ctx.SetConnectionClose()
		return ErrBodyTooLarge
	}
	mt, _, err := mime.ParseMediaType(string(ctx.Request.Header.ContentType()))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		ctx.SetConnectionClose()
		return fmt.Errorf("%w: content type %q", ErrBadRequest, ctx.Request.Header.ContentType())
	}
	stream := ctx.RequestBodyStream()
	if stream == nil {
		return nil // already in memory, and within the server's own limit
	}
	body, err := io.ReadAll(io.LimitReader(stream, int64(h.cfg.MaxBodyBytes)+1))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if len(body) > h.cfg.MaxBodyBytes {
		ctx.SetConnectionClose()
		return ErrBodyTooLarge
	}
	ctx.Request.SetBody(body)
	return nil
}

// redirect answers 303 See Other to a local path.
func redirect(ctx *fasthttp.RequestCtx, path string) {
	ctx.Response.Header.Set("Location", path)
	ctx.SetStatusCode(fasthttp.StatusSeeOther)
}

// localPath returns p when it is a path on this site, otherwise def. Only printable ASCII is
// allowed: browsers drop tabs and newlines from a URL and read "\\" as "/", so "/\t/host"
// or "/\\host" would leave the site; the path must start with one "/" and parse as a bare path
// (no scheme, no host, no user). Issue 16 item 9.
func localPath(p, def string) string {
	if len(p) == 0 || len(p) > 512 || p[0] != '/' || (len(p) > 1 && (p[1] == '/' || p[1] == '\\')) {
		return def
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= 0x20 || c >= 0x7f || c == '\\' {
			return def
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") {
		return def
	}
	return p
}

// serveRoot sends a visitor to the compose page or the login page.
func (h *Handler) serveRoot(r *request, _ map[string]string) {
	if r.loggedIn() {
		redirect(r.ctx, "/send")
		return
	}
	redirect(r.ctx, "/login")
}
