package adminapi

import "time"

// Routes of backup and restore (issue 19).
const (
	// PathBackup answers POST BackupRequest with the backup file itself
	// (application/octet-stream), then the HTTP trailer TrailerBackupStatus: "ok" when the
	// whole file was written, else the reason it stopped. A client that reads the body to its
	// end without an "ok" trailer must discard what it wrote. The header HeaderBackupEstimate
	// carries an estimate of the size in bytes, for a progress bar (0: unknown).
	PathBackup = "/v1/backup"
	// PathBackups answers GET with BackupList: the backups the cluster has recorded.
	PathBackups = "/v1/backups"
	// PathOrphans answers GET with the RestoreReport's orphans, DELETE removes them
	// (OrphansDeleteRequest) and answers with the report updated.
	PathOrphans = "/v1/orphans"

	// TrailerBackupStatus is the trailer PathBackup ends with.
	TrailerBackupStatus = "Valise-Backup-Status"
	// HeaderBackupEstimate is the response header with the backup's estimated size in bytes.
	HeaderBackupEstimate = "Valise-Backup-Estimate"
)

// BackupRequest asks the node for a backup: exactly one of Passphrase and Recipient.
type BackupRequest struct {
	// Passphrase encrypts the backup with age's scrypt recipient.
	Passphrase string `json:"passphrase,omitempty"`
	// Recipient is an operator's age public key ("age1…"): the backup machine never needs the
	// passphrase, only the holder of the matching identity can read it.
	Recipient string `json:"recipient,omitempty"`
}

// BackupRecord is one backup the cluster took or was asked for, as `backup list` prints it.
type BackupRecord struct {
	ID        string    `json:"id"`        // "b-<unix nanoseconds>"
	Node      string    `json:"node"`      // the node that wrote it
	Path      string    `json:"path"`      // its file on that node ("" when written by the CLI elsewhere)
	Scheduled bool      `json:"scheduled"` // taken by backup.interval
	Started   time.Time `json:"started"`   // UTC
	Finished  time.Time `json:"finished"`  // UTC; zero when it failed
	Index     uint64    `json:"index"`     // the metadata's applied index it holds
	Size      int64     `json:"size"`      // bytes
	SHA256    string    `json:"sha256"`    // hex, of the whole file
	Error     string    `json:"error,omitempty"`
	Deleted   bool      `json:"deleted,omitempty"` // pruned by backup.keep
}

// BackupList is the answer of PathBackups, newest first.
type BackupList struct {
	Backups []BackupRecord `json:"backups"`
}

// ClusterInfo identifies the cluster in Status.
type ClusterInfo struct {
	ID string `json:"id"`
	// SigningKey is the fingerprint of the cluster's Ed25519 signing key, "SHA256:<base64>":
	// what `restore --expect-key` checks a backup's signature against.
	SigningKey string `json:"signing_key"`
}

// RestoreReport says what a restore found, kept in Status until every file is accounted for.
// Counts are of files (transfer files and selftest files); none is ever left out silently.
type RestoreReport struct {
	// Backup is the backup restored: its ID (file name), creation time and applied index.
	BackupFile    string    `json:"backup_file"`
	BackupCreated time.Time `json:"backup_created"`
	BackupIndex   uint64    `json:"backup_index"`
	RestoredAt    time.Time `json:"restored_at"`
	Node          string    `json:"node"` // the node restored from the backup

	// SessionsRevoked and TokensRevoked count what the restore revoked: every user logs in again.
	SessionsRevoked int `json:"sessions_revoked"`
	TokensRevoked   int `json:"tokens_revoked"`
	// LinksSuspended is set when the restore suspended every link older than the backup until
	// its sender confirms it (restore --suspend-links).
	LinksSuspended bool `json:"links_suspended"`

	// Checked is when the counts below were last computed.
	Checked time.Time `json:"checked"`
	// Complete: every shard present. Healable: enough shards to read; heal rebuilds the rest.
	// Waiting: not enough shards on the disks attached, but some are on nodes not back yet
	// (WaitingNodes); Lost: not enough shards even counting those.
	Complete     int      `json:"complete"`
	Healable     int      `json:"healable"`
	Waiting      int      `json:"waiting"`
	Lost         int      `json:"lost"`
	WaitingNodes []string `json:"waiting_nodes,omitempty"`
	// LostFiles names the lost files (at most 100), with their send when known.
	LostFiles []ReportFile `json:"lost_files,omitempty"`
	// Orphans are shard files no manifest references (uploaded after the backup): kept until
	// an administrator deletes them (`appliance orphans delete`).
	Orphans []Orphan `json:"orphans,omitempty"`
}

// ReportFile names a file of a RestoreReport.
type ReportFile struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	Send string `json:"send,omitempty"`
}

// Orphan is a file's shards found on the disks with no manifest referencing it.
type Orphan struct {
	FileID string   `json:"file_id"`
	Shards int      `json:"shards"` // shard files found
	Bytes  int64    `json:"bytes"`  // their total size
	Disks  []string `json:"disks"`  // disk IDs holding them
}

// OrphansDeleteRequest asks to delete orphans: the ones named, or all when FileIDs is empty.
type OrphansDeleteRequest struct {
	FileIDs []string `json:"file_ids,omitempty"`
}
