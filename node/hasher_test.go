package node

import (
	"context"
	"strings"
	"testing"

	"valise/account"
)

// TestLinkHasher hashes a link password in account's PHC form and verifies it, in constant
// time; a malformed hash is an error, never a match.
func TestLinkHasher(t *testing.T) {
	cfg := account.DefaultConfig().Password
	cfg.MemoryKiB, cfg.Iterations = 1024, 1 // fast, still within ParsePHC's bounds
	h := newLinkHasher(cfg)
	ctx := context.Background()
	hash, err := h.HashPassword(ctx, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Fatalf("hash %q is not account's PHC form", hash)
	}
	for _, tc := range []struct {
		name, password, hash string
		want, wantErr        bool
	}{
		{"right", "correct horse battery", hash, true, false},
		{"wrong", "correct horse", hash, false, false},
		{"malformed", "correct horse battery", "$argon2i$x", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := h.VerifyPassword(ctx, tc.password, tc.hash)
			if ok != tc.want || (err != nil) != tc.wantErr {
				t.Fatalf("verify = %v, %v; want %v, error %v", ok, err, tc.want, tc.wantErr)
			}
		})
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	h.sem <- struct{}{} // every slot taken: a cancelled caller must not wait
	for range cap(h.sem) - 1 {
		h.sem <- struct{}{}
	}
	if _, err := h.HashPassword(cctx, "x"); err == nil {
		t.Fatal("a cancelled hash waited for a slot and ran")
	}
}
