package transfer

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"valise/scan"
)

// GiB is 2^30 bytes.
const GiB = int64(1) << 30

// Policy is the administrator's say on what flows; the cluster settings hold it and
// Service.SetPolicy applies a change.
type Policy struct {
	// MaxFileSize is the largest upload accepted, in bytes.
	MaxFileSize int64 `toml:"max_file_size"`
	// QuotaBytes bounds what one owner's uploads and files may hold; 0: no quota.
	QuotaBytes int64 `toml:"quota_bytes"`
	// MaxSendBytes bounds the total size of one send's files; 0: no bound but MaxFileSize.
	MaxSendBytes int64 `toml:"max_send_bytes"`
	// DefaultExpiry is a send's lifetime when the sender does not choose.
	DefaultExpiry time.Duration `toml:"default_expiry"`
	// MaxExpiry is the longest lifetime a sender may choose.
	MaxExpiry time.Duration `toml:"max_expiry"`
	// UnsentRetention is how long a file that no send carries (never sent, or quarantined)
	// is kept before the sweep destroys it.
	UnsentRetention time.Duration `toml:"unsent_retention"`
	// ReleaseUnscanned lets a file that the scanner could not scan (scanner down) be sent,
	// shown as not scanned, until a later scan gives it a verdict (which an infected one
	// then stops); false, the default, holds it until scanned (the scan.policy setting:
	// hold or release).
	ReleaseUnscanned bool `toml:"release_unscanned"`
	// SkipLargeScan leaves a file larger than the scanner's stream limit unscanned (not
	// scanned, too large), and lets it be sent; false, the default, scans it in overlapping
	// windows (the scan.large_files setting: windows or not_scanned).
	SkipLargeScan bool `toml:"skip_large_scan"`
	// HoldTestSignaturesOnly holds a file found clean by a scanner that had only the built-in
	// test signatures (ReasonTestSignaturesOnly) until a scan with real signatures gives it
	// a verdict; false, the default, lets it be sent, shown as not checked against real
	// signatures (the scan.test_signatures_only setting: allow or hold).
	HoldTestSignaturesOnly bool `toml:"hold_test_signatures_only"`
}

// sendable reports whether a file with verdict v (and reason, for a file not scanned) may
// flow to recipients under p: a clean one unless only test signatures checked it and p holds
// those, one not scanned when p releases it. A scan error (scan.ReasonScanError) is never
// released.
func (p Policy) sendable(v Verdict, reason string) bool {
	switch {
	case v.Sendable():
		return !(reason == ReasonTestSignaturesOnly && p.HoldTestSignaturesOnly)
	case v != VerdictNotScanned:
		return false
	case reason == scan.ReasonScannerDown.Code():
		return p.ReleaseUnscanned
	case reason == scan.ReasonTooLarge.Code():
		return p.SkipLargeScan
	}
	return false
}

// DefaultPolicy returns safe defaults: 10 GiB files, no quota, links for 7 days (30 at
// most), unsent files kept 7 days.
func DefaultPolicy() Policy {
	return Policy{
		MaxFileSize:     10 * GiB,
		DefaultExpiry:   7 * 24 * time.Hour,
		MaxExpiry:       30 * 24 * time.Hour,
		UnsentRetention: 7 * 24 * time.Hour,
	}
}

// Validate checks p.
func (p Policy) Validate() error {
	switch {
	case p.MaxFileSize <= 0:
		return fmt.Errorf("transfer policy: max_file_size %d must be positive", p.MaxFileSize)
	case p.QuotaBytes < 0:
		return fmt.Errorf("transfer policy: quota_bytes %d must not be negative", p.QuotaBytes)
	case p.MaxSendBytes < 0:
		return fmt.Errorf("transfer policy: max_send_bytes %d must not be negative", p.MaxSendBytes)
	case p.DefaultExpiry <= 0 || p.MaxExpiry < p.DefaultExpiry:
		return fmt.Errorf("transfer policy: need 0 < default_expiry (%v) <= max_expiry (%v)", p.DefaultExpiry, p.MaxExpiry)
	case p.UnsentRetention <= 0:
		return fmt.Errorf("transfer policy: unsent_retention %v must be positive", p.UnsentRetention)
	}
	return nil
}

// Config tunes the Service.
type Config struct {
	// Policy is the initial policy (SetPolicy changes it).
	Policy Policy `toml:"policy"`
	// UploadTTL is how long an upload lives after its last progress.
	UploadTTL time.Duration `toml:"upload_ttl"`
	// MaxRecipients bounds the distinct recipients of one send (To, Cc and Bcc together).
	MaxRecipients int `toml:"max_recipients"`
	// MaxFilesPerSend bounds the files of one send.
	MaxFilesPerSend int `toml:"max_files_per_send"`
	// MaxSubject and MaxMessage bound the subject and message, in characters.
	MaxSubject int `toml:"max_subject"`
	MaxMessage int `toml:"max_message"`
	// Challenge tunes passwords, e-mail codes and grants.
	Challenge ChallengeConfig `toml:"challenge"`
	// LinkRate tunes AllowLinkAttempt.
	LinkRate RateConfig `toml:"link_rate"`
	// Resend bounds how often links are mailed again (Resend), so that nobody can flood a
	// recipient's mailbox or the relay.
	Resend ResendConfig `toml:"resend"`
	// Receipt bounds the download receipts mailed to a sender, so that a recipient who
	// downloads a file over and over cannot flood the sender's mailbox or the relay.
	Receipt ReceiptConfig `toml:"receipt"`
	// SweepInterval is how often the Job runs Sweep.
	SweepInterval time.Duration `toml:"sweep_interval"`
}

// ChallengeConfig tunes the link challenges.
type ChallengeConfig struct {
	// PasswordMinLength is the shortest password a sender may set, in characters.
	PasswordMinLength int `toml:"password_min_length"`
	// PasswordMaxFailures wrong passwords lock the link for PasswordLockout.
	PasswordMaxFailures int           `toml:"password_max_failures"`
	PasswordLockout     time.Duration `toml:"password_lockout"`
	// LockFloor is how long a link's lock (of its password, or of its e-mail code) holds
	// the client addresses that have no failure of their own on the link: past it, such an
	// address may answer, one check at a time, while the guessers' addresses stay locked
	// (issue 16 item 4: one guesser cannot lock the recipient out).
	LockFloor time.Duration `toml:"lock_floor"`
	// CodeDigits is an e-mail code's length, 6 to 8.
	CodeDigits int `toml:"code_digits"`
	// CodeTTL is how long a code is valid.
	CodeTTL time.Duration `toml:"code_ttl"`
	// CodeMaxAttempts wrong tries burn a code.
	CodeMaxAttempts int `toml:"code_max_attempts"`
	// CodeMaxIssues codes at most may be issued per link per CodeIssueWindow.
	CodeMaxIssues   int           `toml:"code_max_issues"`
	CodeIssueWindow time.Duration `toml:"code_issue_window"`
	// GrantTTL is how long a grant lasts after a passed challenge.
	GrantTTL time.Duration `toml:"grant_ttl"`
}

// RateConfig is a token bucket per client address.
type RateConfig struct {
	// PerMinute is the sustained rate of link attempts per address.
	PerMinute float64 `toml:"per_minute"`
	// Burst is how many attempts may come at once.
	Burst int `toml:"burst"`
	// MaxClients bounds the addresses tracked; idle ones are forgotten first.
	MaxClients int `toml:"max_clients"`
}

// ResendConfig bounds resends (issue 16 item 9): PerSend per send in any Window (counted in
// the replicated send record, so it holds on every node and under concurrency), PerUser per
// sender in a sliding Window (a token bucket in memory on each node).
type ResendConfig struct {
	PerSend int           `toml:"per_send"`
	PerUser int           `toml:"per_user"`
	Window  time.Duration `toml:"window"`
}

// ReceiptConfig bounds download receipts (issue 16 item 9): at most one receipt per
// recipient and file (or zip) in any Window, and PerSend receipts per send in any Window,
// both counted in the replicated send record, so they hold on every node and under
// concurrency. The downloads past the bounds are still recorded and shown to the sender.
type ReceiptConfig struct {
	PerSend int           `toml:"per_send"`
	Window  time.Duration `toml:"window"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Policy:          DefaultPolicy(),
		UploadTTL:       24 * time.Hour,
		MaxRecipients:   100,
		MaxFilesPerSend: 500,
		MaxSubject:      200,
		MaxMessage:      10000,
		Challenge: ChallengeConfig{
			PasswordMinLength:   8,
			PasswordMaxFailures: 5,
			PasswordLockout:     15 * time.Minute,
			LockFloor:           2 * time.Minute,
			CodeDigits:          8,
			CodeTTL:             10 * time.Minute,
			CodeMaxAttempts:     5,
			CodeMaxIssues:       5,
			CodeIssueWindow:     time.Hour,
			GrantTTL:            time.Hour,
		},
		LinkRate:      RateConfig{PerMinute: 30, Burst: 20, MaxClients: 100000},
		Resend:        ResendConfig{PerSend: 5, PerUser: 30, Window: time.Hour},
		Receipt:       ReceiptConfig{PerSend: 20, Window: time.Hour},
		SweepInterval: time.Minute,
	}
}

// Validate checks c.
func (c *Config) Validate() error {
	if err := c.Policy.Validate(); err != nil {
		return err
	}
	ch := c.Challenge
	switch {
	case c.UploadTTL <= 0:
		return errors.New("transfer config: upload_ttl must be positive")
	case c.MaxRecipients < 1 || c.MaxRecipients > 1000:
		return fmt.Errorf("transfer config: max_recipients %d must be within 1..1000", c.MaxRecipients)
	case c.MaxFilesPerSend < 1 || c.MaxFilesPerSend > 1000:
		return fmt.Errorf("transfer config: max_files_per_send %d must be within 1..1000", c.MaxFilesPerSend)
	case c.MaxSubject < 1 || c.MaxMessage < 1:
		return errors.New("transfer config: max_subject and max_message must be positive")
	case ch.PasswordMinLength < 1 || ch.PasswordMaxFailures < 1 || ch.PasswordLockout <= 0 || ch.LockFloor <= 0:
		return errors.New("transfer config: password_min_length, password_max_failures, password_lockout and lock_floor must be positive")
	case ch.CodeDigits < 6 || ch.CodeDigits > 8:
		return fmt.Errorf("transfer config: code_digits %d must be within 6..8", ch.CodeDigits)
	case ch.CodeTTL <= 0 || ch.CodeMaxAttempts < 1 || ch.CodeMaxIssues < 1 || ch.CodeIssueWindow <= 0:
		return errors.New("transfer config: code_ttl, code_max_attempts, code_max_issues and code_issue_window must be positive")
	case ch.GrantTTL <= 0:
		return errors.New("transfer config: grant_ttl must be positive")
	case c.LinkRate.PerMinute <= 0 || c.LinkRate.Burst < 1 || c.LinkRate.MaxClients < 1:
		return errors.New("transfer config: link_rate per_minute, burst and max_clients must be positive")
	case c.Resend.PerSend < 1 || c.Resend.PerUser < 1 || c.Resend.Window <= 0:
		return errors.New("transfer config: resend per_send, per_user and window must be positive")
	case c.Receipt.PerSend < 1 || c.Receipt.Window <= 0:
		return errors.New("transfer config: receipt per_send and window must be positive")
	case c.SweepInterval <= 0:
		return errors.New("transfer config: sweep_interval must be positive")
	}
	return nil
}

// Deps are the Service's collaborators.
type Deps struct {
	// Store records metadata; never nil.
	Store Metadata
	// Blobs deletes shards for retention; never nil.
	Blobs Blobs
	// Hasher hashes link passwords; never nil.
	Hasher PasswordHasher
	// Quotas gives per-owner quotas; nil means Policy.QuotaBytes for everyone.
	Quotas Quotas
	// Logger; nil discards.
	Logger *slog.Logger
	// Now is the clock (the leader's decisions); nil means time.Now.
	Now func() time.Time
	// Rand is the source of IDs, tokens and codes; nil means crypto/rand.Reader. Tests
	// inject a deterministic one; production must leave it nil.
	Rand io.Reader
}
