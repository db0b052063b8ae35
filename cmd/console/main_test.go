package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestCommandLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"version", []string{"--version"}, 0, "console "},
		{"bad language", []string{"--lang", "de"}, 2, "--lang is fr or en"},
		{"url without cert", []string{"--url", "https://n1:8445"}, 2, "--url and --cert go together"},
		{"unknown flag", []string{"--nope"}, 2, "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if code := run(tc.args, &out, &out); code != tc.code || !strings.Contains(out.String(), tc.out) {
				t.Errorf("exit %d, output %q; want %d and %q", code, out.String(), tc.code, tc.out)
			}
		})
	}
}
