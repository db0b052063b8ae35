package account

import (
	"errors"
	"fmt"
	"time"

	"valise/locale"
)

// UserError is an error meant for the person at the keyboard: a stable message key, whose
// French and English wording is in the one catalog (package locale), and the cause for the
// log. Show Message, never Error, to a user: Error includes the cause.
type UserError struct {
	Key string // stable, dotted: "account.bad_credentials", a message of locale's catalog
	Err error  // the cause, wrapping one of the package's sentinels; never nil
}

// Error returns the English message and the cause, for logs.
func (e *UserError) Error() string {
	if e.Err == nil {
		return e.Message(LangEN)
	}
	return e.Message(LangEN) + " (" + e.Err.Error() + ")"
}

// Unwrap returns the cause, so errors.Is(err, ErrLocked) and the like see through.
func (e *UserError) Unwrap() error { return e.Err }

// Message returns the message in lang (French unless lang is English).
func (e *UserError) Message(lang Language) string {
	return locale.For(string(lang)).T(e.Key)
}

// LockedError says until when a user is locked out. errors.Is(err, ErrLocked) is true.
type LockedError struct {
	Until time.Time
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("%v until %s", ErrLocked, e.Until.UTC().Format(time.RFC3339))
}

// Unwrap makes errors.Is(err, ErrLocked) true, and gives its kind and code.
func (e *LockedError) Unwrap() error { return ErrLocked }

// userKeys gives each sentinel its message key, first match first: the codes of the
// sentinels are coarser (three of them are "invalid_input"), the messages finer.
var userKeys = []struct {
	err error
	key string
}{
	{ErrNotFound, "account.not_found"},
	{ErrEmailTaken, "account.email_taken"},
	{ErrLastSupervisor, "account.last_supervisor"},
	{ErrInvalidEmail, "account.invalid_email"},
	{ErrInvalidInput, "account.invalid_input"},
	{ErrWeakPassword, "account.weak_password"},
	{ErrBadCredentials, "account.bad_credentials"},
	{ErrBusy, "account.busy"},
	{ErrDisabled, "account.disabled"},
	{ErrLocked, "account.locked"},
	{ErrInvalidToken, "account.invalid_token"},
	{ErrSessionExpired, "account.session_expired"},
}

// userErr wraps cause (which wraps or is one of the sentinels) in a *UserError with the
// sentinel's message key; "account.error" for any other cause.
func userErr(cause error) error {
	for _, k := range userKeys {
		if errors.Is(cause, k.err) {
			return &UserError{Key: k.key, Err: cause}
		}
	}
	return &UserError{Key: "account.error", Err: cause}
}
