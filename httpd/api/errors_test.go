package api

import (
	"fmt"
	"strings"
	"testing"

	"valise/account"
	"valise/fault"
	"valise/locale"
	"valise/transfer"
)

// TestErrorStatus pins the mapping of error kinds to status codes, wrapped or not, and
// checks every code has its French and English message.
func TestErrorStatus(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{ErrUnauthorized, 401, "unauthorized"},
		{&account.UserError{Err: account.ErrInvalidToken}, 401, "unauthorized"},
		{account.ErrDisabled, 401, "unauthorized"},
		{account.ErrNotFound, 404, "not_found"},
		{account.ErrInvalidInput, 400, "invalid_input"},
		{ErrRateLimited, 429, "rate_limited"},
		{&account.UserError{Err: account.ErrBusy}, 429, "busy"}, // issue 16 item 4: a full Argon2 queue
		{ErrBodyTooLarge, 413, "body_too_large"},
		{ErrUnsupportedMediaType, 415, "unsupported_media_type"},
		{ErrRangeNotSatisfiable, 416, "range_not_satisfiable"},
		{transfer.ErrLinkNotFound, 404, "link_not_found"},
		{transfer.ErrSendNotFound, 404, "send_not_found"},
		{transfer.ErrDownloadLimit, 410, "download_limit"},
		{transfer.ErrChallengeRequired, 403, "challenge_required"},
		{transfer.ErrWrongPassword, 403, "wrong_password"},
		{transfer.ErrTooManyAttempts, 429, "too_many_attempts"},
		{transfer.ErrFileScanning, 409, "file_scanning"},
		{transfer.ErrFileNotSendable, 400, "file_not_sendable"},
		{transfer.ErrInvalidText, 400, "text_invalid"},
		{transfer.ErrNotRequired, 409, "challenge_not_required"},
		{transfer.ErrBusy, 503, "unavailable"},
		{account.ErrUnavailable, 503, "unavailable"}, // issue 17 item 2: a conflict after retries is 503 everywhere
		{transfer.ErrLocked, 423, "upload_locked"},
		{transfer.ErrTooLarge, 413, "upload_too_large"}, // issue 17 item 2: one code for a file too large
		{fmt.Errorf("disk on fire"), 500, "internal"},
	} {
		t.Run(tc.code+" "+tc.err.Error(), func(t *testing.T) {
			for _, err := range []error{tc.err, fmt.Errorf("doing something: %w", tc.err)} {
				status, code := errorStatus(err)
				if status != tc.status || code != tc.code {
					t.Fatalf("errorStatus(%v) = %d %s, want %d %s", err, status, code, tc.status, tc.code)
				}
				if !hasMessage(code) {
					t.Fatalf("no message for %s", code)
				}
			}
		})
	}
}

// TestFileNotSendableMessages: a file offered for sending that is infected, held unscanned or
// otherwise not clean answers 400 file_not_sendable (a stable code) with a message saying
// which, in French and English; one still being scanned answers 409 file_scanning.
func TestFileNotSendableMessages(t *testing.T) {
	for _, tc := range []struct {
		verdict transfer.Verdict
		status  int
		code    string
		fr, en  string
	}{
		{transfer.VerdictInfected, 400, "file_not_sendable", "contient un virus", "This file contains a virus: it is quarantined and cannot be sent."},
		{transfer.VerdictNotScanned, 400, "file_not_sendable", "retenu", "could not be scanned"},
		{transfer.Verdict(""), 400, "file_not_sendable", "pas déclaré sain", "has not found it clean"},
		{transfer.VerdictPending, 409, "file_scanning", "en cours", "still running"},
		// issue 16 item 7: held by scan.test_signatures_only=hold.
		{transfer.VerdictClean, 400, "file_not_sendable", "vraies signatures", "not checked against real antivirus signatures"},
	} {
		t.Run(string(tc.verdict), func(t *testing.T) {
			reason := ""
			if tc.verdict == transfer.VerdictClean {
				reason = transfer.ReasonTestSignaturesOnly
			}
			err := fmt.Errorf("create send: %w", &transfer.FileNotSendableError{ID: "f1", Verdict: tc.verdict, Reason: reason})
			status, code := errorStatus(err)
			if status != tc.status || code != tc.code {
				t.Fatalf("errorStatus = %d %s, want %d %s", status, code, tc.status, tc.code)
			}
			key := messageKey(err, code)
			fr, en := message(key, "fr"), message(key, "en")
			if !strings.Contains(fr, tc.fr) || !strings.Contains(en, tc.en) {
				t.Fatalf("messages %q / %q, want them to say %q / %q", fr, en, tc.fr, tc.en)
			}
			if strings.Contains(en, "not conclusive") && tc.verdict == transfer.VerdictInfected {
				t.Fatalf("an infected file is told %q", en)
			}
		})
	}
	t.Run("catalog complete", func(t *testing.T) {
		for _, k := range []string{keyFileInfected, keyFileNotScanned, keyFileTestSignaturesOnly} {
			if !hasMessage(k) || message(k, "fr") == message(k, "en") {
				t.Errorf("message %s: %q / %q, want French and English", k, message(k, "fr"), message(k, "en"))
			}
		}
	})
}

// hasMessage reports whether the catalog holds code's message in French and English.
func hasMessage(code string) bool {
	return locale.For(locale.French).Has("api."+code) && locale.For(locale.English).Has("api."+code)
}

// apiCodes returns every code the API may answer: its own errors', account's and
// transfer's, and "internal".
func apiCodes() []string {
	codes := []string{fault.InternalCode, fault.UnavailableCode}
	for _, err := range []*fault.Error{ErrUnauthorized, ErrRouteNotFound, ErrMethodNotAllowed,
		ErrBadRequest, ErrBodyTooLarge, ErrUnsupportedMediaType, ErrRateLimited,
		ErrRangeNotSatisfiable, ErrOverloaded,
		account.ErrNotFound, account.ErrEmailTaken, account.ErrInvalidEmail, account.ErrInvalidInput,
		account.ErrWeakPassword, account.ErrBadCredentials, account.ErrDisabled, account.ErrLocked,
		account.ErrInvalidToken, account.ErrSessionExpired, account.ErrBusy, account.ErrBadPHC,
		account.ErrUnavailable} {
		codes = append(codes, err.Code())
	}
	for _, err := range transfer.Sentinels() {
		codes = append(codes, err.Code())
	}
	return codes
}
