package web

import (
	"context"
	"errors"
	"net/url"
	"time"

	"github.com/valyala/fasthttp"

	"valise/transfer"
	"valise/userid"
)

// sentRow is one send in the sent list.
type sentRow struct {
	Send       transfer.Send
	Status     string
	TotalSize  int64
	Recipients int
	Opened     int // recipients who opened their link
	Downloaded int // recipients who downloaded at least one file completely
}

// serveSentList lists the user's sends, newest first.
func (h *Handler) serveSentList(r *request, _ map[string]string) {
	sends, err := h.deps.Sends.ListSends(r.cx, r.user.ID)
	if err != nil {
		h.logger.Warn("list sends", logUserID, r.user.ID, logErr, err)
		h.renderError(r, fasthttp.StatusServiceUnavailable, "error.unavailable")
		return
	}
	now := time.Now()
	rows := make([]sentRow, 0, len(sends))
	for _, s := range sends {
		row := sentRow{Send: s, Status: string(s.Status(now)), Recipients: len(s.Recipients)}
		for _, rc := range s.Recipients {
			if !rc.OpenedFirst.IsZero() {
				row.Opened++
			}
			if rc.DownloadCount > 0 {
				row.Downloaded++
			}
		}
		for _, f := range s.Files {
			row.TotalSize += f.Size
		}
		rows = append(rows, row)
	}
	p := h.newPage(r)
	p.Data = rows
	h.render(r, fasthttp.StatusOK, "sent", p)
}

// detailData is a send's detail page.
type detailData struct {
	Send       transfer.Send
	Status     string
	Active     bool
	FileNames  map[transfer.FileID]string
	Recipients []detailRecipient
	NewLink    *createdLink // after a resend: the new link, shown once
}

// detailRecipient is one recipient with their downloads, file names resolved.
type detailRecipient struct {
	transfer.Recipient
	Events []detailDownload
}

// detailDownload is one download event as shown.
type detailDownload struct {
	At       time.Time
	File     string
	IP       string
	Complete bool
}

// serveSentDetail shows one of the user's sends with per-recipient tracking.
func (h *Handler) serveSentDetail(r *request, params map[string]string) {
	var notice string
	switch string(r.ctx.QueryArgs().Peek("done")) {
	case "revoked":
		notice = h.translator(r.lang).translate("detail.revoked")
	case "confirmed":
		notice = h.translator(r.lang).translate("detail.confirmed")
	}
	h.renderDetail(r, transfer.SendID(params["id"]), fasthttp.StatusOK, notice, nil)
}

func (h *Handler) renderDetail(r *request, id transfer.SendID, status int, notice string, newLink *createdLink) {
	s, err := h.deps.Sends.GetSend(r.cx, r.user.ID, id)
	if err != nil {
		if errors.Is(err, transfer.ErrSendNotFound) {
			h.renderError(r, fasthttp.StatusNotFound, "error.not_found")
			return
		}
		h.logger.Warn("get send", logSendID, id, logErr, err)
		h.renderError(r, fasthttp.StatusServiceUnavailable, "error.unavailable")
		return
	}
	st := s.Status(time.Now())
	d := detailData{Send: s, Status: string(st), Active: st == transfer.StatusActive, FileNames: map[transfer.FileID]string{}, NewLink: newLink}
	for _, f := range s.Files {
		d.FileNames[f.ID] = f.Name
	}
	for _, rc := range s.Recipients {
		dr := detailRecipient{Recipient: rc}
		for _, ev := range rc.Downloads {
			dr.Events = append(dr.Events, detailDownload{At: ev.At, File: d.FileNames[ev.FileID], IP: ev.IP, Complete: ev.Complete})
		}
		d.Recipients = append(d.Recipients, dr)
	}
	p := h.newPage(r)
	p.Notice = notice
	p.Data = d
	h.render(r, status, "detail", p)
}

// serveResend mints a new link for one recipient, mails it and shows it once.
func (h *Handler) serveResend(r *request, params map[string]string) {
	id := transfer.SendID(params["id"])
	recipient := string(r.ctx.PostArgs().Peek("recipient"))
	inv, _, err := h.deps.Sends.ResendLink(r.cx, r.user.ID, id, recipient, r.lang, h.notifier())
	if err != nil && !errors.Is(err, transfer.ErrNotNotified) {
		// Not ErrNotNotified: no link was made. With it, the link shows, not notified.
		if errors.Is(err, transfer.ErrSendNotFound) {
			h.renderError(r, fasthttp.StatusNotFound, "error.not_found")
			return
		}
		status := fasthttp.StatusUnprocessableEntity
		if errors.Is(err, transfer.ErrTooManyResends) {
			status = fasthttp.StatusTooManyRequests
		}
		p := h.newPage(r)
		p.Error = h.transferMessage(r.lang, err)
		h.render(r, status, "error", p)
		return
	}
	h.renderDetail(r, id, fasthttp.StatusOK, h.translator(r.lang).translate("detail.resent", "Address", inv.Recipient), h.newLink(inv))
}

// serveRevoke ends the send at once.
func (h *Handler) serveRevoke(r *request, params map[string]string) {
	h.actOnSend(r, transfer.SendID(params["id"]), h.deps.Sends.Revoke, "send revoked", "revoked")
}

// serveConfirm lifts the send's suspension after a restore (issue 19): its links work again.
func (h *Handler) serveConfirm(r *request, params map[string]string) {
	h.actOnSend(r, transfer.SendID(params["id"]), h.deps.Sends.Confirm, "send confirmed", "confirmed")
}

// actOnSend applies act to the user's send id, logs what, and goes back to the send's page
// with the notice of done.
func (h *Handler) actOnSend(r *request, id transfer.SendID, act func(context.Context, userid.ID, transfer.SendID) error, what, done string) {
	if err := act(r.cx, r.user.ID, id); err != nil {
		if errors.Is(err, transfer.ErrSendNotFound) {
			h.renderError(r, fasthttp.StatusNotFound, "error.not_found")
			return
		}
		p := h.newPage(r)
		p.Error = h.transferMessage(r.lang, err)
		h.render(r, fasthttp.StatusUnprocessableEntity, "error", p)
		return
	}
	h.logger.Info(what, logSendID, id, logUserID, r.user.ID)
	redirect(r.ctx, "/sent/"+url.PathEscape(string(id))+"?done="+done)
}
