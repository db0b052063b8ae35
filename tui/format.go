package tui

import (
	"fmt"
	"strings"
	"time"
)

// formatBytes writes n bytes in SI units, in l's words and decimal mark ("1,5 Go", "1.5 GB").
func formatBytes(l Lang, n uint64) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB"}
	if l == LangFR {
		units = []string{"o", "ko", "Mo", "Go", "To", "Po"}
	}
	if n < 1000 {
		return fmt.Sprintf("%d %s", n, units[0])
	}
	v, i := float64(n), 0
	for v >= 1000 && i < len(units)-1 {
		v /= 1000
		i++
	}
	s := fmt.Sprintf("%.1f %s", v, units[i])
	if l == LangFR {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s
}

// formatAge writes a duration as the largest whole unit: "3 j", "5 h", "12 min", "40 s".
func formatAge(l Lang, d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d %s", int(d.Hours()/24), Text{"j", "d"}.In(l))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%d h", int(d.Hours()))
	case d >= 2*time.Minute:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	}
	return fmt.Sprintf("%d s", max(int(d.Seconds()), 0))
}

// formatTime writes t in UTC, to the minute; "—" for the zero time.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

// ago writes how long before now t was: "il y a 3 j", "3 d ago".
func ago(l Lang, now, t time.Time) string {
	a := formatAge(l, now.Sub(t))
	if l == LangFR {
		return "il y a " + a
	}
	return a + " ago"
}

// parseTime reads an RFC 3339 time of the admin API; the zero time when empty or bad.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// yesNo writes b in l.
func yesNo(l Lang, b bool) string {
	if b {
		return Text{"oui", "yes"}.In(l)
	}
	return Text{"non", "no"}.In(l)
}
