package node

import (
	"context"
	"errors"
	"sort"
	"strings"

	"valise/account"
	"valise/adminapi"
)

// importPreview is how many parsed lines an import report shows.
const importPreview = 20

// ImportUsers implements adminapi.UsersService: the CSV is parsed and every line checked
// against the users that exist; unless DryRun, new users are created in batches of
// account.MaxImportBatch (within raftfsm's batch limit), existing ones changed one by one
// with Update. A line refused at any step is reported and leaves the others applied.
func (s *adminService) ImportUsers(ctx context.Context, req adminapi.UserImportRequest) (adminapi.UserImportReport, error) {
	lines, err := account.ParseImport(req.CSV)
	if err != nil {
		return adminapi.UserImportReport{}, adminapi.Errorf(adminapi.CodeInvalidValue, "%s", importError(err))
	}
	rep := adminapi.UserImportReport{DryRun: req.DryRun, Lines: len(lines)}
	if !req.DryRun {
		if err := s.leader(); err != nil {
			return adminapi.UserImportReport{}, err
		}
	}
	ctx = account.WithActor(ctx, actorOf(ctx))
	fail := func(l account.ImportLine, err error) {
		rep.Failed = append(rep.Failed, adminapi.ImportLineError{Line: l.Line, Email: l.Email, Error: importError(err)})
	}
	var creates, updates []account.ImportLine
	for _, l := range lines {
		row := adminapi.ImportRow{Line: l.Line, Email: l.Email, Name: l.Name, Role: l.Role.String(), Lang: string(l.Language), QuotaBytes: l.Quota}
		switch {
		case l.Err != nil:
			row.Action = "error"
			fail(l, l.Err)
		case managerMay(ctx, 0, &l.Role) != nil:
			row.Action = "error"
			fail(l, errManagerSupervisor)
		default:
			u, err := s.n.accounts.ByEmail(ctx, l.Email)
			switch {
			case errors.Is(err, account.ErrNotFound):
				row.Action = "create"
				creates = append(creates, l)
			case err != nil:
				return adminapi.UserImportReport{}, translate(err)
			case !req.Update || sameAsImported(u, l):
				row.Action = "unchanged"
				rep.Unchanged++
			case managerMay(ctx, u.Role, nil) != nil:
				row.Action = "error"
				fail(l, errManagerSupervisor)
			default:
				row.Action = "update"
				updates = append(updates, l)
			}
		}
		if len(rep.Preview) < importPreview {
			rep.Preview = append(rep.Preview, row)
		}
	}
	if req.DryRun {
		rep.Created, rep.Updated = len(creates), len(updates)
		return rep, nil
	}
	for len(creates) > 0 {
		n := min(len(creates), account.MaxImportBatch)
		chunk := creates[:n]
		creates = creates[n:]
		users, pws, err := s.n.accounts.AddBatch(ctx, chunk)
		if errors.Is(err, account.ErrEmailTaken) && len(chunk) > 1 {
			// Someone took an address meanwhile: find which, one line at a time.
			for _, l := range chunk {
				u, pw, err := s.n.accounts.AddBatch(ctx, []account.ImportLine{l})
				if err != nil {
					fail(l, err)
					continue
				}
				rep.Created++
				rep.Passwords = append(rep.Passwords, adminapi.ImportPassword{Email: u[0].Email, Password: pw[0]})
			}
			continue
		}
		if err != nil {
			if len(chunk) == 1 {
				fail(chunk[0], err)
				continue
			}
			return rep, translate(err)
		}
		rep.Created += len(users)
		for i, u := range users {
			rep.Passwords = append(rep.Passwords, adminapi.ImportPassword{Email: u.Email, Password: pws[i]})
		}
	}
	for _, l := range updates {
		quota := l.Quota
		if _, err := s.n.accounts.Update(ctx, l.Email, account.Edit{Name: &l.Name, Language: &l.Language, Role: &l.Role, Quota: &quota}); err != nil {
			fail(l, err)
			continue
		}
		rep.Updated++
	}
	sort.SliceStable(rep.Failed, func(i, j int) bool { return rep.Failed[i].Line < rep.Failed[j].Line })
	return rep, nil
}

// sameAsImported reports whether u already has what line l asks.
func sameAsImported(u account.User, l account.ImportLine) bool {
	return u.Name == l.Name && u.Role == l.Role && u.Language == l.Language && u.QuotaBytes() == l.Quota
}

// importError is err as one sentence for the operator, without the sentinels' prefixes.
func importError(err error) string {
	if errors.Is(err, account.ErrLastSupervisor) {
		return "this is the last active supervisor: make another user supervisor first"
	}
	if errors.Is(err, account.ErrEmailTaken) {
		return "this e-mail address is already in use"
	}
	msg := err.Error()
	var ue *account.UserError
	if errors.As(err, &ue) && ue.Err != nil {
		msg = ue.Err.Error()
	}
	for _, p := range []string{"account: invalid input: ", "account: invalid e-mail address", "account: "} {
		if rest, ok := strings.CutPrefix(msg, p); ok {
			if rest == "" || strings.HasPrefix(rest, ":") {
				return "invalid e-mail address" + rest
			}
			return rest
		}
	}
	return msg
}
