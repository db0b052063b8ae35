package uploads

import (
	"errors"
	"fmt"
	"testing"

	"valise/httpd/tus"
	"valise/transfer"
)

// TestTusError maps every upload error of transfer onto the tus error its status comes from,
// keeping the cause.
func TestTusError(t *testing.T) {
	for _, tc := range []struct {
		name     string
		from, to error
	}{
		{"not found", transfer.ErrUploadNotFound, tus.ErrNotFound},
		{"expired", transfer.ErrUploadExpired, tus.ErrExpired},
		{"offset", transfer.ErrOffsetMismatch, tus.ErrOffsetMismatch},
		{"checksum", transfer.ErrChecksumMismatch, tus.ErrChecksumMismatch},
		{"incomplete", transfer.ErrChunkIncomplete, tus.ErrIncomplete},
		{"too large", transfer.ErrTooLarge, tus.ErrTooLarge},
		{"quota", transfer.ErrQuotaExceeded, tus.ErrTooLarge},
		{"locked", transfer.ErrLocked, tus.ErrLocked},
		{"file name", transfer.ErrInvalidFileName, tus.ErrBadMetadata},
		{"metadata", transfer.ErrInvalidMetadata, tus.ErrBadMetadata},
		{"size", transfer.ErrInvalidSize, tus.ErrBadMetadata},
		{"tus's own", tus.ErrChecksumMismatch, tus.ErrChecksumMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tusError(fmt.Errorf("write x: %w", tc.from))
			if !errors.Is(err, tc.to) || !errors.Is(err, tc.from) {
				t.Fatalf("tusError(%v) = %v: want both %v and the cause", tc.from, err, tc.to)
			}
		})
	}
	if tusError(nil) != nil {
		t.Fatal("tusError(nil) is not nil")
	}
	other := errors.New("disk on fire")
	if err := tusError(other); err != other {
		t.Fatalf("an unmapped error changed: %v", err)
	}
}
