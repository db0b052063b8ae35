package keyring

import (
	"bytes"
	"errors"
	"testing"
)

// TestSealOpen: a sealed value hides its content, opens only for its purpose and id under the
// same cluster key, and a value stored in clear before sealing reads back as it is (issue 16
// item 9).
func TestSealOpen(t *testing.T) {
	k, dir := newKeyring(t)
	secret := []byte(`{"text":"https://files.example.org/l/SECRET-TOKEN"}`)
	sealed, err := k.Seal("notify/queue", "notify/queue/m1", secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("SECRET-TOKEN")) || !IsSealed(sealed) {
		t.Fatalf("sealed value shows its content or is not recognised: %q", sealed)
	}
	l, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := l.Open("notify/queue", "notify/queue/m1", sealed); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open after Load = %q, %v", got, err)
	}
	other, _ := newKeyring(t)
	altered := bytes.Clone(sealed)
	altered[len(altered)-1] ^= 1
	for _, tc := range []struct {
		name, purpose, id string
		k                 *Keyring
		v                 []byte
	}{
		{"another id", "notify/queue", "notify/queue/m2", k, sealed},
		{"another purpose", "settings", "notify/queue/m1", k, sealed},
		{"another cluster key", "notify/queue", "notify/queue/m1", other, sealed},
		{"altered", "notify/queue", "notify/queue/m1", k, altered},
		{"truncated", "notify/queue", "notify/queue/m1", k, sealed[:10]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.k.Open(tc.purpose, tc.id, tc.v); !errors.Is(err, ErrOpen) {
				t.Fatalf("Open = %v, want ErrOpen", err)
			}
		})
	}
	if got, err := k.Open("settings", "settings/smtp.password", []byte("old clear value")); err != nil || string(got) != "old clear value" {
		t.Fatalf("a clear value = %q, %v: want it as it is", got, err)
	}
}
