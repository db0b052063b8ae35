package transfer

import "valise/internal/logkey"

// Log attribute keys. Never log tokens, codes, passwords, manifests or resume states.
const (
	keySendID = logkey.SendID
	keyFileID = logkey.FileID
	keyError  = logkey.Err
	// keySignature is the signature clamd matched in an infected file.
	keySignature = logkey.Signature
)
