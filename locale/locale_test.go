package locale

import (
	"testing"
)

func TestFormatSize(t *testing.T) {
	for _, tc := range []struct {
		n      int64
		fr, en string
	}{
		{0, "0 octet", "0 bytes"},
		{1, "1 octet", "1 byte"},
		{999, "999 octets", "999 bytes"},
		{1000, "1,0\u00a0ko", "1.0\u00a0kB"},
		{1_500_000, "1,5\u00a0Mo", "1.5\u00a0MB"},
		{999_999_999, "1,0\u00a0Go", "1.0\u00a0GB"},
		{10 << 30, "10,7\u00a0Go", "10.7\u00a0GB"},
		{3_000_000_000_000, "3,0\u00a0To", "3.0\u00a0TB"},
	} {
		t.Run(tc.en, func(t *testing.T) {
			if got := FormatSize("fr", tc.n); got != tc.fr {
				t.Errorf("fr %d = %q, want %q", tc.n, got, tc.fr)
			}
			if got := FormatSize("en", tc.n); got != tc.en {
				t.Errorf("en %d = %q, want %q", tc.n, got, tc.en)
			}
		})
	}
}

func TestNegotiate(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"fr", "fr"}, {"en", "en"}, {"en-US", "en"}, {"fr-CA,en;q=0.5", "fr"}, {"de-DE", "fr"}, {"", "fr"}, {"!!", "fr"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := Negotiate("", tc.in, ""); got != tc.want {
				t.Fatalf("Negotiate(accept %q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestNegotiateOrder: an explicit choice beats Accept-Language, which beats the recorded
// preference; French when nothing fits (issue 17 item 3: one negotiator for every front end).
func TestNegotiateOrder(t *testing.T) {
	for _, tc := range []struct{ choice, accept, recorded, want string }{
		{"en", "fr", "fr", "en"},
		{"", "en-GB", "fr", "en"},
		{"", "de", "en", "en"},
		{"", "", "en", "en"},
		{"xx", "de", "", "fr"},
		{"", "", "", "fr"},
	} {
		if got := Negotiate(tc.choice, tc.accept, tc.recorded); got != tc.want {
			t.Errorf("Negotiate(%q, %q, %q) = %q, want %q", tc.choice, tc.accept, tc.recorded, got, tc.want)
		}
	}
}

// TestCatalogsAgree: every message exists in every language, so no page, API error or mail
// shows a message ID in one language only (issue 17 item 3).
func TestCatalogsAgree(t *testing.T) {
	if err := Load(); err != nil {
		t.Fatal(err)
	}
	ids := map[string]map[string]bool{}
	for _, l := range Languages {
		m, err := messageIDs(l)
		if err != nil {
			t.Fatalf("catalog %s: %v", l, err)
		}
		if len(m) == 0 {
			t.Fatalf("catalog %s is empty", l)
		}
		ids[l] = m
	}
	for _, a := range Languages {
		for _, b := range Languages {
			for id := range ids[a] {
				if !ids[b][id] {
					t.Errorf("message %q is in the %s catalog, not in the %s one", id, a, b)
				}
			}
		}
	}
	if got := For(English).T("error.not_found"); got == "error.not_found" {
		t.Errorf("English printer shows the ID of a message it has")
	}
	if got := For(French).T("no.such.message"); got != "no.such.message" {
		t.Errorf("a missing message shows %q, want its ID", got)
	}
}
