package account

import "valise/userid"

// Key layout under the "account/" prefix. Values are JSON records unless said otherwise.
//
//	account/user/<user ID>          userRecord (the user and its password hash)
//	account/email/<e-mail>          the user ID, raw: the unique index on e-mail addresses
//	account/lock/<subject>          lockRecord: recent failures and the lock's end; the subject
//	                                is a user ID, or "unknown-" and a hash of an address no
//	                                user has (locked alike, so a lock tells no one which exist)
//	account/lockip/<subject>/<addr> lockRecord of failures from one client address (an IPv6
//	                                /64), "unknown" when the front end gave none
//	account/session/<SHA-256 hex>   sessionRecord, keyed by the hash of its token
//	account/token/<token ID>        tokenRecord: a personal access token without its secret
//	account/tokenhash/<SHA-256 hex> the token ID, raw: finds a token by its secret's hash
const (
	prefix          = "account/"
	userPrefix      = prefix + "user/"
	emailPrefix     = prefix + "email/"
	lockPrefix      = prefix + "lock/"
	lockIPPrefix    = prefix + "lockip/"
	sessionPrefix   = prefix + "session/"
	tokenPrefix     = prefix + "token/"
	tokenHashPrefix = prefix + "tokenhash/"
)

func userKey(id userid.ID) []byte   { return []byte(userPrefix + id) }
func emailKey(email string) []byte  { return []byte(emailPrefix + email) }
func lockKey(subject string) []byte { return []byte(lockPrefix + subject) }
func lockIPKey(subject, addr string) []byte {
	return []byte(lockIPPrefix + subject + "/" + addr)
}
func sessionKey(hash string) []byte   { return []byte(sessionPrefix + hash) }
func tokenKey(id string) []byte       { return []byte(tokenPrefix + id) }
func tokenHashKey(hash string) []byte { return []byte(tokenHashPrefix + hash) }
