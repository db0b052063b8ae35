package blobstore

import "valise/internal/logkey"

// Log attribute keys.
const (
	keyFileID = logkey.FileID
	keyDisk   = logkey.Disk
	keyShard  = logkey.Shard
	keyStripe = logkey.Stripe
)
