package blobstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"valise/internal/logkey"
)

// healTarget is a shard being rewritten by Heal.
type healTarget struct {
	file    File
	disk    Disk
	rebuild bool // the whole shard file is rebuilt under ".heal", then renamed
	wrote   bool
}

// Heal verifies every piece of the file of m and rewrites the missing or corrupt ones from the
// others: in place when the shard file is sound, else as a whole new shard file, on its disk or
// (when that disk is unavailable) on another one chosen by placement. When a shard moved, the
// returned Manifest differs from m (its Shards) and the caller commits it. More than m pieces
// lost in a stripe: an error wrapping ErrTooManyLost, nothing changed.
func (s *Store) Heal(ctx context.Context, m Manifest) (Manifest, HealReport, error) {
	return s.HealAvoiding(ctx, m, nil)
}

// HealAvoiding is Heal with the shards on the disks of avoid counted as lost: they are rebuilt
// from the others on disks outside avoid (a drained node's disks, a failed disk), and the
// returned Manifest names their new disks. The shard files left on avoid are not removed.
func (s *Store) HealAvoiding(ctx context.Context, m Manifest, avoid []DiskID) (Manifest, HealReport, error) {
	av := map[DiskID]bool{}
	for _, d := range avoid {
		av[d] = true
	}
	return s.healLoop(ctx, m, av)
}

// healLoop runs heal, moving a shard off a disk that fails while heal writes it.
func (s *Store) healLoop(ctx context.Context, m Manifest, avoid map[DiskID]bool) (Manifest, HealReport, error) {
	for {
		out, rep, err := s.heal(ctx, m, avoid)
		var te *targetError
		if errors.As(err, &te) && !avoid[te.disk] {
			// The disk took the shard but failed to write or sync it: rebuild the shard elsewhere.
			s.logger.Warn("heal target failed, moving the shard", keyFileID, m.FileID, keyDisk, te.disk, logkey.Err, te.err)
			avoid[te.disk] = true
			continue
		}
		return out, rep, err
	}
}

// targetError is an I/O error on a disk being written by heal.
type targetError struct {
	disk DiskID
	err  error
}

func (e *targetError) Error() string { return fmt.Sprintf("disk %s: %v", e.disk, e.err) }
func (e *targetError) Unwrap() error { return e.err }

func (s *Store) heal(ctx context.Context, m Manifest, avoid map[DiskID]bool) (Manifest, HealReport, error) {
	rep := HealReport{FileID: m.FileID}
	rset, err := s.newReadSet(ctx, m)
	if err != nil {
		return m, rep, err
	}
	defer rset.close()
	g := rset.g
	n := g.k + g.m
	out := m
	out.Shards = slices.Clone(m.Shards)
	targets := make([]*healTarget, n)
	defer func() {
		for _, t := range targets {
			if t != nil && t.file != nil {
				t.file.Close()
			}
		}
	}()
	var maxGen uint32 = 1
	for _, r := range m.Generations {
		maxGen = max(maxGen, r.Gen)
	}
	// Shards whose file is missing or refused are rebuilt whole, on their disk when it can be
	// reached. A shard on a disk that cannot be reached now but that the cluster map says is up
	// (a node away for a moment) is left alone: rebuilding it elsewhere would break the spread
	// over failure domains. One on a disk the map says is down, or no longer knows, is rebuilt
	// elsewhere.
	cmap := s.clusterMap()
	for i := range n {
		if rset.file(ctx, i) != nil && !avoid[m.Shards[i]] {
			continue
		}
		if _, err := s.disk(m.Shards[i]); err != nil && !avoid[m.Shards[i]] {
			if info, known := cmap.disk(m.Shards[i]); known && info.State != DiskDown {
				rep.Remote = append(rep.Remote, i)
				continue
			}
		}
		t, err := s.healFile(ctx, &out, g, i, maxGen, avoid)
		if err != nil {
			return m, rep, fmt.Errorf("heal %s shard %d: %w", m.FileID, i, err)
		}
		targets[i] = t
	}
	sc := newScratch(g)
	stripes := g.stripes(m.Size)
	bad := map[int]bool{}
	for i, t := range targets {
		if t != nil {
			bad[i] = true
		}
	}
	for st := range stripes {
		if err := ctx.Err(); err != nil {
			s.abortHeal(ctx, out, targets)
			return m, rep, err
		}
		gen := genOf(m.Generations, st)
		var lens []uint32
		good := 0
		causes := map[int]error{}
		for i := range n {
			sc.shards[i] = nil
			if targets[i] != nil && targets[i].rebuild {
				causes[i] = errShardMissing
				continue
			}
			if slices.Contains(rep.Remote, i) {
				continue
			}
			l := sc.lens
			if lens != nil {
				l = sc.lens2
			}
			p, err := rset.readPiece(ctx, i, st, gen, l, sc, true)
			rep.Checked++
			if err == nil && lens != nil && !slices.Equal(l, lens) {
				err = fmt.Errorf("%w: data lengths disagree", ErrBadShard)
			}
			if err != nil {
				causes[i] = err
				continue
			}
			if lens == nil {
				lens = l
			}
			sc.shards[i] = p
			good++
		}
		if len(causes) == 0 {
			continue
		}
		if good < g.k || rset.rs == nil {
			s.abortHeal(ctx, out, targets)
			e := &TooManyLostError{FileID: m.FileID, Stripe: st, M: g.m}
			for i := range causes {
				e.Lost = append(e.Lost, i)
			}
			slices.Sort(e.Lost)
			for _, i := range e.Lost {
				e.Causes = append(e.Causes, causes[i])
			}
			return m, rep, e
		}
		maxLen := 0
		for _, l := range lens {
			maxLen = max(maxLen, int(l&^compressedFlag))
		}
		for i := range n {
			if sc.shards[i] != nil {
				l := len(sc.shards[i])
				sc.shards[i] = sc.shards[i][:maxLen]
				clear(sc.shards[i][l:])
			} else {
				sc.shards[i] = sc.slots[i][g.hdrSize:g.hdrSize]
			}
		}
		if err := rset.rs.Reconstruct(sc.shards); err != nil {
			s.abortHeal(ctx, out, targets)
			return m, rep, fmt.Errorf("heal %s stripe %d: %w", m.FileID, st, err)
		}
		for i := range causes {
			bad[i] = true
			t := targets[i]
			if t == nil {
				// Repair in place.
				d, err := s.disk(out.Shards[i])
				var f File
				if err == nil {
					f, err = d.Create(ctx, shardName(m.FileID, i, ".shard"), false)
				}
				if err != nil {
					s.abortHeal(ctx, out, targets)
					return m, rep, fmt.Errorf("heal %s shard %d: %w", m.FileID, i, &targetError{out.Shards[i], err})
				}
				t = &healTarget{file: f, disk: d}
				targets[i] = t
			}
			plen := maxLen
			if i < g.k {
				plen = int(lens[i] &^ compressedFlag)
			}
			piece := sc.slots[i][:g.hdrSize+plen]
			putPieceHeader(piece, g, st, gen, lens, plen, payloadCRC(sc.shards[i][:plen]))
			if _, err := t.file.WriteAt(piece, g.slotOffset(st)); err != nil {
				s.abortHeal(ctx, out, targets)
				return m, rep, fmt.Errorf("heal %s shard %d: %w", m.FileID, i, &targetError{out.Shards[i], err})
			}
			t.wrote = true
			rep.Repaired++
		}
	}
	for i, t := range targets {
		if t == nil {
			continue
		}
		if err := t.file.Sync(); err != nil {
			s.abortHeal(ctx, out, targets)
			return m, rep, fmt.Errorf("heal %s shard %d: fsync: %w", m.FileID, i, &targetError{out.Shards[i], err})
		}
	}
	for i, t := range targets {
		if t == nil || !t.rebuild {
			continue
		}
		t.file.Close()
		t.file = nil
		if err := t.disk.Rename(ctx, shardName(m.FileID, i, ".heal"), shardName(m.FileID, i, ".shard")); err != nil {
			s.abortHeal(ctx, out, targets)
			return m, rep, fmt.Errorf("heal %s shard %d: %w", m.FileID, i, &targetError{out.Shards[i], err})
		}
		if out.Shards[i] != m.Shards[i] {
			rep.Moved = append(rep.Moved, i)
		}
	}
	for i := range bad {
		rep.Bad = append(rep.Bad, i)
	}
	slices.Sort(rep.Bad)
	if len(rep.Bad) > 0 {
		s.logger.Info("file healed", keyFileID, m.FileID, "shards", rep.Bad, "pieces", rep.Repaired, "moved", rep.Moved)
	}
	return out, rep, nil
}

// healFile creates the ".heal" file of shard i, on its disk or another one, with its header.
func (s *Store) healFile(ctx context.Context, out *Manifest, g geometry, i int, gen uint32, avoid map[DiskID]bool) (*healTarget, error) {
	hdr := fileHeader{k: g.k, m: g.m, shard: i, blockSize: g.blockSize, genHighWater: gen, clusterID: s.cfg.ClusterID, fileID: out.FileID}
	try := func(did DiskID) (*healTarget, error) {
		d, err := s.disk(did)
		if err != nil {
			return nil, err
		}
		f, err := d.Create(ctx, shardName(out.FileID, i, ".heal"), true)
		if err != nil {
			return nil, err
		}
		if _, err := f.WriteAt(hdr.marshal(), 0); err != nil {
			f.Close()
			d.Remove(ctx, shardName(out.FileID, i, ".heal"))
			return nil, err
		}
		return &healTarget{file: f, disk: d, rebuild: true}, nil
	}
	var t *healTarget
	err := fmt.Errorf("%w: %s failed before", ErrDiskUnavailable, out.Shards[i])
	info, known := s.clusterMap().disk(out.Shards[i])
	if !known || info.State != DiskUp {
		// A disk that failed, drains or left the map takes no rebuilt shard.
		err = fmt.Errorf("%w: %s is not up in the cluster map", ErrDiskUnavailable, out.Shards[i])
	} else if !avoid[out.Shards[i]] {
		t, err = try(out.Shards[i])
		if err == nil {
			return t, nil
		}
	}
	// Elsewhere, under the placement rule (no failure domain above m shards of the file): see
	// healDisk; a disk that fails is avoided in turn.
	tried := map[DiskID]bool{}
	for d := range avoid {
		tried[d] = true
	}
	errs := []error{err}
	cmap := s.clusterMap()
	for {
		did, err := healDisk(cmap, out.FileID, out.Shards, i, Layout{K: g.k, M: g.m}, s.cfg.FailureDomain, s.cfg.MinFreeBytes, tried)
		if err != nil {
			return nil, fmt.Errorf("%w (before: %w)", err, errors.Join(errs...))
		}
		tried[did] = true
		t, err := try(did)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.logger.Warn("shard moved", keyFileID, out.FileID, keyShard, i, "from", out.Shards[i], "to", did)
		out.Shards[i] = did
		return t, nil
	}
}

// abortHeal removes the ".heal" files of an unfinished heal.
func (s *Store) abortHeal(ctx context.Context, out Manifest, targets []*healTarget) {
	for i, t := range targets {
		if t != nil && t.rebuild {
			if t.file != nil {
				t.file.Close()
				t.file = nil
			}
			t.disk.Remove(ctx, shardName(out.FileID, i, ".heal"))
		}
	}
}

// Scrub heals every file of manifests in turn (see Heal), calling progress after each. Files
// whose shards moved are returned in the report's Manifests for the caller to commit; files
// that cannot be healed are in Failed. Scrub stops early only when ctx ends.
func (s *Store) Scrub(ctx context.Context, manifests []Manifest, progress func(ScrubProgress)) (ScrubReport, error) {
	rep := ScrubReport{Failed: map[FileID]error{}, Manifests: map[FileID]Manifest{}}
	var p ScrubProgress
	p.FilesTotal = len(manifests)
	for _, m := range manifests {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		out, hr, err := s.Heal(ctx, m)
		rep.Files++
		switch {
		case err != nil:
			rep.Failed[m.FileID] = err
			s.logger.Error("scrub: file cannot be healed", keyFileID, m.FileID, logkey.Err, err)
		case len(hr.Bad) == 0:
			rep.Healthy++
		default:
			rep.Healed = append(rep.Healed, hr)
			p.BadShards += len(hr.Bad)
			if len(hr.Moved) > 0 {
				rep.Manifests[m.FileID] = out
			}
		}
		p.FilesDone++
		p.BytesDone += m.Size
		if progress != nil {
			progress(p)
		}
	}
	return rep, nil
}

// Check reports the shard indexes of m that Heal would rebuild, without the file's key and
// without reading its pieces: a shard file missing, refused (its header names another file,
// shard, layout or cluster), shorter than its last piece says, or on a disk of avoid. It is
// the cheap pass of the heal job; bit rot inside a piece is found by Heal and Scrub, which
// check every checksum. Shards on other nodes' disks that the cluster map says are up are
// not checked (see HealReport.Remote). An error only for a manifest that cannot be used.
func (s *Store) Check(ctx context.Context, m Manifest, avoid []DiskID) ([]int, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	g := newGeometry(m.Layout, m.BlockSize)
	stripes := g.stripes(m.Size)
	cmap := s.clusterMap()
	var bad []int
	for i, did := range m.Shards {
		if slices.Contains(avoid, did) {
			bad = append(bad, i)
			continue
		}
		if _, local := s.disks[did]; !local {
			if info, known := cmap.disk(did); known && info.State != DiskDown {
				continue
			}
		}
		if !s.shardWhole(ctx, m, g, stripes, i) {
			bad = append(bad, i)
		}
	}
	return bad, nil
}

// shardWhole reports whether shard i of m (of stripes stripes) has its shard file, of this
// file and shard, holding the whole last piece it announces; no piece is read or checked.
func (s *Store) shardWhole(ctx context.Context, m Manifest, g geometry, stripes uint64, i int) bool {
	f, err := s.openShard(ctx, m, g, i, ".shard")
	if err != nil {
		return false
	}
	defer f.Close()
	return stripes == 0 || pieceFits(f, g, stripes-1)
}

// pieceFits reports whether the header of the piece of stripe st is sound and the file holds
// the whole piece it announces (a truncated shard file fails).
func pieceFits(f File, g geometry, st uint64) bool {
	hdr := make([]byte, g.hdrSize)
	off := g.slotOffset(st)
	if n, err := f.ReadAt(hdr, off); n < len(hdr) && err != nil {
		return false
	}
	if string(hdr[:4]) != pieceMagic || crc32.Checksum(hdr[:g.hdrSize-4], castagnoli) != binary.BigEndian.Uint32(hdr[g.hdrSize-4:]) {
		return false
	}
	size, err := f.Size()
	return err == nil && size >= off+int64(g.hdrSize)+int64(binary.BigEndian.Uint32(hdr[16:]))
}

// SetHealNeeded has fn called with a file's ID whenever a read skips one of its shards or a
// Commit reaches its quorum without every shard (the cases that return ErrHealNeeded), so the
// caller can count the files heal has to repair. fn must be quick and safe for concurrent use;
// nil stops the calls.
func (s *Store) SetHealNeeded(fn func(FileID)) {
	if fn == nil {
		s.healNeeded.Store(nil)
		return
	}
	s.healNeeded.Store(&fn)
}

// noteHealNeeded calls the SetHealNeeded function, if any.
func (s *Store) noteHealNeeded(id FileID) {
	if fn := s.healNeeded.Load(); fn != nil {
		(*fn)(id)
	}
}
