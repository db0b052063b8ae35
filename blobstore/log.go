package blobstore

// Log attribute keys.
const (
	keyFileID = "file_id"
	keyDisk   = "disk"
	keyShard  = "shard"
	keyStripe = "stripe"
)
