package certstore

import "valise/internal/logkey"

// Log attribute keys. Logs name keys and locks, never values.
const (
	attrComponent = logkey.Component
	attrErr       = logkey.Err
	attrLock      = logkey.Lock
	attrHolder    = logkey.Holder
	attrExpired   = logkey.ExpiredAt
)
