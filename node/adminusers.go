package node

import (
	"context"
	"errors"
	"fmt"

	"valise/account"
	"valise/adminapi"
	"valise/transfer"
)

// The users' side of the admin API (issue 20): adminService implements
// adminapi.UsersService. Every change is journalled with the caller (actorOf).

var (
	_ adminapi.UsersService = (*adminService)(nil)
	// The users' own quotas bound their uploads and sends (account.User.Quota).
	_ transfer.Quotas = (*account.Service)(nil)
)

// ListUsers implements adminapi.UsersService.
func (s *adminService) ListUsers(ctx context.Context, q adminapi.UserQuery) (adminapi.UserPage, error) {
	aq := account.Query{Text: q.Query, State: q.State}
	if q.Role != "" {
		r, err := account.ParseRole(q.Role)
		if err != nil {
			return adminapi.UserPage{}, adminapi.Errorf(adminapi.CodeInvalidValue, "role %q: want supervisor, manager or user", q.Role)
		}
		aq.Role = r
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	users, total, err := s.n.accounts.Search(ctx, aq, q.Offset, min(limit, 1000))
	if err != nil {
		return adminapi.UserPage{}, translate(err)
	}
	out := adminapi.UserPage{Users: make([]adminapi.UserInfo, 0, len(users)), Total: total}
	for _, u := range users {
		info, err := s.fullUserInfo(ctx, u)
		if err != nil {
			return adminapi.UserPage{}, err
		}
		out.Users = append(out.Users, info)
	}
	return out, nil
}

// GetUser implements adminapi.UsersService.
func (s *adminService) GetUser(ctx context.Context, email string) (adminapi.UserInfo, error) {
	u, err := s.n.accounts.ByEmail(ctx, email)
	if err != nil {
		return adminapi.UserInfo{}, userError(err, email)
	}
	return s.fullUserInfo(ctx, u)
}

// EditUser implements adminapi.UsersService.
func (s *adminService) EditUser(ctx context.Context, email string, e adminapi.UserEdit) (adminapi.UserInfo, error) {
	var ae account.Edit
	ae.Name = e.Name
	if e.Lang != nil {
		l, err := account.ParseLanguage(*e.Lang)
		if err != nil || *e.Lang == "" {
			return adminapi.UserInfo{}, adminapi.Errorf(adminapi.CodeInvalidValue, "language %q: want fr or en", *e.Lang)
		}
		ae.Language = &l
	}
	if e.Role != nil {
		r, err := account.ParseRole(*e.Role)
		if err != nil {
			return adminapi.UserInfo{}, adminapi.Errorf(adminapi.CodeInvalidValue, "role %q: want supervisor, manager or user", *e.Role)
		}
		ae.Role = &r
	}
	if e.QuotaBytes != nil && *e.QuotaBytes < adminapi.QuotaDefault {
		return adminapi.UserInfo{}, adminapi.Errorf(adminapi.CodeInvalidValue, "quota %d: want bytes, 0 for none or -1 for the quota.user_bytes setting", *e.QuotaBytes)
	}
	ae.Quota = e.QuotaBytes
	if err := s.leader(); err != nil {
		return adminapi.UserInfo{}, err
	}
	ctx = account.WithActor(ctx, actorOf(ctx))
	u, err := s.n.accounts.ByEmail(ctx, email)
	if err != nil {
		return adminapi.UserInfo{}, userError(err, email)
	}
	if err := managerMay(ctx, u.Role, ae.Role); err != nil {
		return adminapi.UserInfo{}, err
	}
	if ae.Name != nil || ae.Language != nil || ae.Role != nil || ae.Quota != nil {
		if u, err = s.n.accounts.Update(ctx, email, ae); err != nil {
			return adminapi.UserInfo{}, userError(err, email)
		}
	}
	if e.Disabled != nil && *e.Disabled != u.Disabled {
		if *e.Disabled {
			u, err = s.n.accounts.Disable(ctx, email)
		} else {
			u, err = s.n.accounts.Enable(ctx, email)
		}
		if err != nil {
			return adminapi.UserInfo{}, userError(err, email)
		}
	}
	return s.fullUserInfo(ctx, u)
}

// DeleteUser implements adminapi.UsersService. The user goes first (refused for the last
// active supervisor), then, unless KeepSends, their live sends are revoked and a sweep
// destroys the files no send needs any more.
func (s *adminService) DeleteUser(ctx context.Context, email string, req adminapi.UserDeleteRequest) (adminapi.UserDeleteResult, error) {
	if err := s.leader(); err != nil {
		return adminapi.UserDeleteResult{}, err
	}
	ctx = account.WithActor(ctx, actorOf(ctx))
	u, err := s.n.accounts.ByEmail(ctx, email)
	if err != nil {
		return adminapi.UserDeleteResult{}, userError(err, email)
	}
	if err := managerMay(ctx, u.Role, nil); err != nil {
		return adminapi.UserDeleteResult{}, err
	}
	tr := s.n.transfers
	if tr == nil {
		return adminapi.UserDeleteResult{}, adminapi.Errorf(adminapi.CodeUnavailable, "the node is starting: try again in a moment")
	}
	sends, err := tr.ListSends(ctx, u.ID)
	if err != nil {
		return adminapi.UserDeleteResult{}, fmt.Errorf("list the sends of %s: %w", u.Email, err)
	}
	files, err := tr.ListFiles(ctx, u.ID)
	if err != nil {
		return adminapi.UserDeleteResult{}, fmt.Errorf("list the files of %s: %w", u.Email, err)
	}
	usedBefore, err := tr.Usage(ctx, u.ID)
	if err != nil {
		return adminapi.UserDeleteResult{}, err
	}
	if _, err := s.n.accounts.Delete(ctx, email); err != nil {
		return adminapi.UserDeleteResult{}, userError(err, email)
	}
	res := adminapi.UserDeleteResult{Email: u.Email}
	for _, snd := range sends {
		if !liveSend(snd) {
			continue
		}
		if req.KeepSends {
			res.SendsKept++
			continue
		}
		if err := tr.Revoke(ctx, u.ID, snd.ID); err != nil {
			return res, fmt.Errorf("user %s deleted, but revoking send %s failed (run the command again to finish): %w", u.Email, snd.ID, err)
		}
		res.SendsRevoked++
	}
	if req.KeepSends || len(files) == 0 {
		return res, nil
	}
	if _, err := tr.Sweep(ctx); err != nil {
		s.n.logger.Warn("sweep after deleting a user", "user", u.ID, "err", err)
	}
	for _, f := range files {
		if _, err := tr.FileRecord(f.ID); errors.Is(err, transfer.ErrFileNotFound) {
			res.FilesDeleted++
		}
	}
	if usedAfter, err := tr.Usage(ctx, u.ID); err == nil {
		res.BytesFreed = max(usedBefore-usedAfter, 0)
	}
	return res, nil
}

// ResetPassword implements adminapi.UsersService.
func (s *adminService) ResetPassword(ctx context.Context, email string) (adminapi.UserAddResponse, error) {
	if err := s.leader(); err != nil {
		return adminapi.UserAddResponse{}, err
	}
	if err := s.managerMayEmail(ctx, email, nil); err != nil {
		return adminapi.UserAddResponse{}, err
	}
	ctx = account.WithActor(ctx, actorOf(ctx))
	pw, err := s.n.accounts.ResetPassword(ctx, email)
	if err != nil {
		return adminapi.UserAddResponse{}, userError(err, email)
	}
	u, err := s.n.accounts.ByEmail(ctx, email)
	if err != nil {
		return adminapi.UserAddResponse{}, userError(err, email)
	}
	return adminapi.UserAddResponse{ID: string(u.ID), Email: u.Email, Role: u.Role.String(), Lang: string(u.Language), Password: pw}, nil
}

// fullUserInfo is u as the admin API shows it, with its quota in force and its usage.
func (s *adminService) fullUserInfo(ctx context.Context, u account.User) (adminapi.UserInfo, error) {
	info := userInfo(u)
	info.Name, info.Created, info.MustChangePassword = u.Name, u.Created.UTC(), u.MustChangePassword
	info.QuotaBytes, info.EffectiveQuotaBytes = u.QuotaBytes(), u.QuotaBytes()
	tr := s.n.transfers
	if tr == nil {
		if info.QuotaBytes < 0 {
			info.EffectiveQuotaBytes = s.n.policy().QuotaBytes
		}
		return info, nil
	}
	if info.QuotaBytes < 0 {
		info.EffectiveQuotaBytes = tr.Policy().QuotaBytes
	}
	used, err := tr.Usage(ctx, u.ID)
	if err != nil {
		return info, fmt.Errorf("usage of %s: %w", u.Email, err)
	}
	sends, err := tr.ListSends(ctx, u.ID)
	if err != nil {
		return info, fmt.Errorf("sends of %s: %w", u.Email, err)
	}
	info.UsedBytes = used
	for _, snd := range sends {
		if liveSend(snd) {
			info.Sends++
		}
	}
	return info, nil
}

// liveSend reports whether snd's links may still be used (or will be, once scanned).
func liveSend(snd transfer.Send) bool {
	return snd.State == transfer.StatusActive || snd.State == transfer.StatusPendingScan
}

// userError translates an account error about the user with this e-mail address.
func userError(err error, email string) error {
	if errors.Is(err, account.ErrNotFound) {
		return adminapi.Errorf(adminapi.CodeNotFound, "no user has the e-mail address %s", email)
	}
	if errors.Is(err, account.ErrLastSupervisor) {
		return adminapi.Errorf(adminapi.CodeConflict, "%s is the last active supervisor: make another user supervisor first", email)
	}
	return translate(err)
}
