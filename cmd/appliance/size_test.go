package main

import (
	"strconv"
	"testing"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"1234", 1234, true},
		{"64M", 64 << 20, true},
		{"64m", 64 << 20, true},
		{"1G", 1 << 30, true},
		{"1GiB", 1 << 30, true},
		{"2KB", 2 << 10, true},
		{"3T", 3 << 40, true},
		{"", 0, false},
		{"M", 0, false},
		{"-1", 0, false},
		{"1.5G", 0, false},
		{"10X", 0, false},
		{"9223372036854775807", 9223372036854775807, true},
		{"9999999999999999999", 0, false},
		{"8388608T", 0, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseSize(tc.in)
			if (err == nil) != tc.ok || got != tc.want {
				t.Fatalf("parseSize(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
			}
		})
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"64M", "1G", "0", "12345", "1KiB", "", "T", "99999999999T"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSize(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("parseSize(%q) = %d: negative", s, n)
		}
		// A plain number parses to itself.
		if v, err := strconv.ParseInt(s, 10, 64); err == nil && v >= 0 && v != n {
			t.Fatalf("parseSize(%q) = %d, want %d", s, n, v)
		}
	})
}

func TestFormatSize(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{{512, "512 B"}, {64 << 20, "64.0 MiB"}, {1 << 30, "1.0 GiB"}} {
		t.Run(tc.want, func(t *testing.T) {
			if got := formatSize(tc.n); got != tc.want {
				t.Fatalf("formatSize(%d) = %q, want %q", tc.n, got, tc.want)
			}
		})
	}
}
