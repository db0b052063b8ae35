package api

// Log attribute keys. Never log link tokens, grants, codes, passwords or bearer tokens: log
// IDs and masked routes.
const (
	logMethod = "method"
	logRoute  = "route"
	logSendID = "send_id"
	logFileID = "file_id"
	logUserID = "user_id"
	logErr    = "err"
)
