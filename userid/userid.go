// Package userid names a user: the typed ID that every layer passes instead of a plain string,
// so that an owner cannot be swapped with an e-mail address, a name or a send ID without the
// compiler noticing (issue 17 item 5; docs/style.md §3, "typed IDs stop mix-ups").
//
// account chooses the IDs (UUIDv7, on the leader) and keeps them in User.ID; transfer, which
// may not import account, owns sends by them; the front ends carry them in a principal. The
// type therefore sits in a base package of its own, below all of them, like fault. An actor
// in an audit entry is not a user ID: it may also be "system" or "cli", and stays a string.
//
// The package imports nothing, so every package may use it.
package userid

// ID is a user's ID: a UUIDv7 in its canonical text form, chosen by account when the user is
// added and never changed. The zero value names no user. It encodes (JSON, map keys, keys of
// the store) as the plain string it always was.
type ID string

// String returns the ID as text.
func (id ID) String() string { return string(id) }
