package node

import (
	"context"
	"errors"
	"slices"
	"strings"

	"valise/account"
	"valise/adminapi"
	"valise/transfer"
	"valise/userid"
)

// The transfers for the console (issue 20): every user's sends and uploads in progress,
// filtered and paged, a send in detail, and a revoke by an administrator.

// Transfer page limits: the default and the most one page holds.
const (
	transferPageDefault = 100
	transferPageMax     = 1000
)

// transferState is the console's state of a send.
func transferState(s transfer.Send) string {
	switch s.State {
	case transfer.StatusRevoked, transfer.StatusCancelled:
		return adminapi.TransferRevoked
	case transfer.StatusExpired, transfer.StatusConsumed, transfer.StatusExhausted:
		return adminapi.TransferExpired
	case transfer.StatusPendingScan:
		return adminapi.TransferWaiting
	}
	if s.Suspended {
		return adminapi.TransferSuspended
	}
	return adminapi.TransferActive
}

// owners resolves owners' e-mail addresses once per request.
type owners struct {
	ctx      context.Context
	accounts *account.Service
	emails   map[userid.ID]string
}

func (o *owners) email(id userid.ID) string {
	if e, ok := o.emails[id]; ok {
		return e
	}
	e := string(id) // a deleted user: their ID is all that is left
	if u, err := o.accounts.ByID(o.ctx, id); err == nil {
		e = u.Email
	}
	o.emails[id] = e
	return e
}

func sendInfo(s transfer.Send, owner string) adminapi.TransferInfo {
	info := adminapi.TransferInfo{
		ID: string(s.ID), Kind: adminapi.TransferKindSend, Owner: owner, Subject: s.Subject, State: transferState(s),
		Created: s.Created.UTC(), Expires: s.Expires.UTC(), Files: len(s.Files), Recipients: len(s.Recipients),
	}
	for _, f := range s.Files {
		info.Bytes += f.Size
	}
	for _, r := range s.Recipients {
		info.Downloads += r.DownloadCount
	}
	return info
}

// uploadInfo shows an upload in progress; its Subject is the file's name.
func uploadInfo(u transfer.Upload, owner string) adminapi.TransferInfo {
	return adminapi.TransferInfo{
		ID: string(u.ID), Kind: adminapi.TransferKindUpload, Owner: owner, Subject: u.Name, State: adminapi.TransferUploading,
		Created: u.Created.UTC(), Expires: u.Expires.UTC(), Files: 1, Bytes: u.Offset,
	}
}

// transferMatch is a TransferQuery's filters but the user's.
func transferMatch(q adminapi.TransferQuery, info adminapi.TransferInfo, texts []string) bool {
	switch {
	case q.State != "" && info.State != q.State:
		return false
	case !q.Since.IsZero() && info.Created.Before(q.Since):
		return false
	case !q.Until.IsZero() && info.Created.After(q.Until):
		return false
	}
	if q.Query == "" {
		return true
	}
	want := strings.ToLower(q.Query)
	for _, t := range texts {
		if strings.Contains(strings.ToLower(t), want) {
			return true
		}
	}
	return false
}

// ListTransfers implements adminapi.TransfersService: sends and uploads in progress, newest
// first, from the local state.
func (s *adminService) ListTransfers(ctx context.Context, q adminapi.TransferQuery) (adminapi.TransferPage, error) {
	n := s.n
	own := &owners{ctx: ctx, accounts: n.accounts, emails: map[userid.ID]string{}}
	var userID userid.ID
	if q.User != "" {
		if u, err := n.accounts.ByEmail(ctx, q.User); err == nil {
			userID = u.ID
		}
	}
	ofUser := func(owner userid.ID, email string) bool {
		return q.User == "" || owner == userID && userID != "" || strings.EqualFold(email, q.User)
	}
	var all []adminapi.TransferInfo
	if q.Kind == "" || q.Kind == adminapi.TransferKindSend {
		sends, err := n.transfers.AllSends(ctx)
		if err != nil {
			return adminapi.TransferPage{}, translate(err)
		}
		for _, snd := range sends {
			if !ofUser(snd.Owner, snd.From.Email) {
				continue
			}
			info := sendInfo(snd, own.email(snd.Owner))
			texts := []string{snd.Subject, info.Owner}
			for _, f := range snd.Files {
				texts = append(texts, f.Name)
			}
			for _, r := range snd.Recipients {
				texts = append(texts, r.Address, r.Name)
			}
			if transferMatch(q, info, texts) {
				all = append(all, info)
			}
		}
	}
	if q.Kind == "" || q.Kind == adminapi.TransferKindUpload {
		ups, err := n.transfers.AllUploads(ctx)
		if err != nil {
			return adminapi.TransferPage{}, translate(err)
		}
		for _, u := range ups {
			email := own.email(u.Owner)
			if !ofUser(u.Owner, email) {
				continue
			}
			info := uploadInfo(u, email)
			if transferMatch(q, info, []string{u.Name, email}) {
				all = append(all, info)
			}
		}
	}
	// Both lists are newest first; merged by creation time.
	sortNewestFirst(all)
	limit := q.Limit
	if limit <= 0 {
		limit = transferPageDefault
	}
	limit = min(limit, transferPageMax)
	page := adminapi.TransferPage{Transfers: []adminapi.TransferInfo{}, Total: len(all)}
	if q.Offset < len(all) {
		page.Transfers = append(page.Transfers, all[max(q.Offset, 0):min(max(q.Offset, 0)+limit, len(all))]...)
	}
	return page, nil
}

// GetTransfer implements adminapi.TransfersService.
func (s *adminService) GetTransfer(ctx context.Context, id string) (adminapi.TransferDetail, error) {
	n := s.n
	snd, err := n.transfers.AnySend(ctx, transfer.SendID(id))
	if errors.Is(err, transfer.ErrSendNotFound) {
		return adminapi.TransferDetail{}, adminapi.Errorf(adminapi.CodeNotFound, "no send has the ID %s", id)
	}
	if err != nil {
		return adminapi.TransferDetail{}, translate(err)
	}
	own := &owners{ctx: ctx, accounts: n.accounts, emails: map[userid.ID]string{}}
	d := adminapi.TransferDetail{
		TransferInfo: sendInfo(snd, own.email(snd.Owner)),
		Files:        []adminapi.TransferFile{},
		Recipients:   []adminapi.TransferRecipient{},
		Password:     snd.Options.PasswordRequired, DownloadLimit: snd.Options.DownloadLimit,
		DeleteAfter: snd.Options.DeleteAfterDownload, Receipt: snd.Options.Receipts, EmailCode: snd.Options.EmailCode,
	}
	for _, f := range snd.Files {
		verdict := string(f.Verdict)
		if transfer.CheckedTestSignaturesOnly(f.Verdict, f.VerdictReason) {
			verdict += " (test signatures only)"
		}
		d.Files = append(d.Files, adminapi.TransferFile{Name: f.Name, Size: f.Size, SHA256: f.SHA256, Verdict: verdict})
	}
	for _, r := range snd.Recipients {
		tr := adminapi.TransferRecipient{Email: r.Address, Opened: !r.OpenedFirst.IsZero(), Downloads: r.DownloadCount, Notified: r.NotifyCount > 0}
		for _, dl := range r.Downloads {
			if dl.Complete && dl.At.After(tr.LastDownload) {
				tr.LastDownload = dl.At.UTC()
			}
		}
		d.Recipients = append(d.Recipients, tr)
	}
	return d, nil
}

// RevokeTransfer implements adminapi.TransfersService: on the leader, journalled with the
// caller.
func (s *adminService) RevokeTransfer(ctx context.Context, id string) (adminapi.TransferInfo, error) {
	if err := s.leader(); err != nil {
		return adminapi.TransferInfo{}, err
	}
	err := s.n.transfers.RevokeAsAdmin(ctx, transfer.SendID(id), actorOf(ctx))
	if errors.Is(err, transfer.ErrSendNotFound) {
		return adminapi.TransferInfo{}, adminapi.Errorf(adminapi.CodeNotFound, "no send has the ID %s", id)
	}
	if err != nil {
		return adminapi.TransferInfo{}, translate(err)
	}
	d, err := s.GetTransfer(ctx, id)
	return d.TransferInfo, err
}

// sortNewestFirst sorts transfers by creation time, the newest first, then by ID.
func sortNewestFirst(all []adminapi.TransferInfo) {
	slices.SortStableFunc(all, func(a, b adminapi.TransferInfo) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
}
