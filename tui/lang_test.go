package tui

import "testing"

func TestLangFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want Lang
	}{
		{"nothing set", nil, LangFR},
		{"French LANG", map[string]string{"LANG": "fr_FR.UTF-8"}, LangFR},
		{"English LANG", map[string]string{"LANG": "en_GB.UTF-8"}, LangEN},
		{"C locale", map[string]string{"LANG": "C.UTF-8"}, LangFR},
		{"another language", map[string]string{"LANG": "de_DE.UTF-8"}, LangEN},
		{"LC_MESSAGES before LANG", map[string]string{"LC_MESSAGES": "en_US.UTF-8", "LANG": "fr_FR.UTF-8"}, LangEN},
		{"LC_ALL first", map[string]string{"LC_ALL": "fr_CA.UTF-8", "LC_MESSAGES": "en_US.UTF-8"}, LangFR},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := LangFromEnv(func(k string) string { return tc.env[k] }); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
