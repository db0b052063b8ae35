package api

import (
	"strings"

	"github.com/valyala/fasthttp"

	"valise/httpd/csp"
)

// securityHeaders sets the headers every response carries: shared content can never run as
// a page of this origin, leak its URL (which holds the link token) or be cached.
func securityHeaders(ctx *fasthttp.RequestCtx, kind responseKind) {
	h := &ctx.Response.Header
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Strict-Transport-Security", "max-age=31536000")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	switch kind {
	case kindDownload:
		h.Set("Content-Security-Policy", csp.Policy(csp.Download))
	default:
		h.Set("Content-Security-Policy", csp.Policy(csp.API))
	}
}

// maxFallbackName bounds the ASCII fallback file name.
const maxFallbackName = 150

// contentDisposition returns an attachment disposition for name: an ASCII fallback in
// filename= (every character that is not plain printable ASCII, and the quote, backslash,
// percent, semicolon and slashes, become "_") and the name in filename*= (RFC 8187
// percent-encoding of its UTF-8), both as downloadName makes it safe for Windows. Control characters, CR and LF cannot survive either form,
// so a file name can never inject a header.
func contentDisposition(name string) string {
	name = downloadName(name)
	var fb strings.Builder
	n := 0
	for _, r := range name {
		if n >= maxFallbackName {
			break
		}
		n++
		switch {
		case r < 0x20 || r >= 0x7f, r == '"', r == '\\', r == '%', r == ';', r == '/':
			fb.WriteByte('_')
		default:
			fb.WriteRune(r)
		}
	}
	fallback := windowsSafe(strings.TrimLeft(fb.String(), "."))
	if strings.Trim(fallback, "_ ") == "" {
		fallback = "download"
	}
	return `attachment; filename="` + fallback + `"; filename*=UTF-8''` + encodeRFC8187(name)
}

// downloadName is the name a download is saved as: valid UTF-8, mapped by windowsSafe,
// "download" when nothing is left.
func downloadName(name string) string {
	name = windowsSafe(strings.ToValidUTF8(name, "_"))
	if name == "" {
		return "download"
	}
	return name
}

// encodeRFC8187 percent-encodes every byte of s that is not an RFC 8187 attr-char.
func encodeRFC8187(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
