package node

import (
	"context"
	"errors"

	"valise/account"
	"valise/adminapi"
)

// errManagerSupervisor refuses a manager what would let them act as a supervisor.
var errManagerSupervisor = errors.New("a manager may not create, promote or act on a supervisor's account: ask a supervisor")

// managerMay refuses a manager's call (an admin certificate with the manager role) that would
// hand them a supervisor's powers: creating or promoting a supervisor, or acting on a
// supervisor's account (edit, disable, delete, reset its password, a token of theirs), since
// a new password or token of a supervisor is that supervisor. target is the role of the
// account acted on (0 for a new one), to the role it would get (nil: unchanged). The socket's
// caller and supervisors may do all of it.
func managerMay(ctx context.Context, target account.Role, to *account.Role) error {
	c, ok := adminapi.CallerFrom(ctx)
	if !ok || c.Role != adminapi.RoleManager {
		return nil
	}
	if target == account.RoleSupervisor || (to != nil && *to == account.RoleSupervisor) {
		return adminapi.Errorf(adminapi.CodeForbidden, "%s", errManagerSupervisor)
	}
	return nil
}

// managerMayEmail is managerMay for the existing account with this e-mail address; a
// missing one is left to the call to report.
func (s *adminService) managerMayEmail(ctx context.Context, email string, to *account.Role) error {
	if c, ok := adminapi.CallerFrom(ctx); !ok || c.Role != adminapi.RoleManager {
		return nil
	}
	u, err := s.n.accounts.ByEmail(ctx, email)
	if err != nil {
		return nil
	}
	return managerMay(ctx, u.Role, to)
}
