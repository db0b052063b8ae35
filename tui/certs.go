package tui

import (
	"fmt"

	"valise/adminapi"
)

// certText says when the first of the node's certificates expires, and its tone: warn under
// adminapi.CertRenewSoonDays days, error once expired. With room (wide), it adds how many
// certificates there are and how many need renewing.
func certText(l Lang, certs []adminapi.CertInfo, wide bool) (string, string) {
	c, ok := adminapi.SoonestCert(certs)
	if !ok {
		return Text{"aucun certificat signalé", "none reported"}.In(l), "muted"
	}
	var v, tone string
	date := c.NotAfter.UTC().Format("2006-01-02")
	switch c.State {
	case adminapi.CertExpired:
		v, tone = fmt.Sprintf(Text{"%s expiré le %s", "%s expired on %s"}.In(l), c.Name, date), "error"
	case adminapi.CertRenewSoon:
		v, tone = fmt.Sprintf(Text{"%s expire le %s · %d j restants", "%s expires %s · %d days left"}.In(l), c.Name, date, c.DaysLeft), "warn"
	default:
		v, tone = fmt.Sprintf(Text{"premier à expirer : %s le %s · %d j", "first to expire: %s on %s · %d days"}.In(l), c.Name, date, c.DaysLeft), "ok"
	}
	if wide {
		due := 0
		for _, c := range certs {
			if c.State != adminapi.CertOK {
				due++
			}
		}
		v += fmt.Sprintf(Text{" · %d certificats, %d à renouveler", " · %d certificates, %d to renew"}.In(l), len(certs), due)
	}
	return v, tone
}
