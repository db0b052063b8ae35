package web

import "valise/internal/logkey"

// Log attribute keys.
const (
	logErr    = logkey.Err
	logUserID = logkey.UserID
	logSendID = logkey.SendID
)
