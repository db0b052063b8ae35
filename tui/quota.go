package tui

import (
	"errors"
	"math"
	"strconv"
	"strings"

	"valise/adminapi"
)

// parseQuota reads a quota as the edit form takes it: "default" (the quota.user_bytes
// setting applies: adminapi.QuotaDefault), "none" or "0" (no quota), or a whole number of
// bytes with an optional binary suffix K, M, G or T ("500M", "10G").
func parseQuota(l Lang, s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	switch t {
	case "DEFAULT", "DÉFAUT", "":
		return adminapi.QuotaDefault, nil
	case "NONE", "AUCUN", "0":
		return 0, nil
	}
	bad := errors.New(Text{"Quota invalide : 500M, 10G, default ou none.", "Bad quota: want 500M, 10G, default or none."}.In(l))
	t = strings.TrimSuffix(t, "B")
	t = strings.TrimSuffix(t, "I")
	shift := 0
	if n := len(t); n > 0 {
		if i := strings.IndexByte("KMGT", t[n-1]); i >= 0 {
			shift = 10 * (i + 1)
			t = t[:n-1]
		}
	}
	if t == "" || strings.IndexFunc(t, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return 0, bad
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n > math.MaxInt64>>shift {
		return 0, errors.New(Text{"Quota trop grand.", "Quota too large."}.In(l))
	}
	return n << shift, nil
}

// quotaText writes q as parseQuota reads it back: "default", "none", or the largest binary
// unit that divides it exactly.
func quotaText(q int64) string {
	switch {
	case q < 0:
		return "default"
	case q == 0:
		return "none"
	}
	for i := 4; i >= 1; i-- {
		if q%(1<<(10*i)) == 0 {
			return strconv.FormatInt(q>>(10*i), 10) + string("KMGT"[i-1])
		}
	}
	return strconv.FormatInt(q, 10)
}

// sizeIn writes n bytes for people, in binary units with l's decimal mark: binary, unlike
// formatBytes, because quotas are typed in binary units ("10G" is 10 GiB, as in the CLI).
func sizeIn(l Lang, n int64) string {
	if n < 1024 {
		return Text{"%d o", "%d B"}.fmt(l, n)
	}
	v, i := float64(n)/1024, 0
	for v >= 1023.95 && i < 4 {
		v /= 1024
		i++
	}
	s := strconv.FormatFloat(v, 'f', 1, 64)
	if l == LangFR {
		return strings.Replace(s, ".", ",", 1) + "\u00a0" + string("KMGTP"[i]) + "io"
	}
	return s + "\u00a0" + string("KMGTP"[i]) + "iB"
}
