package tus

// Log attribute keys.
const (
	logUploadID = "upload_id"
	logLength   = "length"
	logOp       = "op"
	logRead     = "read"
	logErr      = "err"
)
