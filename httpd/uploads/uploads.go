// Package uploads serves uploads over tus: the tus.Backend on an upload.Pipeline, with IDs as
// strings and transfer's errors mapped onto tus's (each keeping its cause), so that the tus server answers each with its status; and the front end the
// HTTPS server mounts (front.go): who is asking (a bearer token or the web UI's session) and
// the browsers' CSRF check.
package uploads

import (
	"context"
	"errors"
	"fmt"

	"valise/httpd/tus"
	"valise/transfer"
	"valise/upload"
	"valise/userid"
)

// Backend adapts an upload.Pipeline to tus.Backend.
type Backend struct{ u *upload.Pipeline }

// NewBackend returns the tus.Backend of u.
func NewBackend(u *upload.Pipeline) Backend { return Backend{u: u} }

var _ tus.Backend = Backend{}

// Create implements tus.Backend.
func (b Backend) Create(ctx context.Context, r tus.CreateRequest) (string, error) {
	id, err := b.u.Create(ctx, r.Principal, r.Length, r.Metadata)
	return string(id), tusError(err)
}

// Info implements tus.Backend.
func (b Backend) Info(ctx context.Context, principal userid.ID, id string) (tus.Info, error) {
	in, err := b.u.Info(ctx, principal, transfer.FileID(id))
	if err != nil {
		return tus.Info{}, tusError(err)
	}
	return tus.Info{Offset: in.Offset, Length: in.Length, Expires: in.Expires, Metadata: in.Metadata}, nil
}

// Write implements tus.Backend.
func (b Backend) Write(ctx context.Context, principal userid.ID, id string, offset int64, chunk tus.Chunk) (int64, error) {
	off, err := b.u.Write(ctx, principal, transfer.FileID(id), offset, chunk)
	return off, tusError(err)
}

// Terminate implements tus.Backend.
func (b Backend) Terminate(ctx context.Context, principal userid.ID, id string) error {
	return tusError(b.u.Terminate(ctx, principal, transfer.FileID(id)))
}

// MaxSize implements tus.Backend.
func (b Backend) MaxSize(principal userid.ID) int64 { return b.u.MaxSize(principal) }

// errorMap maps transfer's upload errors (which upload.Pipeline returns) onto tus's.
var errorMap = [...]struct{ from, to error }{
	{transfer.ErrUploadNotFound, tus.ErrNotFound},
	{transfer.ErrUploadExpired, tus.ErrExpired},
	{transfer.ErrOffsetMismatch, tus.ErrOffsetMismatch},
	{transfer.ErrChecksumMismatch, tus.ErrChecksumMismatch},
	{transfer.ErrChunkIncomplete, tus.ErrIncomplete},
	{transfer.ErrTooLarge, tus.ErrTooLarge},
	{transfer.ErrQuotaExceeded, tus.ErrTooLarge},
	{transfer.ErrLocked, tus.ErrLocked},
	{transfer.ErrInvalidFileName, tus.ErrBadMetadata},
	{transfer.ErrInvalidMetadata, tus.ErrBadMetadata},
	{transfer.ErrInvalidSize, tus.ErrBadMetadata},
}

// tusError maps transfer's upload errors onto tus's, keeping the cause.
func tusError(err error) error {
	if err == nil {
		return nil
	}
	for _, m := range errorMap {
		if errors.Is(err, m.from) && !errors.Is(err, m.to) {
			return fmt.Errorf("%w: %w", m.to, err)
		}
	}
	return err
}
