package web

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"html/template"
	"mime"
	"net/url"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"valise/httpd/csp"
	"valise/httpd/linkgrant"
	"valise/httpd/route"
	"valise/httpd/status"
	"valise/locale"
	"valise/transfer"
)

// A recipient's link pages (/s/{token}): the page, its password and code forms, and the
// dead-link page, which httpd/api also asks for when a browser's download cannot start
// (LinkError). They use the web UI's styles and brand but not its layout, session or CSRF:
// a recipient has no account, and the forms need none (the grant cookie is SameSite=Strict,
// and the page runs no script).

// Errors of the link pages.
var (
	// ErrRateLimited is answered (429) to a client past the per-address limit on link requests.
	ErrRateLimited = status.ErrRateLimited
	// ErrUnsupportedMediaType is answered (415) to a link form whose body is not a form.
	ErrUnsupportedMediaType = status.ErrUnsupportedMediaType
)

// Links is the recipients' side of transfer; *transfer.Service implements it. Every method is
// called from request goroutines, concurrently, and honours ctx. Every flavour of dead link
// (unknown, expired, revoked, used up) is transfer.ErrLinkNotFound.
type Links interface {
	// AllowLinkAttempt takes one token of the client address's link budget; false: refuse.
	AllowLinkAttempt(clientIP string) bool
	// OpenLink returns what the recipient may see of the link, given the grant the client
	// presents ("" for none): Locked until every challenge is passed.
	OpenLink(ctx context.Context, token, grant, clientIP string) (transfer.LinkView, error)
	// CheckLinkPassword checks the send's password and returns the grant, extended.
	CheckLinkPassword(ctx context.Context, token, grant, password, clientIP string) (transfer.Grant, error)
	// MailEmailCode makes a code for the link's recipient and mails it to them in lang,
	// through n; it returns when the code expires.
	MailEmailCode(ctx context.Context, token, lang string, n transfer.Notifier) (time.Time, error)
	// CheckEmailCode checks a mailed code and returns the grant, extended.
	CheckEmailCode(ctx context.Context, token, grant, code, clientIP string) (transfer.Grant, error)
}

// linkTemplateFS holds the link pages, apart from the layout (templates/*.html).
//
//go:embed templates/link/*.tmpl
var linkTemplateFS embed.FS

func parseLinkTemplates() (*template.Template, error) {
	t, err := template.ParseFS(linkTemplateFS, "templates/link/*.tmpl")
	if err != nil {
		return nil, fmt.Errorf("web: parse link templates: %w", err)
	}
	return t, nil
}

// addLinkRoutes adds the link pages' routes to t; serve runs them without session or CSRF
// (isLink).
func (h *Handler) addLinkRoutes(t *route.Table[handler]) {
	rs := []struct {
		method, pattern string
		serve           func(*fasthttp.RequestCtx, context.Context, map[string]string)
	}{
		{"GET", "/s/{token}", h.serveLink},
		{"POST", "/s/{token}/password", h.serveLinkPassword},
		{"POST", "/s/{token}/code", h.serveLinkCode},
		{"POST", "/s/{token}/code/verify", h.serveLinkVerify},
	}
	for _, r := range rs {
		serve := r.serve
		t.Add(Route{Method: r.method, Pattern: r.pattern, Public: true},
			func(rq *request, params map[string]string) { serve(rq.ctx, rq.cx, params) })
	}
}

// isLink reports whether pattern is one of linkRoutes'.
func isLink(pattern string) bool { return strings.HasPrefix(pattern, "/s/") }

// ShowsNotice reports whether a link's page shows the notice of error code after a redirect
// (?e=code): httpd/api sends a browser's refused download back to the page with these codes
// only, and answers the others with LinkError.
func (h *Handler) ShowsNotice(code string) bool { return linkNotices[code] }

// linkNotices are the error codes a page shows after a form's or a download's redirect
// (?e=code): only these are echoed, so the query cannot put text of its choosing on the page.
// httpd/api redirects a browser's refused download here with the same codes.
var linkNotices = map[string]bool{
	"wrong_password": true, "wrong_code": true, "code_expired": true, "too_many_attempts": true,
	"challenge_required": true, "challenge_not_required": true, "bad_request": true,
	"download_limit": true, "download_busy": true, "file_not_found": true, "range_not_satisfiable": true,
}

// allowLink applies the per-address rate limit to a link request; false means the 429 page
// was answered.
func (h *Handler) allowLink(ctx *fasthttp.RequestCtx) (string, bool) {
	ip := ctx.RemoteIP().String()
	if !h.deps.Links.AllowLinkAttempt(ip) {
		h.failLink(ctx, ErrRateLimited)
		return "", false
	}
	return ip, true
}

// failLink answers a link route's error with the error page. Every flavour of dead link is
// transfer.ErrLinkNotFound and so gets the same bytes.
func (h *Handler) failLink(ctx *fasthttp.RequestCtx, err error) {
	st, code := status.OfError(err)
	if st >= 500 {
		h.logger.Error("link request failed", logErr, err)
	}
	h.LinkError(ctx, st, code)
}

// LinkError answers status with the link error page of code (a stable error code, as the
// REST API answers: "link_not_found", "rate_limited"…), in the request's language: httpd/api
// calls it when a browser's download of a link cannot start. A code the catalog does not
// hold shows "internal"'s message. It runs on the request goroutine and keeps nothing of ctx.
func (h *Handler) LinkError(ctx *fasthttp.RequestCtx, st int, code string) {
	linkHeaders(ctx)
	ctx.Response.Header.Del("Content-Disposition")
	// When to try again, unless the refusal already said (as the REST API answers).
	if after := status.RetryAfter(st, code); after != "" && len(ctx.Response.Header.Peek("Retry-After")) == 0 {
		ctx.Response.Header.Set("Retry-After", after)
	}
	lang := h.linkLang(ctx)
	msg := h.linkMessage(lang, code)
	h.renderLink(ctx, st, "error", &linkPage{
		Lang: lang, Title: msg, Message: msg, Brand: h.linkBrand(), tr: h.translator(lang),
	})
}

// linkMessage is the message of an error code on a link page.
func (h *Handler) linkMessage(lang, code string) string {
	// The REST API's message of the same code: one wording for one error.
	p := locale.For(lang)
	if !p.Has("api." + code) {
		code = "internal"
	}
	return p.T("api." + code)
}

// linkHeaders sets the security headers of a link page.
func linkHeaders(ctx *fasthttp.RequestCtx) { securityHeaders(ctx, csp.LinkPage) }

// linkLang is the language of a link page: the switch's choice (?lang=, kept in the language
// cookie so the forms' answers stay in it), then the cookie, then Accept-Language; French.
func (h *Handler) linkLang(ctx *fasthttp.RequestCtx) string {
	if q := string(ctx.QueryArgs().Peek("lang")); locale.Supported(q) {
		setCookie(ctx, langCookie, q, 365*24*time.Hour, true)
		return q
	}
	return h.language(ctx)
}

// linkBrand is what a link page shows of the organisation.
func (h *Handler) linkBrand() linkBrand {
	return linkBrand{Name: h.cfg.ProductName, LogoURL: h.LogoURL()}
}

// linkBrand is the product name and the logo's path ("" for none).
type linkBrand struct{ Name, LogoURL string }

// linkPage is what the link templates see.
type linkPage struct {
	Lang, Title, Token, Notice, Expires, Message string
	OtherLang                                    string // "" on the error page: no switch
	Brand                                        linkBrand
	View                                         transfer.LinkView
	Files                                        []linkFile
	NeedPassword, NeedCode                       bool
	NoticeOK, AnyAvailable, AnyNotScanned        bool
	tr                                           translator
}

// T translates message id for the template.
func (p *linkPage) T(id string, pairs ...any) string { return p.tr.translate(id, pairs...) }

// linkFile is a file row.
type linkFile struct {
	ID, Name, Size, SHA256, Verdict string
	Available                       bool
}

// verdictText says a verdict, and its reason, for people: a clean one given with test
// signatures only says that nothing real was checked.
func verdictText(tr translator, v transfer.Verdict, reason string) string {
	if transfer.CheckedTestSignaturesOnly(v, reason) {
		return tr.translate("link.verdict.test_signatures_only")
	}
	id := "link.verdict." + string(v)
	if !locale.For(tr.lang).Has(id) {
		return string(v)
	}
	return tr.translate(id)
}

// serveLink renders the link's page.
func (h *Handler) serveLink(ctx *fasthttp.RequestCtx, cx context.Context, params map[string]string) {
	ip, ok := h.allowLink(ctx)
	if !ok {
		return
	}
	token := params["token"]
	v, err := h.deps.Links.OpenLink(cx, token, linkgrant.FromCookie(ctx), ip)
	if err != nil {
		h.failLink(ctx, err)
		return
	}
	lang := h.linkLang(ctx)
	tr := h.translator(lang)
	p := &linkPage{
		Lang: lang, Title: tr.translate("link.title"), Token: token, View: v, Brand: h.linkBrand(), tr: tr,
		Expires:      locale.FormatDate(lang, v.Expires),
		NeedPassword: v.PasswordRequired && !v.PasswordPassed,
		NeedCode:     v.EmailCodeRequired && !v.EmailCodePassed,
		OtherLang:    otherLang(lang),
	}
	if code := string(ctx.QueryArgs().Peek("e")); linkNotices[code] {
		p.Notice = h.linkMessage(lang, code)
	}
	if string(ctx.QueryArgs().Peek("sent")) == "1" {
		p.Notice, p.NoticeOK = tr.translate("link.code_sent"), true
	}
	for _, f := range v.Files {
		p.Files = append(p.Files, linkFile{
			ID: string(f.ID), Name: f.Path(), Size: locale.FormatSize(lang, f.Size), SHA256: f.SHA256,
			Verdict: verdictText(tr, f.Verdict, f.VerdictReason), Available: f.Available,
		})
		p.AnyAvailable = p.AnyAvailable || f.Available
		p.AnyNotScanned = p.AnyNotScanned || (f.Available && f.Verdict == transfer.VerdictNotScanned)
	}
	linkHeaders(ctx)
	h.renderLink(ctx, fasthttp.StatusOK, "link", p)
}

// otherLang is the language the switch offers.
func otherLang(lang string) string {
	if lang == locale.English {
		return locale.French
	}
	return locale.English
}

// renderLink executes a link template.
func (h *Handler) renderLink(ctx *fasthttp.RequestCtx, status int, name string, p *linkPage) {
	var b bytes.Buffer
	if err := h.linkTmpl.ExecuteTemplate(&b, name, p); err != nil {
		// The templates are ours and the data plain: a failure is a bug, shown as a bare 500.
		h.logger.Error("render a link page", logErr, err)
		ctx.SetStatusCode(fasthttp.StatusInternalServerError)
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.SetBodyString("internal error")
		return
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("text/html; charset=utf-8")
	ctx.SetBody(b.Bytes())
}

// linkDone redirects a form back to the link's page, with the error's code when there is one;
// a dead link gets the same 404 page as any.
func (h *Handler) linkDone(ctx *fasthttp.RequestCtx, token string, err error, extra string) {
	if err != nil {
		_, code := status.OfError(err)
		if !linkNotices[code] {
			h.failLink(ctx, err)
			return
		}
		extra = "e=" + url.QueryEscape(code)
	}
	loc := "/s/" + token
	if extra != "" {
		loc += "?" + extra
	}
	linkHeaders(ctx)
	redirect(ctx, loc)
}

// serveLinkPassword is the page's password form.
func (h *Handler) serveLinkPassword(ctx *fasthttp.RequestCtx, cx context.Context, params map[string]string) {
	h.answerLink(ctx, cx, params["token"], "password", h.deps.Links.CheckLinkPassword)
}

// serveLinkVerify is the page's code form.
func (h *Handler) serveLinkVerify(ctx *fasthttp.RequestCtx, cx context.Context, params map[string]string) {
	h.answerLink(ctx, cx, params["token"], "code", h.deps.Links.CheckEmailCode)
}

// answerLink answers a challenge form: field is checked by check; a passed check sets the
// grant cookie, and the browser goes back to the page.
func (h *Handler) answerLink(ctx *fasthttp.RequestCtx, cx context.Context, token, field string,
	check func(ctx context.Context, token, grant, answer, clientIP string) (transfer.Grant, error)) {
	ip, ok := h.allowLink(ctx)
	if !ok {
		return
	}
	if err := h.readLinkForm(ctx); err != nil {
		h.failLink(ctx, err)
		return
	}
	g, err := check(cx, token, linkgrant.FromCookie(ctx), string(ctx.PostArgs().Peek(field)), ip)
	if err == nil {
		linkgrant.Set(ctx, token, g.Token, g.Expires)
	}
	h.linkDone(ctx, token, err, "")
}

// serveLinkCode is the page's "send me a code" form.
func (h *Handler) serveLinkCode(ctx *fasthttp.RequestCtx, cx context.Context, params map[string]string) {
	if _, ok := h.allowLink(ctx); !ok {
		return
	}
	token := params["token"]
	if err := h.readLinkForm(ctx); err != nil {
		h.failLink(ctx, err)
		return
	}
	_, err := h.deps.Links.MailEmailCode(cx, token, h.linkLang(ctx), h.notifier())
	h.linkDone(ctx, token, err, "sent=1")
}

// readLinkForm reads a link form's body: a form, or nothing; another media type is refused
// before any check, with the REST API's 415.
func (h *Handler) readLinkForm(ctx *fasthttp.RequestCtx) error {
	if ctx.Request.Header.ContentLength() != 0 {
		if mt, _, err := mime.ParseMediaType(string(ctx.Request.Header.ContentType())); err != nil || mt != "application/x-www-form-urlencoded" {
			ctx.SetConnectionClose()
			return ErrUnsupportedMediaType
		}
	}
	return h.readForm(ctx)
}
