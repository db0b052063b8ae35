package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"path"
	"strings"

	"github.com/valyala/fasthttp"

	"valise/httpd/csp"
)

// staticFS holds the page's own files and the vendored libraries (static/vendor, from npm:
// tus-js-client 4.3.1 dist/tus.min.js, htmx.org 2.0.8 dist/htmx.min.js, with their licences).
//
//go:embed static
var staticFS embed.FS

// staticFile is one embedded file as served.
type staticFile struct {
	body        []byte
	contentType string
	hash        string // the first 16 hex digits of its SHA-256: ETag and cache-busting query
}

// staticFiles maps a URL path under /static/ ("app.js", "tus.min.js") to its file. The
// vendored files are served flat: /static/tus.min.js is the contract's path.
type staticFiles struct {
	files map[string]staticFile // never changed after newStaticFiles
}

func newStaticFiles() (*staticFiles, error) {
	st := &staticFiles{files: map[string]staticFile{}}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		name := path.Base(p)
		ct := mime.TypeByExtension(path.Ext(name))
		switch {
		case strings.HasSuffix(name, ".LICENSE"):
			ct = "text/plain; charset=utf-8"
		case strings.HasSuffix(name, ".js"):
			ct = "text/javascript; charset=utf-8"
		case strings.HasSuffix(name, ".css"):
			ct = "text/css; charset=utf-8"
		case strings.HasSuffix(name, ".svg"):
			ct = "image/svg+xml"
		case ct == "":
			ct = "application/octet-stream"
		}
		if _, dup := st.files[name]; dup {
			return fmt.Errorf("two static files named %s", name)
		}
		sum := sha256.Sum256(body)
		st.files[name] = staticFile{body: body, contentType: ct, hash: hex.EncodeToString(sum[:8])}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web: load static files: %w", err)
	}
	return st, nil
}

// add serves body as name (built at start, such as brand.css).
func (st *staticFiles) add(name, contentType string, body []byte) {
	sum := sha256.Sum256(body)
	st.files[name] = staticFile{body: body, contentType: contentType, hash: hex.EncodeToString(sum[:8])}
}

// validColor reports whether s is "" or "#rrggbb".
func validColor(s string) bool {
	if s == "" {
		return true
	}
	if len(s) != 7 || s[0] != '#' {
		return false
	}
	_, err := hex.DecodeString(s[1:])
	return err == nil
}

// url returns the path of a static file with its content hash as query, for pages to link:
// a new build changes the URL, so the file may be cached for a year.
func (st *staticFiles) url(name string) string {
	f, ok := st.files[name]
	if !ok {
		return "/static/" + name
	}
	return "/static/" + name + "?v=" + f.hash
}

// serveStatic answers a static file with a strong ETag; with the current hash as query it may
// be cached for a year, otherwise it must be revalidated.
func (h *Handler) serveStatic(r *request, params map[string]string) {
	ctx := r.ctx
	hd := &ctx.Response.Header
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Strict-Transport-Security", "max-age=31536000")
	// Opened on its own (an SVG logo above all), a static file runs nothing and loads nothing.
	hd.Set("Content-Security-Policy", csp.Policy(csp.Static))
	f, ok := h.static.files[params["*"]]
	if !ok {
		hd.Set("Cache-Control", "no-store")
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.SetBodyString("not found\n")
		return
	}
	etag := `"` + f.hash + `"`
	hd.Set("ETag", etag)
	if string(ctx.QueryArgs().Peek("v")) == f.hash {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hd.Set("Cache-Control", "no-cache")
	}
	if string(ctx.Request.Header.Peek("If-None-Match")) == etag {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	ctx.SetContentType(f.contentType)
	ctx.SetBody(f.body)
}
