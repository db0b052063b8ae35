package adminapi

import (
	"testing"
	"time"
)

func TestNewCertInfo(t *testing.T) {
	now := time.Date(2026, 12, 8, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	for _, tc := range []struct {
		left  time.Duration
		days  int
		state string
	}{
		{400 * day, 400, CertOK},
		{CertRenewSoonDays * day, CertRenewSoonDays, CertOK},
		{CertRenewSoonDays*day - time.Minute, CertRenewSoonDays - 1, CertRenewSoon},
		{time.Hour, 0, CertRenewSoon},
		{0, -1, CertExpired},
		{-time.Hour, -1, CertExpired},
		{-3 * day, -3, CertExpired},
	} {
		got := NewCertInfo("x", "cn", now.Add(tc.left), now)
		if got.DaysLeft != tc.days || got.State != tc.state {
			t.Errorf("%s left: %d days, %q; want %d, %q", tc.left, got.DaysLeft, got.State, tc.days, tc.state)
		}
	}
	soon, ok := SoonestCert([]CertInfo{NewCertInfo("a", "", now.Add(day), now), NewCertInfo("b", "", now.Add(-day), now)})
	if !ok || soon.Name != "b" {
		t.Errorf("SoonestCert = %+v, %v; want b", soon, ok)
	}
	if _, ok := SoonestCert(nil); ok {
		t.Error("SoonestCert(nil) found one")
	}
}
