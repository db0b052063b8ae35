// Package locale holds what Valise says to people, in French and in English: one language
// negotiator, one message catalog per language (go-i18n, catalog/active.LANG.toml) shared by
// the web pages, the API's error messages and the mails, and the formats of sizes, dates and
// durations. French is the default everywhere (docs/design.md, "Web and TLS").
//
// It depends on nothing of Valise's, so every front end and domain package may use it.
package locale

import (
	"embed"
	"fmt"
	"io/fs"
	"sync"

	"github.com/BurntSushi/toml"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

// The languages Valise speaks. Languages lists them, the default first.
const (
	French  = "fr"
	English = "en"
)

// Languages are the supported languages, the default first.
var Languages = []string{French, English}

var tags = []language.Tag{language.French, language.English}

// matcher picks fr or en for any language tag. Immutable after init.
var matcher = language.NewMatcher(tags)

// maxHeader bounds the Accept-Language value parsed: longer ones are someone's attack.
const maxHeader = 1024

// Match returns the supported language that best fits a language tag ("en-GB") or an
// Accept-Language value ("de;q=0.9, en;q=0.8"), and whether anything matched. With nothing
// matching it returns French and false, so a caller may fall back to another preference
// (a user's recorded language) first.
func Match(s string) (lang string, ok bool) {
	if s == "" || len(s) > maxHeader {
		return French, false
	}
	t, _, err := language.ParseAcceptLanguage(s)
	if err != nil || len(t) == 0 {
		return French, false
	}
	_, i, conf := matcher.Match(t...)
	if conf == language.No {
		return French, false
	}
	return Languages[i], true
}

// Supported reports whether lang is one of Languages, exactly.
func Supported(lang string) bool { return lang == French || lang == English }

// Negotiate chooses a language from the caller's preferences in order: an explicit choice
// (the language switch's cookie, "" for none), the Accept-Language header, a recorded
// preference (the user's language, "" for none); French when none fits.
func Negotiate(choice, acceptLanguage, recorded string) string {
	if Supported(choice) {
		return choice
	}
	if l, ok := Match(acceptLanguage); ok {
		return l
	}
	if l, ok := Match(recorded); ok {
		return l
	}
	return French
}

//go:embed catalog/*.toml
var catalogFS embed.FS

// bundle is the parsed catalogs; immutable once loaded.
var bundle = sync.OnceValues(func() (*i18n.Bundle, error) {
	b := i18n.NewBundle(language.French)
	b.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	files, err := fs.Glob(catalogFS, "catalog/*.toml")
	if err != nil {
		return nil, fmt.Errorf("locale: list catalogs: %w", err)
	}
	for _, f := range files {
		buf, err := catalogFS.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("locale: read catalog %s: %w", f, err)
		}
		if _, err := b.ParseMessageFileBytes(buf, f); err != nil {
			return nil, fmt.Errorf("locale: parse catalog %s: %w", f, err)
		}
	}
	return b, nil
})

// Load parses the catalogs, once. Callers check it at start-up so that a broken catalog
// stops the program there rather than showing message IDs later.
func Load() error {
	_, err := bundle()
	return err
}

// Printer gives the messages of one language. The zero value prints message IDs.
type Printer struct {
	lang string
	loc  *i18n.Localizer
}

// For returns the Printer of lang; an unsupported lang gets French.
func For(lang string) Printer {
	if !Supported(lang) {
		lang = French
	}
	b, err := bundle()
	if err != nil {
		return Printer{lang: lang}
	}
	return Printer{lang: lang, loc: i18n.NewLocalizer(b, lang)}
}

// Lang is the Printer's language.
func (p Printer) Lang() string { return p.lang }

// T returns message id filled from pairs of template data ("Name", value, …); the text is a
// Go template over that data ("{{.Name}}"). A missing message shows its ID, so a gap is
// visible in a page or a mail, never fatal; TestCatalogsAgree keeps the catalogs complete.
func (p Printer) T(id string, pairs ...any) string {
	if p.loc == nil {
		return id
	}
	var data map[string]any
	if len(pairs) > 0 {
		data = make(map[string]any, len(pairs)/2)
		for i := 0; i+1 < len(pairs); i += 2 {
			if k, ok := pairs[i].(string); ok {
				data[k] = pairs[i+1]
			}
		}
	}
	s, err := p.loc.Localize(&i18n.LocalizeConfig{MessageID: id, TemplateData: data})
	if err != nil {
		return id
	}
	return s
}

// Has reports whether the catalog of the Printer's language holds message id.
func (p Printer) Has(id string) bool {
	if p.loc == nil {
		return false
	}
	_, err := p.loc.Localize(&i18n.LocalizeConfig{MessageID: id})
	return err == nil
}

// messageIDs returns the IDs of a catalog file, for the completeness test.
func messageIDs(lang string) (map[string]bool, error) {
	buf, err := catalogFS.ReadFile("catalog/active." + lang + ".toml")
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := toml.Unmarshal(buf, &m); err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out, nil
}
