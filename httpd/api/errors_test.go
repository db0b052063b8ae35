package api

import (
	"fmt"
	"testing"

	"valise/account"
	"valise/raftfsm"
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
		{raftfsm.ErrNotLeader, 503, "unavailable"},
		{fmt.Errorf("disk on fire"), 500, "internal"},
	} {
		t.Run(tc.code+" "+tc.err.Error(), func(t *testing.T) {
			for _, err := range []error{tc.err, fmt.Errorf("doing something: %w", tc.err)} {
				status, code := errorStatus(err)
				if status != tc.status || code != tc.code {
					t.Fatalf("errorStatus(%v) = %d %s, want %d %s", err, status, code, tc.status, tc.code)
				}
				if _, ok := messages[code]; !ok {
					t.Fatalf("no message for %s", code)
				}
			}
		})
	}
}
