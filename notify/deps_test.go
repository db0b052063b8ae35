package notify_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps notify a domain package that only composes and sends mail (docs/style.md §1).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Allow:    []string{"github.com/wneessen/go-mail/...", "golang.org/x/text/...", "valise/raftfsm", "valise/locale", "valise/fault", "valise/internal/logkey"},
		AllowWhy: "only go-mail, x/text, raftfsm, locale, fault and the log keys are allowed (no Badger, Raft, HTTP or node)",
		Deny:     depstest.AboveDomain(),
	})
}
