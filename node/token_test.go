package node

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
)

// TestParseJoinToken: a token reads back as printed; anything else is ErrBadJoinToken.
func TestParseJoinToken(t *testing.T) {
	tok := joinToken{caSum: sha256.Sum256([]byte("ca")), secret: bytes.Repeat([]byte{0xfb}, joinSecretSize)}
	s := tok.String()
	if !strings.Contains(s[len(joinTokenPrefix)+64+1:], "-") {
		t.Fatalf("test token %q: want a secret holding '-' (base64url), to test the split", s)
	}
	got, err := parseJoinToken("  " + s + "\n")
	if err != nil || got.caSum != tok.caSum || !bytes.Equal(got.secret, tok.secret) {
		t.Fatalf("parseJoinToken(%q) = %+v, %v", s, got, err)
	}
	for _, tc := range []struct{ name, in string }{
		{"empty", ""},
		{"other prefix", "vjt2-" + s[len(joinTokenPrefix):]},
		{"short fingerprint", joinTokenPrefix + "abcd-" + s[len(s)-43:]},
		{"upper-case fingerprint", joinTokenPrefix + strings.ToUpper(s[5:69]) + s[69:]},
		{"short secret", s[:len(s)-2]},
		{"long secret", s + "AA"},
		{"padded secret", s + "="},
		{"no secret", s[:70]},
		{"standard base64", strings.ReplaceAll(s, "_", "/")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := parseJoinToken(tc.in); !errors.Is(err, ErrBadJoinToken) {
				t.Fatalf("parseJoinToken(%q) = %v, want ErrBadJoinToken", tc.in, err)
			}
		})
	}
}

// FuzzParseJoinToken: the parser never panics, and what it accepts prints back to itself.
func FuzzParseJoinToken(f *testing.F) {
	f.Add(joinToken{caSum: sha256.Sum256([]byte("ca")), secret: bytes.Repeat([]byte{0xfb}, joinSecretSize)}.String())
	f.Add("vjt1-")
	f.Add("vjt1--")
	f.Add("vjt1-" + strings.Repeat("0", 64) + "-" + strings.Repeat("A", 43))
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := parseJoinToken(s)
		if err != nil {
			if !errors.Is(err, ErrBadJoinToken) {
				t.Fatalf("parseJoinToken(%q) = %v, want ErrBadJoinToken", s, err)
			}
			return
		}
		if tok.String() != strings.TrimSpace(s) {
			t.Fatalf("parseJoinToken(%q) prints back as %q", s, tok.String())
		}
		if len(tok.secret) != joinSecretSize {
			t.Fatalf("secret of %d bytes", len(tok.secret))
		}
	})
}

// FuzzReadJoinFrame: the key frame reader never panics nor allocates past its bound, and
// reads back what writeJoinFrame wrote.
func FuzzReadJoinFrame(f *testing.F) {
	var b bytes.Buffer
	_ = writeJoinFrame(&b, joinFrameKeys, []byte(`{"kek":""}`))
	f.Add(b.Bytes())
	f.Add([]byte{joinFrameError, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{'Z', 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		kind, payload, err := readJoinFrame(bytes.NewReader(in))
		if err != nil {
			return
		}
		if len(payload) > maxJoinFrame || kind != joinFrameKeys && kind != joinFrameError {
			t.Fatalf("readJoinFrame accepted kind %#x with %d bytes", kind, len(payload))
		}
		var out bytes.Buffer
		if err := writeJoinFrame(&out, kind, payload); err != nil || !bytes.Equal(out.Bytes(), in[:out.Len()]) {
			t.Fatalf("frame does not write back as read")
		}
	})
}
