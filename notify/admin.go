package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"valise/fault"
	"valise/locale"
	"valise/raftfsm"
)

// What administrators do with the queue and the outbox (issue 20): retry a mail now, discard
// one, and send a test mail through the relay at once.

// Errors of the administrators' actions.
var (
	// ErrMailNotFound: no mail with that ID is in the queue or the outbox.
	ErrMailNotFound = fault.New(fault.NotFound, "mail_not_found", "notify: no such mail in the queue or the outbox")
	// ErrMailSent: the relay accepted the mail already; its bodies are gone.
	ErrMailSent = fault.New(fault.Conflict, "mail_sent", "notify: mail already sent")
	// ErrNoRelay: no relay is set, so nothing can be delivered now.
	ErrNoRelay = fault.New(fault.Precondition, "no_relay", "notify: no SMTP relay is set")
)

// Journal actions of the administrators' actions.
const (
	ActionRetry     = "mail.retry"     // an administrator queued a mail again now
	ActionDiscarded = "mail.discarded" // an administrator removed a mail
)

// KindTest is a test mail an administrator sends (SendNow); it is never queued.
const KindTest Kind = "test"

// TestMessage is the test mail an administrator (actor) sends to to, in lang, worded by the
// catalog (mail.test.*).
func TestMessage(to, lang, product, actor string) Message {
	p := locale.For(MatchLang(lang))
	return Message{Kind: KindTest, Lang: p.Lang(), To: []string{to}, FromName: product,
		Subject: p.T("mail.test.subject", "Product", product), Text: p.T("mail.test.body", "Product", product, "Actor", actor)}
}

// maxIDLen bounds a mail ID read from outside.
const maxIDLen = 128

// find reads mail id from the queue, else the outbox.
func (s *Sender) find(id string) (key []byte, item raftfsm.Item, queued bool, err error) {
	if id == "" || len(id) > maxIDLen {
		return nil, raftfsm.Item{}, false, fmt.Errorf("mail %q: %w", id, ErrMailNotFound)
	}
	for _, prefix := range []string{QueuePrefix, OutboxPrefix} {
		key = []byte(prefix + id)
		item, err = s.store.Get(key)
		if err == nil {
			return key, item, prefix == QueuePrefix, nil
		}
		if !errors.Is(err, raftfsm.ErrNotFound) {
			return nil, raftfsm.Item{}, false, fmt.Errorf("read mail %s: %w", id, err)
		}
	}
	return nil, raftfsm.Item{}, false, fmt.Errorf("mail %s: %w", id, ErrMailNotFound)
}

// Retry queues mail id for delivery now, journalled with actor: a pending or failed mail of
// the queue starts its attempts afresh; a mail kept in the outbox moves to the queue once a
// relay is set (ErrNoRelay before). A sent mail is ErrMailSent.
func (s *Sender) Retry(ctx context.Context, id, actor string) (Record, error) {
	key, item, queued, err := s.find(id)
	if err != nil {
		return Record{}, err
	}
	now := s.now().UTC()
	var rec Record
	b := raftfsm.Batch{Conds: []raftfsm.Cond{{Kind: raftfsm.CondVersion, Key: key, Version: item.Version}}}
	if queued {
		if err := json.Unmarshal(item.Value, &rec); err != nil {
			return Record{}, fmt.Errorf("%w %q: %v", ErrBadRecord, key, err)
		}
		if rec.State == StateSent {
			return Record{}, fmt.Errorf("mail %s: %w", id, ErrMailSent)
		}
	} else {
		if s.currentRelay() == nil {
			return Record{}, fmt.Errorf("mail %s stays in the outbox: %w", id, ErrNoRelay)
		}
		if err := json.Unmarshal(item.Value, &rec.Message); err != nil {
			return Record{}, fmt.Errorf("%w %q: %v", ErrBadRecord, key, err)
		}
		b.Ops = append(b.Ops, raftfsm.Op{Kind: raftfsm.OpDelete, Key: key})
		key = []byte(QueuePrefix + id)
		b.Conds = append(b.Conds, raftfsm.Cond{Kind: raftfsm.CondAbsent, Key: key})
	}
	rec.State, rec.Attempts, rec.NextAttempt, rec.LastError, rec.Updated = StatePending, 0, now, "", now
	value, _ := json.Marshal(rec) // plain data: never fails
	b.Ops = append(b.Ops, raftfsm.Op{Kind: raftfsm.OpPut, Key: key, Value: value})
	b.Audit = s.audit(actor, ActionRetry, rec.Message, auditDetails{Outbox: !queued})
	if _, err := s.store.Propose(ctx, b); err != nil {
		return Record{}, fmt.Errorf("retry mail %s: %w", id, err)
	}
	s.logger.Info("mail queued again by an administrator", "mail_id", id)
	s.wake()
	return rec, nil
}

// Discard removes mail id from the queue or the outbox, journalled with actor.
func (s *Sender) Discard(ctx context.Context, id, actor string) error {
	key, item, queued, err := s.find(id)
	if err != nil {
		return err
	}
	var m Message
	if queued {
		var rec Record
		if err := json.Unmarshal(item.Value, &rec); err != nil {
			return fmt.Errorf("%w %q: %v", ErrBadRecord, key, err)
		}
		m = rec.Message
	} else if err := json.Unmarshal(item.Value, &m); err != nil {
		return fmt.Errorf("%w %q: %v", ErrBadRecord, key, err)
	}
	_, err = s.store.Propose(ctx, raftfsm.Batch{
		Conds: []raftfsm.Cond{{Kind: raftfsm.CondVersion, Key: key, Version: item.Version}},
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpDelete, Key: key}},
		Audit: s.audit(actor, ActionDiscarded, m, auditDetails{Outbox: !queued}),
	})
	if err != nil {
		return fmt.Errorf("discard mail %s: %w", id, err)
	}
	return nil
}

// SendNow delivers msg through the relay at once, without the queue, and returns the relay
// it went through: ErrNoRelay when none is set, else the relay's error as it answered. msg
// gets an ID and a creation time as Enqueue gives; nothing is stored or journalled here.
func (s *Sender) SendNow(ctx context.Context, msg Message) (Relay, error) {
	relay := s.currentRelay()
	if relay == nil {
		return Relay{}, ErrNoRelay
	}
	if err := msg.validate(); err != nil {
		return *relay, err
	}
	msg.ID, msg.Created = newID(), s.now().UTC()
	msg.FromName, msg.Subject = cleanHeader(msg.FromName), cleanHeader(msg.Subject)
	sctx, cancel := context.WithTimeout(ctx, s.cfg.SendTimeout)
	defer cancel()
	return *relay, s.deliver(sctx, relay, msg)
}
