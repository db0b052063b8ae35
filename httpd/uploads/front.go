package uploads

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/valyala/fasthttp"

	"valise/account"
	"valise/httpd/tus"
	"valise/internal/logkey"
	"valise/userid"
)

// Tokens checks an access token; account.Service implements it.
type Tokens interface {
	// AuthenticateToken returns the token's user, or an error wrapping
	// account.ErrInvalidToken (unknown, expired or revoked) or account.ErrDisabled; any other
	// error is an outage.
	AuthenticateToken(ctx context.Context, bearer string) (account.User, account.Token, error)
}

// maxBearer bounds the Authorization header's token: a longer one is refused unread.
const maxBearer = 512

// Principal returns the tus.PrincipalFunc of the uploads. A request carrying an Authorization
// header is authenticated by its bearer token (a linearizable check: a disabled user or a
// revoked token is refused at once); any other is a browser's, authenticated by session,
// which checks the X-CSRF-Token header on every change (web.Handler.SessionPrincipal). A
// refused credential gives tus.ErrUnauthorized (401); a check that could not be made (no
// metadata leader while the cluster elects one, a partition) is logged and gives the
// account's error, whose kind (fault.Unavailable: 503 with Retry-After) tells the client to
// retry with the same token (issue 18).
func Principal(tokens Tokens, session tus.PrincipalFunc, logger *slog.Logger) tus.PrincipalFunc {
	return func(ctx *fasthttp.RequestCtx) (userid.ID, error) {
		auth := ctx.Request.Header.Peek("Authorization")
		if len(auth) == 0 {
			return session(ctx)
		}
		scheme, tok, ok := bytes.Cut(auth, []byte(" "))
		if !ok || !bytes.EqualFold(scheme, []byte("Bearer")) || len(tok) == 0 || len(tok) > maxBearer {
			return "", tus.ErrUnauthorized
		}
		u, _, err := tokens.AuthenticateToken(ctx, string(bytes.TrimSpace(tok)))
		if err != nil {
			if errors.Is(err, account.ErrInvalidToken) || errors.Is(err, account.ErrDisabled) {
				return "", fmt.Errorf("%w: %w", tus.ErrUnauthorized, err)
			}
			logger.Warn("authenticate an upload", logkey.Err, err)
			return "", fmt.Errorf("authenticate an upload: %w", err)
		}
		return u.ID, nil
	}
}

// CSRFGate returns next (the tus server's Handle) behind the browsers' CSRF check. A
// browser's change, one carrying cookies but no Authorization header with a method other than
// GET, HEAD and OPTIONS, must carry the session's CSRF token in X-CSRF-Token: without the
// header it is refused here with 403, before any lookup (a cross-site request cannot add a
// header); with a wrong one the session principal refuses it and tus answers 401.
func CSRFGate(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		h := &ctx.Request.Header
		browser := len(h.Peek("Cookie")) > 0 && len(h.Peek("Authorization")) == 0
		safe := ctx.IsGet() || ctx.IsHead() || ctx.IsOptions()
		if browser && !safe && len(h.Peek("X-CSRF-Token")) == 0 {
			ctx.Response.Header.Set("Tus-Resumable", tus.Version)
			ctx.SetStatusCode(fasthttp.StatusForbidden)
			ctx.SetContentType("text/plain; charset=utf-8")
			ctx.SetBodyString("forbidden: a browser's upload needs its X-CSRF-Token\n")
			ctx.SetConnectionClose() // the body, if any, is not read
			return
		}
		next(ctx)
	}
}
