package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"valise/adminapi"
	"valise/notify"
)

// The console's other actions (issue 20): the mail queue's retry and discard, a test mail
// through the relay, a setting checked before it is saved, and a backup now.

// checkValue checks a setting's value as SetSetting stores it: CodeUnknownSetting or
// CodeInvalidValue when refused.
func (s *adminService) checkValue(key, value string) error {
	if err := validateSetting(key, value); err != nil {
		code := adminapi.CodeInvalidValue
		if _, ok := knownSettings[key]; !ok {
			code = adminapi.CodeUnknownSetting
		}
		return adminapi.Errorf(code, "%v", err)
	}
	if err := s.n.checkSetting(key, value); err != nil {
		return adminapi.Errorf(adminapi.CodeInvalidValue, "setting %s: %v", key, err)
	}
	return nil
}

// ValidateSetting implements adminapi.MailService: the Setting as SetSetting would store it,
// storing nothing (nor journalling: the console checks as the administrator types).
func (s *adminService) ValidateSetting(_ context.Context, key, value string) (adminapi.Setting, error) {
	if err := s.checkValue(key, value); err != nil {
		return adminapi.Setting{}, err
	}
	spec := knownSettings[key]
	out := adminapi.Setting{Key: key, Value: value, Set: true, Scope: settingScope(key)}
	spec.describe(&out)
	if spec.secret {
		out.Value = maskSecret(value)
	}
	return out, nil
}

// mailError turns the mail queue's errors into what the operator sees.
func mailError(id string, err error) error {
	switch {
	case errors.Is(err, notify.ErrMailNotFound):
		return adminapi.Errorf(adminapi.CodeNotFound, "no mail has the ID %s in the queue or the outbox (see appliance outbox)", id)
	case errors.Is(err, notify.ErrMailSent):
		return adminapi.Errorf(adminapi.CodeConflict, "mail %s was sent already: its bodies are gone, it cannot be sent again", id)
	case errors.Is(err, notify.ErrNoRelay):
		return adminapi.Errorf(adminapi.CodeInvalidValue, "no SMTP relay is set: set smtp.host first, then retry mail %s", id)
	}
	return translate(err)
}

// RetryMail implements adminapi.MailService, on the leader, journalled with the caller.
func (s *adminService) RetryMail(ctx context.Context, id string) (adminapi.OutboxMail, error) {
	if err := s.leader(); err != nil {
		return adminapi.OutboxMail{}, err
	}
	rec, err := s.n.mail.sender().Retry(ctx, id, actorOf(ctx))
	if err != nil {
		return adminapi.OutboxMail{}, mailError(id, err)
	}
	return outboxMail(rec.Message, string(rec.State)), nil
}

// DiscardMail implements adminapi.MailService, on the leader, journalled with the caller.
func (s *adminService) DiscardMail(ctx context.Context, id string) error {
	if err := s.leader(); err != nil {
		return err
	}
	if err := s.n.mail.sender().Discard(ctx, id, actorOf(ctx)); err != nil {
		return mailError(id, err)
	}
	return nil
}

// TestMail implements adminapi.MailService: a mail sent through the configured relay now,
// never queued, journalled with the caller and how it went. Without a relay it says so.
func (s *adminService) TestMail(ctx context.Context, req adminapi.MailTestRequest) (adminapi.MailTestResult, error) {
	n := s.n
	if err := validEmail(req.To); err != nil {
		return adminapi.MailTestResult{}, adminapi.Errorf(adminapi.CodeInvalidValue, "%v", err)
	}
	relay, err := n.mail.sender().SendNow(ctx, notify.TestMessage(req.To, req.Lang, n.setting("branding.name"), actorOf(ctx)))
	var res adminapi.MailTestResult
	switch {
	case errors.Is(err, notify.ErrNoRelay):
		res.Detail = "outbox: no relay is set (set smtp.host): mails are kept in the outbox"
		res.Error = "no SMTP relay is set"
	case errors.Is(err, notify.ErrBadAddress):
		return res, adminapi.Errorf(adminapi.CodeInvalidValue, "%q is not an e-mail address", req.To)
	default:
		port := relay.Port
		if port == 0 {
			port = 587
		}
		res.Detail = fmt.Sprintf("relay %s:%d, %s", relay.Host, port, relayTLS(relay.TLS))
		res.OK = err == nil
		if err != nil {
			res.Error = err.Error()
		}
	}
	details := map[string]any{"ok": res.OK, "detail": res.Detail}
	if res.Error != "" {
		details["error"] = res.Error
	}
	if _, err := n.journalAdmin(ctx, "mail.test", req.To, details); err != nil {
		return res, err
	}
	return res, nil
}

// relayTLS names a relay's protection as smtp.tls does.
func relayTLS(p notify.TLSPolicy) string {
	switch p {
	case notify.TLSImplicit:
		return "TLS"
	case notify.TLSOpportunistic:
		return "STARTTLS when offered"
	}
	return "STARTTLS"
}

// BackupNow implements adminapi.MailService: a backup written now into this node's backup.dir
// as a scheduled one is (backupschedule.go), recorded as a manual one; the request is
// journalled with the caller first.
func (s *adminService) BackupNow(ctx context.Context) (adminapi.BackupRecord, error) {
	n := s.n
	dir, recipient := n.setting("backup.dir"), n.setting("backup.recipient")
	switch {
	case dir == "":
		return adminapi.BackupRecord{}, adminapi.Errorf(adminapi.CodeInvalidValue, "backup.dir is not set: set it to a directory on every node")
	case recipient == "":
		return adminapi.BackupRecord{}, adminapi.Errorf(adminapi.CodeInvalidValue, "backup.recipient is not set: set it to the age public key of whoever restores")
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return adminapi.BackupRecord{}, adminapi.Errorf(adminapi.CodeInvalidValue, "backup.dir %s is not a directory on this node: create it", dir)
	}
	if _, err := n.journalAdmin(ctx, "backup.now", dir, map[string]any{"node": n.cfg.Node.ID}); err != nil {
		return adminapi.BackupRecord{}, err
	}
	sched := n.backups
	sched.mu.Lock()
	defer sched.mu.Unlock()
	now := sched.now()
	rec := adminapi.BackupRecord{ID: backupID(now), Node: n.cfg.Node.ID, Started: now.UTC()}
	err := sched.write(&rec, now)
	n.finishBackup(rec, err)
	if err != nil {
		return adminapi.BackupRecord{}, fmt.Errorf("backup into %s: %w", dir, err)
	}
	rec.Finished = time.Now().UTC()
	return rec, nil
}
