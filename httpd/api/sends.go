package api

import (
	"context"
	"fmt"
	"time"

	"github.com/valyala/fasthttp"

	"valise/transfer"
	"valise/userid"
)

// Wire types: what the OpenAPI document describes. Domain types are copied field by field so
// that nothing internal (a manifest, a hash) can reach a client by accident.

// fileJSON is a file as its owner sees it.
type fileJSON struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	Folder        string    `json:"folder,omitempty"`
	Size          int64     `json:"size"`
	SHA256        string    `json:"sha256"`
	Verdict       string    `json:"verdict"`
	VerdictReason string    `json:"verdict_reason,omitempty"`
	Quarantined   bool      `json:"quarantined"`
	Created       time.Time `json:"created"`
}

// sendOptionsJSON are a send's options in a request; Expiry is in seconds.
type sendOptionsJSON struct {
	Password            string `json:"password,omitempty"`
	GeneratePassword    bool   `json:"generate_password,omitempty"`
	ExpirySeconds       int64  `json:"expiry_seconds,omitempty"`
	DownloadLimit       int    `json:"download_limit,omitempty"`
	DeleteAfterDownload bool   `json:"delete_after_download,omitempty"`
	Receipts            bool   `json:"receipts,omitempty"`
	EmailCode           bool   `json:"email_code,omitempty"`
}

// createSendJSON is the body of POST /api/v1/sends.
type createSendJSON struct {
	To      []string        `json:"to"`
	Cc      []string        `json:"cc,omitempty"`
	Bcc     []string        `json:"bcc,omitempty"`
	Subject string          `json:"subject,omitempty"`
	Message string          `json:"message,omitempty"`
	Files   []string        `json:"files"`
	Options sendOptionsJSON `json:"options"`
}

// createdSendJSON answers POST /api/v1/sends.
type createdSendJSON struct {
	Send transfer.Send `json:"send"`
	// Password is the generated password, shown once.
	Password string `json:"password,omitempty"`
}

// recipientBody is the body of a resend.
type recipientBody struct {
	Recipient string `json:"recipient"`
}

// sendsJSON lists sends.
type sendsJSON struct {
	Sends []transfer.Send `json:"sends"`
}

// sendJSON returns s ready for the wire: empty lists as [], never null.
func sendJSON(s transfer.Send) transfer.Send {
	if s.Files == nil {
		s.Files = []transfer.SendFile{}
	}
	if s.Recipients == nil {
		s.Recipients = []transfer.Recipient{}
	}
	return s
}

// principal returns the authenticated caller; the router guarantees one on private routes.
func principal(ctx *fasthttp.RequestCtx) Principal {
	p, _ := PrincipalFrom(ctx)
	return p
}

// serveCreateSend creates a send, mails each recipient their link and records it
// (transfer.Service.SendFiles). A send whose files are still being scanned is created at once
// with the state "pending_scan" and no invitation: its mails leave when every file is clean
// (issue 16 item 3).
func (h *Handler) serveCreateSend(ctx *fasthttp.RequestCtx, c call) {
	p := principal(ctx)
	var b createSendJSON
	if err := h.decodeJSON(ctx, &b); err != nil {
		h.fail(ctx, err)
		return
	}
	if b.Options.ExpirySeconds < 0 || b.Options.ExpirySeconds > int64(10*365*24*time.Hour/time.Second) {
		h.fail(ctx, fmt.Errorf("%w: expiry_seconds %d", transfer.ErrInvalidOptions, b.Options.ExpirySeconds))
		return
	}
	req := transfer.SendRequest{
		From: transfer.Sender{Name: p.Name, Email: p.Email},
		To:   b.To, Cc: b.Cc, Bcc: b.Bcc, Subject: b.Subject, Message: b.Message, Lang: string(p.Language),
		Options: transfer.Options{
			Password: b.Options.Password, GeneratePassword: b.Options.GeneratePassword,
			Expiry:              time.Duration(b.Options.ExpirySeconds) * time.Second,
			DownloadLimit:       b.Options.DownloadLimit,
			DeleteAfterDownload: b.Options.DeleteAfterDownload,
			Receipts:            b.Options.Receipts,
			EmailCode:           b.Options.EmailCode,
		},
	}
	for _, id := range b.Files {
		req.FileIDs = append(req.FileIDs, transfer.FileID(id))
	}
	created, err := h.deps.Sends.SendFiles(c, p.UserID, req, h.notifier())
	if err != nil {
		h.fail(ctx, err)
		return
	}
	h.writeJSON(ctx, fasthttp.StatusCreated, createdSendJSON{Send: sendJSON(created.Send), Password: created.Password})
}

// notifier is how the API's use cases mail: through the Mailer, under the current branding
// and its current public URL.
func (h *Handler) notifier() transfer.Notifier {
	return transfer.Notifier{
		Mailer: h.deps.Mailer, Contacts: h.deps.Accounts,
		Brand: transfer.Brand{Product: *h.product.Load(), PublicURL: h.PublicURL()},
	}
}

// serveListSends lists the caller's sends.
func (h *Handler) serveListSends(ctx *fasthttp.RequestCtx, c call) {
	sends, err := h.deps.Sends.ListSends(c, principal(ctx).UserID)
	if err != nil {
		h.fail(ctx, err)
		return
	}
	out := sendsJSON{Sends: make([]transfer.Send, 0, len(sends))}
	for _, s := range sends {
		out.Sends = append(out.Sends, sendJSON(s))
	}
	h.writeJSON(ctx, fasthttp.StatusOK, out)
}

// serveGetSend answers one of the caller's sends with per-recipient tracking.
func (h *Handler) serveGetSend(ctx *fasthttp.RequestCtx, c call) {
	s, err := h.deps.Sends.GetSend(c, principal(ctx).UserID, transfer.SendID(c.params["id"]))
	if err != nil {
		h.fail(ctx, err)
		return
	}
	h.writeJSON(ctx, fasthttp.StatusOK, sendJSON(s))
}

// serveResend mails a recipient a new link (the old one stops working).
func (h *Handler) serveResend(ctx *fasthttp.RequestCtx, c call) {
	p := principal(ctx)
	var b recipientBody
	if err := h.decodeJSON(ctx, &b); err != nil {
		h.fail(ctx, err)
		return
	}
	_, send, err := h.deps.Sends.ResendLink(c, p.UserID, transfer.SendID(c.params["id"]), b.Recipient, string(p.Language), h.notifier())
	if err != nil {
		h.fail(ctx, err)
		return
	}
	h.writeJSON(ctx, fasthttp.StatusOK, sendJSON(send))
}

// serveRevoke ends a send at once.
func (h *Handler) serveRevoke(ctx *fasthttp.RequestCtx, c call) {
	h.actOnSend(ctx, c, h.deps.Sends.Revoke)
}

// serveConfirm lifts a send's suspension after a restore (issue 19): its links work again.
func (h *Handler) serveConfirm(ctx *fasthttp.RequestCtx, c call) {
	h.actOnSend(ctx, c, h.deps.Sends.Confirm)
}

// actOnSend applies act to the caller's send named in the path and answers the send as it
// is then.
func (h *Handler) actOnSend(ctx *fasthttp.RequestCtx, c call, act func(context.Context, userid.ID, transfer.SendID) error) {
	p := principal(ctx)
	id := transfer.SendID(c.params["id"])
	if err := act(c, p.UserID, id); err != nil {
		h.fail(ctx, err)
		return
	}
	s, err := h.deps.Sends.GetSend(c, p.UserID, id)
	if err != nil {
		h.fail(ctx, err)
		return
	}
	h.writeJSON(ctx, fasthttp.StatusOK, sendJSON(s))
}

// serveGetFile answers one of the caller's files.
func (h *Handler) serveGetFile(ctx *fasthttp.RequestCtx, c call) {
	f, err := h.deps.Sends.GetFile(c, principal(ctx).UserID, transfer.FileID(c.params["id"]))
	if err != nil {
		h.fail(ctx, err)
		return
	}
	h.writeJSON(ctx, fasthttp.StatusOK, fileJSON{
		ID: string(f.ID), Name: f.Name, Folder: f.Folder, Size: f.Size, SHA256: f.SHA256, Verdict: string(f.Verdict),
		VerdictReason: f.VerdictReason, Quarantined: f.Quarantined, Created: f.Created,
	})
}
