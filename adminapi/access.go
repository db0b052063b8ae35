package adminapi

import (
	"context"
	"fmt"
)

// Roles an administrator's certificate carries (issue 20). A supervisor may do everything;
// a manager may read everything and act on users and transfers, not on settings, the
// cluster, backups or certificates. The Unix socket's caller is a supervisor: file
// permissions are the authentication there.
const (
	RoleSupervisor = "supervisor"
	RoleManager    = "manager"
)

// Caller is who made an admin call, as the journal records it.
type Caller struct {
	// Local is true over the Unix socket, where UID is the peer's uid (SO_PEERCRED).
	Local bool `json:"local"`
	UID   int  `json:"uid"`
	// Name is the admin certificate's name over mutual TLS ("" over the socket).
	Name string `json:"name,omitempty"`
	Role string `json:"role"`
}

// Actor is the caller as the journal names it: "local administrator (uid N)" or
// "admin certificate NAME (ROLE)".
func (c Caller) Actor() string {
	if c.Local {
		return fmt.Sprintf("local administrator (uid %d)", c.UID)
	}
	return fmt.Sprintf("admin certificate %s (%s)", c.Name, c.Role)
}

type callerKey struct{}

// WithCaller returns ctx carrying c; the handler sets it on every request.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller ctx carries; ok is false outside an admin request (a
// background job, a test calling the node directly).
func CallerFrom(ctx context.Context) (c Caller, ok bool) {
	c, ok = ctx.Value(callerKey{}).(Caller)
	return c, ok
}
