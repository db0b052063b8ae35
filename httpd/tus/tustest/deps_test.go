package tustest_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps the reference tus backend plain files (docs/style.md §1).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Deny: depstest.Merge(depstest.AboveHTTPD(), depstest.Stores(), map[string]string{
			"valise/httpd": "a tus test helper needs no HTTPS front end",
		}),
	})
}
