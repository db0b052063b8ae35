package keyring

import (
	"testing"
	"time"
)

// TestIssuedAt (issue 18, revocation by date): IssuedAt undoes the backdating of NotBefore,
// to the second X.509 keeps.
func TestIssuedAt(t *testing.T) {
	k, _ := newKeyring(t)
	before := time.Now().Truncate(time.Second)
	cert, err := k.IssueNodeCert("node-1", nil, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	if got := IssuedAt(cert.Leaf); got.Before(before) || got.After(after) {
		t.Fatalf("IssuedAt = %v, want between %v and %v", got, before, after)
	}
}
