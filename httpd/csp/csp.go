// Package csp builds the Content-Security-Policy of every kind of response Valise serves
// over HTTPS: the web UI's pages, a recipient's link page, a static file, the REST API's
// JSON and a shared file's bytes. It is the one place these policies are written (issue 17
// item 3); httpd/web and httpd/api set the header from Policy.
package csp

import "strings"

// Kind is a kind of response, each with its own policy.
type Kind int

const (
	// App is a page of the signed-in web UI: its own scripts and styles (htmx, tus-js-client,
	// app.js), data: images (the QR codes), XHR to its own origin.
	App Kind = iota
	// LinkPage is a recipient's page (/s/{token}) or the dead-link page: no script at all,
	// its own styles and logo, forms posting to itself. It keeps allow-same-origin in its
	// sandbox: without it a page has an opaque origin, so its password and code forms post
	// cross-site (Origin: null) and the browser neither keeps nor sends the SameSite=Strict
	// grant cookie, and no recipient could pass a challenge. No script can run either way
	// (default-src 'none', no allow-scripts).
	LinkPage
	// Static is a static file opened on its own (an SVG logo above all): it runs nothing and
	// loads nothing; an SVG's inline styles still apply.
	Static
	// API is a JSON answer of the REST API.
	API
	// Download is a shared file or zip: never rendered as a page of this origin.
	Download
)

// String names the kind, for tests and logs.
func (k Kind) String() string {
	switch k {
	case App:
		return "app"
	case LinkPage:
		return "link page"
	case Static:
		return "static"
	case API:
		return "api"
	case Download:
		return "download"
	}
	return "unknown"
}

// directives are each kind's policy, one directive a string.
var directives = map[Kind][]string{
	App: {
		"default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
		"connect-src 'self'", "frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'",
		"object-src 'none'",
	},
	LinkPage: {
		"default-src 'none'", "style-src 'self'", "img-src 'self'", "form-action 'self'",
		"frame-ancestors 'none'", "sandbox allow-forms allow-downloads allow-same-origin",
	},
	Static:   {"default-src 'none'", "style-src 'unsafe-inline'", "sandbox"},
	API:      {"default-src 'none'", "frame-ancestors 'none'", "sandbox"},
	Download: {"default-src 'none'", "frame-ancestors 'none'", "sandbox"},
}

// Policy returns the Content-Security-Policy header value of kind k; an unknown kind gets
// the strictest policy, Download's.
func Policy(k Kind) string {
	d, ok := directives[k]
	if !ok {
		d = directives[Download]
	}
	return strings.Join(d, "; ")
}
