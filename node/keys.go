package node

import (
	"context"

	"valise/blobstore"
	"valise/keyring"
	"valise/raftfsm"
)

// headSigner signs the journal head with the cluster signing key.
type headSigner struct{ k *keyring.Keyring }

var _ raftfsm.HeadSigner = headSigner{}

// SignHead signs head's canonical encoding.
func (s headSigner) SignHead(head raftfsm.JournalHead) ([]byte, error) {
	return s.k.SignMessage(head.Bytes())
}

// keyWrapper wraps blobstore's file keys with the cluster key-encryption key.
type keyWrapper struct{ k *keyring.Keyring }

var _ blobstore.KeyWrapper = keyWrapper{}

// Wrap seals plainKey for fileID.
func (w keyWrapper) Wrap(ctx context.Context, fileID blobstore.FileID, plainKey []byte) ([]byte, error) {
	return w.k.Wrap(ctx, string(fileID), plainKey)
}

// Unwrap opens what Wrap sealed for fileID.
func (w keyWrapper) Unwrap(ctx context.Context, fileID blobstore.FileID, wrapped []byte) ([]byte, error) {
	return w.k.Unwrap(ctx, string(fileID), wrapped)
}
