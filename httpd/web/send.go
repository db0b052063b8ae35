package web

import (
	"errors"
	"html/template"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"valise/fault"
	"valise/transfer"
)

// Limits of the compose form, before transfer's own checks.
const (
	maxFormFiles     = 1000
	maxExpiryDays    = 3650
	defaultExpiryDay = 7
)

// composeData is the compose page's own data: what the user typed, kept on an error.
type composeData struct {
	To, Cc, Bcc      string
	Subject, Message string
	// Password is the link password typed, kept when an error sends the form back (issue 16
	// item 2): a form that came back without it would send the files unprotected. The page
	// then also carries a password_set marker, and a post with the marker and no password
	// is refused (passwordLost).
	Password            string
	Files               []composeFile // uploaded already (an error sent the form back)
	ExpiryDays          int
	ExpiryChoices       []int
	DownloadLimit       int
	DeleteAfterDownload bool
	Receipts            bool
	EmailCode           bool
	MaxFile             int64 // the largest file allowed, 0: unknown
	QuotaLeft           int64 // bytes left in the quota, -1: no quota or unknown
	MaxSend             int64 // the largest total of one send, 0: no bound or unknown
	KeepaliveMS         int64 // Config.KeepaliveEvery, in milliseconds
	MaxFiles            int   // the most files of one send, 0: unknown
}

// composeFile is an uploaded file the form carries.
type composeFile struct {
	ID   string
	Name string
	Size int64
}

// serveCompose shows the compose page.
func (h *Handler) serveCompose(r *request, _ map[string]string) {
	p := h.newPage(r)
	d := composeData{ExpiryDays: defaultExpiryDay, ExpiryChoices: expiryChoices()}
	h.fillLimits(r, &d)
	p.Data = d
	h.render(r, fasthttp.StatusOK, "send", p)
}

// serveKeepalive answers the compose page's keepalive while its uploads run: the session
// lookup that let the request in recorded the user's activity.
func (h *Handler) serveKeepalive(r *request, _ map[string]string) {
	r.ctx.SetStatusCode(fasthttp.StatusNoContent)
}

// fillLimits adds the user's upload limits to the compose page, when known.
func (h *Handler) fillLimits(r *request, d *composeData) {
	d.QuotaLeft = -1
	d.KeepaliveMS = h.cfg.KeepaliveEvery.Milliseconds()
	if h.deps.Limits == nil {
		return
	}
	l, err := h.deps.Limits.UploadLimits(r.cx, r.user.ID)
	if err != nil {
		h.logger.Warn("upload limits unknown", logUserID, r.user.ID, logErr, err)
		return
	}
	d.MaxFile, d.QuotaLeft, d.MaxSend, d.MaxFiles = l.MaxFile, max(l.QuotaLeft, -1), l.MaxSend, l.MaxFiles
}

func expiryChoices() []int { return []int{1, 3, 7, 14, 30} }

// splitAddresses splits a list of addresses as people type or paste them from a mail
// client (issue 16 item 9): bare addresses separated by commas, semicolons, spaces or line
// breaks, or "Display Name <address>" entries, the name quoted or not ("Dupont, Marie
// <marie@example.org>; Paul <paul@example.org>"). A comma separates entries only after an
// address, never inside a quoted name or angle brackets. Each entry comes back bare, or as
// "Name <address>" in RFC 5322 form (transfer.ParseRecipient reads it), the display name
// kept.
func splitAddresses(s string) []string {
	var pieces []string
	var cur strings.Builder
	quoted, angle, escaped, sawAt := false, false, false, false
	for _, r := range s {
		if r == '@' {
			sawAt = true
		}
		switch {
		case escaped:
			escaped = false
		case quoted && r == '\\':
			escaped = true
		case r == '"' && !angle:
			quoted = !quoted
		case r == '<' && !quoted:
			angle = true
		case r == '>' && !quoted:
			angle = false
		case !quoted && !angle && (r == ';' || r == '\n' || r == '\r' || r == ',' && sawAt):
			pieces = append(pieces, cur.String())
			cur.Reset()
			sawAt = false
			continue
		}
		cur.WriteRune(r)
	}
	pieces = append(pieces, cur.String())
	var out []string
	for _, p := range pieces {
		p = strings.TrimSpace(p)
		lt := strings.LastIndexByte(p, '<')
		if lt < 0 || !strings.HasSuffix(p, ">") {
			out = append(out, strings.FieldsFunc(p, func(r rune) bool { return strings.ContainsRune(",; \t\r\n", r) })...)
			continue
		}
		name := strings.TrimSpace(p[:lt])
		if len(name) >= 2 && name[0] == '"' && name[len(name)-1] == '"' {
			name = strings.ReplaceAll(strings.ReplaceAll(name[1:len(name)-1], `\"`, `"`), `\\`, `\`)
		}
		addr := strings.TrimSpace(p[lt+1 : len(p)-1])
		if addr == "" {
			if name != "" {
				out = append(out, p) // transfer refuses it, naming it
			}
			continue
		}
		if name == "" || strings.ContainsAny(addr, "<>\"\r\n") {
			out = append(out, addr)
			continue
		}
		out = append(out, (&mail.Address{Name: name, Address: addr}).String())
	}
	return out
}

// createdData is what the page after a send shows: the links, once.
type createdData struct {
	Send  transfer.Send
	Links []createdLink
	// Pending says the send waits for the antivirus: no link yet, the page says so and
	// follows the send's page until it is released.
	Pending bool
}

// createdLink is one recipient's link, shown once to the sender.
type createdLink struct {
	Recipient string
	URL       string
	QR        template.URL // the link as a QR code image; "" if it could not be drawn
	Notified  bool
}

// newLink returns the link shown for an invitation, with its QR code and whether it was
// mailed.
func (h *Handler) newLink(inv transfer.Invitation) *createdLink {
	l := &createdLink{Recipient: inv.Recipient, URL: h.cfg.PublicURL + "/s/" + inv.Token, Notified: inv.Notified}
	qrURL, err := qrDataURL(l.URL)
	if err != nil {
		h.logger.Warn("QR code not drawn", logSendID, inv.SendID, logErr, err)
	}
	l.QR = qrURL
	return l
}

// serveComposePost creates the send from the form, mails the recipients and shows the links.
func (h *Handler) serveComposePost(r *request, _ map[string]string) {
	args := r.ctx.PostArgs()
	d := composeData{
		To: string(args.Peek("to")), Cc: string(args.Peek("cc")), Bcc: string(args.Peek("bcc")),
		Subject: string(args.Peek("subject")), Message: strings.ReplaceAll(string(args.Peek("message")), "\r\n", "\n"),
		Password:            string(args.Peek("password")),
		DeleteAfterDownload: args.Has("delete_after_download"),
		Receipts:            args.Has("receipts"),
		EmailCode:           args.Has("email_code"),
		ExpiryChoices:       expiryChoices(),
	}
	tr := h.translator(r.lang)
	fail := func(msg string) {
		p := h.newPage(r)
		p.Error = msg
		if !slices.Contains(d.ExpiryChoices, d.ExpiryDays) {
			// A value the list lacks would show as its first entry: keep the one posted.
			d.ExpiryChoices = append(d.ExpiryChoices, d.ExpiryDays)
			slices.Sort(d.ExpiryChoices)
		}
		h.fillLimits(r, &d)
		p.Data = d
		h.render(r, fasthttp.StatusUnprocessableEntity, "send", p)
	}
	var ids []transfer.FileID
	for _, v := range args.PeekMulti("file") {
		if len(ids) >= maxFormFiles {
			break
		}
		id := transfer.FileID(v)
		if f, err := h.deps.Sends.GetFile(r.cx, r.user.ID, id); err == nil {
			d.Files = append(d.Files, composeFile{ID: string(f.ID), Name: f.Path(), Size: f.Size})
		}
		ids = append(ids, id)
	}
	// Every option goes back into the form before anything is checked, so that no error
	// drops one.
	expiryErr := error(nil)
	if d.ExpiryDays, expiryErr = strconv.Atoi(string(args.Peek("expiry_days"))); expiryErr != nil || d.ExpiryDays < 1 || d.ExpiryDays > maxExpiryDays {
		d.ExpiryDays, expiryErr = defaultExpiryDay, errors.New("expiry")
	}
	limitErr := error(nil)
	if v := string(args.Peek("download_limit")); v != "" {
		if d.DownloadLimit, limitErr = strconv.Atoi(v); limitErr != nil || d.DownloadLimit < 0 {
			d.DownloadLimit, limitErr = 0, errors.New("limit")
		}
	}
	switch {
	case passwordLost(args):
		// The form showed a password (it came back with one) and none came: a field lost
		// on the way, not a choice. Refuse, and send the form back without the marker, so
		// that a user who does want no password only has to send again.
		fail(tr.translate("send.password_lost"))
		return
	case expiryErr != nil:
		fail(tr.translate("send.expiry_invalid"))
		return
	case limitErr != nil:
		fail(tr.translate("send.limit_invalid"))
		return
	}
	if len(ids) == 0 {
		fail(tr.translate("transfer.files_invalid"))
		return
	}
	req := transfer.SendRequest{
		From: transfer.Sender{Name: r.user.Name, Email: r.user.Email},
		To:   splitAddresses(d.To), Cc: splitAddresses(d.Cc), Bcc: splitAddresses(d.Bcc),
		Subject: d.Subject, Message: d.Message, FileIDs: ids, Lang: r.lang,
		Options: transfer.Options{
			Password:            d.Password,
			Expiry:              time.Duration(d.ExpiryDays) * 24 * time.Hour,
			DownloadLimit:       d.DownloadLimit,
			DeleteAfterDownload: d.DeleteAfterDownload,
			Receipts:            d.Receipts,
			EmailCode:           d.EmailCode,
		},
	}
	created, err := h.deps.Sends.SendFiles(r.cx, r.user.ID, req, h.notifier())
	if err != nil {
		if msg, ok := notSendableMessage(tr, err, d.Files); ok {
			fail(msg)
			return
		}
		fail(h.transferMessage(r.lang, err))
		return
	}
	out := createdData{Send: created.Send, Pending: created.Send.PendingScan}
	for _, inv := range created.Invitations {
		out.Links = append(out.Links, *h.newLink(inv))
	}
	p := h.newPage(r)
	p.Notice = tr.translate("send.created")
	if out.Pending {
		// Files still being scanned: the send waits for the antivirus (issue 16 item 3);
		// the mails leave by themselves once every file is clean.
		p.Notice = tr.translate("send.pending")
	}
	p.Data = out
	h.render(r, fasthttp.StatusOK, "created", p)
}

// passwordLost reports whether a compose post carries the password_set marker (the form was
// shown with a password) but no password.
func passwordLost(args *fasthttp.Args) bool {
	return args.Has("password_set") && len(args.Peek("password")) == 0
}

// notifier is how the web UI's use cases mail: through the Mailer, under the product name
// and public URL this handler was built with. Invitations are in the language of the page
// the sender writes in: the recipient's is not known, and the sender's own message is most
// likely in that language.
func (h *Handler) notifier() transfer.Notifier {
	return transfer.Notifier{Mailer: h.deps.Mailer, Brand: transfer.Brand{Product: h.cfg.ProductName, PublicURL: h.cfg.PublicURL}}
}

// notSendableMessage returns what the user should read about a file CreateSend refused for
// its verdict, naming the file, and whether err is such a refusal. A file held because it
// was checked with the antivirus' test signatures only (scan.test_signatures_only=hold) is
// not one that is infected or could not be scanned (issue 16 item 7): the message says
// which, as the API's does.
func notSendableMessage(tr translator, err error, files []composeFile) (string, bool) {
	var fe *transfer.FileNotSendableError
	if !errors.As(err, &fe) || fe.Verdict == transfer.VerdictPending {
		return "", false
	}
	name := string(fe.ID)
	if i := slices.IndexFunc(files, func(f composeFile) bool { return f.ID == string(fe.ID) }); i >= 0 {
		name = files[i].Name
	}
	switch {
	case fe.Verdict == transfer.VerdictInfected:
		return tr.translate("transfer.file_infected", "Name", name), true
	case fe.Verdict == transfer.VerdictNotScanned:
		return tr.translate("transfer.file_not_scanned", "Name", name), true
	case transfer.CheckedTestSignaturesOnly(fe.Verdict, fe.Reason):
		return tr.translate("transfer.file_test_signatures_only", "Name", name), true
	}
	return "", false
}

// transferMessage returns what the user should read about err from transfer.
func (h *Handler) transferMessage(lang string, err error) string {
	tr := h.translator(lang)
	var re *transfer.RecipientError
	if errors.As(err, &re) {
		return tr.translate("transfer.recipient_invalid", "Address", re.Address)
	}
	switch fault.KindOf(err) {
	case fault.Internal:
		h.logger.Warn("transfer call failed", logErr, err)
		return tr.translate("error.unavailable")
	case fault.Unavailable: // no leader, or too much contention: the user retries
		return tr.translate("error.unavailable")
	}
	code := fault.CodeOf(err)
	msg := tr.translate("transfer." + code)
	if msg == "transfer."+code {
		return tr.translate("error.generic")
	}
	return msg
}
