package api

import (
	"context"
	"errors"
	"net/url"
	"time"

	"github.com/valyala/fasthttp"

	"valise/httpd/linkgrant"
	"valise/transfer"
)

// allowLink applies the per-address rate limit to a request that presents a link token;
// false means the 429 was answered (as a page when page is true).
func (h *Handler) allowLink(ctx *fasthttp.RequestCtx, page bool) (string, bool) {
	ip := clientIP(ctx)
	if !h.deps.Links.AllowLinkAttempt(ip) {
		ctx.Response.Header.Set("Retry-After", "60")
		h.failLink(ctx, ErrRateLimited, page)
		return "", false
	}
	return ip, true
}

// failLink answers an error of a public link route: JSON, or for a browser's download
// (page) the web UI's error page (Deps.Pages; JSON without it). Every flavour of dead link
// is transfer.ErrLinkNotFound and so gets the same answer.
func (h *Handler) failLink(ctx *fasthttp.RequestCtx, err error, page bool) {
	if !page {
		h.fail(ctx, err)
		return
	}
	if h.deps.Pages == nil {
		h.fail(ctx, err)
		return
	}
	status, code := errorStatus(err)
	if status >= 500 && !errors.Is(err, ErrOverloaded) { // admit logged it
		h.logger.Error("link request failed", logRoute, routeOf(ctx), logErr, err)
	}
	ctx.Response.Header.Del("Content-Disposition")
	retryAfter(ctx, status, code)
	h.deps.Pages.LinkError(ctx, status, code)
}

// grantJSON is a grant as the API returns it.
type grantJSON struct {
	Grant    string    `json:"grant"`
	Expires  time.Time `json:"expires"`
	Complete bool      `json:"complete"`
}

// serveLinkJSON answers the link's metadata.
func (h *Handler) serveLinkJSON(ctx *fasthttp.RequestCtx, c call) {
	ip, ok := h.allowLink(ctx, false)
	if !ok {
		return
	}
	v, err := h.deps.Links.OpenLink(c, c.params["token"], linkgrant.From(ctx), ip)
	if err != nil {
		h.fail(ctx, err)
		return
	}
	h.writeJSON(ctx, fasthttp.StatusOK, v)
}

// passwordBody is the body of the password challenge.
type passwordBody struct {
	Password string `json:"password"`
}

// codeBody is the body of the code check.
type codeBody struct {
	Code string `json:"code"`
}

// serveLinkPasswordJSON checks the send's password and returns a grant.
func (h *Handler) serveLinkPasswordJSON(ctx *fasthttp.RequestCtx, c call) {
	answerChallenge(h, ctx, c, func(b passwordBody) string { return b.Password }, h.deps.Links.CheckLinkPassword)
}

// answerChallenge answers a link's challenge (its password, a mailed code) given in a JSON
// body of type B, from which answer takes what check checks; a passed check returns the grant,
// also set as the link's cookie.
func answerChallenge[B any](h *Handler, ctx *fasthttp.RequestCtx, c call, answer func(B) string,
	check func(ctx context.Context, token, grant, answer, clientIP string) (transfer.Grant, error)) {
	ip, ok := h.allowLink(ctx, false)
	if !ok {
		return
	}
	var b B
	if err := h.decodeJSON(ctx, &b); err != nil {
		h.fail(ctx, err)
		return
	}
	token := c.params["token"]
	g, err := check(c, token, linkgrant.From(ctx), answer(b), ip)
	if err != nil {
		h.fail(ctx, err)
		return
	}
	linkgrant.Set(ctx, token, g.Token, g.Expires)
	h.writeJSON(ctx, fasthttp.StatusOK, grantJSON{Grant: g.Token, Expires: g.Expires, Complete: g.Complete})
}

// codeSentJSON answers a code request.
type codeSentJSON struct {
	Expires time.Time `json:"expires"`
}

// serveLinkCodeJSON mails a verification code to the link's recipient.
func (h *Handler) serveLinkCodeJSON(ctx *fasthttp.RequestCtx, c call) {
	if _, ok := h.allowLink(ctx, false); !ok {
		return
	}
	exp, err := h.issueCode(c, c.params["token"], h.lang(ctx))
	if err != nil {
		h.fail(ctx, err)
		return
	}
	h.writeJSON(ctx, fasthttp.StatusAccepted, codeSentJSON{Expires: exp})
}

// issueCode makes a code for the link and queues its mail, in lang.
func (h *Handler) issueCode(ctx context.Context, token, lang string) (time.Time, error) {
	return h.deps.Links.MailEmailCode(ctx, token, lang, h.notifier())
}

// serveLinkVerifyJSON checks a mailed code and returns a grant.
func (h *Handler) serveLinkVerifyJSON(ctx *fasthttp.RequestCtx, c call) {
	answerChallenge(h, ctx, c, func(b codeBody) string { return b.Code }, h.deps.Links.CheckEmailCode)
}

// pageDone sends a browser's refused download back to the link's page, with the error's code
// when the page shows it (Deps.Pages.ShowsNotice); the others, a dead link among them, get
// the error page.
func (h *Handler) pageDone(ctx *fasthttp.RequestCtx, token string, err error, extra string) {
	if err != nil {
		_, code := errorStatus(err)
		if h.deps.Pages == nil || !h.deps.Pages.ShowsNotice(code) {
			h.failLink(ctx, err, true)
			return
		}
		extra = "e=" + url.QueryEscape(code)
	}
	loc := "/s/" + token
	if extra != "" {
		loc += "?" + extra
	}
	ctx.Response.Header.Set("Location", loc)
	ctx.SetStatusCode(fasthttp.StatusSeeOther)
}
