package account

import "valise/internal/logkey"

// Log attribute keys. Logs name users and sessions by ID, never by secret.
const (
	logUserID    = logkey.UserID
	logSessionID = logkey.SessionID
	logRole      = logkey.Role
	logFailures  = logkey.Failures
	logUntil     = logkey.Until
	logErr       = logkey.Err
)
