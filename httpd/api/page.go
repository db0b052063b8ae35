package api

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"sync/atomic"

	"github.com/valyala/fasthttp"

	"valise/httpd/csp"
	"valise/locale"
	"valise/transfer"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

// pages renders the link pages. Its templates are immutable after newPages; the brand
// changes with the settings.
type pages struct {
	tmpl  *template.Template
	brand atomic.Pointer[Brand]
}

func newPages() (*pages, error) {
	t, err := template.ParseFS(templateFS, "templates/*.tmpl")
	if err != nil {
		return nil, fmt.Errorf("parse page templates: %w", err)
	}
	p := &pages{tmpl: t}
	p.brand.Store(&Brand{Name: "Valise"})
	return p, nil
}

// Brand is what a recipient's page and the mails show of the organisation: the product name
// and the logo that the web UI serves (its path, "" for none; mails carry no logo).
type Brand struct {
	Name    string
	LogoURL string
}

// product is the brand's product name, for mails.
func (h *Handler) product() string { return h.pages.brand.Load().Name }

// SetBrand changes the brand of the pages rendered from now on (the branding settings); an
// empty Name keeps "Valise".
func (h *Handler) SetBrand(b Brand) {
	if b.Name == "" {
		b.Name = "Valise"
	}
	h.pages.brand.Store(&b)
}

// pageText is a page's fixed wording in one language.
type pageText struct {
	Title, From, Password, Unlock, SendCode, Code, Verify string
	File, Size, Verdict, Unavailable, Zip, Expires        string
	Files, Download, Skip, Contact                        string
	NotScanned, Locked, Switch                            string
}

var pageTexts = map[string]pageText{
	"fr": {
		Title: "Fichiers reçus", From: "Envoyé par", Password: "Mot de passe", Unlock: "Déverrouiller",
		SendCode: "M'envoyer un code par e-mail", Code: "Code reçu par e-mail", Verify: "Vérifier",
		File: "Fichier", Size: "Taille", Verdict: "Antivirus", Unavailable: "limite atteinte",
		Zip: "Tout télécharger (zip)", Expires: "Ce lien expire le",
		Files: "Fichiers", Download: "Télécharger", Skip: "Aller au contenu",
		Contact:    "Si vous pensez qu'il s'agit d'une erreur, contactez la personne qui vous a envoyé ce lien.",
		NotScanned: "Certains fichiers n'ont pas été analysés par l'antivirus : ouvrez-les avec prudence, ou demandez à l'expéditeur s'ils sont sûrs.",
		Locked:     "Le message et les fichiers s'affichent une fois la vérification passée.",
		Switch:     "English",
	},
	"en": {
		Title: "Files for you", From: "Sent by", Password: "Password", Unlock: "Unlock",
		SendCode: "E-mail me a code", Code: "Code from the e-mail", Verify: "Verify",
		File: "File", Size: "Size", Verdict: "Antivirus", Unavailable: "limit reached",
		Zip: "Download all (zip)", Expires: "This link expires on",
		Files: "Files", Download: "Download", Skip: "Skip to content",
		Contact:    "If you think this is a mistake, contact the person who sent you this link.",
		NotScanned: "Some files were not scanned by the antivirus: open them with care, or ask the sender whether they are safe.",
		Locked:     "The message and the files show once the check is passed.",
		Switch:     "Français",
	},
}

// pageMessages are the page-only messages.
var pageMessages = map[string][2]string{
	"code_sent": {"Un code vient de vous être envoyé par e-mail.", "A code was just e-mailed to you."},
}

func pageMessage(key, lang string) string {
	if lang == "en" {
		return pageMessages[key][1]
	}
	return pageMessages[key][0]
}

// verdictText says a verdict, and its reason, for people: a clean one given with test
// signatures only says that nothing real was checked.
func verdictText(v transfer.Verdict, reason, lang string) string {
	if transfer.CheckedTestSignaturesOnly(v, reason) {
		if lang == "en" {
			return "not checked against real signatures (the antivirus has test signatures only)"
		}
		return "non vérifié avec de vraies signatures (l'antivirus n'a que des signatures de test)"
	}
	fr := map[transfer.Verdict]string{
		transfer.VerdictClean: "sain", transfer.VerdictCleanWindows: "sain (analysé par fenêtres)",
		transfer.VerdictInfected: "infecté", transfer.VerdictNotScanned: "non analysé",
		transfer.VerdictPending: "analyse en cours",
	}
	en := map[transfer.Verdict]string{
		transfer.VerdictClean: "clean", transfer.VerdictCleanWindows: "clean (scanned in windows)",
		transfer.VerdictInfected: "infected", transfer.VerdictNotScanned: "not scanned",
		transfer.VerdictPending: "being scanned",
	}
	m := fr
	if lang == "en" {
		m = en
	}
	if s, ok := m[v]; ok {
		return s
	}
	return string(v)
}

// linkPage is what the handler knows for the page.
type linkPage struct {
	Token  string
	View   transfer.LinkView
	Notice string
}

// pageFile is a file row.
type pageFile struct {
	ID, Name, Size, SHA256, Verdict string
	Available                       bool
}

// renderLink writes the link's page.
func (p *pages) renderLink(ctx *fasthttp.RequestCtx, lang string, lp linkPage) {
	t := pageTexts[lang]
	data := struct {
		Lang, Title, Skip, Token, Notice, Expires string
		OtherLang                                 string
		Brand                                     Brand
		T                                         pageText
		View                                      transfer.LinkView
		Files                                     []pageFile
		NeedPassword, NeedCode                    bool
		NoticeOK, AnyAvailable, AnyNotScanned     bool
	}{
		Lang: lang, Title: t.Title, Skip: t.Skip, Token: lp.Token, Notice: lp.Notice, T: t, View: lp.View,
		Brand:        *p.brand.Load(),
		NoticeOK:     lp.Notice != "" && lp.Notice == pageMessage("code_sent", lang),
		Expires:      locale.FormatDate(lang, lp.View.Expires),
		NeedPassword: lp.View.PasswordRequired && !lp.View.PasswordPassed,
		NeedCode:     lp.View.EmailCodeRequired && !lp.View.EmailCodePassed,
		OtherLang:    otherLang(lang),
	}
	for _, f := range lp.View.Files {
		data.Files = append(data.Files, pageFile{
			ID: string(f.ID), Name: f.Path(), Size: locale.FormatSize(lang, f.Size), SHA256: f.SHA256,
			Verdict: verdictText(f.Verdict, f.VerdictReason, lang), Available: f.Available,
		})
		data.AnyAvailable = data.AnyAvailable || f.Available
		data.AnyNotScanned = data.AnyNotScanned || (f.Available && f.Verdict == transfer.VerdictNotScanned)
	}
	p.render(ctx, fasthttp.StatusOK, "link", data)
}

// otherLang is the language the switch offers.
func otherLang(lang string) string {
	if lang == "en" {
		return "fr"
	}
	return "en"
}

// renderError writes the error page: its body depends only on the status's message and the
// language, so every dead link (expired, revoked, used up or unknown) gets the same bytes.
func (p *pages) renderError(ctx *fasthttp.RequestCtx, status int, lang, msg string) {
	t, ok := pageTexts[lang]
	if !ok {
		t = pageTexts["fr"]
	}
	p.render(ctx, status, "error", struct {
		Lang, Title, Skip, Message, Contact string
		OtherLang                           string // no switch: the page has nowhere to go back to
		Brand                               Brand
	}{lang, msg, t.Skip, msg, t.Contact, "", *p.brand.Load()})
}

func (p *pages) render(ctx *fasthttp.RequestCtx, status int, name string, data any) {
	var b bytes.Buffer
	if err := p.tmpl.ExecuteTemplate(&b, name, data); err != nil {
		// The templates are ours and the data plain: a failure is a bug, shown as a bare 500.
		ctx.SetStatusCode(fasthttp.StatusInternalServerError)
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.SetBodyString("internal error")
		return
	}
	ctx.SetStatusCode(status)
	ctx.Response.Header.Set("Content-Security-Policy", csp.Policy(csp.LinkPage))
	ctx.SetContentType("text/html; charset=utf-8")
	ctx.SetBody(b.Bytes())
}
