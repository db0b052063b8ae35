package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/valyala/fasthttp"

	"valise/account"
	"valise/userid"
)

// Principal is the authenticated caller of a request, kept in its user values.
type Principal struct {
	UserID   userid.ID
	Email    string
	Name     string
	Language account.Language
	Role     account.Role
	TokenID  string // the access token used
}

// principalKey is the user-value key of the Principal.
const principalKey = "valise.principal"

// PrincipalFrom returns the request's authenticated caller, if any. The value is a copy:
// it may be kept after the handler returns.
func PrincipalFrom(ctx *fasthttp.RequestCtx) (Principal, bool) {
	p, ok := ctx.UserValue(principalKey).(Principal)
	return p, ok
}

// authenticate checks the request's bearer token. Every failure is ErrUnauthorized (401)
// but a metadata outage, which is 503.
func (h *Handler) authenticate(rctx context.Context, ctx *fasthttp.RequestCtx) (Principal, error) {
	auth := ctx.Request.Header.Peek("Authorization")
	scheme, tok, ok := bytes.Cut(auth, []byte(" "))
	if !ok || !bytes.EqualFold(scheme, []byte("Bearer")) || len(tok) == 0 || len(tok) > 512 {
		return Principal{}, ErrUnauthorized
	}
	u, t, err := h.deps.Accounts.AuthenticateToken(rctx, string(bytes.TrimSpace(tok)))
	if err != nil {
		if errors.Is(err, account.ErrInvalidToken) || errors.Is(err, account.ErrDisabled) {
			return Principal{}, fmt.Errorf("%w: %w", ErrUnauthorized, err)
		}
		return Principal{}, fmt.Errorf("authenticate: %w", err)
	}
	return Principal{UserID: u.ID, Email: u.Email, Name: u.Name, Language: u.Language, Role: u.Role, TokenID: t.ID}, nil
}

// Principal authenticates a request for another handler mounted beside this one (the tus
// uploads) and returns the user's ID; it matches tus.PrincipalFunc: a refused token gives
// ErrUnauthorized (401), a check that could not be made the account's error (an outage of
// the kind fault.Unavailable: 503, retry). It writes nothing.
func (h *Handler) Principal(ctx *fasthttp.RequestCtx) (userid.ID, error) {
	rctx, cancel := context.WithTimeout(h.baseCtx, h.cfg.RequestTimeout)
	defer cancel()
	p, err := h.authenticate(rctx, ctx)
	if err != nil {
		return "", err
	}
	return p.UserID, nil
}
