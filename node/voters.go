package node

import (
	"slices"
	"sort"
)

// The voter policy: which members of the Raft configuration vote. It is pure (no I/O); the
// membership reconciler (membership.go) feeds it what the leader knows and applies its
// answer one change at a time.
//
//   - At most maxVoters voters, an odd number: a fifth or seventh voter adds latency to every
//     commit, and an even count tolerates no more failures than the odd count below it.
//   - With three sites or more, no site holds a majority of the voters, so that losing any
//     one site leaves a quorum; with fewer sites that cannot be, and the voters are spread as
//     evenly as the members allow.
//   - The current voters stay while they still fit (no churn): a voter that stops answering
//     is replaced only by a member that is active, caught up and reachable, and kept when
//     there is none, since demoting it would not add a vote.
//   - Only active, caught-up, reachable members are promoted: a member with an empty log must
//     never vote (a replaced node rejoins as a non-voter, see membership.go).
//   - One change at a time, a promotion before a demotion, and none that would leave the
//     voters without a quorum of reachable ones.

// maxVoters is the most voters the policy keeps.
const maxVoters = 5

// voterMember is one server of the Raft configuration as the voter policy sees it.
type voterMember struct {
	ID   string
	Site string
	// State is the node record's membership state (nodeActive, …).
	State string
	// Voter is true when the member votes now.
	Voter bool
	// CaughtUp is true when the member's log is close to the leader's.
	CaughtUp bool
	// Reachable is true when the member answered the leader lately.
	Reachable bool
}

// eligible reports whether m may be promoted.
func (m voterMember) eligible() bool { return m.State == nodeActive && m.CaughtUp && m.Reachable }

// voterChange is one step towards the desired voters.
type voterChange struct {
	ID      string
	Promote bool // true: make ID a voter; false: demote it to a non-voter
}

// desiredVoters returns the IDs that should vote, sorted. Among current voters that fit
// equally, self (the leader) is kept first, so that the policy does not depose it.
func desiredVoters(members []voterMember, self string) []string {
	ms := slices.Clone(members)
	sort.Slice(ms, func(i, j int) bool {
		if (ms[i].ID == self) != (ms[j].ID == self) {
			return ms[i].ID == self
		}
		return ms[i].ID < ms[j].ID
	})
	// The pool: whoever may vote once the policy is met. A voter that is active but down
	// stays in it (it may only be replaced, not dropped); a draining or removed one does not.
	var pool []voterMember
	for _, m := range ms {
		if m.eligible() || m.Voter && m.State == nodeActive {
			pool = append(pool, m)
		}
	}
	if len(pool) == 0 {
		return currentVoters(ms) // nothing may vote instead: leave the voters as they are
	}
	sites := map[string]int{}
	for _, m := range pool {
		sites[m.Site]++
	}
	spread := len(sites) >= 3
	// The most voters the pool can hold: odd, at most maxVoters, and with three sites or more
	// at most half of them (rounded down) in any one site.
	target, siteMax := 1, 1
	for t := min(maxVoters, len(pool)); t >= 3; t-- {
		if t%2 == 0 {
			continue
		}
		c := t
		if spread {
			c = t / 2
		}
		fit := 0
		for _, n := range sites {
			fit += min(n, c)
		}
		if fit >= t {
			target, siteMax = t, c
			break
		}
	}
	chosen := map[string]bool{}
	perSite := map[string]int{}
	take := func(m voterMember) bool {
		if len(chosen) >= target || chosen[m.ID] || perSite[m.Site] >= siteMax {
			return false
		}
		chosen[m.ID] = true
		perSite[m.Site]++
		return true
	}
	// Current voters first (no churn): the reachable ones, then new ones, then, if short, the
	// voters that are down but have no replacement.
	for _, m := range pool {
		if m.Voter && m.Reachable {
			take(m)
		}
	}
	for len(chosen) < target {
		// The eligible member of the least represented site (ties: site name, then ID).
		best := -1
		for i, m := range pool {
			if chosen[m.ID] || !m.eligible() || perSite[m.Site] >= siteMax {
				continue
			}
			if best < 0 || perSite[m.Site] < perSite[pool[best].Site] ||
				perSite[m.Site] == perSite[pool[best].Site] && m.Site < pool[best].Site {
				best = i
			}
		}
		if best < 0 {
			break
		}
		take(pool[best])
	}
	for _, m := range pool {
		if m.Voter {
			take(m)
		}
	}
	out := make([]string, 0, len(chosen))
	for id := range chosen {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// currentVoters returns the IDs of the voters in ms, sorted.
func currentVoters(ms []voterMember) []string {
	var out []string
	for _, m := range ms {
		if m.Voter {
			out = append(out, m.ID)
		}
	}
	sort.Strings(out)
	return out
}

// nextVoterChange returns the one change to make now, if any: the first promotion the policy
// wants, else the first demotion (the leader, self, last: it steps down once demoted). A
// change that would leave fewer reachable voters than a quorum of the voters after it is not
// made.
func nextVoterChange(members []voterMember, self string) (voterChange, bool) {
	want := desiredVoters(members, self)
	byID := map[string]voterMember{}
	for _, m := range members {
		byID[m.ID] = m
	}
	quorate := func(change voterChange) bool {
		voters, up := 0, 0
		for _, m := range members {
			v := m.Voter
			if m.ID == change.ID {
				v = change.Promote
			}
			if v {
				voters++
				if m.Reachable {
					up++
				}
			}
		}
		return voters > 0 && up >= voters/2+1
	}
	for _, id := range want {
		if c := (voterChange{ID: id, Promote: true}); !byID[id].Voter && quorate(c) {
			return c, true
		}
	}
	var demote []string
	for _, id := range currentVoters(members) {
		if !slices.Contains(want, id) {
			demote = append(demote, id)
		}
	}
	// Promotions first: demote only once every wanted member votes.
	for _, id := range want {
		if !byID[id].Voter {
			return voterChange{}, false
		}
	}
	sort.SliceStable(demote, func(i, j int) bool { return demote[j] == self && demote[i] != self })
	for _, id := range demote {
		if c := (voterChange{ID: id}); quorate(c) {
			return c, true
		}
	}
	return voterChange{}, false
}
