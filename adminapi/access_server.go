package adminapi

import (
	"context"
	"net"
	"net/http"
	"strings"
)

// ConnContext is the http.Server.ConnContext of the node's admin socket server: it records the
// caller of a Unix socket connection, from the peer's credentials (SO_PEERCRED), as a local
// supervisor, so that the journal names "local administrator (uid N)". Other connections
// (TLS: the certificate is known only after the handshake) are left to the handler.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return ctx
	}
	uid, err := peerUID(uc)
	if err != nil {
		return ctx // the handler then answers as for a socket without credentials
	}
	return WithCaller(ctx, Caller{Local: true, UID: uid, Role: RoleSupervisor})
}

// unknownUID is the uid journalled for a socket caller whose credentials the server did not
// read (an http.Server without ConnContext, as tests of this package run).
const unknownUID = -1

// MsgCertRefused is what a caller over mutual TLS is told when its certificate is not (or no
// longer) one the cluster issued to an administrator.
const MsgCertRefused = "the node refused this admin certificate: it is revoked or unknown"

// authorize finds who calls (the socket's peer or the TLS client certificate), refuses what
// the caller's role may not do (CodeForbidden), and passes the request on with the Caller in
// its context (WithCaller) for the Service to journal.
func (h *handler) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := h.caller(r)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if !Allowed(c.Role, r.Method, r.URL.Path) {
			h.fail(w, r, Errorf(CodeForbidden, "%s may read everything and act on users, tokens and transfers only: %s %s needs a supervisor's certificate", c.Actor(), r.Method, r.URL.Path))
			return
		}
		next.ServeHTTP(w, r.WithContext(WithCaller(r.Context(), c)))
	})
}

// caller returns who made r. Over TLS the node's AdminCertService names the certificate's
// holder at every request, so that a revocation ends a kept-alive connection's rights too.
func (h *handler) caller(r *http.Request) (Caller, error) {
	if r.TLS != nil {
		if len(r.TLS.PeerCertificates) == 0 {
			return Caller{}, Errorf(CodeForbidden, "an admin certificate is required (appliance admin cert)")
		}
		ac, ok := h.svc.(AdminCertService)
		if !ok {
			return Caller{}, Errorf(CodeForbidden, "%s", MsgCertRefused)
		}
		return ac.AdminCaller(r.TLS.PeerCertificates[0])
	}
	if c, ok := CallerFrom(r.Context()); ok {
		return c, nil
	}
	if _, ok := r.Context().Value(http.LocalAddrContextKey).(*net.UnixAddr); ok {
		return Caller{Local: true, UID: unknownUID, Role: RoleSupervisor}, nil
	}
	return Caller{}, Errorf(CodeForbidden, "the admin API answers on the node's Unix socket or over mutual TLS only")
}

// Allowed reports whether role may make a request of method on path: a supervisor anything;
// a manager any read (GET), and changes of users, tokens and transfers, and a journal
// verification (a read that happens to be a POST). Any other role nothing.
func Allowed(role, method, path string) bool {
	switch role {
	case RoleSupervisor:
		return true
	case RoleManager:
		if method == http.MethodGet || method == http.MethodHead {
			return true
		}
		return under(path, PathUsers) || under(path, PathTransfers) || under(path, PathTokens) || path == PathJournalVerify
	}
	return false
}

// under reports whether path is route or below it.
func under(path, route string) bool {
	return path == route || strings.HasPrefix(path, route+"/")
}

// ValidRole refuses a role an admin certificate cannot carry.
func ValidRole(role string) error {
	if role != RoleSupervisor && role != RoleManager {
		return Errorf(CodeInvalidValue, "role %q: want %s or %s", role, RoleSupervisor, RoleManager)
	}
	return nil
}
