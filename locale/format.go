package locale

import (
	"fmt"
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// FormatSize writes n bytes for humans in lang, in decimal units: "512 octets", "1,5 Mo",
// "2,3 Go" in French; "512 bytes", "1.5 MB", "2.3 GB" in English.
func FormatSize(lang string, n int64) string {
	fr := norm(lang) == French
	units := []string{"kB", "MB", "GB", "TB", "PB"}
	tag := language.English
	if fr {
		units = []string{"ko", "Mo", "Go", "To", "Po"}
		tag = language.French
	}
	if n < 1000 {
		if fr {
			if n < 2 {
				return fmt.Sprintf("%d octet", n)
			}
			return fmt.Sprintf("%d octets", n)
		}
		if n == 1 {
			return "1 byte"
		}
		return fmt.Sprintf("%d bytes", n)
	}
	v := float64(n) / 1000
	u := 0
	for v >= 999.95 && u < len(units)-1 {
		v /= 1000
		u++
	}
	return message.NewPrinter(tag).Sprintf("%.1f", v) + "\u00a0" + units[u]
}

var (
	frMonths = [...]string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
		"septembre", "octobre", "novembre", "décembre"}
	frDays = [...]string{"dimanche", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi"}
)

// FormatDate writes t in its own location: "lundi 30 novembre 2026 à 14:05 (UTC)" in French,
// "Monday 30 November 2026 at 14:05 (UTC)" in English.
func FormatDate(lang string, t time.Time) string {
	if norm(lang) == French {
		return fmt.Sprintf("%s %d %s %d à %s (%s)", frDays[t.Weekday()], t.Day(), frMonths[t.Month()-1],
			t.Year(), t.Format("15:04"), t.Format("MST"))
	}
	return t.Format("Monday 2 January 2006 at 15:04 (MST)")
}

// FormatDuration writes d for humans in lang, rounded to minutes below an hour and to hours above.
func FormatDuration(lang string, d time.Duration) string {
	fr := norm(lang) == French
	switch m := int(d.Round(time.Minute).Minutes()); {
	case m < 60 && fr:
		return fmt.Sprintf("%d minutes", m)
	case m < 60:
		return fmt.Sprintf("%d minutes", m)
	case fr:
		return fmt.Sprintf("%d heure(s)", m/60)
	default:
		return fmt.Sprintf("%d hour(s)", m/60)
	}
}

// norm returns lang if supported, else the best match of it as a tag ("fr-CA" → "fr").
func norm(lang string) string {
	if Supported(lang) {
		return lang
	}
	l, _ := Match(lang)
	return l
}
