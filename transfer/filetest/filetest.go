// Package filetest stores files through transfer and the real byte store, for the tests of
// the packages above transfer (transfer's own tests cannot import it: it imports transfer).
package filetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"valise/blobstore"
	"valise/transfer"
	"valise/userid"
)

// Store stores data as owner's clean file named name through the real path, as the tus
// backend does without the network: transfer's bookkeeping (with rel, the path inside a
// dropped folder, as relativePath metadata when not empty) and the real byte store.
func Store(ctx context.Context, t testing.TB, svc *transfer.Service, bs *blobstore.Store, owner userid.ID, rel, name string, data []byte) transfer.File {
	t.Helper()
	return StoreVerdict(ctx, t, svc, bs, owner, rel, name, data, transfer.VerdictClean)
}

// StoreVerdict is Store with the verdict v: VerdictPending for a file whose scan still runs.
func StoreVerdict(ctx context.Context, t testing.TB, svc *transfer.Service, bs *blobstore.Store, owner userid.ID, rel, name string, data []byte, v transfer.Verdict) transfer.File {
	t.Helper()
	var md map[string]string
	if rel != "" {
		md = map[string]string{transfer.MetadataRelativePath: rel}
	}
	up, err := svc.CreateUpload(ctx, owner, name, int64(len(data)), md)
	if err != nil {
		t.Fatalf("create upload: %v", err)
	}
	w, err := bs.Create(ctx, blobstore.FileID(up.ID))
	if err != nil {
		t.Fatalf("blob create: %v", err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	m, err := w.Commit(ctx)
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	mb, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	f, err := svc.CompleteUpload(ctx, owner, up.ID, transfer.Completion{Manifest: mb, SHA256: hex.EncodeToString(sum[:]), Verdict: v})
	if err != nil {
		t.Fatalf("complete upload: %v", err)
	}
	return f
}
