package adminapi

import (
	"context"
	"net/http"
	"net/url"
)

// The mail queue's and the settings' console routes (issue 20); their handlers are in
// mail_server.go.
const (
	// PathOutbox+"/"+id+PathOutboxRetrySuffix answers POST (empty object) with the
	// OutboxMail queued again now; DELETE PathOutbox+"/"+id discards a mail (kept or
	// waiting) and answers an empty object.
	PathOutboxRetrySuffix = "/retry"
	// PathMailTest answers POST MailTestRequest with a MailTestResult: a test mail sent
	// through the configured relay now, not queued.
	PathMailTest = "/v1/mail/test"
	// PathSettingsValidate answers POST Setting with the Setting as it would be stored,
	// without storing it: CodeUnknownSetting or CodeInvalidValue as SetSetting would.
	PathSettingsValidate = "/v1/settings-validate"
	// PathBackupNow answers POST (empty object) with the BackupRecord of a backup written
	// now into backup.dir, encrypted to backup.recipient, as a scheduled one is
	// (CodeInvalidValue, saying which to set, when they are not).
	PathBackupNow = "/v1/backup-now"
)

// MailTestRequest asks for a test mail to To.
type MailTestRequest struct {
	To   string `json:"to"`
	Lang string `json:"lang,omitempty"` // "fr" (default) or "en"
}

// MailTestResult says how the test mail went.
type MailTestResult struct {
	OK bool `json:"ok"`
	// Detail says where it went ("relay smtp.example.org:587, STARTTLS" or "outbox: no relay
	// is set"); Error why it failed, as the relay answered.
	Detail string `json:"detail"`
	Error  string `json:"error,omitempty"`
}

// MailService is what the node implements for the mail routes and the console's other
// actions; NewHandler serves them when the Service given implements it. Each call is
// journalled with the caller.
type MailService interface {
	// RetryMail queues a pending or failed mail for delivery now; CodeNotFound else.
	RetryMail(ctx context.Context, id string) (OutboxMail, error)
	// DiscardMail removes a mail from the outbox or the queue; CodeNotFound else.
	DiscardMail(ctx context.Context, id string) error
	// TestMail sends a test mail now.
	TestMail(ctx context.Context, req MailTestRequest) (MailTestResult, error)
	// ValidateSetting checks a value as SetSetting would, storing nothing.
	ValidateSetting(ctx context.Context, key, value string) (Setting, error)
	// BackupNow writes a backup as the schedule would, now.
	BackupNow(ctx context.Context) (BackupRecord, error)
}

// RetryMail queues a mail for delivery now.
func (c *Client) RetryMail(ctx context.Context, id string) (OutboxMail, error) {
	return call[OutboxMail](ctx, c, http.MethodPost, PathOutbox+"/"+url.PathEscape(id)+PathOutboxRetrySuffix, struct{}{})
}

// DiscardMail removes a mail from the outbox or the queue.
func (c *Client) DiscardMail(ctx context.Context, id string) error {
	_, err := call[struct{}](ctx, c, http.MethodDelete, PathOutbox+"/"+url.PathEscape(id), nil)
	return err
}

// TestMail sends a test mail.
func (c *Client) TestMail(ctx context.Context, req MailTestRequest) (MailTestResult, error) {
	return call[MailTestResult](ctx, c, http.MethodPost, PathMailTest, req)
}

// ValidateSetting checks a setting's value without storing it.
func (c *Client) ValidateSetting(ctx context.Context, key, value string) (Setting, error) {
	return call[Setting](ctx, c, http.MethodPost, PathSettingsValidate, Setting{Key: key, Value: value})
}

// BackupNow writes a backup into backup.dir now.
func (c *Client) BackupNow(ctx context.Context) (BackupRecord, error) {
	return call[BackupRecord](ctx, c, http.MethodPost, PathBackupNow, struct{}{})
}
