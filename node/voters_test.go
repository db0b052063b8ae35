package node

import (
	"slices"
	"strings"
	"testing"
)

// mem builds a voterMember: flags holds v (votes), u (reachable), c (caught up), and one of
// j (joining), d (draining), r (removed); the state is active otherwise.
func mem(id, site, flags string) voterMember {
	m := voterMember{ID: id, Site: site, State: nodeActive,
		Voter: strings.Contains(flags, "v"), Reachable: strings.Contains(flags, "u"), CaughtUp: strings.Contains(flags, "c")}
	switch {
	case strings.Contains(flags, "j"):
		m.State = nodeJoining
	case strings.Contains(flags, "d"):
		m.State = nodeDraining
	case strings.Contains(flags, "r"):
		m.State = nodeRemoved
	}
	return m
}

// TestDesiredVoters (issue 18): at most five voters, an odd number, no site with a majority
// of them when there are three sites or more, the current voters kept while they fit, and
// only active, caught-up, reachable members promoted.
func TestDesiredVoters(t *testing.T) {
	for _, tc := range []struct {
		name    string
		members []voterMember
		want    string
		self    string
	}{
		{"one node", []voterMember{mem("a1", "A", "vuc")}, "a1", ""},
		{"three nodes one site", []voterMember{mem("a1", "A", "vuc"), mem("a2", "A", "uc"), mem("a3", "A", "uc")}, "a1,a2,a3", ""},
		{"two nodes: one voter", []voterMember{mem("a1", "A", "uc"), mem("a2", "A", "vuc")}, "a2", ""},
		{"four nodes: three voters, the current kept", []voterMember{mem("a1", "A", "uc"), mem("a2", "A", "vuc"), mem("a3", "A", "uc"), mem("a4", "A", "vuc")}, "a1,a2,a4", ""},
		{"six nodes: five voters", []voterMember{mem("a1", "A", "uc"), mem("a2", "A", "vuc"), mem("a3", "A", "uc"), mem("a4", "A", "vuc"), mem("a5", "A", "vuc"), mem("a6", "A", "uc")}, "a1,a2,a3,a4,a5", ""},
		{"seven nodes: the five voters stay", []voterMember{mem("a1", "A", "uc"), mem("a2", "A", "vuc"), mem("a3", "A", "vuc"), mem("a4", "A", "vuc"), mem("a5", "A", "vuc"), mem("a6", "A", "vuc"), mem("a7", "A", "uc")}, "a2,a3,a4,a5,a6", ""},
		{"three sites: one voter each, no site majority", []voterMember{mem("a1", "A", "vuc"), mem("a2", "A", "vuc"), mem("a3", "A", "vuc"), mem("b1", "B", "uc"), mem("c1", "C", "uc")}, "a1,b1,c1", ""},
		{"three sites of two: five voters, at most two a site", []voterMember{mem("a1", "A", "vuc"), mem("a2", "A", "vuc"), mem("a3", "A", "vuc"), mem("b1", "B", "uc"), mem("b2", "B", "uc"), mem("c1", "C", "uc"), mem("c2", "C", "uc")}, "a1,a2,b1,b2,c1", ""},
		{"three sites, one member short", []voterMember{mem("a1", "A", "vuc"), mem("a2", "A", "uc"), mem("b1", "B", "uc"), mem("b2", "B", "uc"), mem("c1", "C", "uc")}, "a1,a2,b1,b2,c1", ""},
		{"two sites: a majority site cannot be avoided", []voterMember{mem("a1", "A", "vuc"), mem("a2", "A", "vuc"), mem("a3", "A", "vuc"), mem("b1", "B", "uc")}, "a1,a2,a3", ""},
		{"two sites: spread when adding", []voterMember{mem("a1", "A", "vuc"), mem("a2", "A", "uc"), mem("a3", "A", "uc"), mem("b1", "B", "uc")}, "a1,a2,b1", ""},
		{"not caught up: not promoted", []voterMember{mem("a1", "A", "vuc"), mem("a2", "A", "uc"), mem("a3", "A", "u")}, "a1", ""},
		{"unreachable: not promoted", []voterMember{mem("a1", "A", "vuc"), mem("a2", "A", "uc"), mem("a3", "A", "c")}, "a1", ""},
		{"joining: not promoted", []voterMember{mem("a1", "A", "vuc"), mem("a2", "A", "uc"), mem("a3", "A", "ucj")}, "a1", ""},
		{"a voter down is kept without a replacement", []voterMember{mem("a1", "A", "vuc"), mem("a2", "A", "vuc"), mem("a3", "A", "vc")}, "a1,a2,a3", ""},
		{"a voter down is replaced", []voterMember{mem("a1", "A", "vuc"), mem("a2", "A", "vuc"), mem("a3", "A", "vc"), mem("a4", "A", "uc")}, "a1,a2,a4", ""},
		{"a draining voter is replaced", []voterMember{mem("a1", "A", "vuc"), mem("a2", "A", "vuc"), mem("a3", "A", "vucd"), mem("a4", "A", "uc")}, "a1,a2,a4", ""},
		{"a draining voter without a replacement", []voterMember{mem("a1", "A", "vuc"), mem("a2", "A", "vuc"), mem("a3", "A", "vucd")}, "a1", ""},
		{"every voter draining: left as is", []voterMember{mem("a1", "A", "vucd"), mem("a2", "A", "vucd"), mem("a3", "A", "ucj")}, "a1,a2", ""},
		{"the leader kept first", []voterMember{mem("a1", "A", "vuc"), mem("a2", "A", "vuc")}, "a2", "a2"},
		{"the leader kept first in its site", []voterMember{mem("a1", "A", "vuc"), mem("a2", "A", "vuc"), mem("b1", "B", "uc"), mem("c1", "C", "uc")}, "a2,b1,c1", "a2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(desiredVoters(tc.members, tc.self), ",")
			if got != tc.want {
				t.Fatalf("desiredVoters = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestNextVoterChange (issue 18): one change at a time, promotions before demotions, the
// leader demoted last, and no change that leaves the voters without a reachable quorum.
func TestNextVoterChange(t *testing.T) {
	for _, tc := range []struct {
		name    string
		members []voterMember
		self    string
		want    string // "+id", "-id" or "" for none
	}{
		{"steady", []voterMember{mem("a1", "A", "vuc"), mem("a2", "A", "vuc"), mem("a3", "A", "vuc"), mem("a4", "A", "uc")}, "a1", ""},
		{"promote a caught-up member", []voterMember{mem("a1", "A", "vuc"), mem("a2", "A", "uc"), mem("a3", "A", "uc")}, "a1", "+a2"},
		{"promote before demote", []voterMember{mem("a1", "A", "vuc"), mem("a2", "A", "vuc"), mem("a3", "A", "vuc"), mem("b1", "B", "uc"), mem("c1", "C", "uc")}, "a1", "+b1"},
		{"demote once promoted", []voterMember{mem("a1", "A", "vuc"), mem("a2", "A", "vuc"), mem("a3", "A", "vuc"), mem("b1", "B", "vuc"), mem("c1", "C", "vuc")}, "a1", "-a2"},
		{"the leader demoted last", []voterMember{mem("a1", "A", "vucd"), mem("a2", "A", "vucd"), mem("a3", "A", "vuc"), mem("a4", "A", "vuc"), mem("a5", "A", "vuc")}, "a1", "-a2"},
		{"the leader demoted when alone", []voterMember{mem("a1", "A", "vucd"), mem("a3", "A", "vuc"), mem("a4", "A", "vuc"), mem("a5", "A", "vuc")}, "a1", "-a1"},
		{"the voter down demoted first to keep a quorum", []voterMember{mem("a1", "A", "vuc"), mem("a2", "A", "vucd"), mem("a3", "A", "vc")}, "a1", "-a3"},
		{"no promotion that loses the quorum", []voterMember{mem("a1", "A", "vuc"), mem("a2", "A", "vc"), mem("a3", "A", "vc"), mem("a4", "A", "uc"), mem("a5", "A", "uc")}, "a1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := nextVoterChange(tc.members, tc.self)
			got := ""
			if ok {
				got = "-" + c.ID
				if c.Promote {
					got = "+" + c.ID
				}
			}
			if got != tc.want {
				t.Fatalf("nextVoterChange = %q, want %q (desired %v)", got, tc.want, desiredVoters(tc.members, tc.self))
			}
		})
	}
}

// TestVoterPolicyConverges (issue 18): applying nextVoterChange until it has nothing more to
// do reaches the desired voters from any starting point, every step keeping an odd-or-growing
// voter set with a reachable quorum.
func TestVoterPolicyConverges(t *testing.T) {
	sites := []string{"A", "B", "C"}
	for n := 1; n <= 8; n++ {
		for nsites := 1; nsites <= 3; nsites++ {
			var ms []voterMember
			for i := range n {
				m := mem(string(rune('a'+i)), sites[i%nsites], "uc")
				m.Voter = i == 0 // a fresh cluster: the first node votes alone
				ms = append(ms, m)
			}
			for step := 0; ; step++ {
				if step > 2*n+2 {
					t.Fatalf("%d nodes over %d sites: no convergence after %d steps: %+v", n, nsites, step, ms)
				}
				c, ok := nextVoterChange(ms, "a")
				if !ok {
					break
				}
				for i := range ms {
					if ms[i].ID == c.ID {
						ms[i].Voter = c.Promote
					}
				}
			}
			got := currentVoters(ms)
			if want := desiredVoters(ms, "a"); !slices.Equal(got, want) {
				t.Fatalf("%d nodes over %d sites: voters %v, want %v", n, nsites, got, want)
			}
			if len(got)%2 != 1 || len(got) > maxVoters || len(got) > n {
				t.Fatalf("%d nodes over %d sites: %d voters", n, nsites, len(got))
			}
			if nsites >= 3 && len(got) >= 3 {
				per := map[string]int{}
				for _, m := range ms {
					if m.Voter {
						per[m.Site]++
					}
				}
				for s, c := range per {
					if c > len(got)/2 {
						t.Fatalf("%d nodes over %d sites: site %s holds %d of %d voters", n, nsites, s, c, len(got))
					}
				}
			}
		}
	}
}
