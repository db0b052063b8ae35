package api

import (
	"context"

	"github.com/valyala/fasthttp"

	"valise/httpd/route"
)

// Route is one method and path pattern the Handler serves (httpd/route: a segment in braces,
// "{token}", matches one non-empty path segment). Public routes answer without
// authentication; the others answer 401 first.
type Route = route.Route

// responseKind chooses the security headers of a response.
type responseKind int

const (
	kindAPI      responseKind = iota // JSON
	kindDownload                     // a shared file or zip
)

// handler is a route's handler, with the security headers of its responses.
type handler struct {
	kind  responseKind
	serve func(ctx *fasthttp.RequestCtx, c call)
}

// call is what a route's handler gets beside the RequestCtx: the context for the domain
// calls, with the request's deadline (a RequestCtx has none, and must not be kept), and the
// path parameters (copies).
type call struct {
	context.Context
	params map[string]string
}

// table lists every route with its handler: the one source of Routes.
func (h *Handler) table() *route.Table[handler] {
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
		{"POST", "/api/v1/sends/{id}/confirm", false, kindAPI, h.serveConfirm},
		{"GET", "/api/v1/files/{id}", false, kindAPI, h.serveGetFile},

		{"GET", "/api/v1/links/{token}", true, kindAPI, h.serveLinkJSON},
		{"POST", "/api/v1/links/{token}/password", true, kindAPI, h.serveLinkPasswordJSON},
		{"POST", "/api/v1/links/{token}/code", true, kindAPI, h.serveLinkCodeJSON},
		{"POST", "/api/v1/links/{token}/code/verify", true, kindAPI, h.serveLinkVerifyJSON},

		{"GET", "/s/{token}/files/{fileID}", true, kindDownload, h.serveDownload},
		{"HEAD", "/s/{token}/files/{fileID}", true, kindDownload, h.serveDownload},
		{"GET", "/s/{token}/zip", true, kindDownload, h.serveZip},
	}
	t := route.New[handler](route.Options{})
	for _, r := range rs {
		t.Add(Route{Method: r.method, Pattern: r.pattern, Public: r.public}, handler{kind: r.kind, serve: r.serve})
	}
	return t
}

// Routes lists every route a Handler serves, in a stable order, so that tests (and the
// OpenAPI check) can walk them. It is built from the same table the Handler routes with.
func Routes() []Route {
	var h *Handler // method values on a nil receiver are never called here
	return h.table().Routes()
}
