package notify

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"

	"valise/locale"
)

// File describes one file of a send in a mail.
type File struct {
	Name   string
	Size   int64
	SHA256 string // hex
	// ScannedInWindows is set when the file was too large for one scan and was found clean in
	// overlapping windows: the mail says so.
	ScannedInWindows bool
	// NotScanned is set when the file flows unscanned, as the scan policy allows (a scanner
	// down under scan.policy=release, a file too large under scan.large_files=not_scanned):
	// the mail says so.
	NotScanned bool
	// TestSignaturesOnly is set when the antivirus found the file clean with its built-in
	// test signatures only (no real database: nothing real was checked): the mail says so.
	TestSignaturesOnly bool
}

// SendData fills a KindSend message, to one recipient.
type SendData struct {
	SenderName  string // display name of the sender
	SenderEmail string // plain address; also the Reply-To
	Subject     string // the sender's subject, may be empty
	Message     string // the sender's message, may be empty
	Link        string // the recipient's link, https://…/s/{token}
	Files       []File
	Expires     time.Time // shown in its own location
	PasswordSet bool      // the password reaches the recipient by another channel
	// RecipientName is the recipient's display name as the sender gave it, "" for none: the
	// greeting uses it ("Bonjour Marie Dupont,"; "Bonjour," without).
	RecipientName string
}

// ReceiptData fills a KindReceipt message, to the sender.
type ReceiptData struct {
	SenderName     string
	RecipientEmail string // who downloaded
	Subject        string // the send's subject, may be empty
	Files          []File // what was downloaded
	When           time.Time
}

// CodeData fills a KindVerifyCode message, to a recipient.
type CodeData struct {
	SenderName string // whose send the code opens
	Code       string
	ValidFor   time.Duration
}

// InfectedData fills a KindInfected message, to the sender.
type InfectedData struct {
	SenderName string
	Subject    string // the send's subject, may be empty
	FileName   string
	Signature  string // the signature clamd matched; may be empty when not known
	// Cancelled says the send was waiting for the antivirus and is cancelled: no recipient
	// received anything.
	Cancelled bool
}

// DefaultProduct is the product name of mails when the branding gives none: "<sender> via
// Valise", "par Valise".
const DefaultProduct = "Valise"

// MatchLang returns "fr" or "en" for a language tag or an Accept-Language value; French when
// nothing matches (locale.Match).
func MatchLang(lang string) string {
	l, _ := locale.Match(lang)
	return l
}

//go:embed templates/*.tmpl
var templateFS embed.FS

// templates holds the parsed templates per language: one text and one HTML template for
// every language, whose wording is the locale catalog's (keys mail.*). Immutable after init.
var templates = func() map[string]*langTemplates {
	out := map[string]*langTemplates{}
	for _, lang := range locale.Languages {
		p := locale.For(lang)
		funcs := map[string]any{
			"lang": func() string { return lang },
			"size": func(n int64) string { return locale.FormatSize(lang, n) },
			"date": func(t time.Time) string { return locale.FormatDate(lang, t) },
			"dur":  func(d time.Duration) string { return locale.FormatDuration(lang, d) },
			// product is the brand's product name; Render binds it for each message.
			"product": func() string { return DefaultProduct },
		}
		textFuncs := map[string]any{"t": func(id string, pairs ...any) string { return wording(p, false, id, pairs...) }}
		htmlFuncs := map[string]any{"t": func(id string, pairs ...any) htmltemplate.HTML {
			return htmltemplate.HTML(wording(p, true, id, pairs...))
		}}
		out[lang] = &langTemplates{
			text: texttemplate.Must(texttemplate.New(lang).Funcs(funcs).Funcs(textFuncs).ParseFS(templateFS, "templates/mail.txt.tmpl")),
			html: htmltemplate.Must(htmltemplate.New(lang).Funcs(funcs).Funcs(htmlFuncs).ParseFS(templateFS, "templates/mail.html.tmpl")),
		}
	}
	return out
}()

// wording returns the catalog's message id from p, with pairs ("Name", value, …) filled in:
// in a text part the catalog's no-break spaces (French punctuation: "Objet\u00a0:") become
// spaces, in an HTML part "&nbsp;", and the values are escaped as html/template escapes text.
// A string value is put in after the message is made, so it never runs as template text and
// keeps its own characters; an empty one stays empty for the message's conditionals.
func wording(p locale.Printer, html bool, id string, pairs ...any) string {
	args := append([]any(nil), pairs...)
	var values []string
	for i := 1; i < len(args); i += 2 {
		if v, ok := args[i].(string); ok && v != "" {
			args[i] = placeholder(len(values))
			values = append(values, v)
		}
	}
	out := p.T(id, args...)
	if html {
		out = strings.ReplaceAll(out, "\u00a0", "&nbsp;")
	} else {
		out = strings.ReplaceAll(out, "\u00a0", " ")
	}
	if len(values) == 0 {
		return out
	}
	// One pass: a value holding another's placeholder is never replaced in turn.
	repl := make([]string, 0, 2*len(values))
	for i, v := range values {
		if html {
			v = htmlText.Replace(v)
		}
		repl = append(repl, placeholder(i), v)
	}
	return strings.NewReplacer(repl...).Replace(out)
}

// placeholder stands for the i-th value in a message until wording puts it in: NUL bytes,
// which no catalog message holds.
func placeholder(i int) string { return "\x00" + strconv.Itoa(i) + "\x00" }

// htmlText escapes a value as html/template escapes text content (its htmlEscaper), so a
// user string reads the same whether the template or the catalog's message carries it.
var htmlText = strings.NewReplacer("\x00", "\uFFFD", `"`, "&#34;", "&", "&amp;", "'", "&#39;", "+", "&#43;", "<", "&lt;", ">", "&gt;")

type langTemplates struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

// withProduct returns copies of the templates whose product function returns product.
func (t *langTemplates) withProduct(product string) (*langTemplates, error) {
	fn := map[string]any{"product": func() string { return product }}
	text, err := t.text.Clone()
	if err != nil {
		return nil, err
	}
	html, err := t.html.Clone()
	if err != nil {
		return nil, err
	}
	return &langTemplates{text: text.Funcs(fn), html: html.Funcs(fn)}, nil
}

// Render writes a message of kind in lang ("fr", "en", or any tag MatchLang understands) from
// data, which must be the kind's data type (SendData for KindSend, ReceiptData, CodeData,
// InfectedData), under the product name of the branding ("" for DefaultProduct). The result
// has Kind, Lang, FromName, ReplyTo, Subject, Text and HTML set; the caller sets the
// recipients and Ref. User-provided strings, the product name included, render inertly.
func Render(kind Kind, lang, product string, data any) (Message, error) {
	var sender, replyTo string
	ok := false
	switch kind {
	case KindSend:
		var d SendData
		d, ok = data.(SendData)
		sender, replyTo = d.SenderName, d.SenderEmail
	case KindReceipt:
		var d ReceiptData
		d, ok = data.(ReceiptData)
		sender = d.SenderName
	case KindVerifyCode:
		var d CodeData
		d, ok = data.(CodeData)
		sender = d.SenderName
	case KindInfected:
		var d InfectedData
		d, ok = data.(InfectedData)
		sender = d.SenderName
	default:
		return Message{}, fmt.Errorf("render %q: %w", kind, ErrUnknownKind)
	}
	if !ok {
		return Message{}, fmt.Errorf("render %s with %T: %w", kind, data, ErrBadData)
	}
	lang = MatchLang(lang)
	product = cleanHeader(product)
	if product == "" {
		product = DefaultProduct
	}
	t, err := templates[lang].withProduct(product)
	if err != nil {
		return Message{}, fmt.Errorf("render %s: %w", kind, err)
	}
	var subject, text, html bytes.Buffer
	if err := t.text.ExecuteTemplate(&subject, string(kind)+".subject", data); err != nil {
		return Message{}, fmt.Errorf("render %s subject: %w", kind, err)
	}
	if err := t.text.ExecuteTemplate(&text, string(kind), data); err != nil {
		return Message{}, fmt.Errorf("render %s text: %w", kind, err)
	}
	if err := t.html.ExecuteTemplate(&html, string(kind), data); err != nil {
		return Message{}, fmt.Errorf("render %s html: %w", kind, err)
	}
	from := product
	if s := cleanHeader(sender); s != "" {
		from = s + " via " + product
	}
	return Message{
		Kind:     kind,
		Lang:     lang,
		FromName: from,
		ReplyTo:  strings.TrimSpace(replyTo),
		Subject:  cleanHeader(subject.String()),
		Text:     tidyText(text.String()),
		HTML:     html.String(),
	}, nil
}

// tidyText trims trailing spaces and collapses runs of blank lines that the templates'
// conditionals leave.
func tidyText(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	out := make([]string, 0, len(lines))
	blank := false
	for _, l := range lines {
		l = strings.TrimRight(l, " \t")
		if l == "" {
			if blank {
				continue
			}
			blank = true
		} else {
			blank = false
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n") + "\n"
}
