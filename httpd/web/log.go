package web

// Log attribute keys.
const (
	logErr    = "err"
	logUserID = "user_id"
	logSendID = "send_id"
)
