package transfer

import (
	"context"
	"errors"
	"fmt"

	"valise/raftfsm"
)

// Sends waiting for the antivirus (issue 16 item 3). CreateSend accepts a file whose scan
// still runs: the send is recorded with PendingScan, without links. When the verdicts come,
// the send is settled, in one change conditioned on the send's and its files' versions:
//
//   - every file sendable (clean, or released by the policy): the links are issued and the
//     Settled carries the invitations for the caller to mail (released);
//   - a file infected, quarantined or destroyed: the send is cancelled, and the Settled
//     says so for the caller to tell the sender;
//   - otherwise (a file still pending, or held until a rescan): nothing yet.
//
// Two hooks settle: package upload's Pipeline, when it records a file's verdict (its
// Finished.Sends),
// and SettleWaitingSends, which the node runs with its rescan of held files, so that a send
// whose verdicts came while no hook could run (a node restart, another node's Pipeline) is
// settled too. Whichever comes first wins the change; the other finds the send settled and
// does nothing, so the mails leave once. As for CreateSend, the links are recorded before
// they are mailed (NotifySettled): a crash in between leaves recipients not notified, which the
// sender sees and can resend.

// Cancel reasons of a send that waited for the antivirus (Send.CancelReason).
const (
	CancelInfected = "infected"  // a file was found infected
	CancelFileGone = "file_gone" // a file was destroyed meanwhile
)

// SettleSendsOf settles the sends waiting for the antivirus that carry file id, now that its
// verdict is recorded, and returns those it released or cancelled. A file that no longer
// exists settles nothing here (SettleWaitingSends cancels its sends).
func (s *Service) SettleSendsOf(ctx context.Context, id FileID) ([]Settled, error) {
	if !parseID(string(id)) {
		return nil, ErrFileNotFound
	}
	var f File
	if _, err := s.getJSON(fileKey(id), &f); err != nil {
		if errors.Is(err, raftfsm.ErrNotFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("settle the sends of %s: %w", id, err)
	}
	return s.settleSends(ctx, f.Sends)
}

// SettleWaitingSends settles every send waiting for the antivirus whose files all have their
// verdict, and returns those it released or cancelled. The node runs it on the leader with
// its periodic rescan of held files, which also covers a restart.
func (s *Service) SettleWaitingSends(ctx context.Context) ([]Settled, error) {
	var ids []SendID
	err := scanJSON(s.store, prefixSend, func(rec *sendRecord, _ uint64) error {
		if rec.PendingScan && rec.CancelledAt.IsZero() && rec.RevokedAt.IsZero() {
			ids = append(ids, rec.ID)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("settle waiting sends: %w", err)
	}
	return s.settleSends(ctx, ids)
}

// settleSends settles each send of ids that waits for the antivirus; it goes on after an
// error and returns what it settled with the errors joined.
func (s *Service) settleSends(ctx context.Context, ids []SendID) ([]Settled, error) {
	var out []Settled
	var errs []error
	for _, id := range ids {
		st, ok, err := s.settleSend(ctx, id)
		switch {
		case errors.Is(err, ErrSendNotFound):
		case err != nil:
			errs = append(errs, err)
		case ok:
			out = append(out, st)
		}
	}
	return out, errors.Join(errs...)
}

// settleSend releases or cancels send id if it waits for the antivirus and its files' verdicts
// decide it; false when there was nothing to decide.
func (s *Service) settleSend(ctx context.Context, id SendID) (Settled, bool, error) {
	var out Settled
	_, err := s.change(ctx, "settle send "+string(id), func() (raftfsm.Batch, error) {
		out = Settled{}
		rec, err := s.readSend(id)
		if err != nil {
			return raftfsm.Batch{}, err
		}
		now := s.clock()
		if rec.Status(now) != StatusPendingScan {
			return raftfsm.Batch{}, errSkip
		}
		b := raftfsm.Batch{Conds: []raftfsm.Cond{condVersion(sendKey(id), rec.Version)}}
		pol := s.policy()
		gone, waiting := false, false
		var infected []SendFile
		for i, sf := range rec.Files {
			var f File
			ver, err := s.getJSON(fileKey(sf.ID), &f)
			if errors.Is(err, raftfsm.ErrNotFound) {
				gone = true
				continue
			}
			if err != nil {
				return raftfsm.Batch{}, fmt.Errorf("read file %s: %w", sf.ID, err)
			}
			b.Conds = append(b.Conds, condVersion(fileKey(sf.ID), ver))
			rec.Files[i].Verdict, rec.Files[i].VerdictReason = f.Verdict, f.VerdictReason
			switch {
			case f.Quarantined || f.Verdict == VerdictInfected:
				infected = append(infected, rec.Files[i])
			case !pol.sendable(f.Verdict, f.VerdictReason):
				waiting = true // still pending, or held until a rescan
			}
		}
		rec.PendingScan = false
		switch {
		case len(infected) > 0 || gone:
			rec.CancelledAt, rec.CancelReason = now, CancelFileGone
			if len(infected) > 0 {
				rec.CancelReason = CancelInfected
			}
			out.Cancelled, out.Infected = true, infected
			b.Audit = audit(now, "system", "send.cancel", string(id), map[string]any{"reason": rec.CancelReason})
		case waiting:
			return raftfsm.Batch{}, errSkip
		default:
			rec.Links = make([]string, len(rec.Recipients))
			for i := range rec.Recipients {
				token, hash, err := s.newToken()
				if err != nil {
					return raftfsm.Batch{}, err
				}
				rec.Links[i] = hash
				rec.Recipients[i].LinkIssued = now
				out.Invitations = append(out.Invitations, Invitation{SendID: id, Recipient: rec.Recipients[i].Address, Name: rec.Recipients[i].Name, Kind: rec.Recipients[i].Kind, Token: token})
				b.Conds = append(b.Conds, condAbsent(linkKey(hash)))
				b.Ops = append(b.Ops, put(linkKey(hash), linkRecord{SendID: id, Recipient: i, Created: now}))
			}
			b.Audit = audit(now, "system", "send.release", string(id), map[string]any{"recipients": len(rec.Recipients)})
		}
		b.Ops = append(b.Ops, put(sendKey(id), rec))
		rec.State = rec.Status(now)
		out.Send, out.Lang = rec.Send, rec.Lang
		return b, nil
	})
	if errors.Is(err, errSkip) {
		return Settled{}, false, nil
	}
	if err != nil {
		return Settled{}, false, err
	}
	if out.Cancelled {
		s.logger.Warn("send cancelled: a file it waited for is infected or gone", keySendID, id)
	} else {
		s.logger.Info("send released: every file is clean", keySendID, id)
	}
	return out, true, nil
}
