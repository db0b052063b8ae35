package account

// Log attribute keys. Logs name users and sessions by ID, never by secret.
const (
	logUserID    = "user_id"
	logSessionID = "session_id"
	logRole      = "role"
	logFailures  = "failures"
	logUntil     = "until"
	logErr       = "err"
)
