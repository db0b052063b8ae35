package api

import (
	"fmt"
	"time"

	"github.com/valyala/fasthttp"
)

// meJSON is the caller as GET /api/v1/me shows them.
type meJSON struct {
	ID       string `json:"id"`
	Email    string `json:"email"`
	Name     string `json:"name"`
	Language string `json:"language"`
	Role     string `json:"role"`
}

// tokenJSON is an access token without its secret.
type tokenJSON struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
}

// tokensJSON lists tokens.
type tokensJSON struct {
	Tokens []tokenJSON `json:"tokens"`
}

// createdTokenJSON answers a token creation: the secret, shown once.
type createdTokenJSON struct {
	Token  tokenJSON `json:"token"`
	Secret string    `json:"secret"`
}

// newTokenBody is the body of POST /api/v1/me/tokens.
type newTokenBody struct {
	Name string `json:"name"`
}

// serveMe answers the caller.
func (h *Handler) serveMe(ctx *fasthttp.RequestCtx, c call) {
	p := principal(ctx)
	h.writeJSON(ctx, fasthttp.StatusOK, meJSON{
		ID: string(p.UserID), Email: p.Email, Name: p.Name, Language: string(p.Language), Role: p.Role.String(),
	})
}

// serveListTokens lists the caller's tokens.
func (h *Handler) serveListTokens(ctx *fasthttp.RequestCtx, c call) {
	toks, err := h.deps.Accounts.ListTokens(c, principal(ctx).UserID)
	if err != nil {
		h.fail(ctx, err)
		return
	}
	out := tokensJSON{Tokens: make([]tokenJSON, 0, len(toks))}
	for _, t := range toks {
		out.Tokens = append(out.Tokens, tokenJSON{ID: t.ID, Name: t.Name, Created: t.Created})
	}
	h.writeJSON(ctx, fasthttp.StatusOK, out)
}

// serveCreateToken makes a token for the caller and shows its secret once.
func (h *Handler) serveCreateToken(ctx *fasthttp.RequestCtx, c call) {
	var b newTokenBody
	if err := h.decodeJSON(ctx, &b); err != nil {
		h.fail(ctx, err)
		return
	}
	p := principal(ctx)
	t, secret, err := h.deps.Accounts.CreateToken(c, p.UserID, b.Name)
	if err != nil {
		h.fail(ctx, err)
		return
	}
	h.logger.Info("token created", logUserID, p.UserID)
	h.writeJSON(ctx, fasthttp.StatusCreated, createdTokenJSON{
		Token: tokenJSON{ID: t.ID, Name: t.Name, Created: t.Created}, Secret: secret,
	})
}

// serveRevokeToken revokes one of the caller's tokens; another user's is not found.
func (h *Handler) serveRevokeToken(ctx *fasthttp.RequestCtx, c call) {
	p := principal(ctx)
	id := c.params["id"]
	t, err := h.deps.Accounts.TokenByID(c, id)
	if err == nil && t.UserID != p.UserID {
		err = fmt.Errorf("token %s of another user: %w", id, ErrRouteNotFound)
	}
	if err == nil {
		err = h.deps.Accounts.RevokeToken(c, id)
	}
	if err != nil {
		h.fail(ctx, err)
		return
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}
