package api

import "valise/internal/logkey"

// Log attribute keys. Never log link tokens, grants, codes, passwords or bearer tokens: log
// IDs and masked routes.
const (
	logMethod = logkey.Method
	logRoute  = logkey.Route
	logSendID = logkey.SendID
	logFileID = logkey.FileID
	logUserID = logkey.UserID
	logErr    = logkey.Err
)
