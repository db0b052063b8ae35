package tui

import (
	"testing"
	"time"

	"valise/adminapi"
)

// TestOverviewCertificates checks the Overview's Certificates line: the soonest expiry, in
// the ok tone, warn under 30 days, error once expired.
func TestOverviewCertificates(t *testing.T) {
	day := 24 * time.Hour
	cert := func(name string, left time.Duration) adminapi.CertInfo {
		return adminapi.NewCertInfo(name, name, testNow.Add(left), testNow)
	}
	for _, tc := range []struct {
		name  string
		certs []adminapi.CertInfo
		tone  string
		want  string
	}{
		{"all far", []adminapi.CertInfo{cert("cluster CA", 3000*day), cert("node certificate", 300*day+time.Hour)}, "ok",
			"first to expire: node certificate on 2027-09-27 · 300 days"},
		{"renew soon", []adminapi.CertInfo{cert("cluster CA", 3000*day), cert("HTTPS a.example.org", 12*day+time.Hour)}, "warn",
			"HTTPS a.example.org expires 2026-12-13 · 12 days left"},
		{"expired", []adminapi.CertInfo{cert("HTTPS a.example.org", 12*day), cert("node certificate", -2*day)}, "error",
			"node certificate expired on 2026-11-29"},
		{"none", nil, "muted", "none reported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := newFakeAPI()
			api.status.Certificates = tc.certs
			s := NewOverview(api, testEnv(LangEN))
			s, _ = s.Update(BodySizeMsg{Width: 100, Height: 30})
			s, _ = s.Update(s.Init()())
			var line *overviewLine
			for _, ln := range s.(*overview).summary() {
				if ln.label.In(LangEN) == "Certificates" {
					line = &ln
				}
			}
			if line == nil {
				t.Fatal("no Certificates line")
			}
			if line.tone != tc.tone || line.value != tc.want {
				t.Errorf("Certificates %q (%s), want %q (%s)", line.value, line.tone, tc.want, tc.tone)
			}
			if v := stripView(s.View()); !contains(v, tc.want) {
				t.Errorf("the overview lacks %q:\n%s", tc.want, v)
			}
		})
	}
}
