package account

import (
	"errors"
	"testing"

	"valise/locale"
)

// TestUserErrorMessagesInCatalog: every message a UserError can show is in the one catalog,
// in French and in English, and the two differ (issue 17 item 3: no wording as Go literals).
func TestUserErrorMessagesInCatalog(t *testing.T) {
	keys := []string{"account.error"}
	for _, k := range userKeys {
		keys = append(keys, k.key)
	}
	fr, en := locale.For(locale.French), locale.For(locale.English)
	for _, k := range keys {
		if !fr.Has(k) || !en.Has(k) || fr.T(k) == en.T(k) {
			t.Errorf("message %s: %q / %q", k, fr.T(k), en.T(k))
		}
	}
	var ue *UserError
	if err := userErr(errors.New("disk on fire")); !errors.As(err, &ue) || ue.Key != "account.error" || ue.Message(LangFR) != "Une erreur est survenue." {
		t.Errorf("an unknown cause: %v", err)
	}
}
