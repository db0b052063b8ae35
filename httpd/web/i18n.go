package web

import "valise/locale"

// translator gives the messages of one language, from the one catalog of pages, API errors
// and mails (package locale).
type translator struct {
	lang string
	p    locale.Printer
}

// translate returns message id in the request's language, filled from pairs of template data
// ("Name", value, …). A missing message shows its ID, so a gap is visible, never fatal.
func (t translator) translate(id string, pairs ...any) string { return t.p.T(id, pairs...) }

// translator returns the translator for lang ("fr" or "en").
func (h *Handler) translator(lang string) translator {
	return translator{lang: lang, p: locale.For(lang)}
}
