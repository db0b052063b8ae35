package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"path"
	"strings"
	"time"
	"valise/httpd/status"
	"valise/locale"

	"github.com/valyala/fasthttp"
)

// templateFS holds the pages: layout.html defines the frame, each other file a page that
// defines "title" and "content".
//
//go:embed templates/*.html
var templateFS embed.FS

// pages holds one parsed template set per page, each the layout plus the page.
type pages struct {
	sets map[string]*template.Template // by page name ("login"); never changed after newPages
}

func newPages(st *staticFiles) (*pages, error) {
	funcs := template.FuncMap{
		"static": st.url,
		"size":   sizeText,
		"date": func(lang string, t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return locale.FormatDate(lang, t)
		},
		"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	}
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("web: parse layout: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: list templates: %w", err)
	}
	p := &pages{sets: map[string]*template.Template{}}
	for _, n := range names {
		base := strings.TrimSuffix(path.Base(n), ".html")
		if base == "layout" {
			continue
		}
		set, err := layout.Clone()
		if err != nil {
			return nil, fmt.Errorf("web: clone layout: %w", err)
		}
		if _, err := set.ParseFS(templateFS, n); err != nil {
			return nil, fmt.Errorf("web: parse %s: %w", n, err)
		}
		p.sets[base] = set
	}
	return p, nil
}

// page is what every template sees.
type page struct {
	Lang    string
	Product string
	Logo    string // the logo's path, "" without one
	CSRF    string
	Path    string // the current path, for the language switch to come back to
	User    *pageUser
	Error   string // a message for the user, already translated
	Notice  string // a confirmation, already translated
	Data    any    // the page's own data
	tr      translator
}

// pageUser is the signed-in user as the layout shows them.
type pageUser struct {
	Email string
	Name  string
}

// T translates a message ID with optional pairs of template data.
func (p *page) T(id string, pairs ...any) string { return p.tr.translate(id, pairs...) }

// OtherLang is the language the switch offers.
func (p *page) OtherLang() string {
	if p.Lang == "en" {
		return "fr"
	}
	return "en"
}

// newPage starts the data of a page for request r.
func (h *Handler) newPage(r *request) *page {
	p := &page{
		Lang:    r.lang,
		Product: h.cfg.ProductName,
		Logo:    h.LogoURL(),
		CSRF:    h.csrfToken(r),
		Path:    localPath(string(r.ctx.Path()), "/"),
		tr:      h.translator(r.lang),
	}
	if r.user != nil {
		p.User = &pageUser{Email: r.user.Email, Name: r.user.Name}
	}
	return p
}

// render writes page name with status.
func (h *Handler) render(r *request, status int, name string, p *page) {
	set, ok := h.pages.sets[name]
	if !ok {
		h.logger.Error("no such page template", "page", name)
		r.ctx.SetStatusCode(fasthttp.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := set.ExecuteTemplate(&buf, "layout", p); err != nil {
		h.logger.Error("render page", "page", name, logErr, err)
		r.ctx.SetStatusCode(fasthttp.StatusInternalServerError)
		r.ctx.SetContentType("text/plain; charset=utf-8")
		r.ctx.SetBodyString("internal error\n")
		return
	}
	r.ctx.SetStatusCode(status)
	r.ctx.SetContentType("text/html; charset=utf-8")
	r.ctx.SetBody(buf.Bytes())
}

// renderError writes the error page with a translated message, and Retry-After on a 429 or
// 503 that has none yet (an outage of the metadata: the browser's user retries).
func (h *Handler) renderError(r *request, st int, msgID string) {
	if after := status.RetryAfter(st, ""); after != "" && len(r.ctx.Response.Header.Peek("Retry-After")) == 0 {
		r.ctx.Response.Header.Set("Retry-After", after)
	}
	p := h.newPage(r)
	p.Error = p.T(msgID)
	h.render(r, st, "error", p)
}
