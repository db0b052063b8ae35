// Package linkgrant carries a link's grant between a recipient's client and the server: the
// proof, minted by transfer when the link's challenges (its password, a mailed code) are
// passed, that the next requests on the link may see its files. Browsers keep it in a cookie
// scoped to the link's pages (/s/{token}), where httpd/web's forms set it and httpd/api's
// downloads read it; API clients get it in a header and send it back there. Both front ends
// hand it out and read it here, so they cannot drift apart (issue 17 item 3).
//
// fasthttp's memory rules (docs/dependencies.md, trap 4): what this package returns is a copy;
// it keeps nothing of a RequestCtx.
package linkgrant

import (
	"time"

	"github.com/valyala/fasthttp"
)

// Grant transport: a cookie scoped to the link's pages for browsers, a header for API clients.
const (
	// Cookie is the grant cookie's name.
	Cookie = "valise_grant"
	// Header is the grant header's name, in answers and in API clients' requests.
	Header = "X-Valise-Grant"
)

// Set hands grant, valid until expires, to the client of the link linkToken: a Secure,
// HttpOnly, SameSite=Strict cookie valid on the link's pages only (its path is
// "/s/"+linkToken), and the Header.
func Set(ctx *fasthttp.RequestCtx, linkToken, grant string, expires time.Time) {
	c := fasthttp.AcquireCookie()
	defer fasthttp.ReleaseCookie(c)
	c.SetKey(Cookie)
	c.SetValue(grant)
	c.SetPath("/s/" + linkToken)
	c.SetSecure(true)
	c.SetHTTPOnly(true)
	c.SetSameSite(fasthttp.CookieSameSiteStrictMode)
	c.SetExpire(expires)
	ctx.Response.Header.SetCookie(c)
	ctx.Response.Header.Set(Header, grant)
}

// FromCookie returns the grant the request's cookie presents, or "": what a browser's link
// page and forms present (a form cannot set a header).
func FromCookie(ctx *fasthttp.RequestCtx) string {
	return string(ctx.Request.Header.Cookie(Cookie))
}

// From returns the grant the request presents, the Header first, then the cookie; "" for
// none: what the REST API and the downloads accept.
func From(ctx *fasthttp.RequestCtx) string {
	if g := ctx.Request.Header.Peek(Header); len(g) > 0 {
		return string(g)
	}
	return FromCookie(ctx)
}
