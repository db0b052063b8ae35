package web

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/valyala/fasthttp"

	"valise/account"
	"valise/httpd/csp"
	"valise/locale"
	"valise/userid"
)

// Cookie names. The __Host- prefix makes browsers insist on Secure, Path=/ and no Domain.
const (
	sessionCookie = "__Host-session" // the account session token
	preCookie     = "__Host-csrf"    // the nonce behind the CSRF token before login
	langCookie    = "lang"           // "fr" or "en", the language switch's choice
)

// csrfHeader carries the CSRF token on script requests (tus uploads).
const csrfHeader = "X-CSRF-Token"

// csrfField carries the CSRF token in forms.
const csrfField = "csrf"

// setCookie sets a Secure, SameSite=Lax, Path=/ cookie; httpOnly hides it from scripts.
func setCookie(ctx *fasthttp.RequestCtx, name, value string, maxAge time.Duration, httpOnly bool) {
	c := fasthttp.AcquireCookie()
	defer fasthttp.ReleaseCookie(c)
	c.SetKey(name)
	c.SetValue(value)
	c.SetPath("/")
	c.SetSecure(true)
	c.SetHTTPOnly(httpOnly)
	c.SetSameSite(fasthttp.CookieSameSiteLaxMode)
	c.SetMaxAge(int(maxAge / time.Second))
	ctx.Response.Header.SetCookie(c)
}

// clearCookie tells the browser to forget a cookie.
func clearCookie(ctx *fasthttp.RequestCtx, name string) {
	c := fasthttp.AcquireCookie()
	defer fasthttp.ReleaseCookie(c)
	c.SetKey(name)
	c.SetValue("")
	c.SetPath("/")
	c.SetSecure(true)
	c.SetHTTPOnly(true)
	c.SetSameSite(fasthttp.CookieSameSiteLaxMode)
	c.SetExpire(fasthttp.CookieExpireDelete)
	ctx.Response.Header.SetCookie(c)
}

// csrfFor returns the CSRF token bound to subject (a session ID, or "pre:" and a nonce).
func (h *Handler) csrfFor(subject string) string {
	m := hmac.New(sha256.New, h.cfg.CSRFKey)
	m.Write([]byte("valise-csrf\x00"))
	m.Write([]byte(subject))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfToken returns the CSRF token the page being rendered must carry. Without a session it
// makes sure the browser holds a pre-login nonce cookie.
func (h *Handler) csrfToken(r *request) string {
	if r.sess != nil {
		return h.csrfFor(r.sess.ID)
	}
	nonce := string(r.ctx.Request.Header.Cookie(preCookie))
	if len(nonce) != 43 {
		if set := r.ctx.Response.Header.PeekCookie(preCookie); len(set) > 0 {
			return h.csrfFor("pre:" + preNonceFrom(set))
		}
		b := make([]byte, 32)
		rand.Read(b)
		nonce = base64.RawURLEncoding.EncodeToString(b)
		setCookie(r.ctx, preCookie, nonce, 12*time.Hour, true)
	}
	return h.csrfFor("pre:" + nonce)
}

// preNonceFrom extracts the value from a Set-Cookie header this handler just wrote.
func preNonceFrom(setCookie []byte) string {
	c := fasthttp.AcquireCookie()
	defer fasthttp.ReleaseCookie(c)
	if err := c.ParseBytes(setCookie); err != nil {
		return ""
	}
	return string(c.Value())
}

// checkCSRF verifies a POST: from this origin when the browser says, and carrying the token
// of the request's session (or pre-login nonce) in the header or the form.
func (h *Handler) checkCSRF(r *request) error {
	ctx := r.ctx
	if origin := ctx.Request.Header.Peek("Origin"); len(origin) > 0 && !bytes.Equal(origin, []byte("null")) {
		if !bytes.Equal(origin, append([]byte("https://"), ctx.Host()...)) {
			return fmt.Errorf("%w: origin %q", ErrCSRF, origin)
		}
	}
	got := ctx.Request.Header.Peek(csrfHeader)
	if len(got) == 0 {
		got = ctx.PostArgs().Peek(csrfField)
	}
	if len(got) == 0 {
		return fmt.Errorf("%w: none given", ErrCSRF)
	}
	var want string
	if r.sess != nil {
		want = h.csrfFor(r.sess.ID)
	} else {
		nonce := ctx.Request.Header.Cookie(preCookie)
		if len(nonce) == 0 {
			return fmt.Errorf("%w: no pre-login cookie", ErrCSRF)
		}
		want = h.csrfFor("pre:" + string(nonce))
	}
	if !hmac.Equal(got, []byte(want)) {
		return fmt.Errorf("%w: mismatch", ErrCSRF)
	}
	return nil
}

// SessionPrincipal authenticates a browser's request for a handler mounted beside this one
// (the tus uploads at /api/v1/uploads) and returns the user's ID; it matches
// tus.PrincipalFunc. It accepts a live session cookie of a user who needs no password change,
// and, for every method but GET, HEAD and OPTIONS, requires the session's CSRF token in the
// X-CSRF-Token header; it refuses anything else with ErrNoSession (401). A request carrying
// an Authorization header is not the browser's: it is refused, leaving it to the
// bearer-token principal. A session that could not be checked (no metadata leader) gives the
// account's error, of the kind fault.Unavailable: 503, retry. It writes nothing.
func (h *Handler) SessionPrincipal(ctx *fasthttp.RequestCtx) (userid.ID, error) {
	if len(ctx.Request.Header.Peek("Authorization")) > 0 {
		return "", ErrNoSession
	}
	tok := string(ctx.Request.Header.Cookie(sessionCookie))
	if tok == "" || len(tok) > 512 {
		return "", ErrNoSession
	}
	sess, u, err := h.deps.Accounts.Session(ctx, tok)
	switch {
	case errors.Is(err, account.ErrInvalidToken) || errors.Is(err, account.ErrSessionExpired) || errors.Is(err, account.ErrDisabled):
		return "", fmt.Errorf("%w: %w", ErrNoSession, err)
	case err != nil:
		h.logger.Warn("session lookup failed", logErr, err)
		return "", fmt.Errorf("session principal: %w", err)
	case u.MustChangePassword:
		return "", fmt.Errorf("%w: password change pending", ErrNoSession)
	}
	if !(ctx.IsGet() || ctx.IsHead() || ctx.IsOptions()) {
		if !hmac.Equal(ctx.Request.Header.Peek(csrfHeader), []byte(h.csrfFor(sess.ID))) {
			return "", fmt.Errorf("%w: %w", ErrNoSession, ErrCSRF)
		}
	}
	return u.ID, nil
}

// language chooses the page's language: the switch's cookie, then Accept-Language, then
// French.
func (h *Handler) language(ctx *fasthttp.RequestCtx) string {
	return locale.Negotiate(string(ctx.Request.Header.Cookie(langCookie)), string(ctx.Request.Header.Peek("Accept-Language")), "")
}

// serveLang records the language switch's choice and goes back to the page it came from.
func (h *Handler) serveLang(r *request, _ map[string]string) {
	lang := string(r.ctx.PostArgs().Peek("lang"))
	if lang != "fr" && lang != "en" {
		lang = "fr"
	}
	setCookie(r.ctx, langCookie, lang, 365*24*time.Hour, false)
	redirect(r.ctx, localPath(string(r.ctx.PostArgs().Peek("next")), "/"))
}

// pageHeaders sets the security headers of every page of the web UI.
func pageHeaders(ctx *fasthttp.RequestCtx) { securityHeaders(ctx, csp.App) }

// securityHeaders sets the security headers of a page whose policy is kind's (a link page's
// differs from the web UI's); httpd sets the others it shares.
func securityHeaders(ctx *fasthttp.RequestCtx, kind csp.Kind) {
	h := &ctx.Response.Header
	h.Set("Content-Security-Policy", csp.Policy(kind))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Strict-Transport-Security", "max-age=31536000")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
}

// sizeText writes a size for humans in lang: Mo/Go in French.
func sizeText(lang string, n int64) string { return locale.FormatSize(lang, n) }
