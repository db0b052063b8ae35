package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/valyala/fasthttp"
	"golang.org/x/text/language"

	"valise/account"
	"valise/raftfsm"
	"valise/transfer"
)

// apiError is the JSON body of every error answer.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// errorStatus maps an error to the HTTP status and the stable code the client sees: the one
// place where error kinds become HTTP (docs/style.md §4). Anything unknown is 500 "internal".
func errorStatus(err error) (int, string) {
	switch {
	case errors.Is(err, ErrUnauthorized), errors.Is(err, account.ErrInvalidToken), errors.Is(err, account.ErrDisabled),
		errors.Is(err, account.ErrSessionExpired):
		return fasthttp.StatusUnauthorized, "unauthorized"
	case errors.Is(err, ErrRouteNotFound), errors.Is(err, account.ErrNotFound):
		return fasthttp.StatusNotFound, "not_found"
	case errors.Is(err, ErrMethodNotAllowed):
		return fasthttp.StatusMethodNotAllowed, "method_not_allowed"
	case errors.Is(err, ErrBadRequest):
		return fasthttp.StatusBadRequest, "bad_request"
	case errors.Is(err, ErrBodyTooLarge):
		return fasthttp.StatusRequestEntityTooLarge, "body_too_large"
	case errors.Is(err, ErrUnsupportedMediaType):
		return fasthttp.StatusUnsupportedMediaType, "unsupported_media_type"
	case errors.Is(err, ErrRateLimited):
		return fasthttp.StatusTooManyRequests, "rate_limited"
	case errors.Is(err, account.ErrBusy):
		// Too many password checks wait for an Argon2 slot (a link's password, here).
		return fasthttp.StatusTooManyRequests, "busy"
	case errors.Is(err, ErrOverloaded):
		return fasthttp.StatusServiceUnavailable, "server_busy"
	case errors.Is(err, ErrRangeNotSatisfiable):
		return fasthttp.StatusRequestedRangeNotSatisfiable, "range_not_satisfiable"
	case errors.Is(err, account.ErrInvalidInput), errors.Is(err, account.ErrInvalidEmail),
		errors.Is(err, account.ErrWeakPassword):
		return fasthttp.StatusBadRequest, "invalid_input"

	case errors.Is(err, transfer.ErrLinkNotFound), errors.Is(err, transfer.ErrUploadNotFound),
		errors.Is(err, transfer.ErrSendNotFound), errors.Is(err, transfer.ErrFileNotFound),
		errors.Is(err, transfer.ErrRecipientNotFound):
		return fasthttp.StatusNotFound, transfer.Code(err)
	case errors.Is(err, transfer.ErrUploadExpired), errors.Is(err, transfer.ErrDownloadLimit):
		return fasthttp.StatusGone, transfer.Code(err)
	case errors.Is(err, transfer.ErrOffsetMismatch), errors.Is(err, transfer.ErrSendNotActive),
		errors.Is(err, transfer.ErrFileScanning), errors.Is(err, transfer.ErrDownloadBusy):
		return fasthttp.StatusConflict, transfer.Code(err)
	case errors.Is(err, transfer.ErrTooLarge), errors.Is(err, transfer.ErrQuotaExceeded):
		return fasthttp.StatusRequestEntityTooLarge, transfer.Code(err)
	case errors.Is(err, transfer.ErrChallengeRequired), errors.Is(err, transfer.ErrWrongPassword),
		errors.Is(err, transfer.ErrWrongCode), errors.Is(err, transfer.ErrCodeExpired):
		return fasthttp.StatusForbidden, transfer.Code(err)
	case errors.Is(err, transfer.ErrTooManyAttempts), errors.Is(err, transfer.ErrTooManyResends):
		return fasthttp.StatusTooManyRequests, transfer.Code(err)
	case errors.Is(err, transfer.ErrNotRequired):
		return fasthttp.StatusConflict, transfer.Code(err)
	case errors.Is(err, transfer.ErrBusy), errors.Is(err, raftfsm.ErrNotLeader), errors.Is(err, raftfsm.ErrNoLeader),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return fasthttp.StatusServiceUnavailable, "unavailable"
	case transfer.Code(err) != "internal":
		return fasthttp.StatusBadRequest, transfer.Code(err) // the remaining validation errors
	}
	return fasthttp.StatusInternalServerError, "internal"
}

// messages holds each code's message in French and English.
var messages = map[string][2]string{
	"unauthorized":           {"Authentification requise : jeton absent, invalide ou révoqué.", "Authentication required: token missing, invalid or revoked."},
	"not_found":              {"Introuvable.", "Not found."},
	"method_not_allowed":     {"Méthode non autorisée.", "Method not allowed."},
	"bad_request":            {"Requête mal formée.", "Malformed request."},
	"body_too_large":         {"Corps de requête trop grand.", "Request body too large."},
	"unsupported_media_type": {"Type de contenu non pris en charge.", "Unsupported content type."},
	"rate_limited":           {"Trop de tentatives : réessayez dans un moment.", "Too many attempts: try again in a moment."},
	"range_not_satisfiable":  {"Plage demandée hors du fichier.", "Requested range outside the file."},
	"invalid_input":          {"Valeur invalide.", "Invalid value."},
	"server_busy":            {"Serveur très occupé : réessayez dans un moment.", "Server busy: try again in a moment."},
	"unavailable":            {"Service momentanément indisponible, réessayez.", "Service temporarily unavailable, try again."},
	"internal":               {"Erreur interne.", "Internal error."},

	"link_not_found":         {"Ce lien n'existe pas ou n'est plus valide.", "This link does not exist or is no longer valid."},
	"upload_not_found":       {"Téléversement introuvable.", "Upload not found."},
	"send_not_found":         {"Envoi introuvable.", "Send not found."},
	"file_not_found":         {"Fichier introuvable.", "File not found."},
	"recipient_not_found":    {"Ce destinataire ne fait pas partie de l'envoi.", "This recipient is not part of the send."},
	"upload_expired":         {"Téléversement expiré.", "Upload expired."},
	"download_limit":         {"Limite de téléchargements atteinte pour ce fichier.", "Download limit reached for this file."},
	"download_busy":          {"Ce fichier est déjà en cours de téléchargement et sa limite n'en permet pas d'autre en même temps. Réessayez quand ce téléchargement sera fini.", "This file is already being downloaded and its limit allows no other download at the same time. Try again once that download has ended."},
	"offset_mismatch":        {"Position de téléversement incorrecte.", "Wrong upload offset."},
	"send_not_active":        {"Cet envoi n'est plus actif.", "This send is no longer active."},
	"file_too_large":         {"Fichier trop grand.", "File too large."},
	"quota_exceeded":         {"Quota dépassé.", "Quota exceeded."},
	"challenge_required":     {"Mot de passe ou code requis avant de télécharger.", "Password or code required before downloading."},
	"wrong_password":         {"Mot de passe incorrect.", "Wrong password."},
	"wrong_code":             {"Code incorrect.", "Wrong code."},
	"code_expired":           {"Code expiré : demandez-en un nouveau.", "Code expired: ask for a new one."},
	"too_many_attempts":      {"Trop d'essais : réessayez plus tard.", "Too many attempts: try again later."},
	"too_many_resends":       {"Trop de renvois de liens : réessayez plus tard.", "Too many links mailed again: try again later."},
	"challenge_not_required": {"Cet envoi ne demande pas cette vérification.", "This send does not ask for this check."},
	"file_name_invalid":      {"Nom de fichier invalide.", "Invalid file name."},
	"size_invalid":           {"Taille invalide.", "Invalid size."},
	"metadata_invalid":       {"Métadonnées invalides.", "Invalid metadata."},
	"owner_invalid":          {"Propriétaire invalide.", "Invalid owner."},
	"file_scanning":          {"Analyse antivirus en cours : réessayez dans un moment.", "Antivirus scan still running: try again in a moment."},
	"file_not_sendable":      {"Ce fichier ne peut pas être envoyé : l'antivirus ne l'a pas déclaré sain.", "This file cannot be sent: the antivirus has not found it clean."},
	"verdict_invalid":        {"Verdict invalide.", "Invalid verdict."},
	"recipient_invalid":      {"Adresse de destinataire invalide.", "Invalid recipient address."},
	"no_recipients":          {"Aucun destinataire.", "No recipient."},
	"too_many_recipients":    {"Trop de destinataires.", "Too many recipients."},
	"files_invalid":          {"Aucun fichier, trop de fichiers ou fichier en double.", "No file, too many files or a duplicate file."},
	"send_too_large":         {"Ces fichiers dépassent ensemble la taille permise pour un envoi : répartissez-les sur plusieurs envois.", "These files together exceed the size allowed for one send: spread them over several sends."},
	"text_invalid":           {"Objet, message ou nom d'expéditeur invalide.", "Invalid subject, message or sender name."},
	"options_invalid":        {"Options d'envoi invalides.", "Invalid send options."},
	"upload_locked":          {"Téléversement en cours par une autre requête.", "Upload locked by another request."},
	"checksum_mismatch":      {"Somme de contrôle incorrecte.", "Checksum mismatch."},
	"chunk_incomplete":       {"Morceau incomplet.", "Chunk incomplete."},
	"busy":                   {"Service occupé, réessayez.", "Service busy, try again."},

	// Finer messages of one code, by case (messageKey); the code the client sees stays the same.
	keyFileInfected:   {"Ce fichier contient un virus : il est mis en quarantaine et ne peut pas être envoyé.", "This file contains a virus: it is quarantined and cannot be sent."},
	keyFileNotScanned: {"Ce fichier n'a pas encore pu être analysé par l'antivirus : il est retenu jusqu'à ce qu'une analyse aboutisse, réessayez plus tard.", "This file could not be scanned by the antivirus yet: it is held until a scan completes, try again later."},
	keyFileTestSignaturesOnly: {"Ce fichier n'a pas été vérifié avec de vraies signatures antivirus (l'antivirus n'a que des signatures de test) : il est retenu jusqu'à une analyse avec de vraies signatures.",
		"This file was not checked against real antivirus signatures (the antivirus has test signatures only): it is held until it is scanned with real signatures."},
}

// Message keys of the cases of file_not_sendable.
const (
	keyFileInfected           = "file_not_sendable/infected"
	keyFileNotScanned         = "file_not_sendable/not_scanned"
	keyFileTestSignaturesOnly = "file_not_sendable/test_signatures_only"
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

// message returns the message of code (or of a messageKey) in lang ("fr" or "en").
func message(code, lang string) string {
	m, ok := messages[code]
	if !ok {
		m = messages["internal"]
	}
	if lang == "en" {
		return m[1]
	}
	return m[0]
}

// lang returns the caller's language: the best of fr and en for Accept-Language; without
// the header, the authenticated user's language; French otherwise.
func (h *Handler) lang(ctx *fasthttp.RequestCtx) string {
	if al := ctx.Request.Header.Peek("Accept-Language"); len(al) > 0 {
		tags, _, err := language.ParseAcceptLanguage(string(al))
		if err == nil && len(tags) > 0 {
			_, i, conf := h.matcher.Match(tags...)
			if conf != language.No && i == 1 {
				return "en"
			}
			if conf != language.No {
				return "fr"
			}
		}
	}
	if p, ok := PrincipalFrom(ctx); ok && p.Language == account.LangEN {
		return "en"
	}
	return "fr"
}

// fail answers err as JSON. Server errors are logged; the client sees only the code and the
// message, never err's text.
func (h *Handler) fail(ctx *fasthttp.RequestCtx, err error) {
	status, code := errorStatus(err)
	if status >= 500 && !errors.Is(err, ErrOverloaded) { // admit logged it
		h.logger.Error("request failed", logMethod, string(ctx.Method()), logRoute, routeOf(ctx), logErr, err)
	}
	if status == fasthttp.StatusUnauthorized {
		ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="valise"`)
	}
	retryAfter(ctx, status, code)
	h.writeJSON(ctx, status, apiError{Code: code, Message: message(messageKey(err, code), h.lang(ctx))})
}

// retryAfter tells a client refused for now when to try again, unless the refusal already
// did: a minute after too many attempts, a few seconds when the node is busy.
func retryAfter(ctx *fasthttp.RequestCtx, status int, code string) {
	if (status != fasthttp.StatusTooManyRequests && status != fasthttp.StatusServiceUnavailable) ||
		len(ctx.Response.Header.Peek("Retry-After")) > 0 {
		return
	}
	if code == "too_many_attempts" || code == "rate_limited" {
		ctx.Response.Header.Set("Retry-After", "60")
		return
	}
	ctx.Response.Header.Set("Retry-After", "5")
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
