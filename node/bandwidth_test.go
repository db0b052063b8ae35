package node

import (
	"context"
	"strings"
	"testing"
	"time"
)

// fakeClock is a clock that moves only when the bucket sleeps.
type fakeClock struct {
	now   time.Time
	slept time.Duration
}

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) Sleep(_ context.Context, d time.Duration) error {
	c.now = c.now.Add(d)
	c.slept += d
	return nil
}

// TestTokenBucket checks the heal bandwidth limit on a fake clock: moving T bytes at rate R
// takes (T - burst) / R of sleep, whatever the sizes of the takes; unlimited never sleeps;
// a lower rate applies at once.
func TestTokenBucket(t *testing.T) {
	const mb = 1_000_000
	for _, tc := range []struct {
		name  string
		rate  int64
		takes []int64
		slept time.Duration
	}{
		{"unlimited", 0, []int64{1 << 30, 1 << 30}, 0},
		{"within the burst", 10 * mb, []int64{4 * mb, 6 * mb}, 0},
		{"one large file", 10 * mb, []int64{110 * mb}, 10 * time.Second},
		{"many small files", 10 * mb, repeat(100_000, 1100), 10 * time.Second},
		{"burst of 1 MiB at least", 1 * mb, []int64{1 << 20, 1 * mb}, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			b := newTokenBucket(c.Now, c.Sleep)
			b.setRate(tc.rate)
			for _, n := range tc.takes {
				if err := b.take(context.Background(), n); err != nil {
					t.Fatal(err)
				}
			}
			if diff := c.slept - tc.slept; diff < -time.Millisecond || diff > time.Millisecond {
				t.Fatalf("slept %v, want %v", c.slept, tc.slept)
			}
		})
	}
	t.Run("rate lowered", func(t *testing.T) {
		c := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		b := newTokenBucket(c.Now, c.Sleep)
		b.setRate(100 * mb)
		b.setRate(2 * mb) // the 100 MB burst must not carry over
		if err := b.take(context.Background(), 6*mb); err != nil {
			t.Fatal(err)
		}
		if c.slept != 2*time.Second {
			t.Fatalf("slept %v after lowering the rate, want 2s", c.slept)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		b := newTokenBucket(time.Now, sleepCtx)
		b.setRate(1 * mb)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := b.take(ctx, 100*mb); err == nil {
			t.Fatal("take on a cancelled context waited and succeeded")
		}
	})
}

func repeat(n int64, times int) []int64 {
	out := make([]int64, times)
	for i := range out {
		out[i] = n
	}
	return out
}

// TestParseBandwidth checks heal.bandwidth's values and its sentences for bad ones.
func TestParseBandwidth(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  string
	}{
		{"0", 0, ""},
		{"50MB/s", 50_000_000, ""},
		{"50MBps", 50_000_000, ""},
		{"512KiB/s", 0, "out of range"},
		{"2MiB/s", 2 << 20, ""},
		{"1.5GB", 1_500_000_000, ""},
		{"1000000", 1_000_000, ""},
		{"999999", 0, "out of range"},
		{"50 MB/s", 50_000_000, ""},
		{"", 0, "not a bandwidth"},
		{"fast", 0, "not a bandwidth"},
		{"-5MB/s", 0, "not a bandwidth"},
		{"5XB/s", 0, "not a bandwidth"},
		{"1e9", 0, "not a bandwidth"},
		{"NaN", 0, "not a bandwidth"},
		{"2000GB/s", 0, "out of range"},
	} {
		got, err := parseBandwidth(tc.in)
		if tc.err == "" && (err != nil || got != tc.want) || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("parseBandwidth(%q) = %d, %v; want %d, %q", tc.in, got, err, tc.want, tc.err)
		}
	}
	for _, key := range []string{"heal.interval", "scrub.interval", "heal.bandwidth"} {
		if err := validateSetting(key, knownSettings[key].def); err != nil {
			t.Errorf("default of %s refused: %v", key, err)
		}
	}
	for _, bad := range [][2]string{{"heal.interval", "10s"}, {"scrub.interval", "weekly"}, {"heal.bandwidth", "lots"}} {
		err := validateSetting(bad[0], bad[1])
		if err == nil || !strings.Contains(err.Error(), bad[0]) || !strings.Contains(err.Error(), "want") {
			t.Errorf("setting %s=%s: %v, want a sentence saying what is wanted", bad[0], bad[1], err)
		}
	}
	if d, err := parseInterval("0"); d != 0 || err != nil {
		t.Errorf(`parseInterval("0") = %v, %v`, d, err)
	}
}

// FuzzParseBandwidth checks that any setting value parses to 0 or a rate within the bounds,
// or to an error, never panicking.
func FuzzParseBandwidth(f *testing.F) {
	for _, s := range []string{"0", "50MB/s", "2MiB/s", "1.5GB", "", "-1", "1e9", "9999999999999999999999GB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := parseBandwidth(s)
		if err == nil && b != 0 && (b < minBandwidth || b > 1e12) {
			t.Fatalf("parseBandwidth(%q) = %d: out of bounds", s, b)
		}
		if _, err := parseInterval(s); err != nil && !strings.Contains(err.Error(), "want") {
			t.Fatalf("parseInterval(%q) error without advice: %v", s, err)
		}
	})
}
