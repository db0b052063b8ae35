package keyring

import (
	"bytes"
	"path/filepath"
	"testing"
)

// TestDeriveKey derives the same key from the same KEK after a reload (every node holds the
// same cluster.key), different keys for different labels or clusters, and never the KEK.
func TestDeriveKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), DirName)
	k, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	other, err := Create(filepath.Join(t.TempDir(), DirName))
	if err != nil {
		t.Fatal(err)
	}
	kek, err := readKeyFile(filepath.Join(dir, kekFile), kindKEK, kekSize)
	if err != nil {
		t.Fatal(err)
	}
	csrf := k.DeriveKey("web/csrf")
	for _, tc := range []struct {
		name string
		got  []byte
		same bool
	}{
		{"same label again", k.DeriveKey("web/csrf"), true},
		{"same label after Load", loaded.DeriveKey("web/csrf"), true},
		{"another label", k.DeriveKey("web/other"), false},
		{"empty label", k.DeriveKey(""), false},
		{"another cluster", other.DeriveKey("web/csrf"), false},
		{"the KEK itself", kek, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.got) != DeriveKeySize && tc.name != "the KEK itself" {
				t.Fatalf("derived %d bytes, want %d", len(tc.got), DeriveKeySize)
			}
			if bytes.Equal(tc.got, csrf) != tc.same {
				t.Fatalf("equal to the web/csrf key: %v, want %v", !tc.same, tc.same)
			}
		})
	}
}
