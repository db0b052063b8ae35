package transfer

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"valise/raftfsm"
	"valise/userid"
)

// sendRecord is a send as stored: the Send with its secrets.
type sendRecord struct {
	Send
	// PasswordHash is the PasswordHasher's hash of the send's password, "" for none.
	PasswordHash string `json:"password_hash,omitempty"`
	// Links holds, for each recipient (same index), the hex SHA-256 of their current
	// link token; empty while the send waits for the antivirus.
	Links []string `json:"links"`
	// Lang is the language of the mails that leave when a send waiting for the antivirus
	// is settled.
	Lang string `json:"lang,omitempty"`
	// ResendWindow starts the window in which ResendCount resends were made (Config.Resend).
	ResendWindow time.Time `json:"resend_window,omitzero"`
	ResendCount  int       `json:"resend_count,omitempty"`
	// ReceiptWindow starts the window in which ReceiptCount receipts were due
	// (Config.Receipt); LastReceipt holds, by receiptKey, when a recipient's last receipt
	// for a file or a zip was due, pruned to the window (at most Config.Receipt.PerSend).
	ReceiptWindow time.Time            `json:"receipt_window,omitzero"`
	ReceiptCount  int                  `json:"receipt_count,omitempty"`
	LastReceipt   map[string]time.Time `json:"last_receipt,omitempty"`
	// Holds are the downloads in progress of files under a download limit (or delete after
	// download), by file: each holds one of the downloads the limit has left until it ends
	// or its lease runs out (a node that died mid-download).
	Holds map[FileID][]downloadHold `json:"holds,omitempty"`
	// Served counts, by file, the bytes served that did not yet add up to a whole download:
	// a download counts when the bytes served reach the file's size, whether they came in
	// one request or in ranges.
	Served map[FileID]int64 `json:"served,omitempty"`
}

// downloadHold is one download in progress under a download limit.
type downloadHold struct {
	ID    string    `json:"id"`
	Until time.Time `json:"until"`
}

// linkRecord is a recipient's link as stored under the SHA-256 of its token, with the state
// of its challenges.
type linkRecord struct {
	SendID    SendID    `json:"send_id"`
	Recipient int       `json:"recipient"` // index in the send's Recipients
	Created   time.Time `json:"created"`

	PasswordFailures int       `json:"password_failures,omitempty"`
	LockedUntil      time.Time `json:"locked_until,omitzero"`
	LockedSince      time.Time `json:"locked_since,omitzero"` // when the password's lock began

	// Addrs counts failures per challenge and client address ("password/" or "code/" and
	// the address key), at most maxAddrRecords; deleted with the link.
	Addrs map[string]addrRecord `json:"addrs,omitempty"`

	CodeHash     string    `json:"code_hash,omitempty"` // hex SHA-256 of salt ‖ code
	CodeSalt     string    `json:"code_salt,omitempty"`
	CodeExpires  time.Time `json:"code_expires,omitzero"`
	CodeAttempts int       `json:"code_attempts,omitempty"`
	CodeLocked   time.Time `json:"code_locked,omitzero"`  // when the pending code's lock began
	CodeIssues   int       `json:"code_issues,omitempty"` // in the window starting at CodeWindow
	CodeWindow   time.Time `json:"code_window,omitzero"`
}

// Caps on a recipient's stored tracking.
const (
	maxDownloadEvents = 50
	maxAddressLen     = 254
	maxSenderName     = 200
	maxPasswordBytes  = 256
)

// CreateSend creates a send from owner's files to the recipients and returns it with one
// invitation per recipient, each holding the link token to mail: returned here once, never
// stored. Every file must be the owner's, complete, and clean or still being scanned
// (ErrFileNotSendable otherwise). A send with a file still being scanned is created at once
// waiting for the antivirus (StatusPendingScan, issue 16 item 3): no link and no invitation
// yet; the verdicts settle it (SettleSendsOf, SettleWaitingSends).
func (s *Service) CreateSend(ctx context.Context, owner userid.ID, req SendRequest) (Created, error) {
	if err := checkOwner(owner); err != nil {
		return Created{}, err
	}
	rcpts, err := s.checkRecipients(req)
	if err != nil {
		return Created{}, err
	}
	if err := s.checkTexts(req); err != nil {
		return Created{}, err
	}
	pol := s.policy()
	opts := req.Options
	expiry := opts.Expiry
	if expiry == 0 {
		expiry = pol.DefaultExpiry
	}
	if expiry < 0 || expiry > pol.MaxExpiry {
		return Created{}, fmt.Errorf("%w: expiry %v, at most %v", ErrInvalidOptions, expiry, pol.MaxExpiry)
	}
	if opts.DownloadLimit < 0 {
		return Created{}, fmt.Errorf("%w: download limit %d", ErrInvalidOptions, opts.DownloadLimit)
	}
	if n := len(req.FileIDs); n == 0 || n > s.cfg.MaxFilesPerSend {
		return Created{}, fmt.Errorf("%w: %d files, 1 to %d", ErrNoFiles, n, s.cfg.MaxFilesPerSend)
	}
	seen := make(map[FileID]bool, len(req.FileIDs))
	for _, id := range req.FileIDs {
		if seen[id] {
			return Created{}, fmt.Errorf("%w: file %s twice", ErrNoFiles, id)
		}
		seen[id] = true
		if !parseID(string(id)) {
			return Created{}, fmt.Errorf("%w: %q", ErrFileNotFound, id)
		}
	}

	// The password: the sender's, or one generated and shown once.
	password := opts.Password
	var generated string
	if password == "" && opts.GeneratePassword {
		if generated, err = s.newPassword(); err != nil {
			return Created{}, err
		}
		password = generated
	}
	var pwHash string
	if password != "" {
		if utf8.RuneCountInString(password) < s.cfg.Challenge.PasswordMinLength || len(password) > maxPasswordBytes || !utf8.ValidString(password) {
			return Created{}, fmt.Errorf("%w: password must hold %d to %d bytes of text", ErrInvalidOptions, s.cfg.Challenge.PasswordMinLength, maxPasswordBytes)
		}
		if pwHash, err = s.hasher.HashPassword(ctx, password); err != nil {
			return Created{}, fmt.Errorf("hash link password: %w", err)
		}
	}

	// The leader's decisions: ID, times, tokens.
	id, err := s.newID()
	if err != nil {
		return Created{}, err
	}
	now := s.clock()
	rec := sendRecord{
		Send: Send{
			ID: SendID(id), Owner: owner, From: req.From, Subject: req.Subject, Message: req.Message,
			Recipients: rcpts, Created: now, Expires: now.Add(expiry),
			Options: Options{
				DownloadLimit: opts.DownloadLimit, DeleteAfterDownload: opts.DeleteAfterDownload,
				Receipts: opts.Receipts, EmailCode: opts.EmailCode, PasswordRequired: pwHash != "",
			},
		},
		PasswordHash: pwHash,
		Lang:         req.Lang,
	}
	invs := make([]Invitation, len(rcpts))
	hashes := make([]string, len(rcpts))
	for i := range rcpts {
		token, hash, err := s.newToken()
		if err != nil {
			return Created{}, err
		}
		hashes[i] = hash
		invs[i] = Invitation{SendID: rec.ID, Recipient: rcpts[i].Address, Name: rcpts[i].Name, Kind: rcpts[i].Kind, Token: token}
	}

	res, err := s.change(ctx, "create send", func() (raftfsm.Batch, error) {
		var b raftfsm.Batch
		rec.Files = rec.Files[:0]
		rec.PendingScan = false
		var total int64
		for _, fid := range req.FileIDs {
			f, err := s.GetFile(ctx, owner, fid)
			if err != nil {
				return raftfsm.Batch{}, err
			}
			switch {
			case !f.Quarantined && f.Verdict == VerdictPending:
				rec.PendingScan = true // the send waits for the antivirus
			case f.Quarantined || !pol.sendable(f.Verdict, f.VerdictReason):
				return raftfsm.Batch{}, &FileNotSendableError{ID: fid, Verdict: f.Verdict, Reason: f.VerdictReason}
			}
			if total += f.Size; pol.MaxSendBytes > 0 && total > pol.MaxSendBytes {
				return raftfsm.Batch{}, fmt.Errorf("%w: the files total more than %d bytes, the most one send may carry", ErrSendTooLarge, pol.MaxSendBytes)
			}
			rec.Files = append(rec.Files, SendFile{ID: f.ID, Name: f.Name, Folder: f.Folder, Size: f.Size, SHA256: f.SHA256, Verdict: f.Verdict, VerdictReason: f.VerdictReason})
			fileVer := f.Version
			f.Sends = append(f.Sends, rec.ID)
			b.Conds = append(b.Conds, condVersion(fileKey(fid), fileVer))
			b.Ops = append(b.Ops, put(fileKey(fid), f))
		}
		details := map[string]any{
			"recipients": len(rcpts), "files": req.FileIDs, "expires": rec.Expires,
			"password": pwHash != "", "email_code": opts.EmailCode, "download_limit": opts.DownloadLimit,
			"delete_after_download": opts.DeleteAfterDownload,
		}
		if rec.PendingScan {
			details["pending_scan"] = true
		}
		b.Audit = audit(now, string(owner), "send.create", id, details)
		rec.Links = nil
		if !rec.PendingScan {
			rec.Links = hashes
		}
		for i := range rec.Recipients {
			rec.Recipients[i].LinkIssued = time.Time{}
			if !rec.PendingScan {
				rec.Recipients[i].LinkIssued = now
			}
		}
		b.Conds = append(b.Conds, condAbsent(sendKey(rec.ID)))
		b.Ops = append(b.Ops, put(sendKey(rec.ID), rec), put(ownerSendKey(owner, rec.ID), struct{}{}))
		for i, h := range rec.Links {
			b.Conds = append(b.Conds, condAbsent(linkKey(h)))
			b.Ops = append(b.Ops, put(linkKey(h), linkRecord{SendID: rec.ID, Recipient: i, Created: now}))
		}
		return b, nil
	})
	if err != nil {
		return Created{}, err
	}
	rec.Version = res.Index
	rec.State = rec.Status(now)
	if rec.PendingScan {
		s.logger.Info("send waits for the antivirus", keySendID, rec.ID)
		invs = nil
	}
	return Created{Send: rec.Send, Invitations: invs, Password: generated}, nil
}

// FileNotSendableError says which file a send cannot carry and why.
// errors.Is(err, ErrFileNotSendable) holds, and errors.Is(err, ErrFileScanning) too when the
// file is still being scanned (Verdict is VerdictPending).
type FileNotSendableError struct {
	ID      FileID
	Verdict Verdict
	Reason  string
}

func (e *FileNotSendableError) Error() string {
	if e.Verdict == VerdictPending {
		return fmt.Sprintf("transfer: file %s is still being scanned: try again when the scan is done", e.ID)
	}
	return fmt.Sprintf("transfer: file %s cannot be sent: verdict %s", e.ID, e.Verdict)
}

// Unwrap makes errors.Is(err, ErrFileNotSendable) true, and errors.Is(err, ErrFileScanning)
// for a file still being scanned, whose kind and code are then ErrFileScanning's.
func (e *FileNotSendableError) Unwrap() []error {
	if e.Verdict == VerdictPending {
		return []error{ErrFileScanning, ErrFileNotSendable}
	}
	return []error{ErrFileNotSendable}
}

// RecipientError names a bad recipient address. errors.Is(err, ErrInvalidRecipient) holds.
type RecipientError struct {
	Address string
	Reason  string
}

func (e *RecipientError) Error() string {
	return fmt.Sprintf("transfer: invalid recipient %q: %s", e.Address, e.Reason)
}

// Unwrap makes errors.Is(err, ErrInvalidRecipient) true, and gives its kind and code.
func (e *RecipientError) Unwrap() error { return ErrInvalidRecipient }

// NormalizeAddress checks a recipient address given by a client: a bare address
// (local@domain, no display name, no comment, no line break), at most 254 bytes. It returns
// the address with its domain lower-cased.
func NormalizeAddress(addr string) (string, error) {
	bad := func(reason string) (string, error) { return "", &RecipientError{Address: addr, Reason: reason} }
	if addr == "" {
		return bad("empty")
	}
	if len(addr) > maxAddressLen {
		return bad("too long")
	}
	if !utf8.ValidString(addr) || strings.ContainsFunc(addr, func(r rune) bool { return isControl(r) || isBidi(r) || r == ' ' }) {
		return bad("forbidden character")
	}
	parsed, err := mail.ParseAddress(addr)
	if err != nil || parsed.Name != "" || parsed.Address != addr {
		return bad("not a plain e-mail address")
	}
	at := strings.LastIndexByte(addr, '@')
	local, domain := addr[:at], addr[at+1:]
	if !strings.Contains(domain, ".") && domain != "localhost" {
		return bad("domain without a dot")
	}
	if strings.HasPrefix(domain, "[") {
		return bad("address literal")
	}
	return local + "@" + strings.ToLower(domain), nil
}

// ParseRecipient reads a recipient as a person gives it (issue 16 item 9): a bare address,
// or a display name and an address as mail clients write them ("Marie Dupont
// <marie@example.org>", a quoted name, an RFC 2047 encoded one). It returns the display name
// ("" for none) and the address as NormalizeAddress returns it. Errors are *RecipientError.
func ParseRecipient(s string) (name, addr string, err error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "<") {
		addr, err = NormalizeAddress(s)
		return "", addr, err
	}
	bad := func(reason string) (string, string, error) {
		return "", "", &RecipientError{Address: s, Reason: reason}
	}
	if len(s) > maxAddressLen+4*maxSenderName || !utf8.ValidString(s) {
		return bad("too long")
	}
	parsed, err := mail.ParseAddress(s)
	if err != nil {
		return bad("not an e-mail address")
	}
	if addr, err = NormalizeAddress(parsed.Address); err != nil {
		return "", "", err
	}
	name = strings.Join(strings.Fields(parsed.Name), " ")
	if name == addr {
		name = "" // "a@b.c <a@b.c>" names nobody
	}
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxSenderName ||
		strings.ContainsFunc(name, func(r rune) bool { return isControl(r) || isBidi(r) }) {
		return bad("display name too long or with forbidden characters")
	}
	return name, addr, nil
}

// checkRecipients validates and deduplicates To, Cc and Bcc (case-insensitively; the first
// header an address appears in wins). Each may carry a display name (ParseRecipient).
func (s *Service) checkRecipients(req SendRequest) ([]Recipient, error) {
	var out []Recipient
	seen := make(map[string]bool)
	for _, group := range []struct {
		kind  RecipientKind
		addrs []string
	}{{KindTo, req.To}, {KindCc, req.Cc}, {KindBcc, req.Bcc}} {
		for _, a := range group.addrs {
			name, norm, err := ParseRecipient(a)
			if err != nil {
				return nil, err
			}
			key := strings.ToLower(norm)
			if seen[key] {
				continue
			}
			seen[key] = true
			out = append(out, Recipient{Address: norm, Name: name, Kind: group.kind})
			if len(out) > s.cfg.MaxRecipients {
				return nil, fmt.Errorf("%w: at most %d", ErrTooManyRecipients, s.cfg.MaxRecipients)
			}
		}
	}
	if len(out) == 0 {
		return nil, ErrNoRecipients
	}
	return out, nil
}

// checkTexts validates the subject (one line), the message (lines) and the sender shown.
// Markup is not refused: it is text, which pages and mails render inertly.
func (s *Service) checkTexts(req SendRequest) error {
	subjectBad := func(r rune) bool { return isControl(r) || isBidi(r) }
	messageBad := func(r rune) bool { return r != '\n' && r != '\r' && r != '\t' && (isControl(r) || isBidi(r)) }
	switch {
	case !utf8.ValidString(req.Subject) || utf8.RuneCountInString(req.Subject) > s.cfg.MaxSubject || strings.ContainsFunc(req.Subject, subjectBad):
		return fmt.Errorf("%w: subject", ErrInvalidText)
	case !utf8.ValidString(req.Message) || utf8.RuneCountInString(req.Message) > s.cfg.MaxMessage || strings.ContainsFunc(req.Message, messageBad):
		return fmt.Errorf("%w: message", ErrInvalidText)
	case !utf8.ValidString(req.From.Name) || utf8.RuneCountInString(req.From.Name) > maxSenderName || strings.ContainsFunc(req.From.Name, subjectBad):
		return fmt.Errorf("%w: sender name", ErrInvalidText)
	}
	if req.From.Email != "" {
		if _, err := NormalizeAddress(req.From.Email); err != nil {
			return fmt.Errorf("%w: sender address: %w", ErrInvalidText, err)
		}
	}
	return nil
}

// passwordAlphabet has no look-alikes (0/O, 1/l/I).
const passwordAlphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// newPassword returns 16 characters from passwordAlphabet (about 93 bits).
func (s *Service) newPassword() (string, error) {
	return s.randomString(16, passwordAlphabet)
}

// randomString draws n characters of alphabet without modulo bias.
func (s *Service) randomString(n int, alphabet string) (string, error) {
	out := make([]byte, 0, n)
	limit := 256 - 256%len(alphabet)
	var buf [64]byte
	for len(out) < n {
		if err := s.readRand(buf[:]); err != nil {
			return "", err
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out), nil
}

// readSend reads a send record; ErrSendNotFound when absent.
func (s *Service) readSend(id SendID) (sendRecord, error) {
	if !parseID(string(id)) {
		return sendRecord{}, ErrSendNotFound
	}
	var rec sendRecord
	ver, err := s.getJSON(sendKey(id), &rec)
	if errors.Is(err, raftfsm.ErrNotFound) {
		return sendRecord{}, fmt.Errorf("%w: %s", ErrSendNotFound, id)
	}
	if err != nil {
		return sendRecord{}, fmt.Errorf("read send %s: %w", id, err)
	}
	rec.Version = ver
	rec.State, rec.Suspended = "", false // derived at each read that returns it, never stored
	return rec, nil
}

// ownSend reads the owner's send: another user's send is ErrSendNotFound, as if absent.
func (s *Service) ownSend(owner userid.ID, id SendID) (sendRecord, error) {
	rec, err := s.readSend(id)
	if err != nil {
		return sendRecord{}, err
	}
	if rec.Owner != owner {
		return sendRecord{}, fmt.Errorf("%w: %s", ErrSendNotFound, id)
	}
	return rec, nil
}

// GetSend returns the owner's send with its per-recipient tracking. Another user's send is
// ErrSendNotFound.
func (s *Service) GetSend(ctx context.Context, owner userid.ID, id SendID) (Send, error) {
	rec, err := s.ownSend(owner, id)
	if err != nil {
		return Send{}, err
	}
	now := s.clock()
	rec.State = rec.Status(now)
	if err := s.markSuspended(now, &rec.Send); err != nil {
		return Send{}, err
	}
	return rec.Send, nil
}

// ListSends returns the owner's sends, newest first.
func (s *Service) ListSends(ctx context.Context, owner userid.ID) ([]Send, error) {
	if err := checkOwner(owner); err != nil {
		return nil, err
	}
	prefix := ownerSendPrefix(owner)
	var ids []SendID
	err := s.store.Scan(prefix, func(item raftfsm.Item) error {
		ids = append(ids, SendID(item.Key[len(prefix):]))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list sends: %w", err)
	}
	out := make([]Send, 0, len(ids))
	for _, id := range ids {
		rec, err := s.ownSend(owner, id)
		if errors.Is(err, ErrSendNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, rec.Send)
	}
	if err := s.derive(out...); err != nil {
		return nil, err
	}
	// UUID v7 sort by time; the newest first.
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	return out, nil
}

// Revoke ends the owner's send at once: its links are deleted and answer ErrLinkNotFound on
// every node; the sweep then destroys the files no other active send carries. Revoking a
// revoked send does nothing.
func (s *Service) Revoke(ctx context.Context, owner userid.ID, id SendID) error {
	return s.revoke(ctx, id, string(owner), func(rec *sendRecord) (map[string]any, error) {
		if rec.Owner != owner {
			return nil, fmt.Errorf("%w: %s", ErrSendNotFound, id)
		}
		return nil, nil
	})
}

// revoke revokes send id, journalled with actor, once check accepts its record; check returns
// the journal entry's details.
func (s *Service) revoke(ctx context.Context, id SendID, actor string, check func(*sendRecord) (map[string]any, error)) error {
	_, err := s.change(ctx, "revoke send "+string(id), func() (raftfsm.Batch, error) {
		rec, err := s.readSend(id)
		if err != nil {
			return raftfsm.Batch{}, err
		}
		details, err := check(&rec)
		if err != nil {
			return raftfsm.Batch{}, err
		}
		if !rec.RevokedAt.IsZero() {
			return raftfsm.Batch{}, errSkip
		}
		now := s.clock()
		rec.RevokedAt = now
		b := raftfsm.Batch{
			Conds: []raftfsm.Cond{condVersion(sendKey(id), rec.Version)},
			Audit: audit(now, actor, "send.revoke", string(id), details),
		}
		if !rec.LinksClosed {
			for _, h := range rec.Links {
				b.Ops = append(b.Ops, del(linkKey(h)))
			}
			rec.LinksClosed = true
		}
		b.Ops = append(b.Ops, put(sendKey(id), rec))
		return b, nil
	})
	return skipped(err)
}

// Resend issues a recipient's link again. The old token is not stored, so it cannot be
// mailed again: Resend mints a new token for that recipient, and the old one (and the grants
// obtained with it) stops working at once. It returns the invitation to mail; the mail's
// delivery is recorded by RecordNotified. Resends are bounded per send and per owner
// (Config.Resend, ErrTooManyResends).
func (s *Service) Resend(ctx context.Context, owner userid.ID, id SendID, recipient string) (Invitation, error) {
	token, hash, err := s.newToken()
	if err != nil {
		return Invitation{}, err
	}
	// The owner's budget is taken first and given back if the resend does not happen, so a
	// burst of concurrent resends cannot pass it.
	res, ok := s.resends.reserve(owner)
	if !ok {
		return Invitation{}, fmt.Errorf("%w: %d per %v for one user", ErrTooManyResends, s.cfg.Resend.PerUser, s.cfg.Resend.Window)
	}
	defer func() {
		if err != nil {
			res.cancel()
		}
	}()
	var inv Invitation
	_, err = s.change(ctx, "resend "+string(id), func() (raftfsm.Batch, error) {
		rec, err := s.ownSend(owner, id)
		if err != nil {
			return raftfsm.Batch{}, err
		}
		now := s.clock()
		if st := rec.Status(now); st != StatusActive {
			return raftfsm.Batch{}, fmt.Errorf("%w: %s", ErrSendNotActive, st)
		}
		i := rec.recipientIndex(recipient)
		if i < 0 {
			return raftfsm.Batch{}, ErrRecipientNotFound
		}
		// The send's budget, in its record: the version condition makes it exact however
		// many resends race.
		if now.Sub(rec.ResendWindow) >= s.cfg.Resend.Window {
			rec.ResendWindow, rec.ResendCount = now, 0
		}
		if rec.ResendCount >= s.cfg.Resend.PerSend {
			return raftfsm.Batch{}, fmt.Errorf("%w: %d per %v for one send", ErrTooManyResends, s.cfg.Resend.PerSend, s.cfg.Resend.Window)
		}
		rec.ResendCount++
		old := rec.Links[i]
		rec.Links[i] = hash
		rec.Recipients[i].LinkIssued = now
		inv = Invitation{SendID: id, Recipient: rec.Recipients[i].Address, Name: rec.Recipients[i].Name, Kind: rec.Recipients[i].Kind, Token: token}
		return raftfsm.Batch{
			Conds: []raftfsm.Cond{condVersion(sendKey(id), rec.Version), condAbsent(linkKey(hash))},
			Ops: []raftfsm.Op{
				del(linkKey(old)),
				put(linkKey(hash), linkRecord{SendID: id, Recipient: i, Created: now}),
				put(sendKey(id), rec),
			},
			Audit: audit(now, string(owner), "send.resend", string(id), map[string]any{"recipient": rec.Recipients[i].Address}),
		}, nil
	})
	if err != nil {
		return Invitation{}, err
	}
	return inv, nil
}

func (r *sendRecord) recipientIndex(addr string) int {
	return slices.IndexFunc(r.Recipients, func(rc Recipient) bool { return strings.EqualFold(rc.Address, addr) })
}

// RecordNotified records that the mail carrying recipient's link was handed to the relay (or
// the outbox) at the leader's current time.
func (s *Service) RecordNotified(ctx context.Context, id SendID, recipient string) error {
	_, err := s.change(ctx, "record notification of "+string(id), func() (raftfsm.Batch, error) {
		rec, err := s.readSend(id)
		if err != nil {
			return raftfsm.Batch{}, err
		}
		i := rec.recipientIndex(recipient)
		if i < 0 {
			return raftfsm.Batch{}, ErrRecipientNotFound
		}
		now := s.clock()
		r := &rec.Recipients[i]
		if r.NotifiedFirst.IsZero() {
			r.NotifiedFirst = now
		}
		r.NotifiedLast = now
		r.NotifyCount++
		return raftfsm.Batch{
			Conds: []raftfsm.Cond{condVersion(sendKey(id), rec.Version)},
			Ops:   []raftfsm.Op{put(sendKey(id), rec)},
			Audit: audit(now, "system", "send.notified", string(id), map[string]any{"recipient": r.Address, "count": r.NotifyCount}),
		}, nil
	})
	return err
}
