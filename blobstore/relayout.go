package blobstore

import (
	"context"
	"errors"
	"fmt"
)

// Rebalance: a file written under an older layout, or whose shards sit where the cluster map
// no longer places them, is rewritten whole as a new file (see DESIGN.md, Rebalance). Its
// shards cannot be rewritten in place: shard files are named by FileID and shard index, so a
// new copy under the same FileID would overwrite the shards the recorded manifest still
// points at. The caller picks a new FileID for the copy, records the new manifest (the old
// one stays readable until then), and deletes the old shards afterwards.

// Misplaced says why m should be rewritten under the layout and placement new files get now:
// its layout is not the current one, a shard sits on a disk that takes no new shards
// (draining, failed, unknown to the map), or a failure domain of the current map holds more
// than m of its shards (and more than the current placement would put there). It returns ""
// when the file is where it belongs, and Plan's error when no layout can be placed.
func (s *Store) Misplaced(m Manifest) (string, error) {
	p, err := s.Plan()
	if err != nil {
		return "", err
	}
	if m.Layout != p.Layout {
		return fmt.Sprintf("layout %s, new files get %s", m.Layout, p.Layout), nil
	}
	where := map[DiskID]placed{}
	for _, pl := range members(s.clusterMap(), 0, nil) {
		where[pl.disk] = pl
	}
	ps := make([]placed, 0, len(m.Shards))
	for i, d := range m.Shards {
		pl, ok := where[d]
		if !ok {
			return fmt.Sprintf("shard %d on disk %s, which takes no new shards", i, d), nil
		}
		ps = append(ps, pl)
	}
	if n := maxPerDomain(ps, p.Domain); n > m.Layout.M && n > p.PerDomain {
		return fmt.Sprintf("%d shards in one %s, more than the %d it may lose", n, p.Domain, m.Layout.M), nil
	}
	return "", nil
}

// Relayout copies the file of m into a new file id under the layout and placement new files
// get now, and returns the copy's manifest. It reads m through a Reader (every block
// authenticated, missing shards rebuilt) and checks that the copy has m's size and SHA-256; on
// any error nothing of the copy is left on the reachable disks. m is left as it was: the caller
// records the returned manifest in place of m, then deletes m's shards (Delete), or, when the
// record changed meanwhile, deletes the copy. A crash in between leaves a copy that no manifest
// names: Purge(id) removes it. The error wraps ErrHealNeeded when the copy reached its write
// quorum without every shard (a partial success, as Put).
func (s *Store) Relayout(ctx context.Context, m Manifest, id FileID) (Manifest, error) {
	if id == m.FileID {
		return Manifest{}, fmt.Errorf("%w: relayout of %s onto its own ID", ErrInvalidID, id)
	}
	r, err := s.Open(ctx, m)
	if err != nil {
		return Manifest{}, fmt.Errorf("relayout %s: %w", m.FileID, err)
	}
	defer r.Close()
	out, err := s.Put(ctx, id, r)
	if err != nil && !errors.Is(err, ErrHealNeeded) {
		return Manifest{}, fmt.Errorf("relayout %s as %s: %w", m.FileID, id, err)
	}
	if out.Size != m.Size || out.SHA256 != m.SHA256 {
		derr := s.Purge(context.WithoutCancel(ctx), id)
		return Manifest{}, errors.Join(fmt.Errorf("relayout %s as %s: the copy has %d bytes of SHA-256 %x, not %d bytes of %x",
			m.FileID, id, out.Size, out.SHA256, m.Size, m.SHA256), derr)
	}
	return out, err
}

// Purge removes every file of id (shards committed or not, staged tails) from every disk of
// the cluster map and every local disk that can be reached. It is for a copy no manifest names
// (see Relayout): it never asks which shards a manifest lists. A disk of the map that cannot
// be reached gives an error wrapping ErrDiskUnavailable after the rest was removed: call it
// again later (it is idempotent).
func (s *Store) Purge(ctx context.Context, id FileID) error {
	if err := validID(id); err != nil {
		return err
	}
	var all []DiskID
	seen := map[DiskID]bool{}
	for did := range s.disks {
		seen[did] = true
		all = append(all, did)
	}
	for _, st := range s.clusterMap().Sites {
		for _, n := range st.Nodes {
			for _, d := range n.Disks {
				if !seen[d.ID] {
					seen[d.ID] = true
					all = append(all, d.ID)
				}
			}
		}
	}
	var errs []error
	for _, did := range all {
		d, err := s.disk(did)
		if err != nil {
			errs = append(errs, fmt.Errorf("purge %s on %s: %w", id, did, err))
			continue
		}
		names, err := d.List(ctx, shardsDir+"/"+idPrefix(id))
		if err != nil {
			errs = append(errs, fmt.Errorf("purge %s: list %s: %w", id, did, err))
			continue
		}
		for _, n := range names {
			if fid, _, ok := parseName(n); ok && fid == id {
				if err := d.Remove(ctx, n); err != nil {
					errs = append(errs, fmt.Errorf("purge %s on %s: %w", n, did, err))
				}
			}
		}
	}
	errs = append(errs, s.removeStaged(ctx, id, all, nil))
	return errors.Join(errs...)
}
