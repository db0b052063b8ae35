package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestProgressOneLinePerPackage guards issue 16 item 1: while the race suite runs, the
// terminal shows each package as it finishes, and the log keeps every line for the summary.
func TestProgressOneLinePerPackage(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"run","Package":"valise/a","Test":"TestX"}`,
		`{"Action":"pass","Package":"valise/a","Test":"TestX","Elapsed":0.5}`,
		`{"Action":"pass","Package":"valise/a","Elapsed":1.5}`,
		`# valise/b`,
		`b/b.go:3:1: syntax error`,
		`{"Action":"fail","Package":"valise/b","Elapsed":0}`,
	}, "\n") + "\n"
	clock := time.Unix(0, 0)
	now := func() time.Time { clock = clock.Add(time.Second); return clock }
	var log, out bytes.Buffer
	if err := progress(strings.NewReader(in), &log, &out, now); err != nil {
		t.Fatal(err)
	}
	if log.String() != in {
		t.Errorf("log differs from the input:\n%s", log.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{"ok   valise/a", "# valise/b", "b/b.go:3:1: syntax error", "FAIL valise/b"}
	if len(lines) != len(want) {
		t.Fatalf("printed %d lines, want %d:\n%s", len(lines), len(want), out.String())
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q, want it to start with %q", i, lines[i], w)
		}
	}
	var sum bytes.Buffer
	if err := report(&log, &sum); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sum.String(), "1 passed, 0 failed") {
		t.Errorf("summary of the log:\n%s", sum.String())
	}
}
