package tui

import "strings"

// LangFromEnv picks the console's language from the locale variables, in POSIX order:
// LC_ALL, then LC_MESSAGES, then LANG. A French locale, or none (unset, C, POSIX), gives
// French, the product's default; any other language gives English.
func LangFromEnv(getenv func(string) string) Lang {
	for _, name := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		v := getenv(name)
		if v == "" {
			continue
		}
		switch {
		case strings.HasPrefix(v, "fr"), v == "C", v == "POSIX", strings.HasPrefix(v, "C."):
			return LangFR
		default:
			return LangEN
		}
	}
	return LangFR
}

// ParseLang reads a --lang value: "fr" or "en".
func ParseLang(s string) (Lang, bool) {
	switch strings.ToLower(s) {
	case "fr":
		return LangFR, true
	case "en":
		return LangEN, true
	}
	return LangFR, false
}
