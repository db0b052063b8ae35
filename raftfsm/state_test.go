package raftfsm

import (
	"testing"

	"github.com/hashicorp/raft"
)

// TestStateNames checks that every hashicorp/raft state maps to the State of the same name:
// the admin API shows State as is ("state": "Leader"), and the CLI's status output and its
// scripts read it (issue 17 item 5).
func TestStateNames(t *testing.T) {
	for _, tc := range []struct {
		rs     raft.RaftState
		want   State
		leader bool
	}{
		{raft.Leader, Leader, true},
		{raft.Follower, Follower, false},
		{raft.Candidate, Candidate, false},
		{raft.Shutdown, Shutdown, false},
	} {
		t.Run(tc.rs.String(), func(t *testing.T) {
			got := stateOf(tc.rs)
			if got != tc.want || got.String() != tc.rs.String() {
				t.Fatalf("stateOf(%v) = %q, want %q named as raft names it", tc.rs, got, tc.want)
			}
			if got.IsLeader() != tc.leader {
				t.Fatalf("%v.IsLeader() = %v, want %v", got, got.IsLeader(), tc.leader)
			}
		})
	}
}
