package certstore

// Log attribute keys. Logs name keys and locks, never values.
const (
	attrComponent = "component"
	attrErr       = "err"
	attrLock      = "lock"
	attrHolder    = "holder"
	attrExpired   = "expired_at"
)
