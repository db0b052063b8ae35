package blobstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Inventory of the shard files after a restore (issue 19): the metadata restored from a
// backup names files whose shards may or may not be on the disks re-attached, and the disks
// may hold shard files of files uploaded after the backup, which no manifest names (orphans).

// Inventory returns the shards of m's file whose shard file is present and looks readable: its
// header names this cluster, this file and this shard, and the file holds the whole last piece
// it announces (as Check; no piece is read or authenticated). Unlike Check it trusts nothing
// of the cluster map: a shard on another node's disk counts only when that disk, reached
// through the DiskSource, holds it. A disk that cannot be reached holds nothing here. The
// error is for a malformed manifest only.
func (s *Store) Inventory(ctx context.Context, m Manifest) ([]int, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	g := newGeometry(m.Layout, m.BlockSize)
	stripes := g.stripes(m.Size)
	var present []int
	for i := range m.Shards {
		if ctx.Err() != nil {
			return present, ctx.Err()
		}
		if s.shardWhole(ctx, m, g, stripes, i) {
			present = append(present, i)
		}
	}
	return present, nil
}

// ShardFiles is what the disks listed hold of one file: its committed shard files.
type ShardFiles struct {
	FileID FileID
	// Shards counts the shard files found, on every disk listed.
	Shards int
	// Bytes is their total size; only computed for the files ListShardFiles was asked to size.
	Bytes int64
	// Disks holds them, sorted.
	Disks []DiskID
}

// ListShardFiles lists the committed shard files (".shard") on the disks named, local or
// reached through the DiskSource, grouped by file ID and sorted by it. Files being written,
// rebuilt or staged are left out: they are the upload's and heal's. size, when not nil, says
// which files get their Bytes counted (each shard file opened: a call per file on another
// node's disk). A disk that cannot be reached or listed is left out, and named in the error
// (wrapping ErrDiskUnavailable for one not reached), returned with what the other disks hold.
func (s *Store) ListShardFiles(ctx context.Context, disks []DiskID, size func(FileID) bool) ([]ShardFiles, error) {
	byID := map[FileID]*ShardFiles{}
	var errs []error
	for _, did := range disks {
		d, err := s.disk(did)
		if err != nil {
			errs = append(errs, fmt.Errorf("list shard files on %s: %w", did, err))
			continue
		}
		names, err := d.List(ctx, shardsDir)
		if err != nil {
			errs = append(errs, fmt.Errorf("list shard files on %s: %w", did, err))
			continue
		}
		for _, n := range names {
			id, suf, ok := parseName(n)
			if !ok || suf != ".shard" || !strings.HasPrefix(n, shardsDir+"/") {
				continue
			}
			sf := byID[id]
			if sf == nil {
				sf = &ShardFiles{FileID: id}
				byID[id] = sf
			}
			sf.Shards++
			if !slices.Contains(sf.Disks, did) {
				sf.Disks = append(sf.Disks, did)
			}
			if size != nil && size(id) {
				if f, err := d.Open(ctx, n); err == nil {
					if sz, err := f.Size(); err == nil {
						sf.Bytes += sz
					}
					f.Close()
				}
			}
		}
	}
	out := make([]ShardFiles, 0, len(byID))
	for _, sf := range byID {
		slices.Sort(sf.Disks)
		out = append(out, *sf)
	}
	slices.SortFunc(out, func(a, b ShardFiles) int { return strings.Compare(string(a.FileID), string(b.FileID)) })
	return out, errors.Join(errs...)
}

// LocalDisks returns the IDs of the Store's own disks, sorted.
func (s *Store) LocalDisks() []DiskID {
	out := make([]DiskID, 0, len(s.disks))
	for id := range s.disks {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}
