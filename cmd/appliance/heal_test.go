package main

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

// healCmds are the script commands of the heal and scrub journeys.
func healCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"damage":     cmdDamage,
		"setenvkept": cmdSetenvKept,
	}
}

// damage delete|truncate|flip|flipone GLOB: damages the one shard file GLOB matches: deletes
// it, cuts it to half, flips a bit every 97 bytes from offset 600, or flips one bit inside
// the first piece's payload (bit rot only a scrub reads).
func cmdDamage(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: damage delete|truncate|flip|flipone GLOB")
	}
	m, err := filepath.Glob(ts.MkAbs(args[1]))
	ts.Check(err)
	if len(m) != 1 {
		ts.Fatalf("%s matches %d files, want 1", args[1], len(m))
	}
	p := m[0]
	switch args[0] {
	case "delete":
		ts.Check(os.Remove(p))
	case "truncate":
		st, err := os.Stat(p)
		ts.Check(err)
		ts.Check(os.Truncate(p, st.Size()/2))
	case "flip", "flipone":
		b, err := os.ReadFile(p)
		ts.Check(err)
		if args[0] == "flip" {
			for off := 600; off < len(b); off += 97 {
				b[off] ^= 0x40
			}
		} else {
			b[4096+300] ^= 0x10
		}
		ts.Check(os.WriteFile(p, b, 0o600))
	default:
		ts.Fatalf("damage %s: want delete, truncate, flip or flipone", args[0])
	}
}

// setenvkept NAME: sets NAME to the ID of the last stdout's `kept: ID` line (selftest --keep).
func cmdSetenvKept(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: setenvkept NAME")
	}
	for _, l := range strings.Split(ts.ReadFile("stdout"), "\n") {
		if id, ok := strings.CutPrefix(strings.TrimSpace(l), "kept: "); ok {
			ts.Setenv(args[0], id)
			return
		}
	}
	ts.Fatalf("no `kept: ID` line in stdout")
}
