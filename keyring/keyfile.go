package keyring

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The key file format, one text file per key:
//
//	valise-key v1 <kind> <protection>
//	<base64 (standard, padded) of the key bytes>
//
// kind says which key it holds ("kek", "signing"), so a file copied to the wrong name is
// refused. protection is "plain" today: the bytes are the key itself and the file's mode
// (0600, root-only) protects it. "sealed" is reserved for a key encrypted under an operator
// passphrase (Argon2id then AES-256-GCM, its parameters on the first line); Load reports
// ErrSealed for it until unsealing is built.
const (
	keyFileMagic   = "valise-key"
	keyFileVersion = "v1"
	protPlain      = "plain"
	protSealed     = "sealed"

	kindKEK     = "kek"
	kindSigning = "signing"

	maxKeyFileSize = 4096
)

func encodeKeyFile(kind string, key []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s %s %s\n", keyFileMagic, keyFileVersion, kind, protPlain)
	b.WriteString(base64.StdEncoding.EncodeToString(key))
	b.WriteByte('\n')
	return b.Bytes()
}

// parseKeyFile decodes a key file's content, checking its kind and the key's length.
func parseKeyFile(data []byte, kind string, size int) ([]byte, error) {
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrBadKeyFile, maxKeyFileSize)
	}
	header, body, ok := strings.Cut(string(data), "\n")
	if !ok {
		return nil, fmt.Errorf("%w: no header line", ErrBadKeyFile)
	}
	f := strings.Fields(header)
	if len(f) < 4 || f[0] != keyFileMagic {
		return nil, fmt.Errorf("%w: not a Valise key file", ErrBadKeyFile)
	}
	if f[1] != keyFileVersion {
		return nil, fmt.Errorf("%w: unknown version %q", ErrBadKeyFile, f[1])
	}
	if f[2] != kind {
		return nil, fmt.Errorf("%w: holds a %q key, want %q", ErrBadKeyFile, f[2], kind)
	}
	switch f[3] {
	case protPlain:
		if len(f) != 4 {
			return nil, fmt.Errorf("%w: unexpected fields in header", ErrBadKeyFile)
		}
	case protSealed:
		return nil, ErrSealed
	default:
		return nil, fmt.Errorf("%w: unknown protection %q", ErrBadKeyFile, f[3])
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(body))
	if err != nil {
		return nil, fmt.Errorf("%w: key is not base64", ErrBadKeyFile)
	}
	if len(key) != size {
		return nil, fmt.Errorf("%w: key is %d bytes, want %d", ErrBadKeyFile, len(key), size)
	}
	return key, nil
}

// readKeyFile checks a secret key file's mode and reads it.
func readKeyFile(path, kind string, size int) ([]byte, error) {
	if err := checkPrivate(path, false); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key file %s: %w", path, err)
	}
	key, err := parseKeyFile(data, kind, size)
	if err != nil {
		return nil, fmt.Errorf("read key file %s: %w", path, err)
	}
	return key, nil
}

// checkPrivate requires path to exist, be a directory (or a regular file) and be accessible
// to its owner only.
func checkPrivate(path string, dir bool) error {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrMissing, path)
	}
	if err != nil {
		return fmt.Errorf("check %s: %w", path, err)
	}
	if dir && !fi.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", ErrBadKeyFile, path)
	}
	if !dir && !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is not a regular file", ErrBadKeyFile, path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%w: %s has mode %#o, want %#o", ErrPermissions, path, perm, perm&0o700)
	}
	return nil
}

func encodePEM(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// writeFileAtomic writes data to path so that path holds either nothing (or its old content)
// or all of data, even across a crash: a temporary file in the same directory, fsync, rename,
// then an fsync of the directory so the rename itself is durable.
func writeFileAtomic(path string, data []byte, mode os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err = f.Chmod(mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write %s: sync: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("write %s: open directory: %w", path, err)
	}
	defer d.Close()
	if err = d.Sync(); err != nil {
		return fmt.Errorf("write %s: sync directory: %w", path, err)
	}
	return nil
}

func randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("read random bytes: %w", err)
	}
	return b, nil
}
