package account

import (
	"errors"
	"fmt"
	"time"
)

// UserError is an error meant for the person at the keyboard: a stable message key (for the
// API's error code), the message in French and English, and the cause for the log. Show
// Message, never Error, to a user: Error includes the cause.
type UserError struct {
	Key string // stable, dotted: "account.bad_credentials"
	FR  string // the message in French
	EN  string // the message in English
	Err error  // the cause, wrapping one of the package's sentinels; never nil
}

// Error returns the English message and the cause, for logs.
func (e *UserError) Error() string {
	if e.Err == nil {
		return e.EN
	}
	return e.EN + " (" + e.Err.Error() + ")"
}

// Unwrap returns the cause, so errors.Is(err, ErrLocked) and the like see through.
func (e *UserError) Unwrap() error { return e.Err }

// Message returns the message in lang (French unless lang is English).
func (e *UserError) Message(lang Language) string {
	if lang == LangEN {
		return e.EN
	}
	return e.FR
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

// userErr wraps cause (which wraps or is one of the sentinels) in a *UserError with the
// sentinel's messages.
func userErr(cause error) error {
	key, fr, en := "account.error", "Une erreur est survenue.", "Something went wrong."
	switch {
	case errors.Is(cause, ErrNotFound):
		key, fr, en = "account.not_found", "Introuvable.", "Not found."
	case errors.Is(cause, ErrEmailTaken):
		key, fr, en = "account.email_taken", "Cette adresse e-mail est déjà utilisée.", "This e-mail address is already in use."
	case errors.Is(cause, ErrInvalidEmail):
		key, fr, en = "account.invalid_email", "Adresse e-mail invalide.", "Invalid e-mail address."
	case errors.Is(cause, ErrInvalidInput):
		key, fr, en = "account.invalid_input", "Valeur invalide.", "Invalid value."
	case errors.Is(cause, ErrWeakPassword):
		key, fr, en = "account.weak_password", "Mot de passe trop faible ou trop long.", "Password too weak or too long."
	case errors.Is(cause, ErrBadCredentials):
		key, fr, en = "account.bad_credentials", "Adresse e-mail ou mot de passe incorrect.", "Wrong e-mail address or password."
	case errors.Is(cause, ErrBusy):
		key, fr, en = "account.busy", "Trop de connexions en cours : réessayez dans un moment.", "Too many sign-ins at once: try again in a moment."
	case errors.Is(cause, ErrDisabled):
		key, fr, en = "account.disabled", "Ce compte est désactivé.", "This account is disabled."
	case errors.Is(cause, ErrLocked):
		key, fr, en = "account.locked", "Trop d'essais : compte bloqué temporairement, réessayez plus tard.", "Too many attempts: account temporarily locked, try again later."
	case errors.Is(cause, ErrInvalidToken):
		key, fr, en = "account.invalid_token", "Jeton invalide ou révoqué.", "Invalid or revoked token."
	case errors.Is(cause, ErrSessionExpired):
		key, fr, en = "account.session_expired", "Session expirée : reconnectez-vous.", "Session expired: please sign in again."
	}
	return &UserError{Key: key, FR: fr, EN: en, Err: cause}
}
