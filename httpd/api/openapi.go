package api

import (
	_ "embed"

	"github.com/valyala/fasthttp"
)

// openAPIDocument is the hand-written OpenAPI 3.1 description of /api/v1 (tus uploads
// included), the link API and the downloads. Tests validate every request and response of
// the journey against it.
//
//go:embed openapi.json
var openAPIDocument []byte

// OpenAPI returns the OpenAPI document (a copy).
func OpenAPI() []byte { return append([]byte(nil), openAPIDocument...) }

// serveOpenAPI serves the document; no authentication (docs/design.md, the HTTP contract).
func (h *Handler) serveOpenAPI(ctx *fasthttp.RequestCtx, c call) {
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("application/json")
	ctx.SetBody(h.openapi)
}
