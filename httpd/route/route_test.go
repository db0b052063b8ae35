package route_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"valise/httpd/route"
)

// table is a table shaped like the front ends': literals, parameters, a wild pattern, two
// methods on one path.
func table(opts route.Options) *route.Table[string] {
	t := route.New[string](opts)
	for _, r := range []struct{ method, pattern string }{
		{"GET", "/"},
		{"GET", "/sent"},
		{"GET", "/sent/{id}"},
		{"POST", "/sent/{id}/resend"},
		{"GET", "/s/{token}/files/{fileID}"},
		{"HEAD", "/s/{token}/files/{fileID}"},
		{"GET", "/login"},
		{"POST", "/login"},
		{"GET", "/static/*"},
	} {
		t.Add(route.Route{Method: r.method, Pattern: r.pattern}, r.method+" "+r.pattern)
	}
	return t
}

// TestFind is the router's contract (issue 17 item 3): which route a method and path reach,
// with which parameters, and the methods a 405 lists when the path is known but the method
// is not.
func TestFind(t *testing.T) {
	for _, tc := range []struct {
		name         string
		headAsGet    bool
		method, path string
		want         string // the value found; "" for none
		params       map[string]string
		allowed      []string
	}{
		{name: "root", method: "GET", path: "/", want: "GET /"},
		{name: "literal", method: "GET", path: "/sent", want: "GET /sent"},
		{name: "parameter", method: "GET", path: "/sent/abc", want: "GET /sent/{id}", params: map[string]string{"id": "abc"}},
		{name: "two parameters", method: "HEAD", path: "/s/t0k/files/f1", want: "HEAD /s/{token}/files/{fileID}",
			params: map[string]string{"token": "t0k", "fileID": "f1"}},
		{name: "empty parameter", method: "GET", path: "/sent/", allowed: nil},
		{name: "trailing slash", method: "GET", path: "/sent/abc/", allowed: nil},
		{name: "longer path", method: "GET", path: "/sent/abc/resend/x", allowed: nil},
		{name: "no leading slash", method: "GET", path: "sent", allowed: nil},
		{name: "case matters", method: "GET", path: "/Sent", allowed: nil},
		{name: "unknown path", method: "GET", path: "/nowhere"},
		{name: "other method", method: "DELETE", path: "/sent/abc", allowed: []string{"GET"}},
		{name: "allowed in table order", method: "PUT", path: "/login", allowed: []string{"GET", "POST"}},
		{name: "HEAD without its own route", method: "HEAD", path: "/login", allowed: []string{"GET", "POST"}},
		{name: "HEAD as GET", headAsGet: true, method: "HEAD", path: "/login", want: "GET /login"},
		{name: "HEAD as GET keeps its own route", headAsGet: true, method: "HEAD", path: "/s/a/files/b",
			want: "GET /s/{token}/files/{fileID}", params: map[string]string{"token": "a", "fileID": "b"}},
		{name: "POST is not GET", headAsGet: true, method: "POST", path: "/sent", allowed: []string{"GET"}},
		{name: "wild", method: "GET", path: "/static/app.js", want: "GET /static/*", params: map[string]string{"*": "app.js"}},
		{name: "wild deeper", method: "GET", path: "/static/a/b.css", want: "GET /static/*", params: map[string]string{"*": "a/b.css"}},
		{name: "wild needs a rest", method: "GET", path: "/static/"},
		{name: "wild needs its slash", method: "GET", path: "/static"},
		{name: "wild is a prefix of segments", method: "GET", path: "/staticx/a"},
		{name: "wild other method", method: "POST", path: "/static/app.js", allowed: []string{"GET"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, allowed, ok := table(route.Options{HeadAsGet: tc.headAsGet}).Find(tc.method, tc.path)
			if ok != (tc.want != "") || m.Value != tc.want {
				t.Fatalf("Find(%s %s) = %q, %v; want %q", tc.method, tc.path, m.Value, ok, tc.want)
			}
			if ok && m.Method+" "+m.Pattern != tc.want {
				t.Fatalf("route %s %s with value %q", m.Method, m.Pattern, m.Value)
			}
			if !maps.Equal(m.Params, tc.params) {
				t.Fatalf("params %v, want %v", m.Params, tc.params)
			}
			if !slices.Equal(allowed, tc.allowed) {
				t.Fatalf("allowed %v, want %v", allowed, tc.allowed)
			}
		})
	}
}

// TestAllow: the Allow header lists the methods as Find returned them.
func TestAllow(t *testing.T) {
	if got := route.Allow([]string{"GET", "POST"}); got != "GET, POST" {
		t.Fatalf("Allow = %q", got)
	}
}

// TestRoutes: Routes lists what was added, in order, with Public kept.
func TestRoutes(t *testing.T) {
	tb := route.New[int](route.Options{})
	want := []route.Route{{Method: "GET", Pattern: "/a", Public: true}, {Method: "POST", Pattern: "/b/{id}"}}
	for i, r := range want {
		tb.Add(r, i)
	}
	if got := tb.Routes(); !slices.Equal(got, want) {
		t.Fatalf("Routes = %v, want %v", got, want)
	}
}

// FuzzFind feeds the router paths from outside (a request's path is the client's): it never
// panics, and what it finds is consistent: each parameter is one non-empty segment (the wild
// rest is non-empty), and putting the parameters back into the pattern gives the path.
func FuzzFind(f *testing.F) {
	for _, p := range []string{"/", "/sent/abc", "/s/t/files/f", "/static/a/b", "//", "/sent//", "/s/{token}/files/x", "/static/", ""} {
		f.Add("GET", p)
	}
	tb := table(route.Options{HeadAsGet: true})
	f.Fuzz(func(t *testing.T, method, path string) {
		m, allowed, ok := tb.Find(method, path)
		if !ok {
			for _, a := range allowed {
				if a == method {
					t.Fatalf("%s %s: not found, but %s allowed", method, path, a)
				}
			}
			return
		}
		if allowed != nil {
			t.Fatalf("found with allowed %v", allowed)
		}
		if m.Method != method && !(method == "HEAD" && m.Method == "GET") {
			t.Fatalf("%s found route %s %s", method, m.Method, m.Pattern)
		}
		for name, v := range m.Params {
			if v == "" {
				t.Fatalf("%s: empty parameter %q", path, name)
			}
			if name != "*" && strings.Contains(v, "/") {
				t.Fatalf("%s: parameter %q spans segments: %q", path, name, v)
			}
		}
		var rebuilt string
		if rest, ok := m.Params["*"]; ok {
			rebuilt = strings.TrimSuffix(m.Pattern, "*") + rest
		} else {
			parts := strings.Split(m.Pattern, "/")
			for i, p := range parts {
				if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
					parts[i] = m.Params[p[1:len(p)-1]]
				}
			}
			rebuilt = strings.Join(parts, "/")
		}
		if rebuilt != path {
			t.Fatalf("%s matched %s with %v: rebuilt %q", path, m.Pattern, m.Params, rebuilt)
		}
	})
}
