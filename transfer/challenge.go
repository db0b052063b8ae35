package transfer

import "sync"

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

// release ends a check admit reserved.
func (c *challengeChecks) release(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inflight[key]--; c.inflight[key] <= 0 {
		delete(c.inflight, key)
	}
}
