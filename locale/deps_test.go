package locale_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps locale a leaf that every layer may use (docs/style.md §1).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Allow:    []string{"github.com/BurntSushi/toml", "github.com/nicksnyder/go-i18n/v2/...", "golang.org/x/text/..."},
		AllowWhy: "locale needs only a TOML parser, go-i18n and x/text",
		Deny: map[string]string{
			"valise/...": "locale is a leaf: every layer may use it, so it uses none",
		},
	})
}
