package transfer

import (
	"context"
	"fmt"
	"sort"
)

// What the administrators' console reads and does across owners (issue 20): every send and
// every upload in progress, any send by its ID, and a revoke by an administrator.

// AllSends returns every owner's sends, newest first, their State and Suspended as of now.
func (s *Service) AllSends(ctx context.Context) ([]Send, error) {
	var out []Send
	err := scanJSON(s.store, prefixSend, func(rec *sendRecord, ver uint64) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec.Version = ver
		out = append(out, rec.Send)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list every send: %w", err)
	}
	if err := s.derive(out...); err != nil {
		return nil, err
	}
	// UUID v7 sort by time; the newest first.
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	return out, nil
}

// derive sets the State and Suspended of sends read now.
func (s *Service) derive(sends ...Send) error {
	now := s.clock()
	ptrs := make([]*Send, len(sends))
	for i := range sends {
		sends[i].State = sends[i].Status(now)
		ptrs[i] = &sends[i]
	}
	return s.markSuspended(now, ptrs...)
}

// AllUploads returns every upload in progress, of every owner, newest first, without their
// resume states (which may hold key material).
func (s *Service) AllUploads(ctx context.Context) ([]Upload, error) {
	var out []Upload
	err := scanJSON(s.store, prefixUpload, func(u *Upload, ver uint64) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		u.Version, u.ResumeState = ver, nil
		out = append(out, *u)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list every upload: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	return out, nil
}

// AnySend returns the send id whoever owns it, with its tracking; ErrSendNotFound when absent.
func (s *Service) AnySend(_ context.Context, id SendID) (Send, error) {
	rec, err := s.readSend(id)
	if err != nil {
		return Send{}, err
	}
	out := []Send{rec.Send}
	if err := s.derive(out...); err != nil {
		return Send{}, err
	}
	return out[0], nil
}

// RevokeAsAdmin ends send id as Revoke does, whoever owns it, journalled with actor (the
// administrator) and the owner in the details. Revoking a revoked send does nothing.
func (s *Service) RevokeAsAdmin(ctx context.Context, id SendID, actor string) error {
	return s.revoke(ctx, id, actor, func(rec *sendRecord) (map[string]any, error) {
		return map[string]any{"by": "administrator", "owner": rec.Owner}, nil
	})
}
