// Package logkey holds the attribute keys of every Valise log record, so that one thing has one
// name whichever package logs it: an operator filters file_id across blobstore, transfer and
// node alike (docs/style.md §7, issue 17 item 5). Each package's log.go names the keys it uses
// from here. Keys name IDs and counts, never secrets: no token, code, password, key or manifest
// is ever a log value.
package logkey

// Identities.
const (
	Component = "component"  // the part of the node that logs
	NodeID    = "node_id"    // a cluster node
	UserID    = "user_id"    // an account
	SessionID = "session_id" // a sign-in session, never its token
	SendID    = "send_id"    // a send
	FileID    = "file_id"    // a file of a send
	UploadID  = "upload_id"  // a tus upload
	Role      = "role"       // an account's role
)

// Storage.
const (
	Addr       = "addr"        // a network address
	Dir        = "dir"         // a data directory
	Disk       = "disk"        // a blobstore disk
	Shard      = "shard"       // a shard file
	Stripe     = "stripe"      // a stripe of a block
	Lock       = "lock"        // a lock record's name
	Holder     = "holder"      // the holder of a lock
	ExpiredAt  = "expired_at"  // when a record expired
	Records    = "records"     // a count of records
	JournalSeq = "journal_seq" // a journal entry's sequence number
)

// Raft.
const (
	Applied         = "applied_index"          // the last index applied to the FSM
	SnapshotApplied = "snapshot_applied_index" // the index a snapshot covers
	Snapshot        = "snapshot"               // a snapshot's ID
	RaftLogger      = "raft_logger"            // the name of hashicorp/raft's sub-logger
)

// Requests and outcomes.
const (
	Err       = "err"       // the error
	Method    = "method"    // an HTTP method
	Route     = "route"     // a masked route, never a link token
	Op        = "op"        // the operation under way
	Step      = "step"      // a step of a sequence (the selftest)
	Took      = "took"      // a duration
	Size      = "size"      // a size in bytes
	Length    = "length"    // an upload's declared length
	Read      = "read"      // bytes read
	Count     = "count"     // a count
	Failures  = "failures"  // failed attempts
	Until     = "until"     // the end of a lock-out
	Verdict   = "verdict"   // the antivirus verdict
	LiveScan  = "live_scan" // whether the scan ran while uploading
	Signature = "signature" // the signature clamd matched in an infected file
)
