package main

import (
	"crypto/rand"
	"fmt"
	"math/big"

	"github.com/rogpeppe/go-internal/testscript"
)

// loopback NAME: sets NAME to a random loopback address 127.A.B.C (A from 100), so that a
// script's nodes with fixed ports (join records them) never meet another test's.
func cmdLoopback(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: loopback NAME")
	}
	n, err := rand.Int(rand.Reader, big.NewInt(150*250*250))
	ts.Check(err)
	v := n.Int64()
	ts.Setenv(args[0], fmt.Sprintf("127.%d.%d.%d", 100+v/(250*250), 1+v/250%250, 1+v%250))
}
