//go:build large

package main

import (
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestScriptsLarge runs the large-file journeys under testdata/large (GiB selftests) against
// the real binary: `go test -tags large -run Large`.
func TestScriptsLarge(t *testing.T) {
	p := scriptParams()
	p.Dir = "testdata/large"
	testscript.Run(t, p)
}
