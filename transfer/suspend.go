package transfer

// SuspendKey is the metadata key a restore writes (restore --suspend-links) to suspend every
// link created before a time until its sender confirms it: its value is that time, RFC 3339
// in UTC. A send created before it, and not confirmed by its sender since, is refused to
// recipients with a page saying so (issue 19).
const SuspendKey = "transfer/suspend_before"
