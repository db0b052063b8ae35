package node

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"valise/adminapi"
	"valise/internal/poll"
	"valise/keyring"
)

// checkStatusCertificates checks that status lists the cluster CA, the node certificate and
// the HTTPS certificate certmagic serves, each with the expiry it was issued with. TestAdminPort
// calls it on its node.
func checkStatusCertificates(t *testing.T, c *adminapi.Client) {
	t.Helper()
	var st adminapi.Status
	poll.UntilNil(t, "an HTTPS certificate in status", func() error {
		var err error
		if st, err = c.Status(t.Context()); err != nil {
			return err
		}
		if _, ok := certNamed(st.Certificates, "HTTPS "); !ok {
			return fmt.Errorf("certificates %+v", st.Certificates)
		}
		return nil
	})
	now := time.Now()
	for _, want := range []struct {
		name     string
		validity time.Duration
	}{
		{"cluster CA", keyring.CAValidity},
		{"node certificate", keyring.NodeCertValidity},
		{"HTTPS ", keyring.ServerCertValidity},
	} {
		got, ok := certNamed(st.Certificates, want.name)
		if !ok {
			t.Errorf("no %q in %+v", want.name, st.Certificates)
			continue
		}
		// Issued since Init began: expiry within a day of now+validity.
		if d := got.NotAfter.Sub(now.Add(want.validity)); d > time.Hour || d < -24*time.Hour {
			t.Errorf("%s expires %s, want about %s", got.Name, got.NotAfter, now.Add(want.validity))
		}
		if days := int(want.validity / (24 * time.Hour)); got.DaysLeft < days-1 || got.DaysLeft > days {
			t.Errorf("%s: %d days left, want about %d", got.Name, got.DaysLeft, days)
		}
		if got.State != adminapi.CertOK || got.Subject == "" {
			t.Errorf("%+v: want state ok and a subject", got)
		}
	}
}

// certNamed returns the first certificate whose name starts with prefix.
func certNamed(certs []adminapi.CertInfo, prefix string) (adminapi.CertInfo, bool) {
	for _, c := range certs {
		if strings.HasPrefix(c.Name, prefix) {
			return c, true
		}
	}
	return adminapi.CertInfo{}, false
}
