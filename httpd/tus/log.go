package tus

import "valise/internal/logkey"

// Log attribute keys.
const (
	logUploadID = logkey.UploadID
	logLength   = logkey.Length
	logOp       = logkey.Op
	logRead     = logkey.Read
	logErr      = logkey.Err
)
