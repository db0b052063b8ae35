package notify

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
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

// Languages are the message languages; the first is the default.
var languages = []language.Tag{language.French, language.English}

// matcher picks fr or en for any language tag. Immutable after init.
var matcher = language.NewMatcher(languages)

// MatchLang returns "fr" or "en" for a language tag or an Accept-Language value; French when
// nothing matches.
func MatchLang(lang string) string {
	tags, _, err := language.ParseAcceptLanguage(lang)
	if err != nil || len(tags) == 0 {
		return "fr"
	}
	_, i, conf := matcher.Match(tags...)
	if conf == language.No {
		return "fr"
	}
	base, _ := languages[i].Base()
	return base.String()
}

//go:embed templates/*.tmpl
var templateFS embed.FS

// templates holds the parsed templates per language. Immutable after init.
var templates = func() map[string]*langTemplates {
	out := map[string]*langTemplates{}
	for _, lang := range []string{"fr", "en"} {
		funcs := map[string]any{
			"size": func(n int64) string { return FormatSize(lang, n) },
			"date": func(t time.Time) string { return FormatDate(lang, t) },
			"dur":  func(d time.Duration) string { return formatDuration(lang, d) },
			// product is the brand's product name; Render binds it for each message.
			"product": func() string { return DefaultProduct },
		}
		out[lang] = &langTemplates{
			text: texttemplate.Must(texttemplate.New(lang).Funcs(funcs).ParseFS(templateFS, "templates/"+lang+".txt.tmpl")),
			html: htmltemplate.Must(htmltemplate.New(lang).Funcs(funcs).ParseFS(templateFS, "templates/"+lang+".html.tmpl")),
		}
	}
	return out
}()

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

// FormatSize writes n bytes for humans in lang, in decimal units: "512 octets", "1,5 Mo",
// "2,3 Go" in French; "512 bytes", "1.5 MB", "2.3 GB" in English.
func FormatSize(lang string, n int64) string {
	fr := MatchLang(lang) == "fr"
	units := []string{"kB", "MB", "GB", "TB", "PB"}
	tag := language.English
	if fr {
		units = []string{"ko", "Mo", "Go", "To", "Po"}
		tag = language.French
	}
	if n < 1000 {
		if fr {
			if n < 2 {
				return fmt.Sprintf("%d octet", n)
			}
			return fmt.Sprintf("%d octets", n)
		}
		if n == 1 {
			return "1 byte"
		}
		return fmt.Sprintf("%d bytes", n)
	}
	v := float64(n) / 1000
	u := 0
	for v >= 999.95 && u < len(units)-1 {
		v /= 1000
		u++
	}
	return message.NewPrinter(tag).Sprintf("%.1f", v) + "\u00a0" + units[u]
}

var (
	frMonths = [...]string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
		"septembre", "octobre", "novembre", "décembre"}
	frDays = [...]string{"dimanche", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi"}
)

// FormatDate writes t in its own location: "lundi 30 novembre 2026 à 14:05 (UTC)" in French,
// "Monday 30 November 2026 at 14:05 (UTC)" in English.
func FormatDate(lang string, t time.Time) string {
	if MatchLang(lang) == "fr" {
		return fmt.Sprintf("%s %d %s %d à %s (%s)", frDays[t.Weekday()], t.Day(), frMonths[t.Month()-1],
			t.Year(), t.Format("15:04"), t.Format("MST"))
	}
	return t.Format("Monday 2 January 2006 at 15:04 (MST)")
}

func formatDuration(lang string, d time.Duration) string {
	fr := MatchLang(lang) == "fr"
	switch m := int(d.Round(time.Minute).Minutes()); {
	case m < 60 && fr:
		return fmt.Sprintf("%d minutes", m)
	case m < 60:
		return fmt.Sprintf("%d minutes", m)
	case fr:
		return fmt.Sprintf("%d heure(s)", m/60)
	default:
		return fmt.Sprintf("%d hour(s)", m/60)
	}
}
