package main

import (
	"testing"
	"time"
)

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 12, 8, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"", time.Time{}, true},
		{"2026-01-31T08:00:00+01:00", time.Date(2026, 1, 31, 7, 0, 0, 0, time.UTC), true},
		{"2026-01-31", time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC), true},
		{"90m", now.Add(-90 * time.Minute), true},
		{"7d", now.Add(-7 * 24 * time.Hour), true},
		{"-1h", time.Time{}, false},
		{"-2d", time.Time{}, false},
		{"yesterday", time.Time{}, false},
		{"31/01/2026", time.Time{}, false},
	} {
		got, err := parseWhen(tc.in, now)
		if (err == nil) != tc.ok || !got.Equal(tc.want) {
			t.Errorf("parseWhen(%q) = %v, %v; want %v (ok %v)", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// FuzzParseWhen: any command-line time parses to a UTC time or is refused; it never panics.
func FuzzParseWhen(f *testing.F) {
	for _, s := range []string{"2026-01-31", "24h", "7d", "2026-01-31T08:00:00Z", "d", "9999999999d"} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 8, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseWhen(s, now)
		if err == nil && got.Location() != time.UTC {
			t.Fatalf("parseWhen(%q) = %v, not UTC", s, got)
		}
	})
}
