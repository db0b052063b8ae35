package api

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/valyala/fasthttp"

	"valise/fault"
	"valise/httpd/status"
	"valise/locale"
	"valise/transfer"
)

// apiError is the JSON body of every error answer.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// errorStatus returns the HTTP status and the stable code the client sees for err: its
// fault kind's status (httpd/status, the one place where kinds become HTTP; docs/style.md
// §4) and its code. Anything without a kind is 500 "internal".
func errorStatus(err error) (int, string) {
	return status.OfError(err)
}

// Message keys of the cases of file_not_sendable, after "api.".
const (
	keyFileInfected           = "file_not_sendable.infected"
	keyFileNotScanned         = "file_not_sendable.not_scanned"
	keyFileTestSignaturesOnly = "file_not_sendable.test_signatures_only"
)

// messageKey returns the catalog key of err's message answered as code: code itself, or the
// key of a finer case of it — a file offered for sending that is infected (quarantined) is
// not one that is held because it could not be scanned.
func messageKey(err error, code string) string {
	var fe *transfer.FileNotSendableError
	if code == "file_not_sendable" && errors.As(err, &fe) {
		switch fe.Verdict {
		case transfer.VerdictInfected:
			return keyFileInfected
		case transfer.VerdictNotScanned:
			return keyFileNotScanned
		}
		if transfer.CheckedTestSignaturesOnly(fe.Verdict, fe.Reason) {
			return keyFileTestSignaturesOnly
		}
	}
	return code
}

// message returns the message of code (or of a messageKey) in lang ("fr" or "en"), from the
// catalog's "api.<code>" entries; "internal"'s for a code the catalog does not have.
func message(code, lang string) string {
	p := locale.For(lang)
	if !p.Has("api." + code) {
		code = fault.InternalCode
	}
	return p.T("api." + code)
}

// lang returns the caller's language: the best of fr and en for Accept-Language; without
// the header, the authenticated user's language; French otherwise.
func (h *Handler) lang(ctx *fasthttp.RequestCtx) string {
	recorded := ""
	if p, ok := PrincipalFrom(ctx); ok {
		recorded = string(p.Language)
	}
	return locale.Negotiate("", string(ctx.Request.Header.Peek("Accept-Language")), recorded)
}

// fail answers err as JSON. Server errors are logged; the client sees only the code and the
// message, never err's text.
func (h *Handler) fail(ctx *fasthttp.RequestCtx, err error) {
	st, code := errorStatus(err)
	if st >= 500 && !errors.Is(err, ErrOverloaded) { // admit logged it
		h.logger.Error("request failed", logMethod, string(ctx.Method()), logRoute, routeOf(ctx), logErr, err)
	}
	if st == fasthttp.StatusUnauthorized {
		ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="valise"`)
	}
	retryAfter(ctx, st, code)
	h.writeJSON(ctx, st, apiError{Code: code, Message: message(messageKey(err, code), h.lang(ctx))})
}

// retryAfter tells a client refused for now when to try again (status.RetryAfter), unless
// the refusal already did.
func retryAfter(ctx *fasthttp.RequestCtx, st int, code string) {
	if len(ctx.Response.Header.Peek("Retry-After")) > 0 {
		return
	}
	if v := status.RetryAfter(st, code); v != "" {
		ctx.Response.Header.Set("Retry-After", v)
	}
}

// writeJSON answers status with v as JSON.
func (h *Handler) writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("marshal %T: %v", v, err)) // only our own wire types get here
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// routeOf returns the path with link tokens masked, for logs (never log a token).
func routeOf(ctx *fasthttp.RequestCtx) string {
	p := string(ctx.Path())
	for _, prefix := range []string{"/s/", "/api/v1/links/"} {
		if len(p) > len(prefix) && p[:len(prefix)] == prefix {
			return prefix + "…"
		}
	}
	return p
}
