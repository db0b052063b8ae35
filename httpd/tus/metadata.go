package tus

import (
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
)

// Limits on Upload-Metadata, which comes from the outside.
const (
	// maxMetadataPairs bounds the number of key-value pairs.
	maxMetadataPairs = 64
	// maxMetadataKey bounds a key's length in bytes.
	maxMetadataKey = 128
)

// ParseMetadata parses an Upload-Metadata header (tus 1.0.0, creation): comma-separated
// pairs "key base64value", or a key alone for an empty value. Keys are 1 to 128 printable
// ASCII characters without space or comma, and unique; values are standard base64 (padding
// optional) and may be empty. Blanks around a pair are ignored. An empty header is an empty
// map. The values are returned raw: validating them (a filename) is the backend's job.
func ParseMetadata(header string) (map[string]string, error) {
	md := make(map[string]string)
	if strings.TrimSpace(header) == "" {
		return md, nil
	}
	for pair := range strings.SplitSeq(header, ",") {
		pair = strings.Trim(pair, " \t")
		if pair == "" {
			return nil, fmt.Errorf("parse upload metadata: empty pair")
		}
		if len(md) == maxMetadataPairs {
			return nil, fmt.Errorf("parse upload metadata: more than %d pairs", maxMetadataPairs)
		}
		key, enc, _ := strings.Cut(pair, " ")
		if err := checkMetadataKey(key); err != nil {
			return nil, fmt.Errorf("parse upload metadata: %w", err)
		}
		if _, dup := md[key]; dup {
			return nil, fmt.Errorf("parse upload metadata: duplicate key %q", key)
		}
		val, err := decodeBase64(enc)
		if err != nil {
			return nil, fmt.Errorf("parse upload metadata: value of %q: %w", key, err)
		}
		md[key] = string(val)
	}
	return md, nil
}

// FormatMetadata is the inverse of ParseMetadata, keys sorted. Keys must be valid.
func FormatMetadata(md map[string]string) string {
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		if v := md[k]; v != "" {
			b.WriteByte(' ')
			b.WriteString(base64.StdEncoding.EncodeToString([]byte(v)))
		}
	}
	return b.String()
}

func checkMetadataKey(key string) error {
	if key == "" {
		return fmt.Errorf("empty key")
	}
	if len(key) > maxMetadataKey {
		return fmt.Errorf("key longer than %d bytes", maxMetadataKey)
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c <= ' ' || c > '~' || c == ',' {
			return fmt.Errorf("key %q: byte %#x not allowed", key, c)
		}
	}
	return nil
}

// decodeBase64 decodes standard base64, with or without padding, refusing blanks inside.
func decodeBase64(s string) ([]byte, error) {
	if strings.ContainsAny(s, " \t\r\n") {
		return nil, fmt.Errorf("blank inside base64")
	}
	if len(s)%4 != 0 {
		return base64.RawStdEncoding.Strict().DecodeString(s)
	}
	return base64.StdEncoding.Strict().DecodeString(s)
}
