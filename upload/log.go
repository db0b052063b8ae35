package upload

import "valise/internal/logkey"

// Log attribute keys. Never log manifests, resume states or file names' bytes beyond the ID.
const (
	keyFileID  = logkey.FileID
	keyError   = logkey.Err
	keySize    = logkey.Size
	keyVerdict = logkey.Verdict
	keyLive    = logkey.LiveScan
	keyCount   = logkey.Count
)
