package account

import (
	"errors"
	"testing"
	"time"
)

const goodPassword = "a long enough password"

func TestCheckPassword(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	alice := e.addUser(t, "alice@example.org", goodPassword)
	e.addUser(t, "dis@example.org", goodPassword)
	if _, err := e.svc.Disable(ctx, "dis@example.org"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, email, password string
		want                  error
	}{
		{"right", "alice@example.org", goodPassword, nil},
		{"right, other case", "ALICE@example.org", goodPassword, nil},
		{"wrong", "alice@example.org", "a long enough passwore", ErrBadCredentials},
		{"empty", "alice@example.org", "", ErrBadCredentials},
		{"unknown user", "bob@example.org", goodPassword, ErrBadCredentials},
		{"malformed e-mail", "bob", goodPassword, ErrBadCredentials},
		{"disabled, right password", "dis@example.org", goodPassword, ErrDisabled},
		{"disabled, wrong password", "dis@example.org", "nope nope nope", ErrBadCredentials},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := e.svc.CheckPassword(ctx, tc.email, tc.password)
			if tc.want == nil {
				if err != nil || u.ID != alice.ID {
					t.Fatalf("CheckPassword = %+v, %v", u, err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("CheckPassword: %v, want %v", err, tc.want)
			}
			var ue *UserError
			if !errors.As(err, &ue) {
				t.Fatalf("%v is not a *UserError", err)
			}
			if u != (User{}) {
				t.Fatalf("a refused check returned user %+v", u)
			}
		})
	}
	if _, err := e.svc.Enable(ctx, "dis@example.org"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CheckPassword(ctx, "dis@example.org", goodPassword); err != nil {
		t.Fatalf("after Enable: %v", err)
	}
}

func TestLockFor(t *testing.T) {
	c := DefaultConfig().Lockout
	for _, tc := range []struct {
		failures int
		want     time.Duration
	}{
		{0, 0}, {4, 0}, {5, time.Minute}, {6, 2 * time.Minute}, {7, 4 * time.Minute},
		{10, 32 * time.Minute}, {11, time.Hour}, {1000, time.Hour},
	} {
		if got := c.lockFor(tc.failures); got != tc.want {
			t.Errorf("lockFor(%d) = %v, want %v", tc.failures, got, tc.want)
		}
	}
}

// TestLockout guards against password guessing: after 5 wrong passwords the account is
// locked for 1 min, then each further failure doubles the lock; a right password during a lock
// is refused without being checked; a right password after it resets the count.
func TestLockout(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.addUser(t, "eve@example.org", goodPassword)
	wrong := func() error {
		t.Helper()
		_, err := e.svc.CheckPassword(ctx, "eve@example.org", "wrong wrong wrong")
		return err
	}
	right := func() error {
		t.Helper()
		_, err := e.svc.CheckPassword(ctx, "eve@example.org", goodPassword)
		return err
	}
	requireLocked := func(d time.Duration) {
		t.Helper()
		err := right()
		var le *LockedError
		if !errors.Is(err, ErrLocked) || !errors.As(err, &le) {
			t.Fatalf("right password while locked: %v, want ErrLocked", err)
		}
		if want := e.clk.Now().Add(d); !le.Until.Equal(want) {
			t.Fatalf("locked until %v, want %v", le.Until, want)
		}
	}

	for i := 1; i <= 5; i++ {
		if err := wrong(); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("failure %d: %v", i, err)
		}
		e.clk.Advance(time.Second)
	}
	e.clk.Advance(-time.Second)
	requireLocked(time.Minute)
	if err := wrong(); !errors.Is(err, ErrLocked) {
		t.Fatalf("wrong password while locked: %v, want ErrLocked", err)
	}

	e.clk.Advance(time.Minute)
	if err := wrong(); !errors.Is(err, ErrBadCredentials) { // the 6th: locked 2 min
		t.Fatalf("6th failure: %v", err)
	}
	requireLocked(2 * time.Minute)
	e.clk.Advance(2*time.Minute - time.Second)
	requireLocked(time.Second)

	e.clk.Advance(time.Second)
	if err := right(); err != nil {
		t.Fatalf("right password after the lock: %v", err)
	}
	for i := 1; i <= 4; i++ {
		if err := wrong(); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("failure %d after reset: %v", i, err)
		}
	}
	if err := right(); err != nil {
		t.Fatalf("4 failures after a success must not lock: %v", err)
	}

	// A quiet window makes the count start over.
	for range 4 {
		_ = wrong()
	}
	e.clk.Advance(DefaultConfig().Lockout.Window + time.Second)
	if err := wrong(); !errors.Is(err, ErrBadCredentials) {
		t.Fatal(err)
	}
	if err := right(); err != nil {
		t.Fatalf("failures older than the window still counted: %v", err)
	}

	// An administrator can unlock.
	for range 5 {
		_ = wrong()
	}
	requireLocked(time.Minute)
	if err := e.svc.Unlock(ctx, "eve@example.org"); err != nil {
		t.Fatal(err)
	}
	if err := right(); err != nil {
		t.Fatalf("after Unlock: %v", err)
	}
}
