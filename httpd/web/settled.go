package web

import (
	"context"
	"strings"

	"valise/notify"
	"valise/transfer"
)

// MailSettled mails what verdicts decided for sends that waited for the antivirus (issue 16
// item 3): a released send's invitations, in the language its sender composed in, each
// recorded once queued; a cancelled send's notice to its sender. file and signature name the
// file whose verdict settled them, when known ("" from the periodic sweep). It reports
// whether the sender was told that file is infected. The node calls it from the
// Uploader's OnFinished and after its periodic SettleWaitingSends; it is safe for
// concurrent use.
func (h *Handler) MailSettled(ctx context.Context, settled []transfer.Settled, file transfer.FileID, signature string) bool {
	toldInfected := false
	product := h.cfg.ProductName
	for _, st := range settled {
		s := st.Send
		sender := s.From.Name
		if sender == "" {
			sender = s.From.Email
		}
		if st.Cancelled {
			if len(st.Infected) == 0 {
				continue // a file destroyed meanwhile: the sent page says cancelled
			}
			names := make([]string, 0, len(st.Infected))
			sig := ""
			for _, f := range st.Infected {
				names = append(names, f.Path())
				if f.ID == file {
					sig, toldInfected = signature, true
				}
			}
			msg, err := notify.Render(notify.KindInfected, st.Lang, product, notify.InfectedData{
				SenderName: sender, Subject: s.Subject, FileName: strings.Join(names, ", "), Signature: sig, Cancelled: true,
			})
			if err != nil {
				h.logger.Error("render the cancelled-send mail", logSendID, s.ID, logErr, err)
				continue
			}
			msg.To, msg.Ref = []string{s.From.Email}, string(s.ID)
			if _, err := h.deps.Mailer.Enqueue(ctx, msg, "system"); err != nil {
				h.logger.Error("queue the cancelled-send mail", logSendID, s.ID, logErr, err)
			}
			continue
		}
		data := notify.SendData{
			SenderName: sender, SenderEmail: s.From.Email, Subject: s.Subject, Message: s.Message,
			Expires: s.Expires, PasswordSet: s.Options.PasswordRequired,
		}
		for _, f := range s.Files {
			data.Files = append(data.Files, notify.File{Name: f.Path(), Size: f.Size, SHA256: f.SHA256,
				ScannedInWindows: f.Verdict == transfer.VerdictCleanWindows, NotScanned: f.Verdict == transfer.VerdictNotScanned})
		}
		for _, inv := range st.Invitations {
			data.Link, data.RecipientName = h.cfg.PublicURL+"/s/"+inv.Token, inv.Name
			msg, err := notify.Render(notify.KindSend, st.Lang, product, data)
			if err != nil {
				h.logger.Error("render an invitation of a released send", logSendID, s.ID, logErr, err)
				continue
			}
			msg.To, msg.Ref = []string{inv.Recipient}, string(s.ID)
			if _, err := h.deps.Mailer.Enqueue(ctx, msg, s.Owner); err != nil {
				// The send is released; the sender sees the recipient not notified and can resend.
				h.logger.Error("queue an invitation of a released send", logSendID, s.ID, logErr, err)
				continue
			}
			if err := h.deps.Sends.RecordNotified(ctx, inv.SendID, inv.Recipient); err != nil {
				h.logger.Warn("record an invitation of a released send", logSendID, s.ID, logErr, err)
			}
		}
	}
	return toldInfected
}
