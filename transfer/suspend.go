package transfer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"valise/raftfsm"
	"valise/userid"
)

// SuspendKey is the metadata key a restore writes (restore --suspend-links) to suspend every
// link created before a time until its sender confirms it: its value is that time, RFC 3339
// in UTC. A send created before it, and not confirmed by its sender since, is refused to
// recipients with a page saying so (issue 19).
const SuspendKey = "transfer/suspend_before"

// SuspendValue is the value of SuspendKey that suspends the links of every send created
// before t: t in UTC, RFC 3339 with nanoseconds.
func SuspendValue(t time.Time) []byte {
	return []byte(t.UTC().Format(time.RFC3339Nano))
}

// suspendBefore returns the time SuspendKey holds, read from the local state (callers on
// the recipients' side made the linearizable read already); the zero time when the key is
// absent: nothing is suspended. The value is RFC 3339 text, bare or as a JSON string.
func (s *Service) suspendBefore() (time.Time, error) {
	item, err := s.store.Get([]byte(SuspendKey))
	if errors.Is(err, raftfsm.ErrNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("read %s: %w", SuspendKey, err)
	}
	v := strings.Trim(strings.TrimSpace(string(item.Value)), `"`)
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("read %s: %q is not an RFC 3339 time: %w", SuspendKey, v, err)
	}
	return t, nil
}

// suspended reports whether the send's links are suspended at now when SuspendKey holds
// before (zero: absent): the send is still live (active, or waiting for the antivirus), was
// created before that time, and its sender has not confirmed it since. A revoked, expired or
// used-up send is never suspended: it stays what it is.
func (s *Send) suspended(before, now time.Time) bool {
	return !before.IsZero() && s.Created.Before(before) && s.ConfirmedAt.Before(before) && s.Status(now).live()
}

// markSuspended sets Suspended on sends as read at now.
func (s *Service) markSuspended(now time.Time, sends ...*Send) error {
	before, err := s.suspendBefore()
	if err != nil {
		return err
	}
	for _, send := range sends {
		send.Suspended = send.suspended(before, now)
	}
	return nil
}

// checkSuspended returns ErrSuspended when the send's links are suspended now.
func (s *Service) checkSuspended(send *Send) error {
	before, err := s.suspendBefore()
	if err != nil {
		return err
	}
	if send.suspended(before, s.clock()) {
		return fmt.Errorf("%w: send %s created %s, before %s", ErrSuspended, send.ID, send.Created.Format(time.RFC3339), before.Format(time.RFC3339))
	}
	return nil
}

// Confirm lifts the suspension of the owner's send after a restore (SuspendKey): its links
// work again, on every node, and the confirmation is journalled ("send.confirm") with its
// time kept in Send.ConfirmedAt. Confirming a send that is not suspended (created after the
// restore's time, confirmed already, revoked, expired or used up) does nothing: confirming
// never revives a send. Another user's send is ErrSendNotFound.
func (s *Service) Confirm(ctx context.Context, owner userid.ID, id SendID) error {
	_, err := s.change(ctx, "confirm send "+string(id), func() (raftfsm.Batch, error) {
		rec, err := s.ownSend(owner, id)
		if err != nil {
			return raftfsm.Batch{}, err
		}
		before, err := s.suspendBefore()
		if err != nil {
			return raftfsm.Batch{}, err
		}
		now := s.clock()
		if !rec.suspended(before, now) {
			return raftfsm.Batch{}, errSkip
		}
		rec.ConfirmedAt = now
		return raftfsm.Batch{
			Conds: []raftfsm.Cond{condVersion(sendKey(id), rec.Version)},
			Ops:   []raftfsm.Op{put(sendKey(id), rec)},
			Audit: audit(now, string(owner), "send.confirm", string(id), map[string]any{"suspend_before": before}),
		}, nil
	})
	return skipped(err)
}
