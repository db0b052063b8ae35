package poll_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"valise/internal/poll"
)

// TestWithin checks that Within returns as soon as cond holds, and cond's last error at the
// deadline.
func TestWithin(t *testing.T) {
	calls := 0
	if err := poll.Within(time.Minute, func() error {
		calls++
		if calls < 5 {
			return fmt.Errorf("call %d", calls)
		}
		return nil
	}); err != nil || calls != 5 {
		t.Errorf("Within = %v after %d calls, want nil after 5", err, calls)
	}
	last := errors.New("the last state")
	if err := poll.Within(0, func() error { return last }); !errors.Is(err, last) {
		t.Errorf("Within past its deadline = %v, want cond's last error", err)
	}
}
