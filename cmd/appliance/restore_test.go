package main

import (
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

// restoreCmds are the script commands of the restore journey.
func restoreCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"setenvlink": cmdSetenvLink,
	}
}

// setenvlink NAME: sets NAME to the token of the first link in the last command's stdout (an
// outbox), so that a script follows it on whatever address the node serves now.
func cmdSetenvLink(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: setenvlink NAME")
	}
	link := linkRE.FindString(ts.ReadFile("stdout"))
	if link == "" {
		ts.Fatalf("no link in stdout")
	}
	ts.Setenv(args[0], link[strings.LastIndexByte(link, '/')+1:])
}
