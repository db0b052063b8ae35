package httpd

import (
	"strings"

	"github.com/valyala/fasthttp"
)

// UploadsPrefix is where the tus uploads are mounted: POST to it, an upload below it.
const UploadsPrefix = "/api/v1/uploads"

// Mount is a front end mounted in the server, such as the REST API.
type Mount interface {
	// Handle serves ctx and returns true when its path is one of the mount's routes;
	// otherwise it writes nothing and returns false, and the server answers 404. It runs on
	// the request goroutine and must not keep ctx after it returns.
	Handle(ctx *fasthttp.RequestCtx) bool
}

// Deps are what the server routes to.
type Deps struct {
	// Ready answers /readyz; required.
	Ready Readiness
	// Uploads serves UploadsPrefix and the paths below it (tus); nil answers 404 there. It
	// authenticates every request itself.
	Uploads fasthttp.RequestHandler
	// API serves the REST API under /api/v1 and the links' downloads (/s/{token}/files/…,
	// /s/{token}/zip); nil: 404.
	API Mount
	// Cluster serves the cluster's own routes (node.JoinPath: a new node asks to join); it
	// authenticates every request itself (a join token). It is tried before API; nil: 404.
	Cluster Mount
	// Web serves the users' web UI (httpd/web): /, the login and compose pages, the static
	// files, and the recipients' link pages (/s/{token} and its forms). It is tried after
	// API, so the API keeps every path it claims; nil: 404.
	Web Mount
}

// PublicRoutes are the only paths httpd itself answers without authentication. The mounts
// declare their own (api.Routes and web.Routes mark their public routes; tus authenticates
// all).
var PublicRoutes = []string{"/healthz", "/readyz", "/ca.pem"}

// handle routes a request: the probes and /ca.pem, the uploads, the API, the web UI; anything
// else 404. The client's address is settled first (resolveClient).
func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	s.resolveClient(ctx)
	h := &ctx.Response.Header
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Strict-Transport-Security", "max-age=31536000")
	h.Set("Cache-Control", "no-store")
	get := ctx.IsGet() || ctx.IsHead()
	path := string(ctx.Path())
	switch path {
	case "/healthz":
		if !get {
			methodNotAllowed(ctx)
			return
		}
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.SetBodyString("ok\n")
		return
	case "/readyz":
		if !get {
			methodNotAllowed(ctx)
			return
		}
		ctx.SetContentType("text/plain; charset=utf-8")
		if err := s.deps.Ready.Ready(); err != nil {
			ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
			ctx.SetBodyString("not ready: " + err.Error() + "\n")
			return
		}
		ctx.SetBodyString("ready\n")
		return
	case "/ca.pem":
		if !get {
			methodNotAllowed(ctx)
			return
		}
		pem := s.servedCAPEM()
		if len(pem) == 0 {
			notFound(ctx)
			return
		}
		ctx.SetContentType("application/x-pem-file")
		h.Set("Content-Disposition", `attachment; filename="ca.pem"`)
		ctx.SetBody(pem)
		return
	}
	if path == UploadsPrefix || strings.HasPrefix(path, UploadsPrefix+"/") {
		if s.deps.Uploads == nil {
			notFound(ctx)
			return
		}
		s.deps.Uploads(ctx)
		return
	}
	if s.deps.Cluster != nil && s.deps.Cluster.Handle(ctx) {
		return
	}
	if s.deps.API != nil && s.deps.API.Handle(ctx) {
		return
	}
	if s.deps.Web != nil && s.deps.Web.Handle(ctx) {
		return
	}
	notFound(ctx)
}

func notFound(ctx *fasthttp.RequestCtx) {
	ctx.SetStatusCode(fasthttp.StatusNotFound)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString("not found\n")
}

func methodNotAllowed(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Set("Allow", "GET, HEAD")
	ctx.SetStatusCode(fasthttp.StatusMethodNotAllowed)
}
