package transfer

import (
	"context"
	"fmt"
	"strings"
	"time"

	"valise/notify"
	"valise/userid"
)

// The use cases that tell people what happened (issue 17 item 1). Each does what the domain
// decides (create a send, mint a link, issue a code), renders the mail with notify, queues it
// through the caller's Mailer and records what must be (an invitation's delivery). The front
// ends (the REST API, the web UI, the node's background work) parse, call one of these and
// translate the result: none of them composes a mail.

// Mailer queues rendered mails; *notify.Sender implements it.
type Mailer interface {
	// Enqueue records msg durably for delivery (or in the outbox) on behalf of actor (a user
	// ID, "system", or "recipient:" and an address: the journal's actor) and returns it as
	// stored. It is called from request and background goroutines, concurrently, and honours
	// ctx; notify.ErrBadAddress refuses a recipient.
	Enqueue(ctx context.Context, msg notify.Message, actor string) (notify.Message, error)
}

// Contacts finds how to mail a user, for the mails to a sender (a receipt, an infected-file
// notice); *account.Service implements it.
type Contacts interface {
	// MailContact returns the user's display name ("" for none), e-mail address and
	// language ("fr" or "en"), or an error when the user is unknown.
	MailContact(ctx context.Context, userID userid.ID) (name, email, lang string, err error)
}

var _ Mailer = (*notify.Sender)(nil)

// Brand is what mails say of the appliance. Both fields change at run time with the
// settings (branding.name, public_url): the caller gives the current ones on each call.
type Brand struct {
	// Product is the branding's product name ("Alice via Valise"); "" for
	// notify.DefaultProduct.
	Product string
	// PublicURL is the base of the links, "https://valise.example.org" (no trailing slash):
	// a recipient's link is PublicURL + "/s/" + token.
	PublicURL string
}

// Notifier is how a use case tells people.
type Notifier struct {
	// Mailer queues the mails; never nil.
	Mailer Mailer
	// Contacts finds a sender's address and language: MailReceipt (French and the send's
	// sender name without it) and NotifyVerdict (no infected-file notice without it) use it.
	Contacts Contacts
	// Brand names the product and the links' base.
	Brand Brand
}

// link returns a recipient's link for token.
func (n Notifier) link(token string) string { return n.Brand.PublicURL + "/s/" + token }

// queue renders a mail of kind in lang from data and queues it to one address for actor;
// ref names the domain object it is about, for the journal (never a token).
func (n Notifier) queue(ctx context.Context, kind notify.Kind, lang string, data any, to, ref, actor string) error {
	msg, err := notify.Render(kind, lang, n.Brand.Product, data)
	if err != nil {
		return fmt.Errorf("render the %s mail: %w", kind, err)
	}
	msg.To, msg.Ref = []string{to}, ref
	if _, err := n.Mailer.Enqueue(ctx, msg, actor); err != nil {
		return fmt.Errorf("queue the %s mail: %w", kind, err)
	}
	return nil
}

// mailFile describes a file in a mail: its verdict says whether it was scanned in windows,
// not scanned, or checked with test signatures only.
func mailFile(path string, size int64, sha256 string, v Verdict, reason string) notify.File {
	return notify.File{
		Name: path, Size: size, SHA256: sha256,
		ScannedInWindows:   v == VerdictCleanWindows,
		NotScanned:         v == VerdictNotScanned,
		TestSignaturesOnly: CheckedTestSignaturesOnly(v, reason),
	}
}

// senderName is how mails name a sender: their display name, or their address without one.
func senderName(name, email string) string {
	if name != "" {
		return name
	}
	return email
}

// SendFiles is the send use case: it creates owner's send (CreateSend, whose errors it
// returns as they are), mails each recipient their invitation in req.Lang and records each
// mail queued (RecordNotified), setting the Invitation's Notified. A mail that could not be
// queued is logged and leaves its Notified false: the send exists, the sender sees the
// recipient not notified and can resend. A send whose files are still being scanned is
// created in the state pending_scan without invitations: its mails leave once its files are
// clean (NotifyVerdict, NotifySettled). The Send returned is read again after the mails,
// so that it shows them.
func (s *Service) SendFiles(ctx context.Context, owner userid.ID, req SendRequest, n Notifier) (Created, error) {
	created, err := s.CreateSend(ctx, owner, req)
	if err != nil {
		return created, err
	}
	for i := range created.Invitations {
		inv := &created.Invitations[i]
		if err := s.invite(ctx, created.Send, inv, req.Lang, string(owner), n); err != nil {
			s.logger.Error("invitation not queued", keySendID, created.Send.ID, keyError, err)
		}
	}
	if sent, err := s.GetSend(ctx, owner, created.Send.ID); err == nil {
		created.Send = sent
	}
	return created, nil
}

// ResendLink is the resend use case: it mints a new link for one recipient of owner's send
// (Resend: the old link stops working, and its errors are returned as they are), mails it
// in lang and records it, and returns the invitation with the send read again. When the
// link was made but not mailed, the Invitation is returned with an error wrapping
// ErrNotNotified.
func (s *Service) ResendLink(ctx context.Context, owner userid.ID, id SendID, recipient, lang string, n Notifier) (Invitation, Send, error) {
	inv, err := s.Resend(ctx, owner, id, recipient)
	if err != nil {
		return Invitation{}, Send{}, err
	}
	send, err := s.GetSend(ctx, owner, id)
	if err == nil {
		err = s.invite(ctx, send, &inv, lang, string(owner), n)
	}
	if err != nil {
		s.logger.Error("invitation not queued", keySendID, id, keyError, err)
		return inv, send, fmt.Errorf("%w: %w", ErrNotNotified, err)
	}
	if send, err = s.GetSend(ctx, owner, id); err != nil {
		return inv, send, fmt.Errorf("read the send after its resend: %w", err)
	}
	return inv, send, nil
}

// invite mails one recipient their link to send, in lang, for actor, records it and sets
// inv.Notified.
func (s *Service) invite(ctx context.Context, send Send, inv *Invitation, lang, actor string, n Notifier) error {
	data := notify.SendData{
		SenderName: senderName(send.From.Name, send.From.Email), SenderEmail: send.From.Email,
		Subject: send.Subject, Message: send.Message, Link: n.link(inv.Token),
		Expires: send.Expires, PasswordSet: send.Options.PasswordRequired, RecipientName: inv.Name,
	}
	for _, f := range send.Files {
		data.Files = append(data.Files, mailFile(f.Path(), f.Size, f.SHA256, f.Verdict, f.VerdictReason))
	}
	if err := n.queue(ctx, notify.KindSend, lang, data, inv.Recipient, string(send.ID), actor); err != nil {
		return err
	}
	if err := s.RecordNotified(ctx, inv.SendID, inv.Recipient); err != nil {
		return fmt.Errorf("record the invitation: %w", err)
	}
	inv.Notified = true
	return nil
}

// MailReceipt is the receipt use case: it mails the sender of r's send that r.Recipient
// downloaded files (one file, or every file a zip delivered: one mail, not one per file), in
// the sender's language (French when Contacts does not know it).
func (s *Service) MailReceipt(ctx context.Context, r Receipt, files []LinkFile, n Notifier) error {
	lang, name := "fr", ""
	if n.Contacts != nil {
		if cname, _, clang, err := n.Contacts.MailContact(ctx, r.Owner); err == nil {
			lang, name = clang, cname
		}
	}
	data := notify.ReceiptData{SenderName: name, RecipientEmail: r.Recipient, When: r.At}
	if send, err := s.GetSend(ctx, r.Owner, r.SendID); err == nil {
		data.Subject = send.Subject
		if data.SenderName == "" {
			data.SenderName = send.From.Name
		}
	}
	for _, f := range files {
		data.Files = append(data.Files, mailFile(f.Path(), f.Size, f.SHA256, f.Verdict, f.VerdictReason))
	}
	return n.queue(ctx, notify.KindReceipt, lang, data, r.SenderEmail, string(r.SendID), "system")
}

// MailEmailCode is the e-mail code use case: it makes a code for the link of token
// (IssueEmailCode, whose errors it returns as they are), mails it to the link's recipient
// in lang, and returns when the code expires.
func (s *Service) MailEmailCode(ctx context.Context, token, lang string, n Notifier) (time.Time, error) {
	code, err := s.IssueEmailCode(ctx, token)
	if err != nil {
		return time.Time{}, err
	}
	data := notify.CodeData{SenderName: code.SenderName, Code: code.Code, ValidFor: code.Expires.Sub(s.now()).Round(time.Minute)}
	if err := n.queue(ctx, notify.KindVerifyCode, lang, data, code.Recipient, string(code.SendID), "recipient:"+code.Recipient); err != nil {
		return time.Time{}, err
	}
	return code.Expires, nil
}

// NotifyVerdict is the infected notice use case, run when file got its verdict (the
// upload.Pipeline's OnFinished): it mails what the verdict settled (NotifySettled: the sends it
// released or cancelled), and when file is infected and no cancelled send said so, tells
// its owner that it is quarantined. signature is the signature clamd matched, "" when not
// known. Failures are logged: the verdict stands whatever the mails.
func (s *Service) NotifyVerdict(ctx context.Context, file File, signature string, settled []Settled, n Notifier) {
	if s.notifySettled(ctx, settled, file.ID, signature, n) || file.Verdict != VerdictInfected {
		return // the cancelled send's mail told the sender already
	}
	s.logger.Warn("upload infected: quarantined", keyFileID, file.ID, keySignature, signature)
	if n.Contacts == nil {
		s.logger.Error("tell the sender of an infected upload: no contacts", keyFileID, file.ID)
		return
	}
	name, email, lang, err := n.Contacts.MailContact(ctx, file.Owner)
	if err != nil {
		s.logger.Error("tell the sender of an infected upload: owner unknown", keyFileID, file.ID, keyError, err)
		return
	}
	data := notify.InfectedData{SenderName: senderName(name, email), FileName: file.Name, Signature: signature}
	if err := n.queue(ctx, notify.KindInfected, lang, data, email, string(file.ID), "system"); err != nil {
		s.logger.Error("infected-file mail not queued", keyFileID, file.ID, keyError, err)
	}
}

// NotifySettled mails what verdicts decided for sends that waited for the antivirus (issue
// 16 item 3), as SettleWaitingSends returns them: a released send's invitations, in the
// language its sender composed in, each recorded once queued; a cancelled send's notice to
// its sender. Failures are logged: a recipient not notified shows on the send's page, and
// the sender can resend. It is safe for concurrent use.
func (s *Service) NotifySettled(ctx context.Context, settled []Settled, n Notifier) {
	s.notifySettled(ctx, settled, "", "", n)
}

// notifySettled is NotifySettled; file and signature name the file whose verdict settled
// the sends, when known. It reports whether the sender was told that file is infected.
func (s *Service) notifySettled(ctx context.Context, settled []Settled, file FileID, signature string, n Notifier) bool {
	toldInfected := false
	for _, st := range settled {
		send := st.Send
		if !st.Cancelled {
			for i := range st.Invitations {
				if err := s.invite(ctx, send, &st.Invitations[i], st.Lang, string(send.Owner), n); err != nil {
					s.logger.Error("an invitation of a released send not queued", keySendID, send.ID, keyError, err)
				}
			}
			continue
		}
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
		data := notify.InfectedData{
			SenderName: senderName(send.From.Name, send.From.Email), Subject: send.Subject,
			FileName: strings.Join(names, ", "), Signature: sig, Cancelled: true,
		}
		if err := n.queue(ctx, notify.KindInfected, st.Lang, data, send.From.Email, string(send.ID), "system"); err != nil {
			s.logger.Error("cancelled-send mail not queued", keySendID, send.ID, keyError, err)
		}
	}
	return toldInfected
}
