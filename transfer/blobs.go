package transfer

import (
	"context"
	"fmt"

	"valise/blobstore"
)

// StoreBlobs implements Blobs on a blobstore.Store.
type StoreBlobs struct {
	store *blobstore.Store // never nil
}

var _ Blobs = (*StoreBlobs)(nil)

// NewStoreBlobs returns the Blobs of store.
func NewStoreBlobs(store *blobstore.Store) *StoreBlobs { return &StoreBlobs{store: store} }

// ShredManifest decodes a blobstore.Manifest and encodes it again without its wrapped key.
func (b *StoreBlobs) ShredManifest(manifest []byte) ([]byte, error) {
	var m blobstore.Manifest
	if err := m.UnmarshalBinary(manifest); err != nil {
		return nil, fmt.Errorf("shred manifest: %w", err)
	}
	m.WrappedKey = nil
	return m.MarshalBinary()
}

// ShredResumeState turns a blobstore.ResumeState into a key-less Manifest naming the same
// shards (size 0), which DiscardUpload deletes like a file: the file key and the staged
// tail's key are dropped.
func (b *StoreBlobs) ShredResumeState(state []byte) ([]byte, error) {
	var st blobstore.ResumeState
	if err := st.UnmarshalBinary(state); err != nil {
		return nil, fmt.Errorf("shred resume state: %w", err)
	}
	m := blobstore.Manifest{
		FileID: st.FileID, Layout: st.Layout, BlockSize: st.BlockSize,
		Codec: blobstore.CodecRSVandermonde, Shards: st.Shards,
	}
	return m.MarshalBinary()
}

// DeleteFile deletes the shards (and staged tails) named by a shredded manifest.
func (b *StoreBlobs) DeleteFile(ctx context.Context, shredded []byte) error {
	var m blobstore.Manifest
	if err := m.UnmarshalBinary(shredded); err != nil {
		return fmt.Errorf("delete file: %w", err)
	}
	if err := b.store.Delete(ctx, m); err != nil {
		return fmt.Errorf("delete file %s: %w", m.FileID, err)
	}
	return nil
}

// DiscardUpload deletes what an abandoned upload left, from ShredResumeState's manifest.
func (b *StoreBlobs) DiscardUpload(ctx context.Context, shredded []byte) error {
	return b.DeleteFile(ctx, shredded)
}
