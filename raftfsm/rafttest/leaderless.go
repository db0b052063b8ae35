package rafttest

// Leaderless is a way to leave a follower of a three-node cluster without a leader it can
// reach: after Apply, reader's linearizable reads fail (issue 18: what a node serves while
// the cluster elects a leader, or from the minority of a partition).
type Leaderless struct {
	Name string
	// Apply cuts reader off; leader leads and other is the other follower.
	Apply func(c *Cluster, leader, reader, other int)
}

// LeaderlessFaults returns the faults that leave a follower without a leader: it is cut off
// from the others (it may still name the old leader), or the leader and the other follower
// are killed.
func LeaderlessFaults() []Leaderless {
	return []Leaderless{
		{"follower cut off", func(c *Cluster, _, reader, _ int) { c.Partition(reader) }},
		{"leader and a follower killed", func(c *Cluster, leader, _, other int) {
			c.Kill(leader)
			c.Kill(other)
		}},
	}
}
