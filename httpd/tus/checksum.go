package tus

import (
	"crypto/sha1" //nolint:gosec // tus's checksum extension names sha1; it guards against transport errors, not attackers
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"strings"
)

// ErrChecksumAlgorithm is returned by ParseChecksum for an algorithm other than sha1 and
// sha256 (tus: 400).
var ErrChecksumAlgorithm = errors.New("tus: checksum algorithm not supported")

// ChecksumAlgorithms is the Tus-Checksum-Algorithm value: what ParseChecksum accepts.
const ChecksumAlgorithms = "sha1,sha256"

// Checksum is a parsed Upload-Checksum header: the digest a chunk must have.
type Checksum struct {
	// Algorithm is "sha1" or "sha256".
	Algorithm string
	// Digest is the raw digest, of the algorithm's size.
	Digest []byte
}

// ParseChecksum parses an Upload-Checksum header, "<algorithm> <base64 digest>". The
// algorithm is sha1 or sha256 (otherwise ErrChecksumAlgorithm, wrapped); the digest must
// decode to the algorithm's size.
func ParseChecksum(header string) (Checksum, error) {
	alg, enc, ok := strings.Cut(header, " ")
	if !ok {
		return Checksum{}, fmt.Errorf("parse upload checksum: no space between algorithm and digest")
	}
	var size int
	switch alg {
	case "sha1":
		size = sha1.Size
	case "sha256":
		size = sha256.Size
	default:
		return Checksum{}, fmt.Errorf("parse upload checksum %.32q: %w", alg, ErrChecksumAlgorithm)
	}
	d, err := decodeBase64(enc)
	if err != nil {
		return Checksum{}, fmt.Errorf("parse upload checksum: digest: %w", err)
	}
	if len(d) != size {
		return Checksum{}, fmt.Errorf("parse upload checksum: %s digest of %d bytes, want %d", alg, len(d), size)
	}
	return Checksum{Algorithm: alg, Digest: d}, nil
}

// newHash returns a fresh hash for c's algorithm.
func (c Checksum) newHash() hash.Hash {
	if c.Algorithm == "sha1" {
		return sha1.New() //nolint:gosec // see the import
	}
	return sha256.New()
}
