// Package route matches a request's method and path against a table of patterns: the one
// router of httpd's front ends (httpd/api, httpd/web), so that both read a path the same way
// and agree on what a known path with another method gets (405 with Allow). It writes no
// answer: each front end answers in its own format (issue 17 item 3).
//
// A pattern is a path whose segments are literal ("sends"), a parameter in braces ("{id}",
// one non-empty segment), or, last, "*" ("/static/*": every non-empty rest below the prefix,
// as the parameter "*"). Routes are tried in the order they were added; the first whose
// pattern and method fit wins.
package route

import "strings"

// Route is one method and path pattern a front end serves.
type Route struct {
	// Method is the HTTP method, upper case.
	Method string
	// Pattern is the path, "/api/v1/sends/{id}".
	Pattern string
	// Public routes answer without authentication; each front end says how it refuses a
	// stranger on the others (a 401, a redirect to its login page).
	Public bool
}

// Options tune a Table.
type Options struct {
	// HeadAsGet lets a GET route answer HEAD too; without it HEAD must have its own route.
	HeadAsGet bool
}

// Table routes requests to values of type T (a front end's handlers). It is built before
// serving and only read after: safe for concurrent Find then.
type Table[T any] struct {
	opts    Options
	entries []entry[T]
}

// entry is a Route with its value and its parsed pattern.
type entry[T any] struct {
	Route
	value T
	// prefix is a "/*" pattern's part before "/*"; wild tells it is one.
	prefix string
	wild   bool
	// parts is the pattern split on "/" (not for a wild pattern).
	parts []string
}

// New returns an empty Table.
func New[T any](opts Options) *Table[T] { return &Table[T]{opts: opts} }

// Add appends r, served by v.
func (t *Table[T]) Add(r Route, v T) {
	e := entry[T]{Route: r, value: v}
	if prefix, ok := strings.CutSuffix(r.Pattern, "/*"); ok {
		e.prefix, e.wild = prefix, true
	} else {
		e.parts = strings.Split(r.Pattern, "/")
	}
	t.entries = append(t.entries, e)
}

// Match is a route that fits a request.
type Match[T any] struct {
	Route
	// Value is what Add was given with the route.
	Value T
	// Params are the values of the pattern's parameters, by name without braces ("*" for a
	// wild pattern's rest); nil for a pattern without any. Copies: safe to keep.
	Params map[string]string
}

// Find returns the first route whose pattern fits path and whose method is method, and true.
// Without one it returns false and, when path fits routes of other methods, those methods in
// table order (the Allow header of the 405 the front end answers: see Allow); nil when no
// pattern fits, and the request is not this table's.
func (t *Table[T]) Find(method, path string) (Match[T], []string, bool) {
	var allowed []string
	for i := range t.entries {
		e := &t.entries[i]
		params, ok := e.match(path)
		if !ok {
			continue
		}
		if e.Method != method && !(t.opts.HeadAsGet && e.Method == "GET" && method == "HEAD") {
			allowed = append(allowed, e.Method)
			continue
		}
		return Match[T]{Route: e.Route, Value: e.value, Params: params}, nil, true
	}
	return Match[T]{}, allowed, false
}

// Allow is the value of the Allow header for the methods Find returned.
func Allow(methods []string) string { return strings.Join(methods, ", ") }

// Routes lists the table's routes in the order they were added.
func (t *Table[T]) Routes() []Route {
	out := make([]Route, len(t.entries))
	for i := range t.entries {
		out[i] = t.entries[i].Route
	}
	return out
}

// match reports whether path fits the pattern, with the values of its parameters.
func (e *entry[T]) match(path string) (map[string]string, bool) {
	if e.wild {
		rest, ok := strings.CutPrefix(path, e.prefix+"/")
		if !ok || rest == "" {
			return nil, false
		}
		return map[string]string{"*": rest}, true
	}
	segs := strings.Split(path, "/")
	if len(segs) != len(e.parts) {
		return nil, false
	}
	var params map[string]string
	for i, p := range e.parts {
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			if segs[i] == "" {
				return nil, false
			}
			if params == nil {
				params = map[string]string{}
			}
			params[p[1:len(p)-1]] = segs[i]
			continue
		}
		if segs[i] != p {
			return nil, false
		}
	}
	return params, true
}
