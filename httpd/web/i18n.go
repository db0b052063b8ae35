package web

import (
	"embed"
	"fmt"
	"io/fs"

	"github.com/BurntSushi/toml"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

// catalogs holds the message catalogs, one TOML file per language: "key" = "text", the
// text a Go template over the message's data ("{{.Name}}").
//
//go:embed i18n/*.toml
var catalogs embed.FS

// newBundle loads the French and English catalogs.
func newBundle() (*i18n.Bundle, error) {
	b := i18n.NewBundle(language.French)
	b.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	files, err := fs.Glob(catalogs, "i18n/*.toml")
	if err != nil {
		return nil, fmt.Errorf("web: list catalogs: %w", err)
	}
	for _, f := range files {
		buf, err := catalogs.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("web: read catalog %s: %w", f, err)
		}
		if _, err := b.ParseMessageFileBytes(buf, f); err != nil {
			return nil, fmt.Errorf("web: parse catalog %s: %w", f, err)
		}
	}
	return b, nil
}

// translator gives the messages of one language.
type translator struct {
	lang string
	loc  *i18n.Localizer
}

// translate returns message id in the request's language, filled from pairs of template data
// ("Name", value, …). A missing message shows its ID, so a gap is visible, never fatal.
func (t translator) translate(id string, pairs ...any) string {
	var data map[string]any
	if len(pairs) > 0 {
		data = make(map[string]any, len(pairs)/2)
		for i := 0; i+1 < len(pairs); i += 2 {
			if k, ok := pairs[i].(string); ok {
				data[k] = pairs[i+1]
			}
		}
	}
	s, err := t.loc.Localize(&i18n.LocalizeConfig{MessageID: id, TemplateData: data})
	if err != nil {
		return id
	}
	return s
}

// translator returns the translator for lang ("fr" or "en").
func (h *Handler) translator(lang string) translator {
	return translator{lang: lang, loc: i18n.NewLocalizer(h.bundle, lang)}
}
