package api

import (
	"context"
	"strings"

	"github.com/valyala/fasthttp"
)

// Route is one method and path pattern the Handler serves. Pattern segments in braces
// ("{token}") match one non-empty path segment.
type Route struct {
	// Method is the HTTP method, upper case.
	Method string
	// Pattern is the path, "/api/v1/sends/{id}".
	Pattern string
	// Public routes answer without authentication; the others answer 401 first.
	Public bool
}

// responseKind chooses the security headers of a response.
type responseKind int

const (
	kindAPI      responseKind = iota // JSON
	kindDownload                     // a shared file or zip
)

// route is a Route with its handler.
type route struct {
	Route
	kind  responseKind
	parts []string // the pattern split on "/"
	serve func(ctx *fasthttp.RequestCtx, c call)
}

// match reports whether path fits the pattern, with the values of its parameters.
func (r *route) match(path string) (map[string]string, bool) {
	segs := strings.Split(path, "/")
	if len(segs) != len(r.parts) {
		return nil, false
	}
	var params map[string]string
	for i, p := range r.parts {
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			if segs[i] == "" {
				return nil, false
			}
			if params == nil {
				params = map[string]string{}
			}
			params[p[1:len(p)-1]] = segs[i]
			continue
		}
		if segs[i] != p {
			return nil, false
		}
	}
	return params, true
}

// call is what a route's handler gets beside the RequestCtx: the context for the domain
// calls, with the request's deadline (a RequestCtx has none, and must not be kept), and the
// path parameters (copies).
type call struct {
	context.Context
	params map[string]string
}

// table lists every route with its handler: the one source of Routes.
func (h *Handler) table() []route {
	rs := []struct {
		method, pattern string
		public          bool
		kind            responseKind
		serve           func(*fasthttp.RequestCtx, call)
	}{
		{"GET", "/api/v1/openapi.json", true, kindAPI, h.serveOpenAPI},

		{"GET", "/api/v1/me", false, kindAPI, h.serveMe},
		{"GET", "/api/v1/me/tokens", false, kindAPI, h.serveListTokens},
		{"POST", "/api/v1/me/tokens", false, kindAPI, h.serveCreateToken},
		{"DELETE", "/api/v1/me/tokens/{id}", false, kindAPI, h.serveRevokeToken},

		{"GET", "/api/v1/sends", false, kindAPI, h.serveListSends},
		{"POST", "/api/v1/sends", false, kindAPI, h.serveCreateSend},
		{"GET", "/api/v1/sends/{id}", false, kindAPI, h.serveGetSend},
		{"POST", "/api/v1/sends/{id}/resend", false, kindAPI, h.serveResend},
		{"POST", "/api/v1/sends/{id}/revoke", false, kindAPI, h.serveRevoke},
		{"GET", "/api/v1/files/{id}", false, kindAPI, h.serveGetFile},

		{"GET", "/api/v1/links/{token}", true, kindAPI, h.serveLinkJSON},
		{"POST", "/api/v1/links/{token}/password", true, kindAPI, h.serveLinkPasswordJSON},
		{"POST", "/api/v1/links/{token}/code", true, kindAPI, h.serveLinkCodeJSON},
		{"POST", "/api/v1/links/{token}/code/verify", true, kindAPI, h.serveLinkVerifyJSON},

		{"GET", "/s/{token}/files/{fileID}", true, kindDownload, h.serveDownload},
		{"HEAD", "/s/{token}/files/{fileID}", true, kindDownload, h.serveDownload},
		{"GET", "/s/{token}/zip", true, kindDownload, h.serveZip},
	}
	out := make([]route, len(rs))
	for i, r := range rs {
		out[i] = route{
			Route: Route{Method: r.method, Pattern: r.pattern, Public: r.public},
			kind:  r.kind, parts: strings.Split(r.pattern, "/"), serve: r.serve,
		}
	}
	return out
}

// Routes lists every route a Handler serves, in a stable order, so that tests (and the
// OpenAPI check) can walk them. It is built from the same table the Handler routes with.
func Routes() []Route {
	var h *Handler // method values on a nil receiver are never called here
	rs := h.table()
	out := make([]Route, len(rs))
	for i, r := range rs {
		out[i] = r.Route
	}
	return out
}
