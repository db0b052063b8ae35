// Package notify writes and delivers Valise's mails: fr/en templates (text and HTML) for send
// notifications, download receipts, e-mail verification codes and infected-file notices; a
// durable queue kept in the replicated metadata, delivered with retries and back-off through
// the organisation's SMTP relay (go-mail); and, with no relay configured, an outbox in the
// metadata that the console and `appliance outbox` read. Every message is journalled.
//
// User-provided text (subject, message, names) renders inertly: HTML-escaped in the HTML part,
// verbatim in the text part, and stripped of CR, LF and other control characters in headers.
package notify

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode"

	"valise/fault"
)

// Errors returned by this package. Callers test them with errors.Is; each has a fault.Kind
// and a stable code that front ends map to their answers (issue 17 item 2). The store's
// "not now" errors (raftfsm.ErrNotLeader, ErrNoLeader, ErrClosed) come through wrapped and
// have the kind Unavailable themselves.
var (
	// ErrUnknownKind is returned by Render for a Kind it has no template for.
	ErrUnknownKind = fault.New(fault.Internal, "internal", "notify: unknown message kind")
	// ErrBadData is returned by Render when data is not the type its Kind needs.
	ErrBadData = fault.New(fault.Internal, "internal", "notify: wrong data for message kind")
	// ErrBadAddress is returned by Enqueue for a recipient that is not one plain e-mail
	// address, and for a message without recipients.
	ErrBadAddress = fault.New(fault.Invalid, "recipient_invalid", "notify: invalid e-mail address")
	// ErrStopped is returned by Enqueue after Stop.
	ErrStopped = fault.New(fault.Unavailable, "unavailable", "notify: sender stopped")
	// ErrBadRecord is returned (wrapped) when a stored queue record cannot be decoded.
	ErrBadRecord = fault.New(fault.Internal, "internal", "notify: malformed queue record")
)

// Kind says what a message is for.
type Kind string

const (
	// KindSend tells a recipient that files were sent to them, with their link.
	KindSend Kind = "send"
	// KindReceipt tells a sender that a recipient downloaded files.
	KindReceipt Kind = "receipt"
	// KindVerifyCode gives a recipient the code that proves their e-mail address.
	KindVerifyCode Kind = "verify_code"
	// KindInfected tells a sender that a file they uploaded is infected and quarantined.
	KindInfected Kind = "infected"
)

// Message is one mail, rendered and ready to deliver. It is stored as JSON in the queue and
// the outbox.
type Message struct {
	// ID is unique, set by Enqueue; it is the journal target and the Message-ID's local part.
	ID string `json:"id"`
	// Kind says which template made it.
	Kind Kind `json:"kind"`
	// Lang is "fr" or "en".
	Lang string `json:"lang"`
	// To, Cc and Bcc are plain e-mail addresses ("a@example.org").
	To  []string `json:"to,omitempty"`
	Cc  []string `json:"cc,omitempty"`
	Bcc []string `json:"bcc,omitempty"`
	// FromName is the From display name, such as "Alice Martin via Valise"; the address is
	// the system address of the Sender's Config.
	FromName string `json:"from_name"`
	// ReplyTo is an optional plain address for replies (the sender of a send).
	ReplyTo string `json:"reply_to,omitempty"`
	// Subject is the header value, already free of control characters.
	Subject string `json:"subject"`
	// Text and HTML are the two alternative bodies. Both carry the link of a send: they
	// are dropped from the queue record once the message is sent.
	Text string `json:"text,omitempty"`
	HTML string `json:"html,omitempty"`
	// Ref names the domain object the message is about (a send or recipient ID), for the
	// journal; never a link token.
	Ref string `json:"ref,omitempty"`
	// Created is when Enqueue accepted it.
	Created time.Time `json:"created"`
}

// Recipients returns To, Cc and Bcc together.
func (m Message) Recipients() []string {
	out := make([]string, 0, len(m.To)+len(m.Cc)+len(m.Bcc))
	out = append(out, m.To...)
	out = append(out, m.Cc...)
	return append(out, m.Bcc...)
}

// validate checks the addresses: each must be exactly one plain address without a display
// name or control characters, so nothing can be smuggled into the envelope or headers.
func (m Message) validate() error {
	if len(m.Recipients()) == 0 {
		return fmt.Errorf("message without recipients: %w", ErrBadAddress)
	}
	check := func(a string) error {
		if strings.ContainsFunc(a, unicode.IsControl) {
			return fmt.Errorf("address %q: %w", a, ErrBadAddress)
		}
		p, err := mail.ParseAddress(a)
		if err != nil || p.Name != "" || p.Address != a {
			return fmt.Errorf("address %q: %w", a, ErrBadAddress)
		}
		return nil
	}
	for _, a := range m.Recipients() {
		if err := check(a); err != nil {
			return err
		}
	}
	if m.ReplyTo != "" {
		if err := check(m.ReplyTo); err != nil {
			return err
		}
	}
	return nil
}

// cleanHeader makes s safe as a header value: CR, LF and every other control character
// become a space, runs of spaces collapse, and it is cut to 200 runes.
func cleanHeader(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 200 {
		s = string(r[:199]) + "…"
	}
	return s
}

// newID returns 128 random bits in hex.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}
