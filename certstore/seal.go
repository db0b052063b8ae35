package certstore

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"time"
)

// Sealer wraps a small data key under the cluster key-encryption key, bound to an ID.
// *keyring.Keyring implements it.
type Sealer interface {
	// Wrap seals plainKey (16 to 64 bytes) so that only Unwrap with the same id opens it. It is
	// called from any goroutine and must not keep plainKey.
	Wrap(ctx context.Context, id string, plainKey []byte) ([]byte, error)
	// Unwrap opens what Wrap sealed for id; it fails (never panics) on anything else: another
	// id, another key-encryption key, altered bytes.
	Unwrap(ctx context.Context, id string, wrapped []byte) ([]byte, error)
}

// Stored value layout (version 1):
//
//	0x01 | mode (0 clear, 1 sealed) | modified, Unix ns, 8 bytes big-endian | body
//
// A clear body is the value. A sealed body is
//
//	uvarint length of the wrapped data key | wrapped data key | nonce (12) | AES-256-GCM
//
// with a fresh 256-bit data key per value, wrapped by the Sealer for "certmagic/<key>", and
// the key in the additional data, so a sealed value copied under another key does not open.
const (
	recordV1    = 0x01
	modeClear   = 0
	modeSealed  = 1
	headerSize  = 10
	dataKeySize = 32
	gcmNonce    = 12
	gcmTag      = 16
	sealLabel   = "valise/certmagic/v1\x00"
)

// sealID is the ID a value's data key is wrapped for.
func sealID(key string) string { return "certmagic/" + key }

// header is what Stat needs of a record without opening it.
type header struct {
	mode     byte
	modified time.Time
	size     int64 // of the value in clear
	body     []byte
}

func parseHeader(rec []byte) (header, error) {
	if len(rec) < headerSize || rec[0] != recordV1 || rec[1] > modeSealed {
		return header{}, fmt.Errorf("%w: bad header", ErrCorrupt)
	}
	h := header{mode: rec[1], modified: time.Unix(0, int64(binary.BigEndian.Uint64(rec[2:10]))), body: rec[headerSize:]}
	if h.mode == modeClear {
		h.size = int64(len(h.body))
		return h, nil
	}
	n, w := binary.Uvarint(h.body)
	if w <= 0 || n > uint64(len(h.body)) || uint64(len(h.body)-w) < n+gcmNonce+gcmTag {
		return header{}, fmt.Errorf("%w: bad sealed body", ErrCorrupt)
	}
	h.size = int64(len(h.body) - w - int(n) - gcmNonce - gcmTag)
	return h, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// encodeRecord builds the stored form of value at key.
func (s *Storage) encodeRecord(ctx context.Context, key string, value []byte) ([]byte, error) {
	hdr := make([]byte, headerSize, headerSize+len(value)+128)
	hdr[0] = recordV1
	binary.BigEndian.PutUint64(hdr[2:], uint64(s.now().UnixNano()))
	if s.sealer == nil {
		hdr[1] = modeClear
		return append(hdr, value...), nil
	}
	hdr[1] = modeSealed
	dk := make([]byte, dataKeySize)
	if _, err := rand.Read(dk); err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	wrapped, err := s.sealer.Wrap(ctx, sealID(key), dk)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	aead, err := newGCM(dk)
	clear(dk)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	out := binary.AppendUvarint(hdr, uint64(len(wrapped)))
	out = append(out, wrapped...)
	nonce := make([]byte, gcmNonce)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	out = append(out, nonce...)
	return aead.Seal(out, nonce, value, []byte(sealLabel+key)), nil
}

// decodeRecord returns the value a record holds, opening it if sealed.
func (s *Storage) decodeRecord(ctx context.Context, key string, rec []byte) ([]byte, error) {
	h, err := parseHeader(rec)
	if err != nil {
		return nil, err
	}
	if h.mode == modeClear {
		return h.body, nil
	}
	if s.sealer == nil {
		return nil, fmt.Errorf("%w: value is sealed and this storage has no sealer", ErrCorrupt)
	}
	n, w := binary.Uvarint(h.body)
	body := h.body[w:]
	wrapped, body := body[:n], body[n:]
	dk, err := s.sealer.Unwrap(ctx, sealID(key), wrapped)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	aead, err := newGCM(dk)
	clear(dk)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	v, err := aead.Open(nil, body[:gcmNonce], body[gcmNonce:], []byte(sealLabel+key))
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed", ErrCorrupt)
	}
	return v, nil
}
