package linkgrant_test

import (
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"valise/httpd/linkgrant"
)

// TestSet is the grant's transport contract (issue 17 item 3): the cookie is Secure,
// HttpOnly, SameSite=Strict, scoped to the one link's pages and expires with the grant; the
// header carries the same grant.
func TestSet(t *testing.T) {
	var ctx fasthttp.RequestCtx
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	linkgrant.Set(&ctx, "tok123", "g-value", exp)
	if got := string(ctx.Response.Header.Peek(linkgrant.Header)); got != "g-value" {
		t.Fatalf("header %q", got)
	}
	c := fasthttp.AcquireCookie()
	defer fasthttp.ReleaseCookie(c)
	c.SetKey(linkgrant.Cookie)
	if !ctx.Response.Header.Cookie(c) {
		t.Fatal("no grant cookie")
	}
	switch {
	case string(c.Value()) != "g-value":
		t.Fatalf("value %q", c.Value())
	case string(c.Path()) != "/s/tok123":
		t.Fatalf("path %q", c.Path())
	case !c.Secure() || !c.HTTPOnly() || c.SameSite() != fasthttp.CookieSameSiteStrictMode:
		t.Fatalf("cookie not Secure, HttpOnly, SameSite=Strict: %s", c)
	case !c.Expire().Equal(exp):
		t.Fatalf("expires %v, want %v", c.Expire(), exp)
	}
	want := "valise_grant=g-value; expires=Wed, 02 Jan 2030 03:04:05 GMT; path=/s/tok123; HttpOnly; secure; SameSite=Strict"
	if got := string(ctx.Response.Header.PeekCookie(linkgrant.Cookie)); !strings.EqualFold(got, want) {
		t.Fatalf("Set-Cookie %q, want %q", got, want)
	}
}

// TestFrom: the header wins over the cookie for API clients; the pages read the cookie only.
func TestFrom(t *testing.T) {
	for _, tc := range []struct {
		name, header, cookie string
		from, fromCookie     string
	}{
		{name: "none"},
		{name: "cookie", cookie: "c", from: "c", fromCookie: "c"},
		{name: "header", header: "h", from: "h"},
		{name: "both", header: "h", cookie: "c", from: "h", fromCookie: "c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ctx fasthttp.RequestCtx
			if tc.header != "" {
				ctx.Request.Header.Set(linkgrant.Header, tc.header)
			}
			if tc.cookie != "" {
				ctx.Request.Header.SetCookie(linkgrant.Cookie, tc.cookie)
			}
			if got := linkgrant.From(&ctx); got != tc.from {
				t.Fatalf("From = %q, want %q", got, tc.from)
			}
			if got := linkgrant.FromCookie(&ctx); got != tc.fromCookie {
				t.Fatalf("FromCookie = %q, want %q", got, tc.fromCookie)
			}
		})
	}
}
