package main

import (
	"os"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/rogpeppe/go-internal/testscript"
)

// backupCmds are the scripts' commands for backups (testdata/script/backup.txtar).
func backupCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"agekeygen":   cmdAgeKeygen,
		"flipbit":     cmdFlipBit,
		"setenvfield": cmdSetenvField,
	}
}

// agekeygen FILE NAME: writes a new age identity file FILE, as age-keygen does, and sets NAME
// to its public key (age1…).
func cmdAgeKeygen(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: agekeygen FILE NAME")
	}
	id, err := age.GenerateX25519Identity()
	ts.Check(err)
	body := "# public key: " + id.Recipient().String() + "\n" + id.String() + "\n"
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(body), 0o600))
	ts.Setenv(args[1], id.Recipient().String())
}

// flipbit FILE: flips one bit in the middle of FILE.
func cmdFlipBit(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: flipbit FILE")
	}
	p := ts.MkAbs(args[0])
	b, err := os.ReadFile(p)
	ts.Check(err)
	b[len(b)/2] ^= 0x08
	ts.Check(os.WriteFile(p, b, 0o600))
}

// setenvfield NAME FIELD: sets NAME to the value of the last stdout's `FIELD: value` line.
func cmdSetenvField(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: setenvfield NAME FIELD")
	}
	for _, l := range strings.Split(ts.ReadFile("stdout"), "\n") {
		if v, ok := strings.CutPrefix(l, args[1]+": "); ok {
			ts.Setenv(args[0], strings.TrimSpace(v))
			return
		}
	}
	ts.Fatalf("no `%s: …` line in stdout", args[1])
}

// TestReadPassphrase checks the passphrase file's rule: its first line, the line ending
// stripped, never empty.
func TestReadPassphrase(t *testing.T) {
	for _, tc := range []struct {
		name, content, want string
	}{
		{"one line", "correct horse\n", "correct horse"},
		{"no newline", "correct horse", "correct horse"},
		{"crlf", "correct horse\r\n", "correct horse"},
		{"first line only", "correct horse\nsecond\n", "correct horse"},
		{"spaces kept", " correct horse \n", " correct horse "},
		{"empty", "", ""},
		{"empty first line", "\nsecond\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := t.TempDir() + "/pass"
			if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := readPassphrase(p)
			if tc.want == "" {
				if err == nil || !strings.Contains(err.Error(), "empty") {
					t.Fatalf("readPassphrase = %q, %v: want refused as empty", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("readPassphrase = %q, %v, want %q", got, err, tc.want)
			}
		})
	}
}
