package transfer

import (
	"strings"
	"sync"
	"time"

	"valise/internal/clientaddr"
)

// challengeChecks counts, per link and challenge, the checks admitted and not yet recorded.
// With the failures already recorded it bounds the guesses a burst gets before the lock: N
// concurrent guesses run at most as many checks (Argon2id for a password) as failures remain
// before the link locks, whatever their number. It is in memory on this node; the failures
// themselves are recorded through Raft, so the lock holds on every node.
type challengeChecks struct {
	mu       sync.Mutex     // guards inflight
	inflight map[string]int // by challengeKey
}

// challengeKey names one challenge of one link in challengeChecks.
func challengeKey(linkHash, challenge string) string { return challenge + "/" + linkHash }

// admit reserves a check of key when fewer than left run already (left is the failures that
// remain before the lock, at least one is always let through when left > 0); false means
// refuse it unchecked. The caller calls release once the check's outcome is recorded.
func (c *challengeChecks) admit(key string, left int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if left < 1 || c.inflight[key] >= left {
		return false
	}
	if c.inflight == nil {
		c.inflight = make(map[string]int)
	}
	c.inflight[key]++
	return true
}

// within reports whether the checks of key running, the caller's included, are at most left.
func (c *challengeChecks) within(key string, left int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inflight[key] <= left
}

// release ends a check admit reserved.
func (c *challengeChecks) release(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inflight[key]--; c.inflight[key] <= 0 {
		delete(c.inflight, key)
	}
}

// addrRecord counts one client address's recent failures at one challenge of a link
// (issue 16 item 4): a lock of the link holds an address with failures of its own for the
// lock's whole length, one without them only for Challenge.LockFloor.
type addrRecord struct {
	Failures    int       `json:"failures"`
	Last        time.Time `json:"last"`                  // when the last failure came
	LockedUntil time.Time `json:"locked_until,omitzero"` // the address's own lock
}

// Bounds on a link's per-address failure records.
const (
	// maxAddrRecords caps the addresses a link record counts; past it, the stalest is
	// forgotten (an attacker with that many addresses gains nothing a new address gives).
	maxAddrRecords = 64
	// codeBurnFactor times Challenge.CodeMaxAttempts wrong codes in all burn the code,
	// whatever their addresses: past the lock, addresses without failures still get one
	// guess each, and this bounds the guesses one code can take.
	codeBurnFactor = 4
)

// addrSlot names the record of challenge ("password", "code") from client address ip in
// linkRecord.Addrs.
func addrSlot(challenge, ip string) string { return challenge + "/" + clientaddr.Key(ip) }

// freshAddr returns r as it stands at now: its own lock while it lasts; once the lock is
// served, or PasswordLockout after the last failure, nothing.
func (ch ChallengeConfig) freshAddr(r addrRecord, now time.Time) addrRecord {
	if now.Before(r.LockedUntil) {
		return r
	}
	if !r.LockedUntil.IsZero() || now.Sub(r.Last) >= ch.PasswordLockout {
		return addrRecord{}
	}
	return r
}

// addrBlocked reports whether the link refuses a check from slot now, unchecked: while the
// address is locked; and while the link's lock of the challenge (linkLocked, begun at since)
// holds, unless the address has no failure of its own and the lock began LockFloor ago.
func (ch ChallengeConfig) addrBlocked(link *linkRecord, slot string, linkLocked bool, since, now time.Time) bool {
	a := ch.freshAddr(link.Addrs[slot], now)
	if now.Before(a.LockedUntil) {
		return true
	}
	return linkLocked && (a.Failures > 0 || now.Before(since.Add(ch.LockFloor)))
}

// checksLeft is how many checks of a challenge may run at once for an address with the
// failures it has when the link counts linkFailures: the failures left before limit, one
// at a time while the link is locked (an address let through the floor).
func (ch ChallengeConfig) checksLeft(limit, linkFailures int, linkLocked bool, a addrRecord) int {
	if linkLocked {
		return 1
	}
	return limit - max(linkFailures, a.Failures)
}

// failAddr counts one more failure of slot in link at now; the limit-th in a row locks the
// address for PasswordLockout. It reports whether the address is now locked.
func (ch ChallengeConfig) failAddr(link *linkRecord, slot string, limit int, now time.Time) bool {
	r := ch.freshAddr(link.Addrs[slot], now)
	r.Failures++
	r.Last = now
	if r.Failures >= limit {
		r.LockedUntil = now.Add(ch.PasswordLockout)
	}
	if link.Addrs == nil {
		link.Addrs = make(map[string]addrRecord)
	}
	if _, ok := link.Addrs[slot]; !ok && len(link.Addrs) >= maxAddrRecords {
		ch.pruneAddrs(link, now)
	}
	link.Addrs[slot] = r
	return now.Before(r.LockedUntil)
}

// pruneAddrs makes room in link.Addrs: it forgets the records with nothing left to count,
// then, still full, the one whose last failure is the oldest.
func (ch ChallengeConfig) pruneAddrs(link *linkRecord, now time.Time) {
	for k, r := range link.Addrs {
		if ch.freshAddr(r, now) == (addrRecord{}) {
			delete(link.Addrs, k)
		}
	}
	for len(link.Addrs) >= maxAddrRecords {
		oldest, first := "", true
		for k, r := range link.Addrs {
			if first || r.Last.Before(link.Addrs[oldest].Last) || (r.Last.Equal(link.Addrs[oldest].Last) && k < oldest) {
				oldest, first = k, false
			}
		}
		delete(link.Addrs, oldest)
	}
}

// forgetAddrs deletes link's records of challenge ("code" when its code is replaced or used).
func forgetAddrs(link *linkRecord, challenge string) {
	for k := range link.Addrs {
		if strings.HasPrefix(k, challenge+"/") {
			delete(link.Addrs, k)
		}
	}
	if len(link.Addrs) == 0 {
		link.Addrs = nil
	}
}
