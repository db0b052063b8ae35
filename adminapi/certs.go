package adminapi

import "time"

// The states of a certificate in CertInfo.State.
const (
	CertOK        = "ok"
	CertRenewSoon = "renew soon" // fewer than CertRenewSoonDays days left
	CertExpired   = "expired"
)

// CertRenewSoonDays is the number of days left under which a certificate is CertRenewSoon.
const CertRenewSoonDays = 30

// CertInfo is one certificate the node holds or serves, as `appliance status` and the
// console's Overview show its expiry.
type CertInfo struct {
	// Name says which certificate it is: "cluster CA", "cluster CA (replaced, still
	// trusted)", "node certificate", "admin port", "HTTPS <server name>".
	Name     string    `json:"name"`
	Subject  string    `json:"subject"`   // the subject's common name
	NotAfter time.Time `json:"not_after"` // UTC
	DaysLeft int       `json:"days_left"` // whole days until NotAfter; negative once expired
	State    string    `json:"state"`     // CertOK, CertRenewSoon or CertExpired
}

// NewCertInfo describes a certificate named name, with subject and notAfter, as of now.
func NewCertInfo(name, subject string, notAfter, now time.Time) CertInfo {
	left := notAfter.Sub(now)
	days := int(left / (24 * time.Hour))
	state := CertOK
	switch {
	case left <= 0:
		state = CertExpired
		if days == 0 {
			days = -1 // "expired" never reads "0 days left"
		}
	case days < CertRenewSoonDays:
		state = CertRenewSoon
	}
	return CertInfo{Name: name, Subject: subject, NotAfter: notAfter.UTC(), DaysLeft: days, State: state}
}

// SoonestCert returns the certificate of certs that expires first, and false when there is
// none.
func SoonestCert(certs []CertInfo) (CertInfo, bool) {
	if len(certs) == 0 {
		return CertInfo{}, false
	}
	soonest := certs[0]
	for _, c := range certs[1:] {
		if c.NotAfter.Before(soonest.NotAfter) {
			soonest = c
		}
	}
	return soonest, true
}
