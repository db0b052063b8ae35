package tus_test

import (
	"bytes"
	"crypto/sha1" //nolint:gosec // tus checksum algorithm under test
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"maps"
	"testing"

	"valise/httpd/tus"
)

// TestParseMetadata pins the grammar on named cases.
func TestParseMetadata(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header string
		want   map[string]string // nil: an error
	}{
		{"empty header", "", map[string]string{}},
		{"one pair", "filename cmVwb3J0LnBkZg==", map[string]string{"filename": "report.pdf"}},
		{"key without value", "is_confidential", map[string]string{"is_confidential": ""}},
		{"pairs with blanks after commas", "a YQ==, b Yg==,c", map[string]string{"a": "a", "b": "b", "c": ""}},
		{"unpadded base64", "a YWI", map[string]string{"a": "ab"}},
		{"value with NUL bytes kept raw", "n AA==", map[string]string{"n": "\x00"}},
		{"duplicate key", "a YQ==,a Yg==", nil},
		{"empty pair", "a YQ==,,b", nil},
		{"bad base64", "a !!", nil},
		{"two spaces", "a  YQ==", nil},
		{"non-ASCII key", "clé YQ==", nil},
		{"control byte in key", "a\x01 YQ==", nil},
		{"trailing comma", "a YQ==,", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tus.ParseMetadata(tc.header)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("parsed %q as %v, want an error", tc.header, got)
				}
				return
			}
			if err != nil || !maps.Equal(got, tc.want) {
				t.Fatalf("ParseMetadata(%q) = %v, %v; want %v", tc.header, got, err, tc.want)
			}
		})
	}
}

// FuzzParseMetadata: the parser never panics, and what it accepts formats back to a header
// that parses to the same map.
func FuzzParseMetadata(f *testing.F) {
	for _, s := range []string{"", "filename cmVwb3J0LnBkZg==", "a,b YQ==", "a YWI", "a  b", ",", "k \x00", "a YQ==,a YQ=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		md, err := tus.ParseMetadata(header)
		if err != nil {
			return
		}
		again, err := tus.ParseMetadata(tus.FormatMetadata(md))
		if err != nil || !maps.Equal(md, again) {
			t.Fatalf("round trip of %q: %v, %v; want %v", header, again, err, md)
		}
	})
}

// FuzzParseChecksum: the parser never panics; what it accepts names a supported algorithm
// with a digest of its size, and an unsupported algorithm is told apart.
func FuzzParseChecksum(f *testing.F) {
	d1 := sha1.Sum([]byte("x")) //nolint:gosec // tus checksum algorithm under test
	d256 := sha256.Sum256([]byte("x"))
	for _, s := range []string{
		"sha1 " + base64.StdEncoding.EncodeToString(d1[:]),
		"sha256 " + base64.StdEncoding.EncodeToString(d256[:]),
		"md5 XUFAKrxLKna5cZ2REBfFkg==", "sha1", "sha1 ", " sha1 AA==", "sha256 !!",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		c, err := tus.ParseChecksum(header)
		if err != nil {
			if errors.Is(err, tus.ErrChecksumAlgorithm) && (len(header) >= 5 && header[:5] == "sha1 " || len(header) >= 7 && header[:7] == "sha256 ") {
				t.Fatalf("%q: a supported algorithm reported unsupported", header)
			}
			return
		}
		size := map[string]int{"sha1": sha1.Size, "sha256": sha256.Size}[c.Algorithm]
		if size == 0 || len(c.Digest) != size {
			t.Fatalf("%q parsed as %s with %d digest bytes", header, c.Algorithm, len(c.Digest))
		}
		if !bytes.HasPrefix([]byte(header), []byte(c.Algorithm+" ")) {
			t.Fatalf("%q parsed as algorithm %s", header, c.Algorithm)
		}
	})
}
