// Package adminapi is Valise's admin API: its wire types, the HTTP routes that carry them, and
// the Go client that the command line and the console use. It speaks JSON over HTTP/1.1, on the
// node's Unix socket (DIR/admin.sock, mode 0600: file permissions are the authentication).
//
// The package is a leaf: it imports only the standard library, so the console never links the
// node's stores. The node implements Service; NewHandler serves it; Client calls it.
package adminapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"valise/fault"
)

// Routes of the admin API. Every body is JSON; errors are an Error object with a non-2xx status.
const (
	// PathStatus answers GET with a Status.
	PathStatus = "/v1/status"
	// PathSelftest answers POST SelftestRequest with a stream of SelftestEvent, one JSON object
	// per line (NDJSON), the last one carrying the SelftestResult.
	PathSelftest = "/v1/selftest"
	// PathJournalVerify answers POST with a JournalReport.
	PathJournalVerify = "/v1/journal/verify"
	// PathSettings answers GET with a SettingList; PathSettings+"/"+key answers GET with a
	// Setting and PUT Setting with the stored Setting.
	PathSettings = "/v1/settings"
	// PathUsers answers POST UserAddRequest with a UserAddResponse.
	PathUsers = "/v1/users"
	// PathPasswordCheck answers POST PasswordCheckRequest with a PasswordCheckResponse.
	PathPasswordCheck = "/v1/users/password-check"
	// PathUserDisable and PathUserEnable answer POST UserRef with the UserInfo as changed.
	PathUserDisable = "/v1/users/disable"
	PathUserEnable  = "/v1/users/enable"
	// PathTokens answers POST TokenCreateRequest with a TokenCreateResponse;
	// DELETE PathTokens+"/"+id revokes that token and answers an empty object.
	PathTokens = "/v1/tokens"
	// PathOutbox answers GET with an Outbox: the mails kept or waiting, with their bodies.
	PathOutbox = "/v1/outbox"
	// PathCARenew answers POST CARenewRequest with a CAInfo: the cluster CA replaced by a new
	// one with name constraints; PathCAEndTransition answers POST (empty object) with a
	// CAInfo once the replaced CAs are no longer trusted.
	PathCARenew         = "/v1/ca/renew"
	PathCAEndTransition = "/v1/ca/end-transition"
	// PathClusterToken answers POST ClusterTokenRequest with a ClusterToken: a single-use
	// token for `appliance join`.
	PathClusterToken = "/v1/cluster/token"
)

// Error codes carried by Error.Code.
const (
	CodeBadRequest     = "bad_request"     // the request is malformed
	CodeNotFound       = "not_found"       // the named thing does not exist
	CodeConflict       = "conflict"        // it exists already, or changed meanwhile
	CodeUnknownSetting = "unknown_setting" // the setting key is not in the allow-list
	CodeInvalidValue   = "invalid_value"   // the value does not validate
	CodeNotLeader      = "not_leader"      // this node cannot decide; retry on the leader
	CodeUnavailable    = "unavailable"     // the node is starting or stopping
	CodeForbidden      = "forbidden"       // the caller's role may not do this (issue 20)
	CodeInternal       = "internal"        // anything else; the node's log says more
)

// Errors returned by Client.
var (
	// ErrNotRunning is returned by every Client method when nothing listens on the socket
	// (the file is missing, or a stale socket refuses the connection).
	ErrNotRunning = errors.New("node not running")
)

// Error is the body of every failed admin call. It is also what Client returns for one, so
// callers can test errors.As(err, &e) and e.Code.
type Error struct {
	Code    string `json:"code"`    // one of the Code constants
	Message string `json:"message"` // one sentence, fit to show an operator
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with code and a formatted message; Service implementations use it to
// choose what the operator sees.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the code an operator sees for an error of kind: the one place where the
// admin API turns fault kinds into codes, as httpd/status does into HTTP statuses (issue 17
// item 2). The operator acts on users and settings, so a refusal because of the named
// thing's state (it exists already, is disabled, is locked out) is a conflict.
func CodeOf(kind fault.Kind) string {
	switch kind {
	case fault.NotFound, fault.Gone:
		return CodeNotFound
	case fault.Conflict, fault.Locked, fault.Unauthorized, fault.Forbidden, fault.RateLimited:
		return CodeConflict
	case fault.Invalid, fault.TooLarge, fault.Unsupported, fault.OutOfRange, fault.Corrupted, fault.Precondition:
		return CodeInvalidValue
	case fault.NotAllowed:
		return CodeBadRequest
	case fault.Unavailable, fault.Timeout:
		return CodeUnavailable
	}
	return CodeInternal
}

// Status is the node's state as `appliance status --json` prints it. Its shape is a stable
// contract (docs/design.md, "The command-line and HTTP contract"): fields may be added, never
// renamed or removed.
type Status struct {
	Node          NodeInfo    `json:"node"`
	Cluster       ClusterInfo `json:"cluster"`
	Raft          RaftInfo    `json:"raft"`
	Members       []Member    `json:"members"`
	Disks         []Disk      `json:"disks"`
	DegradedFiles int64       `json:"degraded_files"` // files with a shard missing, awaiting heal
	StagedUploads int64       `json:"staged_uploads"` // uploads begun and not yet committed
	Journal       JournalInfo `json:"journal"`
	// Scanner is the antivirus: the node's private clamd or the configured one.
	Scanner ScannerInfo `json:"scanner"`

	// Heal, Scrub, Drain and Rebalance are the repair jobs: the one running, else the last
	// run (nil when none ran since this node started).
	Heal      *JobProgress `json:"heal,omitempty"`
	Scrub     *JobProgress `json:"scrub,omitempty"`
	Drain     *JobProgress `json:"drain,omitempty"`
	Rebalance *JobProgress `json:"rebalance,omitempty"`

	// Layout is the erasure-coding layout new files get and what it survives.
	Layout LayoutInfo `json:"layout"`
	// ClusterDisks is every disk of the cluster as this node's placement sees it: the disks of
	// the other nodes too, with the free space they last reported.
	ClusterDisks []ClusterDisk `json:"cluster_disks"`
	// Restore is what the last restore found, while it has files to account for or orphans
	// to delete; nil otherwise.
	Restore *RestoreReport `json:"restore,omitempty"`
	// LastBackup is the last backup the cluster recorded; nil when none.
	LastBackup *BackupRecord `json:"last_backup,omitempty"`
	// Certificates are the node's certificates with their expiry (certs.go): the cluster
	// CAs, the node's own, those served on the HTTPS port.
	Certificates []CertInfo `json:"certificates"`
}

// LayoutInfo is the layout in force for new files (the storage.layout setting resolved
// against the cluster map) and what the loss of one failure domain leaves.
type LayoutInfo struct {
	Layout        string `json:"layout"`         // "k+m", e.g. "3+3"; "" when none can be placed
	Auto          bool   `json:"auto"`           // chosen by storage.layout "auto"
	FailureDomain string `json:"failure_domain"` // "disk", "node" or "site"
	Domains       int    `json:"domains"`        // failure domains holding usable disks
	PerDomain     int    `json:"per_domain"`     // most shards of one stripe in one domain
	ReadsSurvive  bool   `json:"reads_survive"`  // every file stays readable after losing one domain
	WritesSurvive bool   `json:"writes_survive"` // uploads go on after losing one domain
	// Summary says it in a sentence; when no layout can be placed, why.
	Summary string `json:"summary"`
}

// ClusterDisk is one disk of the cluster in the placement map.
type ClusterDisk struct {
	Node      string `json:"node"`
	Site      string `json:"site"`
	ID        string `json:"id"`
	FreeBytes uint64 `json:"free_bytes"`
	State     string `json:"state"` // "up", "draining" or "down"
}

// ScannerInfo is the state of the node's scanner (clamd), as `status` shows it.
type ScannerInfo struct {
	// Running is true while clamd answers.
	Running bool `json:"running"`
	// Reason says why it is not running ("" when it is).
	Reason string `json:"reason,omitempty"`
	// Address is where clamd is reached: "unix:/path" or "tcp:host:port".
	Address string `json:"address"`
	// Private is true when the node supervises its own clamd, false for a configured one.
	Private bool `json:"private"`
	// Version is clamd's VERSION reply.
	Version string `json:"version,omitempty"`
	// TestSignaturesOnly is true when only the built-in EICAR test signature is loaded (no
	// official database was found): nothing real is detected.
	TestSignaturesOnly bool `json:"test_signatures_only"`
	// DBAgeSeconds is the age of the signature database, in seconds (0 when unknown).
	DBAgeSeconds int64 `json:"db_age"`
	// DatabaseUpdate says how the last update from clamd.database_mirror went ("" when no
	// mirror is set).
	DatabaseUpdate string `json:"database_update,omitempty"`
	// Advice says how to install real signatures offline, while TestSignaturesOnly.
	Advice string `json:"advice,omitempty"`
}

// NodeInfo names this node and where it listens.
type NodeInfo struct {
	ID        string    `json:"id"`
	Site      string    `json:"site"`
	Addresses Addresses `json:"addresses"`
}

// Addresses are the bound addresses, after port 0 was resolved.
type Addresses struct {
	HTTPS   string `json:"https"`   // the HTTPS listener, host:port
	Cluster string `json:"cluster"` // the cluster (mTLS) listener, host:port
	// Admin is the admin port (mutual TLS, admin certificates), host:port; "" when off.
	Admin string `json:"admin,omitempty"`
}

// RaftInfo is this node's view of the Raft group.
type RaftInfo struct {
	State        string `json:"state"` // "Leader", "Follower", "Candidate" or "Shutdown"
	Term         uint64 `json:"term"`
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"`
	// LeaderID names the leader this node knows ("" when none is known).
	LeaderID string `json:"leader_id"`
	// LeaderAddress is the leader's cluster address ("" when none is known).
	LeaderAddress string `json:"leader_address"`
}

// Member is one node of the cluster: a server of the Raft configuration, or a node whose
// record says it is joining and that the leader has not added yet.
type Member struct {
	ID      string `json:"id"`
	Site    string `json:"site"`
	Address string `json:"address"` // its advertised cluster address
	// Suffrage is "Voter", "Nonvoter", "Staging", or "None" for a node not in the Raft
	// configuration (joining, not added yet).
	Suffrage string `json:"suffrage"`
	// Reachable is true when the member answered this node within the last few seconds.
	Reachable bool `json:"reachable"`
	// State is the node record's membership state: "joining", "active", "draining" or
	// "removed".
	State string `json:"state"`
	// HTTPS is its advertised HTTPS address, host:port ("" until the node published it).
	HTTPS string `json:"https,omitempty"`
	// Leader is true for the leader this node knows.
	Leader bool `json:"leader"`
	// LastContact is when the member last answered this node (RFC 3339, UTC); "" if never
	// since this node started.
	LastContact string `json:"last_contact,omitempty"`
	// AppliedIndex is the member's applied index as it last answered (0 if never).
	AppliedIndex uint64 `json:"applied_index"`
}

// Disk is one of this node's data disks.
type Disk struct {
	Path       string `json:"path"`
	TotalBytes uint64 `json:"total_bytes"`
	FreeBytes  uint64 `json:"free_bytes"`
	State      string `json:"state"` // "ok", or what is wrong ("missing", "unwritable")
}

// JournalInfo summarises the hash-chained journal.
type JournalInfo struct {
	Entries  uint64 `json:"entries"`  // entries in the chain
	Verified bool   `json:"verified"` // the last walk of the chain found every link intact
}

// SelftestRequest asks the node to push Size generated bytes through the whole byte path and
// back, then delete them; with Keep the file stays (its ID is in the result). With VerifyID, the
// node instead reads back a kept selftest file, checks it, and deletes it unless Keep.
type SelftestRequest struct {
	Size     int64  `json:"size,omitempty"`
	Keep     bool   `json:"keep,omitempty"`
	VerifyID string `json:"verify_id,omitempty"`
}

// SelftestStep is one timed step of a selftest.
type SelftestStep struct {
	Name       string  `json:"name"`             // "generate+write", "commit", "read+verify", …
	DurationMS float64 `json:"duration_ms"`      // wall time of the step
	Bytes      int64   `json:"bytes,omitempty"`  // bytes moved by the step, if any
	OK         bool    `json:"ok"`               // the step held
	Error      string  `json:"error,omitempty"`  // why not, when !OK
	Detail     string  `json:"detail,omitempty"` // e.g. the SHA-256 or the layout
}

// SelftestResult closes a selftest.
type SelftestResult struct {
	ID     string         `json:"id"`     // the selftest object's ID
	Size   int64          `json:"size"`   // bytes written
	SHA256 string         `json:"sha256"` // hex digest of the generated bytes
	Steps  []SelftestStep `json:"steps"`  // every step, in order
	OK     bool           `json:"ok"`     // every step held
}

// SelftestEvent is one line of the selftest stream: a finished step, or the final result.
type SelftestEvent struct {
	Step   *SelftestStep   `json:"step,omitempty"`
	Result *SelftestResult `json:"result,omitempty"`
}

// JournalReport is the result of walking the journal's hash chain.
type JournalReport struct {
	Entries  uint64 `json:"entries"`             // entries walked
	HeadSeq  uint64 `json:"head_seq"`            // the last good link
	HeadHash string `json:"head_hash"`           // its hash, hex
	OK       bool   `json:"ok"`                  // every link holds
	BrokenAt uint64 `json:"broken_at,omitempty"` // the first entry whose link fails, when !OK
	// AppliedIndex and StateHash fingerprint the node's whole metadata state, read in one
	// transaction: nodes of one cluster at the same applied index must show the same hash
	// (SHA-256, hex), so a split state is seen by comparing them.
	AppliedIndex uint64 `json:"applied_index"`
	StateHash    string `json:"state_hash"`
}

// Setting is one cluster-wide setting.
type Setting struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	Set   bool   `json:"set"` // false when Value is the built-in default
	// Scope is "cluster" for a setting kept in the replicated metadata (the same on every
	// node) and "node" for one kept in the node's own valise.toml, [local] (a path or a socket
	// on that machine): settings set of it changes the node it runs against only.
	Scope string `json:"scope"`
	// Default is the value when never set; Secret marks a value shown masked.
	Default string `json:"default"`
	Secret  bool   `json:"secret,omitempty"`
	// Group is the console's section: "general", "mail", "tls", "branding", "policies",
	// "quotas", "antivirus", "storage", "backup" or "limits".
	Group string `json:"group"`
	// Kind tells the console how to edit it: "text", "int", "bytes", "duration", "choice",
	// "color", "url", "email", "path", "secret".
	Kind string `json:"kind"`
	// Choices are the accepted values of a "choice".
	Choices []string `json:"choices,omitempty"`
	// Description says what it does, in French (DescriptionFR) and English.
	Description   string `json:"description"`
	DescriptionFR string `json:"description_fr"`
}

// SettingList is every known setting.
type SettingList struct {
	Settings []Setting `json:"settings"`
}

// UserAddRequest creates a user.
type UserAddRequest struct {
	Email string `json:"email"`
	Name  string `json:"name,omitempty"`
	Role  string `json:"role,omitempty"` // "supervisor", "manager" or "user" (default)
	Lang  string `json:"lang,omitempty"` // "fr" (default) or "en"
}

// UserAddResponse carries the new user and its first password, shown once.
type UserAddResponse struct {
	ID       string `json:"id"`
	Email    string `json:"email"`
	Role     string `json:"role"`
	Lang     string `json:"lang"`
	Password string `json:"password"`
}

// PasswordCheckRequest asks whether Password is the user's password.
type PasswordCheckRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// PasswordCheckResponse answers a PasswordCheckRequest.
type PasswordCheckResponse struct {
	OK bool `json:"ok"`
}

// UserRef names a user by e-mail address.
type UserRef struct {
	Email string `json:"email"`
}

// UserInfo is a user as the admin API shows it.
type UserInfo struct {
	ID       string `json:"id"`
	Email    string `json:"email"`
	Role     string `json:"role"`
	Lang     string `json:"lang"`
	Disabled bool   `json:"disabled"`
	// Name is the display name ("" when none).
	Name string `json:"name,omitempty"`
	// Created is when the account was made (UTC).
	Created time.Time `json:"created"`
	// MustChangePassword is true until the user replaces a generated password.
	MustChangePassword bool `json:"must_change_password,omitempty"`
	// QuotaBytes is the user's own quota: QuotaDefault (the quota.user_bytes setting), 0 for
	// none, else bytes. EffectiveQuotaBytes is the one in force (0: none).
	QuotaBytes          int64 `json:"quota_bytes"`
	EffectiveQuotaBytes int64 `json:"effective_quota_bytes"`
	// UsedBytes is the storage the user's live sends hold; Sends counts them.
	UsedBytes int64 `json:"used_bytes"`
	Sends     int   `json:"sends"`
}

// TokenCreateRequest asks for a personal access token for the user with Email.
type TokenCreateRequest struct {
	Email string `json:"email"`
	Name  string `json:"name,omitempty"` // a label, such as "backup script"; default "cli"
}

// TokenCreateResponse carries the new token's ID and its secret, shown once.
type TokenCreateResponse struct {
	ID     string `json:"id"`
	UserID string `json:"user_id"`
	Email  string `json:"email"`
	Name   string `json:"name"`
	Token  string `json:"token"`
}

// Outbox lists the mails the node keeps (no relay configured) or still has to deliver.
type Outbox struct {
	Mails []OutboxMail `json:"mails"`
}

// OutboxMail is one mail with its bodies (links included: the outbox is for administrators).
type OutboxMail struct {
	ID       string   `json:"id"`
	State    string   `json:"state"` // "outbox" (kept, no relay), "pending", "sent" or "failed"
	Kind     string   `json:"kind"`  // "send", "receipt", "verify_code", "infected"
	Lang     string   `json:"lang"`
	From     string   `json:"from"` // the From display name
	To       []string `json:"to,omitempty"`
	Cc       []string `json:"cc,omitempty"`
	Bcc      []string `json:"bcc,omitempty"`
	Subject  string   `json:"subject"`
	Text     string   `json:"text,omitempty"`
	HTML     string   `json:"html,omitempty"`
	Created  string   `json:"created"` // RFC 3339
	Attempts int      `json:"attempts,omitempty"`
	Error    string   `json:"error,omitempty"` // the last delivery error
}

// CARenewRequest asks for a new cluster CA that may certify only localhost, Domains (default:
// the domain of the node's advertised name) and the private ranges plus PermitIPs.
type CARenewRequest struct {
	Domains   []string `json:"domains,omitempty"`
	PermitIPs []string `json:"permit_ips,omitempty"` // CIDR ranges or single addresses
}

// CAInfo describes the cluster CA after `ca renew` or `ca end-transition`.
type CAInfo struct {
	// Fingerprint is the signing CA's, "SHA256:" and base64 as init prints it;
	// FingerprintHex the same digest as browsers show it.
	Fingerprint    string `json:"fingerprint"`
	FingerprintHex string `json:"fingerprint_hex"`
	// Trusted are the fingerprints of every CA served in ca.pem and trusted, the signing one
	// first, then those it replaced (until end-transition).
	Trusted []string `json:"trusted"`
	// Permitted lists the names the signing CA may certify.
	Permitted []string `json:"permitted"`
	// CAPath is the ca.pem file users install.
	CAPath string `json:"ca_certificate"`
	// Reissued are the HTTPS names whose certificates the new CA issued; Refused those it
	// may not certify (outside Permitted) or that failed, with the reason.
	Reissued []string `json:"reissued,omitempty"`
	Refused  []string `json:"refused,omitempty"`
}

// ClusterTokenRequest asks for a join token valid TTLSeconds (0: one hour); with Replace, a
// token that admits only the replacement of that node (`join --replace`).
type ClusterTokenRequest struct {
	TTLSeconds int64  `json:"ttl_seconds,omitempty"`
	Replace    string `json:"replace,omitempty"`
}

// ClusterToken is a single-use join token, shown once: only a hash of its secret is kept.
type ClusterToken struct {
	// Token is what `appliance join --token` takes: it carries the secret and the cluster
	// CA's fingerprint, which the joining node checks before it sends anything.
	Token string `json:"token"`
	// Expires is when the token stops being accepted.
	Expires time.Time `json:"expires"`
	// CAFingerprint is the cluster CA's fingerprint the token carries, as init prints it.
	CAFingerprint string `json:"ca_fingerprint"`
	// Purpose is "join", or "replace:<node ID>".
	Purpose string `json:"purpose"`
}

// Service is what the node implements behind the admin API. Every method is called from the
// handler's goroutine for one request, concurrently with others; it returns an *Error to choose
// the code and message the operator sees, any other error being reported as CodeInternal.
type Service interface {
	// Status returns the node's current state. It must answer even without a Raft leader.
	Status(ctx context.Context) (Status, error)
	// Selftest runs a selftest of req.Size bytes, calling step after each step (from the
	// calling goroutine), and returns the result. A failed step is reported in the result, not
	// as an error; an error means the selftest could not run at all.
	Selftest(ctx context.Context, req SelftestRequest, step func(SelftestStep)) (SelftestResult, error)
	// VerifyJournal walks the journal's hash chain.
	VerifyJournal(ctx context.Context) (JournalReport, error)
	// Settings lists every known setting with its current value.
	Settings(ctx context.Context) ([]Setting, error)
	// Setting returns one setting; CodeUnknownSetting for a key outside the allow-list.
	Setting(ctx context.Context, key string) (Setting, error)
	// SetSetting validates and stores one setting, journalled; CodeUnknownSetting or
	// CodeInvalidValue when refused.
	SetSetting(ctx context.Context, key, value string) (Setting, error)
	// AddUser creates a user; CodeConflict when the e-mail is taken.
	AddUser(ctx context.Context, req UserAddRequest) (UserAddResponse, error)
	// CheckPassword says whether password is the user's; a missing user is OK=false.
	CheckPassword(ctx context.Context, req PasswordCheckRequest) (PasswordCheckResponse, error)
	// SetUserDisabled disables (or enables) the user with this e-mail: from its return, on
	// every node, their password, sessions and tokens are refused. CodeNotFound for no such
	// user.
	SetUserDisabled(ctx context.Context, email string, disabled bool) (UserInfo, error)
	// CreateToken creates a personal access token; CodeNotFound for no such user,
	// CodeConflict for a disabled one.
	CreateToken(ctx context.Context, req TokenCreateRequest) (TokenCreateResponse, error)
	// RevokeToken revokes the token with this ID at once, on every node; CodeNotFound when
	// there is no such token.
	RevokeToken(ctx context.Context, id string) error
	// Outbox returns the mails kept in the outbox and those in the delivery queue, oldest
	// first, with their bodies while they have them.
	Outbox(ctx context.Context) (Outbox, error)
	// RenewCA replaces the cluster CA with a new constrained one, keeps the old one trusted
	// for the transition, and has the HTTPS certificates re-issued by the new one;
	// CodeInvalidValue for a malformed domain or range.
	RenewCA(ctx context.Context, req CARenewRequest) (CAInfo, error)
	// EndCATransition stops trusting and serving the CAs RenewCA replaced.
	EndCATransition(ctx context.Context) (CAInfo, error)
	// ClusterToken creates a single-use join token; CodeInvalidValue for a TTL out of range,
	// CodeNotFound for a node to replace that is not a member.
	ClusterToken(ctx context.Context, req ClusterTokenRequest) (ClusterToken, error)
	// Backup writes a backup protected as req says (CodeInvalidValue for a bad protection) to
	// the writer open returns; it calls open once, when the first byte is ready. An error
	// before open is the answer; one after ends the stream without the "ok" trailer.
	Backup(ctx context.Context, req BackupRequest, open func(BackupStart) io.Writer) error
	// Backups lists the backups the cluster recorded, newest first.
	Backups(ctx context.Context) (BackupList, error)
	// Orphans returns the restore report (zero when there was none) with the orphan shard
	// files found on the disks now; DeleteOrphans deletes those named (all when none is),
	// journalled: CodeConflict for a file ID the metadata references, CodeNotFound for one
	// with no shard file. Both need the leader.
	Orphans(ctx context.Context) (RestoreReport, error)
	DeleteOrphans(ctx context.Context, req OrphansDeleteRequest) (RestoreReport, error)
}
