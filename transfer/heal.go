package transfer

import (
	"context"
	"errors"
	"fmt"

	"valise/raftfsm"
)

// ReplaceManifest records manifest as file id's byte-store manifest, journalled as
// file.heal with reason, if the file's record is still at version (File.Version as read by
// ScanFiles or FileRecord): heal and drain moved some of its shards and commit where they
// are now. ErrFileChanged when the record changed meanwhile (the file was shredded, its
// verdict set, another heal committed): nothing is written and the caller reads it again;
// ErrFileNotFound when it is gone. It returns the file as recorded.
func (s *Service) ReplaceManifest(ctx context.Context, id FileID, version uint64, manifest []byte, reason string) (File, error) {
	if !parseID(string(id)) {
		return File{}, ErrFileNotFound
	}
	if len(manifest) == 0 || version == 0 {
		return File{}, fmt.Errorf("replace the manifest of %s: empty manifest or no version", id)
	}
	var f File
	res, err := s.change(ctx, "replace the manifest of "+string(id), func() (raftfsm.Batch, error) {
		f = File{}
		ver, err := s.getJSON(fileKey(id), &f)
		if errors.Is(err, raftfsm.ErrNotFound) {
			return raftfsm.Batch{}, fmt.Errorf("%w: %s", ErrFileNotFound, id)
		}
		if err != nil {
			return raftfsm.Batch{}, err
		}
		if ver != version {
			return raftfsm.Batch{}, fmt.Errorf("%w: %s is at version %d, not %d", ErrFileChanged, id, ver, version)
		}
		f.Manifest = manifest
		return raftfsm.Batch{
			Conds: []raftfsm.Cond{condVersion(fileKey(id), ver)},
			Ops:   []raftfsm.Op{put(fileKey(id), f)},
			Audit: audit(s.clock(), "system", "file.heal", string(id), map[string]any{"reason": reason}),
		}, nil
	})
	if err != nil {
		return File{}, err
	}
	f.Version = res.Index
	return f, nil
}
