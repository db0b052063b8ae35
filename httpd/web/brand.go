package web

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// The backgrounds of style.css's two schemes, against which the brand colour must keep a
// WCAG 2.1 AA contrast (4.5:1 for text: links are in the brand colour).
const (
	lightBackground = "#ffffff"
	darkBackground  = "#15181c"
	minContrast     = 4.5
)

// The brand colour's text colour on buttons: whichever of the two contrasts more.
const (
	lightText = "#ffffff"
	darkText  = "#0d1117"
)

// MaxLogoBytes is the largest logo accepted, decoded: a header logo, not a photograph.
const MaxLogoBytes = 96 << 10

// Logo is the brand's logo as served at /static/logo.
type Logo struct {
	ContentType string // image/png, image/jpeg, image/gif, image/webp or image/svg+xml
	Data        []byte
}

// logoTypes are the accepted image types.
var logoTypes = map[string]bool{
	"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true, "image/svg+xml": true,
}

func knownLogoType(t string) bool { return logoTypes[t] }

// sniffImage names the image type data's first bytes announce (the signatures of the MIME
// Sniffing standard for PNG, JPEG, GIF and WebP; SVG by looksLikeSVG), or "".
func sniffImage(data []byte) string {
	switch {
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return "image/png"
	case bytes.HasPrefix(data, []byte("\xff\xd8\xff")):
		return "image/jpeg"
	case bytes.HasPrefix(data, []byte("GIF87a")) || bytes.HasPrefix(data, []byte("GIF89a")):
		return "image/gif"
	case len(data) >= 14 && bytes.HasPrefix(data, []byte("RIFF")) && string(data[8:14]) == "WEBPVP":
		return "image/webp"
	case looksLikeSVG(data):
		return "image/svg+xml"
	}
	return ""
}

// ParseLogo reads a logo given as a data: URL ("data:image/png;base64,…"), the form the
// branding.logo setting holds: a base64 body of at most MaxLogoBytes whose bytes are the
// declared image type (PNG, JPEG, GIF, WebP, or SVG — served under a CSP that runs no script
// in it), or any of them when no type is declared ("data:;base64,…", what `appliance
// settings set branding.logo --file` sends). "" is no logo.
func ParseLogo(dataURL string) (Logo, error) {
	if dataURL == "" {
		return Logo{}, nil
	}
	rest, ok := strings.CutPrefix(dataURL, "data:")
	if !ok {
		return Logo{}, errors.New("the logo must be a data: URL (appliance settings set branding.logo --file logo.png makes one)")
	}
	typ, body, ok := strings.Cut(rest, ";base64,")
	if !ok {
		return Logo{}, errors.New("the logo's data: URL must be base64 (data:image/png;base64,…)")
	}
	typ = strings.ToLower(typ)
	if typ != "" && !logoTypes[typ] {
		return Logo{}, fmt.Errorf("logo type %q: use PNG, JPEG, GIF, WebP or SVG", typ)
	}
	if base64.StdEncoding.DecodedLen(len(body)) > MaxLogoBytes+2 {
		return Logo{}, fmt.Errorf("the logo is larger than %d KiB: make it smaller", MaxLogoBytes>>10)
	}
	data, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		return Logo{}, fmt.Errorf("the logo's base64 is damaged: %w", err)
	}
	switch {
	case len(data) == 0:
		return Logo{}, errors.New("the logo is empty")
	case len(data) > MaxLogoBytes:
		return Logo{}, fmt.Errorf("the logo is larger than %d KiB: make it smaller", MaxLogoBytes>>10)
	case typ == "" && sniffImage(data) == "":
		return Logo{}, errors.New("the logo is not an image: use PNG, JPEG, GIF, WebP or SVG")
	case typ == "":
		typ = sniffImage(data)
	case sniffImage(data) != typ:
		return Logo{}, fmt.Errorf("the logo is declared %s but its bytes are not (%s)", typ, describeBytes(data))
	}
	return Logo{ContentType: typ, Data: data}, nil
}

// describeBytes says what data looks like, for an error: the image type it is, or not one.
func describeBytes(data []byte) string {
	if t := sniffImage(data); t != "" {
		return "they are " + t
	}
	return "not an image this page shows"
}

// looksLikeSVG reports whether data is UTF-8 text without NUL that opens an <svg> element
// within its first 4 KiB (after an optional XML declaration, comments or a doctype).
func looksLikeSVG(data []byte) bool {
	head := data[:min(len(data), 4096)]
	return utf8.Valid(data) && bytes.IndexByte(data, 0) < 0 &&
		bytes.Contains(bytes.ToLower(head), []byte("<svg"))
}

// CheckBrandColor reports whether c ("#rrggbb") is readable as link text on the light
// scheme's background (dark false) or the dark one's (dark true), to WCAG 2.1 AA.
func CheckBrandColor(c string, dark bool) error {
	if !validColor(c) || c == "" {
		return fmt.Errorf("%q is not a colour #rrggbb", c)
	}
	bg, scheme, hint := lightBackground, "white", "darker"
	if dark {
		bg, scheme, hint = darkBackground, "the dark scheme's background", "lighter"
	}
	if r := contrast(c, bg); r < minContrast {
		return fmt.Errorf("%s has a contrast of %.1f:1 with %s; WCAG 2.1 AA needs %.1f:1 for text: choose a %s colour", c, r, scheme, minContrast, hint)
	}
	return nil
}

// darkFromLight derives the dark scheme's brand colour from the light one: the same hue,
// mixed with white until it reads on the dark background.
func darkFromLight(c string) string {
	r, g, b := rgb(c)
	for i := 0; i <= 20; i++ {
		t := float64(i) / 20
		m := fmt.Sprintf("#%02x%02x%02x", mix(r, t), mix(g, t), mix(b, t))
		if contrast(m, darkBackground) >= minContrast {
			return m
		}
	}
	return "#ffffff"
}

func mix(v uint8, t float64) uint8 { return uint8(math.Round(float64(v) + (255-float64(v))*t)) }

// textOn returns the button text colour for background c: the one that contrasts more.
func textOn(c string) string {
	if contrast(c, lightText) >= contrast(c, darkText) {
		return lightText
	}
	return darkText
}

// contrast is the WCAG 2.1 contrast ratio of two "#rrggbb" colours, from 1 to 21.
func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// luminance is the WCAG 2.1 relative luminance of "#rrggbb".
func luminance(c string) float64 {
	r, g, b := rgb(c)
	lin := func(v uint8) float64 {
		s := float64(v) / 255
		if s <= 0.04045 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(r) + 0.7152*lin(g) + 0.0722*lin(b)
}

// rgb decodes a valid "#rrggbb".
func rgb(c string) (r, g, b uint8) {
	v, _ := hex.DecodeString(c[1:])
	return v[0], v[1], v[2]
}

// brandCSS is the stylesheet that applies the configured colours over style.css's defaults:
// the text colour on buttons follows the brand colour, and without a dark colour the light
// one is lightened until it reads on the dark background.
func brandCSS(c Colors) []byte {
	var b strings.Builder
	b.WriteString("/* Branding from the settings: generated at start. */\n")
	if c.Brand != "" {
		fmt.Fprintf(&b, ":root { --brand: %s; --brand-fg: %s; }\n", c.Brand, textOn(c.Brand))
	}
	dark := c.BrandDark
	if dark == "" && c.Brand != "" {
		dark = darkFromLight(c.Brand)
	}
	if dark != "" {
		fmt.Fprintf(&b, "@media (prefers-color-scheme: dark) { :root { --brand: %s; --brand-fg: %s; } }\n", dark, textOn(dark))
	}
	return []byte(b.String())
}
