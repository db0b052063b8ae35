package node

// STUB (issue 19): the signature is the contract between restore (node/restore.go) and the
// report (this file), written on branch h-report.

import (
	"context"
	"errors"

	"valise/adminapi"
	"valise/blobstore"
	"valise/raftfsm"
)

// keyRestoreReport holds the adminapi.RestoreReport of the last restore (JSON), written by
// restore and kept up to date by the leader until every file is accounted for.
const keyRestoreReport = "restore/report"

// keyBackupRuns prefixes the adminapi.BackupRecord of each backup (JSON), by ID.
const keyBackupRuns = "backup/runs/"

// fillRestoreCounts computes rep's counts, lost files and orphans: every file the metadata
// in store records (transfer files and selftest files), checked against the shards blobs can
// open (its local disks, and the other nodes' through its DiskSource); a shard on a disk of a
// node in absent counts as waiting for that node. It sets rep.Checked.
func fillRestoreCounts(ctx context.Context, store *raftfsm.Store, blobs *blobstore.Store, absent []string, rep *adminapi.RestoreReport) error {
	return errors.New("not yet")
}
