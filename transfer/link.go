package transfer

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"valise/internal/clientaddr"
	"valise/raftfsm"
)

// grantRecord is a recipient's pass after a challenge, stored under the SHA-256 of its token.
type grantRecord struct {
	SendID   SendID    `json:"send_id"`
	LinkHash string    `json:"link_hash"` // the link it was won on: a resend voids it
	Password bool      `json:"password,omitempty"`
	Code     bool      `json:"code,omitempty"`
	Expires  time.Time `json:"expires"`
}

// liveLink is a link found valid by a linearizable read.
type liveLink struct {
	hash    string
	link    linkRecord
	linkVer uint64
	send    sendRecord
}

func (l *liveLink) recipient() *Recipient { return &l.send.Recipients[l.link.Recipient] }

// openLink checks a token: after a linearizable read, the link must exist, still be its
// recipient's current link, and its send be active (anything else is ErrLinkNotFound) and
// not suspended after a restore (ErrSuspended).
func (s *Service) openLink(ctx context.Context, token string) (liveLink, error) {
	hash, ok := ParseToken(token)
	if !ok {
		return liveLink{}, ErrLinkNotFound
	}
	if err := s.store.LinearizableRead(ctx); err != nil {
		return liveLink{}, fmt.Errorf("check link: %w", err)
	}
	return s.readLink(hash)
}

// readLink reads the link stored under hash from the local state (no linearizable read).
func (s *Service) readLink(hash string) (liveLink, error) {
	l := liveLink{hash: hash}
	ver, err := s.getJSON(linkKey(hash), &l.link)
	if errors.Is(err, raftfsm.ErrNotFound) {
		return liveLink{}, ErrLinkNotFound
	}
	if err != nil {
		return liveLink{}, fmt.Errorf("read link: %w", err)
	}
	l.linkVer = ver
	l.send, err = s.readSend(l.link.SendID)
	if errors.Is(err, ErrSendNotFound) {
		return liveLink{}, ErrLinkNotFound
	}
	if err != nil {
		return liveLink{}, err
	}
	i := l.link.Recipient
	if i < 0 || i >= len(l.send.Links) || l.send.Links[i] != hash || l.send.Status(s.clock()) != StatusActive {
		return liveLink{}, ErrLinkNotFound
	}
	// A dead link stays dead; a live one may be suspended after a restore (suspend.go).
	if err := s.checkSuspended(&l.send.Send); err != nil {
		return liveLink{}, err
	}
	return l, nil
}

// view is what the link shows: everything when the challenges are passed (the grant's state
// in g, nil when the send asks none), else only what passing them needs.
func (l *liveLink) view(g *grantRecord) LinkView {
	v := LinkView{
		From:             Sender{Name: l.send.From.Name},
		PasswordRequired: l.send.PasswordHash != "", EmailCodeRequired: l.send.Options.EmailCode,
	}
	if v.From.Name == "" {
		v.From.Name = l.send.From.Email
	}
	if g != nil {
		v.PasswordPassed, v.EmailCodePassed = g.Password, g.Code
	}
	if (v.PasswordRequired && !v.PasswordPassed) || (v.EmailCodeRequired && !v.EmailCodePassed) {
		v.Locked = true
		return v
	}
	v.SendID, v.Recipient, v.From = l.send.ID, l.recipient().Address, l.send.From
	v.Subject, v.Message, v.Expires = l.send.Subject, l.send.Message, l.send.Expires
	for _, f := range l.send.Files {
		v.Files = append(v.Files, LinkFile{
			ID: f.ID, Name: f.Name, Folder: f.Folder, Size: f.Size, SHA256: f.SHA256, Verdict: f.Verdict, VerdictReason: f.VerdictReason,
			Available: l.send.Options.DownloadLimit == 0 || f.Downloads < l.send.Options.DownloadLimit,
		})
	}
	return v
}

// OpenLink returns what the recipient of a link sees, and records that they opened it (even
// locked: the sender learns the link was followed). Until grant (a token from
// CheckLinkPassword or CheckEmailCode, "" for none) has passed every challenge the send asks
// for, the view is Locked and shows only what the challenges need.
// An unknown, revoked, expired, replaced or used-up link is ErrLinkNotFound, all alike. The
// tracking is best effort: when it cannot be recorded (a conflict storm, no leader) the view
// is still returned and the failure logged.
func (s *Service) OpenLink(ctx context.Context, token, grant, clientIP string) (LinkView, error) {
	l, err := s.openLink(ctx, token)
	if err != nil {
		return LinkView{}, err
	}
	g, err := s.readGrant(&l, grant)
	if err != nil {
		return LinkView{}, err
	}
	view := l.view(g)
	s.refreshFiles(&view)
	_, err = s.change(ctx, "record link open", func() (raftfsm.Batch, error) {
		send, err := s.readSend(l.send.ID)
		if err != nil {
			return raftfsm.Batch{}, err
		}
		now := s.clock()
		r := &send.Recipients[l.link.Recipient]
		if r.OpenedFirst.IsZero() {
			r.OpenedFirst = now
		}
		r.OpenedLast = now
		return raftfsm.Batch{
			Conds: []raftfsm.Cond{condVersion(sendKey(send.ID), send.Version)},
			Ops:   []raftfsm.Op{put(sendKey(send.ID), send)},
			Audit: audit(now, recipientActor(r.Address), "link.open", string(send.ID), map[string]any{"ip": clientIP}),
		}, nil
	})
	if err != nil {
		s.logger.Warn("link open not recorded", keySendID, l.send.ID, keyError, err)
	}
	return view, nil
}

// refreshFiles marks unavailable the files of a view that were found infected (or destroyed)
// since the send was made, with their current verdict.
func (s *Service) refreshFiles(v *LinkView) {
	for i := range v.Files {
		lf := &v.Files[i]
		var f File
		if _, err := s.getJSON(fileKey(lf.ID), &f); err != nil {
			lf.Available = false
			continue
		}
		lf.Verdict, lf.VerdictReason = f.Verdict, f.VerdictReason
		if f.Quarantined || !s.policy().sendable(f.Verdict, f.VerdictReason) {
			lf.Available = false
		}
	}
}

func recipientActor(addr string) string { return "recipient:" + addr }

// CheckLinkPassword checks the send's password for a link, given from client address
// clientIP. On success it returns a grant: a new one, or grant (a token from an earlier
// challenge on this link) with the password added; the grant is Complete when no e-mail code
// is also required. Failures are counted per link and per (link, client address) in the
// replicated link record. After Challenge.PasswordMaxFailures wrong passwords in a row the
// link is locked for Challenge.PasswordLockout, and so is an address after as many of its
// own. A locked address, and while the link is locked an address with failures of its own
// or any address during the lock's first Challenge.LockFloor, gets ErrTooManyAttempts for
// every password, unchecked, right or wrong alike; so is a password that comes while as many
// checks run as failures remain before the lock (one at a time past the floor), so that a
// burst of guesses gets no more checks than that. Past the floor an address without failures
// is checked, so that one guesser cannot lock the recipient out (issue 16 item 4); its
// failure extends the link's lock. A right password that finds the link locked after its
// check (by concurrent guesses) gets ErrWrongPassword, the answer a wrong one gets.
func (s *Service) CheckLinkPassword(ctx context.Context, token, grant, password, clientIP string) (Grant, error) {
	l, err := s.openLink(ctx, token)
	if err != nil {
		return Grant{}, err
	}
	if l.send.PasswordHash == "" {
		return Grant{}, ErrNotRequired
	}
	ch := s.cfg.Challenge
	slot := addrSlot("password", clientIP)
	now := s.clock()
	linkLocked := now.Before(l.link.LockedUntil)
	if ch.addrBlocked(&l.link, slot, linkLocked, l.link.LockedSince, now) {
		return Grant{}, ErrTooManyAttempts
	}
	key := challengeKey(l.hash, "password")
	left := ch.checksLeft(ch.PasswordMaxFailures, l.link.PasswordFailures, linkLocked, ch.freshAddr(l.link.Addrs[slot], now))
	if !s.checks.admit(key, left) {
		return Grant{}, fmt.Errorf("%w: checks of this link already running", ErrTooManyAttempts)
	}
	defer s.checks.release(key)
	// Admitted as another check ended, this one may have read the link before that one's
	// failure was recorded (recorded before its release): read it again before hashing.
	var fresh linkRecord
	if _, err := s.getJSON(linkKey(l.hash), &fresh); err != nil {
		return Grant{}, fmt.Errorf("read link: %w", err)
	}
	now = s.clock()
	linkLocked = now.Before(fresh.LockedUntil)
	left = ch.checksLeft(ch.PasswordMaxFailures, fresh.PasswordFailures, linkLocked, ch.freshAddr(fresh.Addrs[slot], now))
	if ch.addrBlocked(&fresh, slot, linkLocked, fresh.LockedSince, now) || !s.checks.within(key, left) {
		return Grant{}, fmt.Errorf("%w: locked or too many checks since admitted", ErrTooManyAttempts)
	}
	okPw, err := s.hasher.VerifyPassword(ctx, password, l.send.PasswordHash)
	if err != nil {
		return Grant{}, fmt.Errorf("verify link password: %w", err)
	}
	if !okPw {
		_, err := s.change(ctx, "record wrong password", func() (raftfsm.Batch, error) {
			l, err := s.readLink(l.hash)
			if err != nil {
				return raftfsm.Batch{}, err
			}
			now := s.clock()
			lk := &l.link
			locked := now.Before(lk.LockedUntil)
			if locked {
				// A failure during the lock extends it; its start, and so the floor, is kept.
				lk.LockedUntil = now.Add(ch.PasswordLockout)
			} else if lk.PasswordFailures++; lk.PasswordFailures >= ch.PasswordMaxFailures {
				lk.PasswordFailures = 0
				lk.LockedUntil, lk.LockedSince = now.Add(ch.PasswordLockout), now
				locked = true
			}
			addrLocked := ch.failAddr(lk, slot, ch.PasswordMaxFailures, now)
			return raftfsm.Batch{
				Conds: []raftfsm.Cond{condVersion(linkKey(l.hash), l.linkVer)},
				Ops:   []raftfsm.Op{put(linkKey(l.hash), *lk)},
				Audit: audit(now, recipientActor(l.recipient().Address), "link.password", string(l.send.ID),
					map[string]any{"ok": false, "locked": locked, "address": clientaddr.Key(clientIP), "address_locked": addrLocked}),
			}, nil
		})
		if err != nil {
			return Grant{}, err
		}
		return Grant{}, ErrWrongPassword
	}
	return s.grant(ctx, l, grant, "link.password", func(g *grantRecord, link *linkRecord) error {
		// Locked meanwhile by concurrent wrong guesses: the right password comes too late,
		// and is answered as the wrong ones checked with it are.
		now := s.clock()
		locked := now.Before(link.LockedUntil)
		if ch.addrBlocked(link, slot, locked, link.LockedSince, now) {
			return fmt.Errorf("%w: locked during the check", ErrWrongPassword)
		}
		g.Password = true
		if !locked { // a lock let through past its floor stays for the other addresses
			link.PasswordFailures = 0
		}
		delete(link.Addrs, slot)
		if len(link.Addrs) == 0 {
			link.Addrs = nil
		}
		return nil
	})
}

// grant adds a passed challenge to the grant given (when it is valid for this link) or to a
// new one, and saves the link's updated challenge state. passed checks the challenge again on
// the fresh link record (a concurrent request may have burnt the code or locked the link)
// and records it; the batch is conditioned on that record's version.
func (s *Service) grant(ctx context.Context, l liveLink, grant, action string, passed func(*grantRecord, *linkRecord) error) (Grant, error) {
	now := s.clock()
	var g grantRecord
	var gHash, gToken string
	var gVer uint64
	if h, ok := ParseToken(grant); ok {
		ver, err := s.getJSON(grantKey(h), &g)
		if err == nil && g.LinkHash == l.hash && now.Before(g.Expires) {
			gHash, gToken, gVer = h, grant, ver
		}
	}
	if gHash == "" {
		var err error
		if gToken, gHash, err = s.newToken(); err != nil {
			return Grant{}, err
		}
		g = grantRecord{SendID: l.send.ID, LinkHash: l.hash}
	}
	g.Expires = now.Add(s.cfg.Challenge.GrantTTL)
	var rec grantRecord
	_, err := s.change(ctx, "grant link access", func() (raftfsm.Batch, error) {
		fresh, err := s.readLink(l.hash)
		if err != nil {
			return raftfsm.Batch{}, err
		}
		g := g // each attempt starts from the grant as read
		if err := passed(&g, &fresh.link); err != nil {
			return raftfsm.Batch{}, err
		}
		rec = g
		return raftfsm.Batch{
			Conds: []raftfsm.Cond{condVersion(linkKey(l.hash), fresh.linkVer), condVersion(grantKey(gHash), gVer)},
			Ops:   []raftfsm.Op{put(linkKey(l.hash), fresh.link), put(grantKey(gHash), g)},
			Audit: audit(now, recipientActor(fresh.recipient().Address), action, string(l.send.ID), map[string]any{"ok": true}),
		}, nil
	})
	if err != nil {
		return Grant{}, err
	}
	return Grant{Token: gToken, Expires: rec.Expires, Complete: rec.complete(&l.send)}, nil
}

func (g *grantRecord) complete(send *sendRecord) bool {
	return (send.PasswordHash == "" || g.Password) && (!send.Options.EmailCode || g.Code)
}

// IssueEmailCode makes a new code for a link whose send asks for one, replacing any pending
// code, and returns it with the recipient's address for the mail. At most
// Challenge.CodeMaxIssues codes per link per Challenge.CodeIssueWindow (ErrTooManyAttempts),
// so that re-issuing cannot multiply the guesses.
func (s *Service) IssueEmailCode(ctx context.Context, token string) (EmailCode, error) {
	l, err := s.openLink(ctx, token)
	if err != nil {
		return EmailCode{}, err
	}
	if !l.send.Options.EmailCode {
		return EmailCode{}, ErrNotRequired
	}
	ch := s.cfg.Challenge
	code, err := s.randomString(ch.CodeDigits, "0123456789")
	if err != nil {
		return EmailCode{}, err
	}
	var salt [16]byte
	if err := s.readRand(salt[:]); err != nil {
		return EmailCode{}, err
	}
	var out EmailCode
	_, err = s.change(ctx, "issue e-mail code", func() (raftfsm.Batch, error) {
		l, err := s.readLink(l.hash)
		if err != nil {
			return raftfsm.Batch{}, err
		}
		now := s.clock()
		if now.Sub(l.link.CodeWindow) >= ch.CodeIssueWindow {
			l.link.CodeWindow, l.link.CodeIssues = now, 0
		}
		if l.link.CodeIssues >= ch.CodeMaxIssues {
			return raftfsm.Batch{}, ErrTooManyAttempts
		}
		l.link.CodeIssues++
		l.link.CodeSalt = hex.EncodeToString(salt[:])
		l.link.CodeHash = hashCode(salt[:], code)
		l.link.CodeExpires = now.Add(ch.CodeTTL)
		l.link.CodeAttempts, l.link.CodeLocked = 0, time.Time{}
		forgetAddrs(&l.link, "code") // a new code: every address starts afresh
		out = EmailCode{Code: code, Recipient: l.recipient().Address, Expires: l.link.CodeExpires, SendID: l.send.ID, SenderName: l.send.From.Name}
		return raftfsm.Batch{
			Conds: []raftfsm.Cond{condVersion(linkKey(l.hash), l.linkVer)},
			Ops:   []raftfsm.Op{put(linkKey(l.hash), l.link)},
			Audit: audit(now, recipientActor(l.recipient().Address), "link.code_issue", string(l.send.ID), nil),
		}, nil
	})
	if err != nil {
		return EmailCode{}, err
	}
	return out, nil
}

func hashCode(salt []byte, code string) string {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(code))
	return hex.EncodeToString(h.Sum(nil))
}

// CheckEmailCode checks the pending e-mail code of a link, given from client address
// clientIP. On success the code is used up and the grant returned as CheckLinkPassword does.
// A wrong code counts one attempt for the code and one for the address. After
// Challenge.CodeMaxAttempts attempts the code is locked, and an address after as many of
// its own: a locked address, and while the code is locked an address with failures of its
// own or any address during the lock's first Challenge.LockFloor, gets ErrTooManyAttempts,
// unchecked, right code or wrong alike (the attempt that locks gets it too). Past the floor an
// address without failures is checked, one at a time, so that one guesser cannot lock the
// recipient out (issue 16 item 4); after codeBurnFactor × CodeMaxAttempts attempts in all
// the code is burnt (ErrTooManyAttempts, then ErrCodeExpired). A code that comes while as
// many checks run as attempts remain is refused unchecked (ErrTooManyAttempts); a right code
// locked or burnt during its check gets what a wrong one then gets.
func (s *Service) CheckEmailCode(ctx context.Context, token, grant, code, clientIP string) (Grant, error) {
	l, err := s.openLink(ctx, token)
	if err != nil {
		return Grant{}, err
	}
	if !l.send.Options.EmailCode {
		return Grant{}, ErrNotRequired
	}
	ch := s.cfg.Challenge
	now := s.clock()
	if l.link.CodeHash == "" || !now.Before(l.link.CodeExpires) {
		return Grant{}, ErrCodeExpired
	}
	slot := addrSlot("code", clientIP)
	codeLocked := func(lk *linkRecord) bool { return lk.CodeAttempts >= ch.CodeMaxAttempts }
	if ch.addrBlocked(&l.link, slot, codeLocked(&l.link), l.link.CodeLocked, now) {
		return Grant{}, ErrTooManyAttempts
	}
	key := challengeKey(l.hash, "code")
	left := ch.checksLeft(ch.CodeMaxAttempts, l.link.CodeAttempts, codeLocked(&l.link), ch.freshAddr(l.link.Addrs[slot], now))
	if !s.checks.admit(key, left) {
		return Grant{}, fmt.Errorf("%w: checks of this code already running", ErrTooManyAttempts)
	}
	defer s.checks.release(key)
	code = strings.TrimSpace(code)
	var verdict error
	_, err = s.change(ctx, "check e-mail code", func() (raftfsm.Batch, error) {
		l, err := s.readLink(l.hash)
		if err != nil {
			return raftfsm.Batch{}, err
		}
		now := s.clock()
		lk := &l.link
		if lk.CodeHash == "" || !now.Before(lk.CodeExpires) {
			return raftfsm.Batch{}, ErrCodeExpired
		}
		if ch.addrBlocked(lk, slot, codeLocked(lk), lk.CodeLocked, now) {
			verdict = ErrTooManyAttempts // locked meanwhile: unchecked, as a wrong one now is
			return raftfsm.Batch{}, errSkip
		}
		salt, _ := hex.DecodeString(lk.CodeSalt)
		if subtle.ConstantTimeCompare([]byte(hashCode(salt, code)), []byte(lk.CodeHash)) == 1 {
			verdict = nil
			return raftfsm.Batch{}, errSkip // the grant's batch records the success
		}
		lk.CodeAttempts++
		addrLocked := ch.failAddr(lk, slot, ch.CodeMaxAttempts, now)
		verdict = ErrWrongCode
		locked := codeLocked(lk)
		if locked && lk.CodeLocked.IsZero() {
			lk.CodeLocked = now
		}
		if locked || addrLocked {
			verdict = ErrTooManyAttempts
		}
		burnt := lk.CodeAttempts >= codeBurnFactor*ch.CodeMaxAttempts
		if burnt {
			lk.CodeHash, lk.CodeSalt, lk.CodeExpires, lk.CodeAttempts, lk.CodeLocked = "", "", time.Time{}, 0, time.Time{}
			forgetAddrs(lk, "code")
		}
		return raftfsm.Batch{
			Conds: []raftfsm.Cond{condVersion(linkKey(l.hash), l.linkVer)},
			Ops:   []raftfsm.Op{put(linkKey(l.hash), *lk)},
			Audit: audit(now, recipientActor(l.recipient().Address), "link.code", string(l.send.ID), map[string]any{
				"ok": false, "locked": locked, "burnt": burnt, "address": clientaddr.Key(clientIP), "address_locked": addrLocked}),
		}, nil
	})
	if err = skipped(err); err != nil {
		return Grant{}, err
	}
	if verdict != nil {
		return Grant{}, verdict
	}
	return s.grant(ctx, l, grant, "link.code", func(g *grantRecord, link *linkRecord) error {
		// Check again on the fresh record: burnt by concurrent wrong guesses, expired or
		// replaced by a newer code since, it no longer opens anything; locked meanwhile,
		// it gets what a wrong one now gets.
		if link.CodeHash == "" || !s.clock().Before(link.CodeExpires) {
			return ErrCodeExpired
		}
		salt, _ := hex.DecodeString(link.CodeSalt)
		if subtle.ConstantTimeCompare([]byte(hashCode(salt, code)), []byte(link.CodeHash)) != 1 {
			return ErrCodeExpired
		}
		if ch.addrBlocked(link, slot, codeLocked(link), link.CodeLocked, s.clock()) {
			return fmt.Errorf("%w: locked during the check", ErrTooManyAttempts)
		}
		link.CodeHash, link.CodeSalt, link.CodeExpires, link.CodeAttempts, link.CodeLocked = "", "", time.Time{}, 0, time.Time{}
		forgetAddrs(link, "code")
		g.Code = true
		return nil
	})
}

// readGrant returns the state of grant on the link: nil when the send asks no challenge,
// an empty record when grant is missing, unknown, expired or won on another link.
func (s *Service) readGrant(l *liveLink, grant string) (*grantRecord, error) {
	if l.send.PasswordHash == "" && !l.send.Options.EmailCode {
		return nil, nil
	}
	h, ok := ParseToken(grant)
	if !ok {
		return &grantRecord{}, nil
	}
	var g grantRecord
	if _, err := s.getJSON(grantKey(h), &g); err != nil {
		if errors.Is(err, raftfsm.ErrNotFound) {
			return &grantRecord{}, nil
		}
		return nil, fmt.Errorf("read grant: %w", err)
	}
	if g.LinkHash != l.hash || !s.clock().Before(g.Expires) {
		return &grantRecord{}, nil
	}
	return &g, nil
}

// checkGrant reports whether grant lets the link download: always when the send asks no
// challenge, else the grant must be valid, won on this very link and complete.
func (s *Service) checkGrant(l *liveLink, grant string) error {
	g, err := s.readGrant(l, grant)
	if err != nil {
		return err
	}
	if g != nil && !g.complete(&l.send) {
		return ErrChallengeRequired
	}
	return nil
}

// downloadHoldLease bounds how long a download in progress holds one of the downloads a
// limit has left: past it (the node serving it died, or the client reads very slowly) the
// download no longer blocks others, and is still counted by its bytes when it ends.
const downloadHoldLease = 12 * time.Hour

// StartDownload allows a recipient to download one file of the send: the link must be live
// (a linearizable read), the grant valid when the send asks for a challenge
// (ErrChallengeRequired), the file part of the send, below the download limit
// (ErrDownloadLimit), still stored and still clean (ErrFileNotFound). Under a download limit
// (or delete after download), the download first takes a hold on one of the downloads the
// limit has left, through Raft before the first byte: when downloads in progress hold them
// all, it is ErrDownloadBusy. FinishDownload records the download and releases the hold.
// rangeReq says the request asks for a part of the file (a resumed download).
func (s *Service) StartDownload(ctx context.Context, token, grant string, fileID FileID, clientIP string, rangeReq bool) (Ticket, error) {
	l, err := s.openLink(ctx, token)
	if err != nil {
		return Ticket{}, err
	}
	if err := s.checkGrant(&l, grant); err != nil {
		return Ticket{}, err
	}
	view := l.view(&grantRecord{Password: true, Code: true}) // checkGrant passed
	i := slices.IndexFunc(view.Files, func(f LinkFile) bool { return f.ID == fileID })
	if i < 0 {
		return Ticket{}, fmt.Errorf("%w: %s not in the send", ErrFileNotFound, fileID)
	}
	if !view.Files[i].Available {
		return Ticket{}, ErrDownloadLimit
	}
	var f File
	if _, err := s.getJSON(fileKey(fileID), &f); err != nil {
		if errors.Is(err, raftfsm.ErrNotFound) {
			return Ticket{}, fmt.Errorf("%w: %s destroyed", ErrFileNotFound, fileID)
		}
		return Ticket{}, fmt.Errorf("read file %s: %w", fileID, err)
	}
	if f.Quarantined || !s.policy().sendable(f.Verdict, f.VerdictReason) {
		return Ticket{}, fmt.Errorf("%w: %s is %s", ErrFileNotFound, fileID, f.Verdict)
	}
	t := Ticket{
		SendID: l.send.ID, Recipient: l.recipient().Address, File: view.Files[i],
		Manifest: f.Manifest, ClientIP: clientIP, Range: rangeReq, Started: s.clock(),
	}
	if limit := downloadLimit(&l.send); limit > 0 {
		if t.Hold, err = s.holdDownload(ctx, l.send.ID, fileID, t.Recipient, limit); err != nil {
			return Ticket{}, err
		}
	}
	return t, nil
}

// downloadLimit is the number of downloads each file of the send allows, 0 for no limit:
// delete after download allows one.
func downloadLimit(send *sendRecord) int {
	limit := send.Options.DownloadLimit
	if send.Options.DeleteAfterDownload && (limit == 0 || limit > 1) {
		limit = 1
	}
	return limit
}

// holdDownload takes a hold on one of the downloads the file's limit has left, in a batch
// conditioned on the send's version: concurrent downloads cannot take more holds than the
// limit leaves.
func (s *Service) holdDownload(ctx context.Context, id SendID, fileID FileID, recipient string, limit int) (string, error) {
	hold, _, err := s.newToken()
	if err != nil {
		return "", err
	}
	_, err = s.change(ctx, "hold download", func() (raftfsm.Batch, error) {
		send, err := s.readSend(id)
		if err != nil {
			return raftfsm.Batch{}, err
		}
		now := s.clock()
		if send.Status(now) != StatusActive {
			return raftfsm.Batch{}, ErrLinkNotFound
		}
		fi := slices.IndexFunc(send.Files, func(f SendFile) bool { return f.ID == fileID })
		if fi < 0 {
			return raftfsm.Batch{}, fmt.Errorf("%w: %s not in the send", ErrFileNotFound, fileID)
		}
		if send.Files[fi].Downloads >= limit {
			return raftfsm.Batch{}, ErrDownloadLimit
		}
		holds := slices.DeleteFunc(slices.Clone(send.Holds[fileID]), func(h downloadHold) bool { return !now.Before(h.Until) })
		if send.Files[fi].Downloads+len(holds) >= limit {
			return raftfsm.Batch{}, ErrDownloadBusy
		}
		if send.Holds == nil {
			send.Holds = map[FileID][]downloadHold{}
		}
		send.Holds[fileID] = append(holds, downloadHold{ID: hold, Until: now.Add(downloadHoldLease)})
		return raftfsm.Batch{
			Conds: []raftfsm.Cond{condVersion(sendKey(send.ID), send.Version)},
			Ops:   []raftfsm.Op{put(sendKey(send.ID), send)},
			Audit: audit(now, recipientActor(recipient), "file.download_start", string(send.ID), map[string]any{"file": fileID}),
		}, nil
	})
	if err != nil {
		return "", err
	}
	return hold, nil
}

// FinishDownload records a download that StartDownload allowed and releases its hold. served
// is the number of bytes the response delivered (-1 for a response that carried no body, a
// HEAD: the hold is released and nothing recorded). A download counts, toward the download
// limit, delete-after-download and receipts, when the bytes served of the file add up to its
// size, whether in one response or in ranges (Outcome.Counted): a Range request that stops
// short of the last byte counts its bytes too. The download that uses the send up ends it
// (Outcome.SendFinished) and the sweep destroys the files. The download is recorded even if
// the link was revoked meanwhile.
func (s *Service) FinishDownload(ctx context.Context, t Ticket, served int64) (Outcome, error) {
	if served < 0 && t.Hold == "" {
		return Outcome{}, nil // nothing served, nothing held
	}
	var out Outcome
	_, err := s.change(ctx, "record download", func() (raftfsm.Batch, error) {
		out = Outcome{}
		send, err := s.readSend(t.SendID)
		if err != nil {
			return raftfsm.Batch{}, err
		}
		ri := send.recipientIndex(t.Recipient)
		fi := slices.IndexFunc(send.Files, func(f SendFile) bool { return f.ID == t.File.ID })
		if ri < 0 || fi < 0 {
			return raftfsm.Batch{}, fmt.Errorf("record download: %w", ErrRecipientNotFound)
		}
		now := s.clock()
		if t.Hold != "" {
			send.Holds[t.File.ID] = slices.DeleteFunc(send.Holds[t.File.ID], func(h downloadHold) bool {
				return h.ID == t.Hold || !now.Before(h.Until)
			})
			if len(send.Holds[t.File.ID]) == 0 {
				delete(send.Holds, t.File.ID)
			}
		}
		r := &send.Recipients[ri]
		b := raftfsm.Batch{
			Conds: []raftfsm.Cond{condVersion(sendKey(send.ID), send.Version)},
			Ops:   []raftfsm.Op{put(sendKey(send.ID), send)},
			Audit: audit(now, recipientActor(r.Address), "file.download_release", string(send.ID), map[string]any{"file": t.File.ID}),
		}
		if served < 0 {
			return b, nil
		}
		size := send.Files[fi].Size
		total := send.Served[t.File.ID] + served
		complete := total >= size
		if complete {
			total -= size
		}
		if send.Served == nil {
			send.Served = map[FileID]int64{}
		}
		send.Served[t.File.ID] = total
		if total == 0 {
			delete(send.Served, t.File.ID)
		}
		r.Downloads = append(r.Downloads, Download{At: now, FileID: t.File.ID, IP: t.ClientIP, Complete: complete, Range: t.Range})
		if n := len(r.Downloads) - maxDownloadEvents; n > 0 {
			r.Downloads = slices.Delete(r.Downloads, 0, n)
			r.DownloadsTrunc += n
		}
		details := map[string]any{"file": t.File.ID, "name": send.Files[fi].Name, "ip": t.ClientIP, "complete": complete, "range": t.Range, "bytes": served}
		if complete {
			out.Counted = true
			r.DownloadCount++
			send.Files[fi].Downloads++
			active := send.Status(now) == StatusActive
			if lim := send.Options.DownloadLimit; lim > 0 && send.ExhaustedAt.IsZero() && allFiles(send.Files, lim) {
				send.ExhaustedAt = now
				details["exhausted"] = true
			}
			if send.Options.DeleteAfterDownload && send.ConsumedAt.IsZero() && allFiles(send.Files, 1) {
				send.ConsumedAt = now
				details["consumed"] = true
			}
			out.SendFinished = active && send.Status(now) != StatusActive
			if send.Options.Receipts && send.receiptDue(now, s.cfg.Receipt, r.Address, t) {
				out.ReceiptDue = true
				out.Receipt = Receipt{
					SendID: send.ID, Owner: send.Owner, SenderEmail: send.From.Email, Recipient: r.Address,
					FileID: t.File.ID, FileName: send.Files[fi].Path(), At: now, IP: t.ClientIP,
				}
			}
		}
		b.Ops = []raftfsm.Op{put(sendKey(send.ID), send)}
		b.Audit = audit(now, recipientActor(r.Address), "file.download", string(send.ID), details)
		return b, nil
	})
	if err != nil {
		return Outcome{}, err
	}
	return out, nil
}

// receiptDue reports whether a complete download by recipient calls for a receipt, and
// counts it in the send if so: at most one per recipient and file (or zip) in any
// cfg.Window, and cfg.PerSend per send in a window (issue 16 item 9).
func (rec *sendRecord) receiptDue(now time.Time, cfg ReceiptConfig, recipient string, t Ticket) bool {
	key := recipient + "\x00" + string(t.File.ID)
	if t.Zip {
		key = recipient + "\x00zip"
	}
	for k, at := range rec.LastReceipt {
		if now.Sub(at) >= cfg.Window {
			delete(rec.LastReceipt, k)
		}
	}
	if _, ok := rec.LastReceipt[key]; ok {
		return false
	}
	if now.Sub(rec.ReceiptWindow) >= cfg.Window {
		rec.ReceiptWindow, rec.ReceiptCount = now, 0
	}
	if rec.ReceiptCount >= cfg.PerSend {
		return false
	}
	rec.ReceiptCount++
	if rec.LastReceipt == nil {
		rec.LastReceipt = map[string]time.Time{}
	}
	rec.LastReceipt[key] = now
	return true
}

// allFiles reports whether every file has at least n complete downloads.
func allFiles(files []SendFile, n int) bool {
	for _, f := range files {
		if f.Downloads < n {
			return false
		}
	}
	return true
}
