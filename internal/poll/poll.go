// Package poll waits in tests for a condition to hold, checking it again and again until a
// deadline that only guards against a hang: no test waits with time.Sleep, and none depends on
// the machine being fast (docs/testing.md, "Waiting and speed"; issue 17 item 5). It is for
// tests; production code never imports it.
package poll

import (
	"fmt"
	"testing"
	"time"
)

// HangGuard is how long Until and UntilNil wait before they fail the test: long enough that
// only a hang reaches it on a loaded machine.
const HangGuard = 2 * time.Minute

// Until calls cond until it returns true, failing tb with what after HangGuard.
func Until(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	UntilNil(tb, what, func() error {
		if cond() {
			return nil
		}
		return fmt.Errorf("still not so")
	})
}

// UntilNil calls cond until it returns nil, failing tb with what and cond's last error after
// HangGuard: let the error say what the state was.
func UntilNil(tb testing.TB, what string, cond func() error) {
	tb.Helper()
	if err := Within(HangGuard, cond); err != nil {
		tb.Fatalf("timed out after %v waiting for %s: %v", HangGuard, what, err)
	}
}

// Within calls cond until it returns nil or timeout passes, and returns cond's last error: for
// callers without a testing.TB (testscript commands) or with a deadline of their own. The
// interval between calls starts at a millisecond and doubles up to 50 ms.
func Within(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	interval := time.Millisecond
	for {
		err := cond()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(interval) // the interval between checks, not a wait for an event
		interval = min(2*interval, 50*time.Millisecond)
	}
}
