package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"valise/adminapi"
	"valise/backup"
	"valise/blobstore"
	"valise/internal/logkey"
	"valise/keyring"
	"valise/raftfsm"
	"valise/transfer"
)

// Restore builds a one-node cluster from a backup file (issue 19): the backup's snapshot
// installed as a Raft snapshot at its own index and term with this node the only voter, the
// cluster's keys, this node's record with its disks, every session and API token revoked, and
// the restore report. The other nodes of the backup rejoin with `join --replace`.

// ErrWrongBackupKey is returned by Restore when the backup is signed by another key than the
// fingerprint the operator expects: nothing is written.
var ErrWrongBackupKey = errors.New("the backup is not signed by the expected key")

// RestoreOptions say how to restore a node from a backup.
type RestoreOptions struct {
	// From is the backup file.
	From string
	// DataDir is the node's data directory; it must be missing or empty.
	DataDir string
	// ExpectKey is the fingerprint of the cluster's signing key ("SHA256:…", as init and status
	// print it): a backup signed by any other key is refused.
	ExpectKey string
	// Unlock decrypts the backup: its passphrase, or the operator's age identity when it was
	// made for its recipient.
	Unlock Unlock
	// Disks, DiskPaths, Site, Listen, ClusterListen, Advertise and AdminSocket are as init's.
	// A disk path may be empty, or hold a disk of the backup's cluster (its marker): that disk
	// is re-attached with its ID.
	Disks                            int
	DiskPaths                        []string
	Site                             string
	Listen, ClusterListen, Advertise string
	AdminSocket                      string
	// NodeID restores as this node of the backup; empty: the node the disks' markers name,
	// else a new node.
	NodeID string
	// SuspendLinks suspends every link created before the backup until its sender confirms
	// it (transfer.SuspendKey).
	SuspendLinks bool
	// Raft overrides the default Raft timeouts when not nil (tests shorten them).
	Raft *RaftConfig
}

// RestoreResult is what restore prints.
type RestoreResult struct {
	NodeID     string `json:"node_id"`
	ClusterID  string `json:"cluster_id"`
	ConfigPath string `json:"config"`
	SigningKey string `json:"signing_key"`
	// NewNode is true when the node restored is not a node of the backup.
	NewNode bool `json:"new_node"`
	// Reattached and NewDisks are the disk IDs re-attached (their marker named this node) and
	// created empty; Retired, the node's disks of the backup not given.
	Reattached []string `json:"reattached_disks"`
	NewDisks   []string `json:"new_disks"`
	Retired    []string `json:"retired_disks,omitempty"`
	// Others are the other nodes of the backup: each rejoins with `join --replace`.
	Others []string               `json:"other_nodes"`
	Report adminapi.RestoreReport `json:"report"`
	// CountsError says why the counts of the report could not be computed at restore (the
	// leader computes them again once serving); empty when they were.
	CountsError string `json:"counts_error,omitempty"`
}

// restoreTimeout bounds the whole of Restore but reading the backup: a one-node Raft elects
// itself within seconds, the counts walk every file.
const restoreTimeout = 30 * time.Minute

// Keys of the account package's sessions and tokens (account/keys.go), which a restore
// deletes: the backup's could be replayed by whoever held them after it.
const (
	accountSessions   = "account/session/"
	accountTokens     = "account/token/"
	accountTokenIndex = "account/tokenhash/"
)

// Restore makes DataDir a one-node cluster from the backup opts.From. It checks the backup's
// signing key against opts.ExpectKey before it writes anything, installs the snapshot, and
// trusts nothing it read until the backup's signature verified (backup.Reader.Finish); on any
// failure it removes everything it wrote: DataDir is left empty (or absent if it was) and the
// disks without new markers.
func Restore(ctx context.Context, opts RestoreOptions) (res RestoreResult, err error) {
	ctx, cancel := context.WithTimeout(ctx, restoreTimeout)
	defer cancel()
	switch {
	case opts.DataDir == "":
		return res, errors.New("restore: no data directory")
	case opts.From == "":
		return res, errors.New("restore: no backup file")
	case opts.ExpectKey == "":
		return res, errors.New("restore: no expected signing key (the `signing-key: SHA256:…` line init and status print)")
	}
	cfg, err := initConfig(InitOptions{
		DataDir: opts.DataDir, Disks: opts.Disks, DiskPaths: opts.DiskPaths, Site: opts.Site,
		Listen: opts.Listen, ClusterListen: opts.ClusterListen, Advertise: opts.Advertise,
		AdminSocket: opts.AdminSocket, Raft: opts.Raft,
	})
	if err != nil {
		return res, err
	}
	cfg.Settings = nil // the cluster-wide settings are the backup's
	if err := checkRestoreDir(opts.DataDir); err != nil {
		return res, err
	}
	disks, err := inspectDisks(cfg.DiskPaths())
	if err != nil {
		return res, err
	}

	f, err := os.Open(opts.From)
	if err != nil {
		return res, fmt.Errorf("restore: open the backup: %w", err)
	}
	defer f.Close()
	r, err := backup.Open(bufio.NewReaderSize(f, 256<<10), opts.Unlock)
	if err != nil {
		return res, fmt.Errorf("%w; nothing was written", restoreRefusal(opts, err))
	}
	m := r.Manifest()
	if m.SigningKey != opts.ExpectKey {
		return res, fmt.Errorf("restore: %w: expected %s, %s is signed by %s: it is not a backup of your cluster, or the fingerprint was mistyped (`appliance status` prints the fingerprint of a running cluster, init printed it); nothing was written",
			ErrWrongBackupKey, opts.ExpectKey, filepath.Base(opts.From), m.SigningKey)
	}
	head, err := manifestHead(m)
	if err != nil {
		return res, fmt.Errorf("%w; nothing was written", restoreRefusal(opts, err))
	}
	nodeID, err := pickRestoreNode(opts.NodeID, m, disks)
	if err != nil {
		return res, err
	}
	res.NewNode = nodeID == ""
	if nodeID != "" {
		cfg.Node.ID = nodeID
	}
	addr, err := advertiseAddr(cfg.Network.Advertise, cfg.Network.ClusterListen)
	if err != nil {
		return res, err
	}

	// From here on, everything written is removed on failure.
	nd, err := createDataDir(opts.DataDir)
	if err != nil {
		return res, err
	}
	defer func() {
		if err != nil {
			nd.rollback()
			err = fmt.Errorf("%w; nothing was restored: %s and the disks were left as they were found", err, opts.DataDir)
		}
	}()
	lock, err := lockDir(cfg.lockPath())
	if err != nil {
		return res, fmt.Errorf("restore %s: %w", opts.DataDir, err)
	}
	defer lock.release()

	info := raftfsm.SnapshotInfo{Index: m.Index, Term: m.Term, Head: head}
	if err := raftfsm.InstallSnapshot(cfg.raftDir(), info, cfg.Node.ID, addr, r.Snapshot()); err != nil {
		return res, restoreRefusal(opts, err)
	}
	if err := r.Finish(opts.ExpectKey); err != nil {
		return res, restoreRefusal(opts, err)
	}
	keys, err := keyring.Import(cfg.KeyDirPath(), r.Keys())
	if err != nil {
		return res, fmt.Errorf("restore: write the cluster keys: %w", err)
	}
	if fp := keys.SigningFingerprint(); fp != opts.ExpectKey {
		return res, fmt.Errorf("restore: %w: the backup's signing key is %s, expected %s", ErrWrongBackupKey, fp, opts.ExpectKey)
	}

	res, err = restoreMetadata(ctx, cfg, keys, m, disks, nd, opts, res)
	if err != nil {
		return res, err
	}

	data, err := cfg.Encode()
	if err != nil {
		return res, err
	}
	res.ConfigPath = filepath.Join(opts.DataDir, ConfigFileName)
	if err := writeFileAtomic(res.ConfigPath, data, 0o600); err != nil {
		return res, err
	}
	return res, nil
}

// checkRestoreDir fails when dir exists and holds anything: a restore never starts on a
// non-empty directory.
func checkRestoreDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("%w: %s holds %s; restore never starts on a non-empty directory", ErrNotEmpty, dir, entries[0].Name())
	}
	return nil
}

// restoreDisk is a disk directory given to restore.
type restoreDisk struct {
	path   string
	marker diskMarker // when marked
	marked bool       // it holds a disk marker: a disk of some cluster
}

// inspectDisks reads the markers of the disk paths. A path must be missing, empty, or hold
// a marker; which cluster the marker names is checked against the backup (pickRestoreNode).
func inspectDisks(paths []string) ([]restoreDisk, error) {
	out := make([]restoreDisk, 0, len(paths))
	for _, p := range paths {
		d := restoreDisk{path: p}
		m, err := readDiskMarker(p)
		switch {
		case errors.Is(err, os.ErrNotExist):
			if err := checkEmpty(p, false); err != nil {
				return nil, fmt.Errorf("restore: disk %s: %w and has no disk marker: restore takes empty disks, or disks of the backup's cluster", p, err)
			}
		case err != nil:
			return nil, fmt.Errorf("restore: disk %s: %w", p, err)
		default:
			d.marker, d.marked = m, true
		}
		out = append(out, d)
	}
	return out, nil
}

// pickRestoreNode returns the node of the backup to restore as: want when given, else the
// node every marked disk names; "" for a new node (no marked disk). Disks marked for another
// cluster or another node, and nodes the backup does not hold or that were removed, are
// refused.
func pickRestoreNode(want string, m backup.Manifest, disks []restoreDisk) (string, error) {
	named := ""
	for _, d := range disks {
		if !d.marked {
			continue
		}
		if d.marker.ClusterID != m.ClusterID {
			return "", fmt.Errorf("restore: disk %s belongs to cluster %s, the backup to cluster %s: it is not written over", d.path, d.marker.ClusterID, m.ClusterID)
		}
		switch {
		case want != "" && d.marker.NodeID != want:
			return "", fmt.Errorf("restore: disk %s belongs to node %s, not to node %s (--node)", d.path, d.marker.NodeID, want)
		case named != "" && d.marker.NodeID != named:
			return "", fmt.Errorf("restore: the disks belong to two nodes, %s and %s: give the disks of one node", named, d.marker.NodeID)
		}
		named = d.marker.NodeID
	}
	id := want
	if id == "" {
		id = named
	}
	if id == "" {
		return "", nil
	}
	i := slices.IndexFunc(m.Nodes, func(n backup.Node) bool { return n.ID == id })
	if i < 0 {
		return "", fmt.Errorf("restore: the backup holds no node %s (its nodes: %s)", id, manifestNodeIDs(m))
	}
	if m.Nodes[i].State == nodeRemoved {
		return "", fmt.Errorf("restore: node %s was removed from the cluster before the backup; restore as a new node (no --node, empty disks)", id)
	}
	return id, nil
}

// manifestNodeIDs lists the backup's nodes for an error.
func manifestNodeIDs(m backup.Manifest) string {
	ids := make([]string, 0, len(m.Nodes))
	for _, n := range m.Nodes {
		ids = append(ids, n.ID)
	}
	return strings.Join(ids, ", ")
}

// manifestHead returns the journal head the manifest names.
func manifestHead(m backup.Manifest) (raftfsm.JournalHead, error) {
	h := raftfsm.JournalHead{Seq: m.JournalSeq}
	b, err := hex.DecodeString(m.JournalHash)
	if err != nil || len(b) != len(h.Hash) {
		return h, fmt.Errorf("%w: the manifest's journal head %q is not a SHA-256", backup.ErrCorrupt, m.JournalHash)
	}
	copy(h.Hash[:], b)
	return h, nil
}

// restoreRefusal turns an error reading the backup into one sentence naming the file; the
// backup package's errors already say what to do.
func restoreRefusal(opts RestoreOptions, err error) error {
	name := filepath.Base(opts.From)
	if errors.Is(err, raftfsm.ErrBadSnapshotStream) {
		return fmt.Errorf("restore: %s: the metadata inside is damaged (%w): use another copy of the backup", name, err)
	}
	return fmt.Errorf("restore: %s: %w", name, err)
}

// restoreMetadata opens the installed store in process (InstallSnapshot made it a one-voter
// cluster: no bootstrap), then records this node with its disks, revokes every session and
// API token, suspends the links if asked, and writes the restore report.
func restoreMetadata(ctx context.Context, cfg Config, keys *keyring.Keyring, m backup.Manifest, disks []restoreDisk, nd *newDataDir, opts RestoreOptions, res RestoreResult) (RestoreResult, error) {
	logger := newLogger(LogConfig{Level: "error", Format: cfg.Log.Format}, os.Stderr)
	addr, err := advertiseAddr(cfg.Network.Advertise, cfg.Network.ClusterListen)
	if err != nil {
		return res, err
	}
	_, trans := raft.NewInmemTransport(raft.ServerAddress(addr))
	defer trans.Close()
	n := &instance{cfg: cfg}
	store, err := raftfsm.Open(n.raftConfig(), raftfsm.Deps{Transport: trans, Signer: headSigner{keys}, Logger: logger})
	if err != nil {
		return res, fmt.Errorf("restore: open the metadata: %w", err)
	}
	defer store.Close()
	if err := waitLeading(ctx, store); err != nil {
		return res, err
	}
	var cluster clusterInfo
	if err := getJSON(store, keyClusterInfo, &cluster); err != nil {
		return res, fmt.Errorf("restore: the backup's cluster record: %w", err)
	}
	if cluster.ID != m.ClusterID {
		return res, fmt.Errorf("restore: the backup's metadata is of cluster %s, its manifest names %s", cluster.ID, m.ClusterID)
	}
	res.NodeID, res.ClusterID, res.SigningKey = cfg.Node.ID, cluster.ID, keys.SigningFingerprint()

	now := time.Now().UTC()
	rec, err := restoreNodeRecord(ctx, store, cfg, cluster, addr, disks, nd, now, &res)
	if err != nil {
		return res, err
	}
	for _, o := range m.Nodes {
		if o.ID != rec.ID && o.State != nodeRemoved {
			res.Others = append(res.Others, o.ID)
		}
	}

	rep := adminapi.RestoreReport{
		BackupFile: filepath.Base(opts.From), BackupCreated: m.Created.UTC(), BackupIndex: m.Index,
		RestoredAt: now, Node: rec.ID, LinksSuspended: opts.SuspendLinks,
	}
	if rep.SessionsRevoked, err = deleteAll(ctx, store, accountSessions, now); err != nil {
		return res, err
	}
	if rep.TokensRevoked, err = deleteAll(ctx, store, accountTokens, now); err != nil {
		return res, err
	}
	if _, err := deleteAll(ctx, store, accountTokenIndex, now); err != nil {
		return res, err
	}
	if err := restoreCounts(ctx, store, cfg, keys, cluster, rec, res.Others, &rep, logger); err != nil {
		res.CountsError = err.Error()
	}

	rb, err := json.Marshal(rep)
	if err != nil {
		return res, err
	}
	ops := []raftfsm.Op{{Kind: raftfsm.OpPut, Key: []byte(keyRestoreReport), Value: rb}}
	if opts.SuspendLinks {
		ops = append(ops, raftfsm.Op{Kind: raftfsm.OpPut, Key: []byte(transfer.SuspendKey), Value: transfer.SuspendValue(m.Created)})
	}
	details := mustJSON(map[string]any{
		"backup_file": rep.BackupFile, "backup_created": rep.BackupCreated, "backup_index": rep.BackupIndex,
		"node": rep.Node, "new_node": res.NewNode, "reattached_disks": res.Reattached, "new_disks": res.NewDisks,
		"retired_disks": res.Retired, "sessions_revoked": rep.SessionsRevoked, "tokens_revoked": rep.TokensRevoked,
		"links_suspended": rep.LinksSuspended, "complete": rep.Complete, "healable": rep.Healable,
		"waiting": rep.Waiting, "lost": rep.Lost, "orphans": len(rep.Orphans),
	})
	if _, err := store.Propose(ctx, raftfsm.Batch{
		Ops:   ops,
		Audit: raftfsm.Audit{Time: now, Actor: "restore", Action: "cluster.restore", Target: cluster.ID, Details: details},
	}); err != nil {
		return res, fmt.Errorf("restore: record the restore: %w", err)
	}
	res.Report = rep
	if err := store.Snapshot(); err != nil {
		logger.Warn("snapshot after restore", logkey.Err, err)
	}
	return res, nil
}

// restoreNodeRecord records this node: its address and site, active, with the disks given
// (re-attached under their IDs at their new paths, or new disks numbered after the node's
// disks, whose markers it writes) and the node's other disks retired.
func restoreNodeRecord(ctx context.Context, store *raftfsm.Store, cfg Config, cluster clusterInfo, addr string, disks []restoreDisk, nd *newDataDir, now time.Time, res *RestoreResult) (nodeRecord, error) {
	key := []byte(prefixNodes + cfg.Node.ID)
	rec := nodeRecord{ID: cfg.Node.ID}
	cond := raftfsm.Cond{Kind: raftfsm.CondAbsent, Key: key}
	if it, err := store.Get(key); err == nil {
		if err := json.Unmarshal(it.Value, &rec); err != nil {
			return rec, fmt.Errorf("restore: decode the record of node %s: %w", cfg.Node.ID, err)
		}
		cond = raftfsm.Cond{Kind: raftfsm.CondVersion, Key: key, Version: it.Version}
	} else if !errors.Is(err, raftfsm.ErrNotFound) {
		return rec, fmt.Errorf("restore: read the record of node %s: %w", cfg.Node.ID, err)
	}
	nodes, err := nodeRecords(store)
	if err != nil {
		return rec, fmt.Errorf("restore: read the node records: %w", err)
	}
	used := map[string]bool{}
	for _, r := range nodes {
		for _, d := range r.Disks {
			used[d.ID] = true
		}
	}
	rec.Site, rec.State = cfg.Node.Site, nodeActive
	rec.Cluster, rec.HTTPS = addr, httpsAdvertised(cfg.Network.Advertise, cfg.Network.Listen) // serve publishes the bound ones

	given := map[string]bool{}
	next := len(rec.Disks)
	for _, d := range disks {
		if d.marked {
			id := d.marker.DiskID
			given[id] = true
			res.Reattached = append(res.Reattached, id)
			if i := slices.IndexFunc(rec.Disks, func(r diskRecord) bool { return r.ID == id }); i >= 0 {
				rec.Disks[i].Path, rec.Disks[i].State = d.path, ""
			} else {
				rec.Disks = append(rec.Disks, diskRecord{ID: id, Path: d.path}) // added after the backup
			}
			continue
		}
		id := diskID(cfg.Node.ID, next)
		for used[id] {
			next++
			id = diskID(cfg.Node.ID, next)
		}
		next++
		used[id], given[id] = true, true
		if err := nd.mkdir(d.path); err != nil {
			return rec, fmt.Errorf("restore: create disk directory %s: %w", d.path, err)
		}
		if err := writeDiskMarker(d.path, diskMarker{ClusterID: cluster.ID, NodeID: cfg.Node.ID, DiskID: id}); err != nil {
			return rec, fmt.Errorf("restore: mark disk %s: %w", d.path, err)
		}
		nd.created(filepath.Join(d.path, diskMarkerName))
		rec.Disks = append(rec.Disks, diskRecord{ID: id, Path: d.path})
		res.NewDisks = append(res.NewDisks, id)
	}
	for i, d := range rec.Disks {
		if !given[d.ID] && d.State != diskRetired {
			rec.Disks[i].State = diskRetired
			res.Retired = append(res.Retired, d.ID)
		}
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return rec, err
	}
	details := mustJSON(map[string]any{"site": rec.Site, "cluster": rec.Cluster, "https": rec.HTTPS,
		"reattached_disks": res.Reattached, "new_disks": res.NewDisks, "retired_disks": res.Retired})
	if _, err := store.Propose(ctx, raftfsm.Batch{
		Conds: []raftfsm.Cond{cond},
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: key, Value: b}},
		Audit: raftfsm.Audit{Time: now, Actor: "restore", Action: "restore.node", Target: rec.ID, Details: details},
	}); err != nil {
		return rec, fmt.Errorf("restore: record node %s: %w", rec.ID, err)
	}
	return rec, nil
}

// errBatchFull stops a scan once a batch is full.
var errBatchFull = errors.New("batch full")

// deleteAll deletes every key under prefix in journalled batches of at most raftfsm.MaxOps
// (action "restore.revoke"), and returns how many it deleted. Memory stays flat: each batch
// scans again from the start of what is left.
func deleteAll(ctx context.Context, store *raftfsm.Store, prefix string, now time.Time) (int, error) {
	total := 0
	for {
		var ops []raftfsm.Op
		err := store.Scan([]byte(prefix), func(it raftfsm.Item) error {
			ops = append(ops, raftfsm.Op{Kind: raftfsm.OpDelete, Key: bytes.Clone(it.Key)})
			if len(ops) == raftfsm.MaxOps {
				return errBatchFull
			}
			return nil
		})
		if err != nil && !errors.Is(err, errBatchFull) {
			return total, fmt.Errorf("restore: list %s: %w", prefix, err)
		}
		if len(ops) == 0 {
			return total, nil
		}
		details := mustJSON(map[string]any{"deleted": len(ops), "deleted_before": total})
		if _, err := store.Propose(ctx, raftfsm.Batch{
			Ops:   ops,
			Audit: raftfsm.Audit{Time: now, Actor: "restore", Action: "restore.revoke", Target: strings.TrimSuffix(prefix, "/"), Details: details},
		}); err != nil {
			return total, fmt.Errorf("restore: revoke %s: %w", prefix, err)
		}
		total += len(ops)
	}
}

// restoreCounts computes the report's counts with a blobstore over this node's disks; the
// other nodes of the backup are absent until they rejoin.
func restoreCounts(ctx context.Context, store *raftfsm.Store, cfg Config, keys *keyring.Keyring, cluster clusterInfo, rec nodeRecord, others []string, rep *adminapi.RestoreReport, logger *slog.Logger) error {
	disks := map[blobstore.DiskID]blobstore.Disk{}
	for _, d := range rec.Disks {
		if d.State == diskRetired {
			continue
		}
		dd, err := blobstore.NewDirDisk(blobstore.DiskID(d.ID), d.Path)
		if err != nil {
			return fmt.Errorf("open disk %s: %w", d.Path, err)
		}
		disks[dd.ID()] = dd
	}
	nodes, err := nodeRecords(store)
	if err != nil {
		return err
	}
	bcfg := blobstore.DefaultConfig()
	bcfg.ClusterID = cluster.ID
	bcfg.BlockSize = cfg.Blobstore.BlockSize
	blobs, err := blobstore.New(bcfg, clusterMap(nodes, rec.ID, nil), disks, nil, keyWrapper{keys}, newLogger(LogConfig{Level: "error", Format: cfg.Log.Format}, io.Discard))
	if err != nil {
		return fmt.Errorf("open the blobstore: %w", err)
	}
	defer blobs.Close()
	if err := fillRestoreCounts(ctx, store, blobs, others, rep); err != nil {
		logger.Warn("restore: count the files", logkey.Err, err)
		return err
	}
	return nil
}
