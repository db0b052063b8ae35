package transfer

// Log attribute keys. Never log tokens, codes, passwords, manifests or resume states.
const (
	keySendID  = "send_id"
	keyFileID  = "file_id"
	keyError   = "err"
	keySize    = "size"
	keyVerdict = "verdict"
	keyLive    = "live_scan"
	keyCount   = "count"
	// keySignature is the signature clamd matched in an infected file.
	keySignature = "signature"
)
