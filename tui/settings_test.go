package tui

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"valise/adminapi"
)

// settingsFake is a SettingsAPI over fixed settings; ValidateSetting refuses the values in
// refuse, with their message.
type settingsFake struct {
	mu       sync.Mutex // guards the fields below
	settings []adminapi.Setting
	refuse   map[string]string
	sets     []string // "key=value" of every SetSetting
	mails    []adminapi.MailTestRequest
	fail     int                   // the next calls of Settings that fail as if the node were down
	outbox   []adminapi.OutboxMail // the mail queue (mailqueue_test.go)
	mailOps  []string              // "retry ID" and "discard ID", in order
}

func newSettingsFake() *settingsFake {
	return &settingsFake{
		outbox: fakeOutbox(),
		refuse: map[string]string{"#000000": "this colour is too dark for the header's text"},
		settings: []adminapi.Setting{
			{Key: "quota.default", Value: "10G", Default: "10G", Scope: "cluster", Group: "quotas", Kind: "bytes",
				Description: "Storage each user may use unless set otherwise.", DescriptionFR: "Espace de chaque utilisateur, sauf réglage propre."},
			{Key: "branding.color", Value: "#1f6feb", Set: true, Default: "#0b5fff", Scope: "cluster", Group: "branding", Kind: "color",
				Description: "The web UI's main colour.", DescriptionFR: "La couleur principale de l'interface web."},
			{Key: "mail.relay", Value: "smtp.example.org:587", Set: true, Scope: "cluster", Group: "mail", Kind: "text",
				Description: "The SMTP relay (host:port).", DescriptionFR: "Le relais SMTP (hôte:port)."},
			{Key: "mail.password", Value: "hunter2", Set: true, Scope: "cluster", Group: "mail", Kind: "secret", Secret: true,
				Description: "The relay's password.", DescriptionFR: "Le mot de passe du relais."},
			{Key: "mail.tls", Value: "starttls", Default: "starttls", Scope: "cluster", Group: "mail", Kind: "choice",
				Choices: []string{"starttls", "tls", "none"}, Description: "How mail reaches the relay.", DescriptionFR: "Comment le courriel rejoint le relais."},
			{Key: "site.name", Value: "Valise", Default: "Valise", Scope: "cluster", Group: "general", Kind: "text",
				Description: "The name shown on every page.", DescriptionFR: "Le nom affiché sur chaque page."},
			{Key: "zz.future", Value: "1", Default: "1", Scope: "node", Group: "experimental", Kind: "int",
				Description: "A group this console does not know.", DescriptionFR: "Un groupe inconnu de cette console."},
		},
	}
}

func (f *settingsFake) Settings(context.Context) ([]adminapi.Setting, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail > 0 {
		f.fail--
		return nil, adminapi.ErrNotRunning
	}
	out := slices.Clone(f.settings)
	for i := range out {
		if out[i].Secret {
			out[i].Value = "********" // as the node masks it
		}
	}
	return out, nil
}

func (f *settingsFake) Setting(ctx context.Context, key string) (adminapi.Setting, error) {
	list, _ := f.Settings(ctx)
	for _, s := range list {
		if s.Key == key {
			return s, nil
		}
	}
	return adminapi.Setting{}, adminapi.Errorf(adminapi.CodeUnknownSetting, "no setting %s", key)
}

func (f *settingsFake) ValidateSetting(ctx context.Context, key, value string) (adminapi.Setting, error) {
	f.mu.Lock()
	msg, refused := f.refuse[value]
	f.mu.Unlock()
	if refused {
		return adminapi.Setting{}, adminapi.Errorf(adminapi.CodeInvalidValue, "%s", msg)
	}
	s, err := f.Setting(ctx, key)
	s.Value, s.Set = value, true
	return s, err
}

func (f *settingsFake) SetSetting(ctx context.Context, key, value string) (adminapi.Setting, error) {
	s, err := f.ValidateSetting(ctx, key, value)
	if err != nil {
		return s, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sets = append(f.sets, key+"="+value)
	for i := range f.settings {
		if f.settings[i].Key == key {
			f.settings[i].Value, f.settings[i].Set = value, true
		}
	}
	return s, nil
}

func (f *settingsFake) TestMail(_ context.Context, req adminapi.MailTestRequest) (adminapi.MailTestResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mails = append(f.mails, req)
	if strings.HasSuffix(req.To, "@bounce.example") {
		return adminapi.MailTestResult{Detail: "relay smtp.example.org:587", Error: "550 no such user"}, nil
	}
	return adminapi.MailTestResult{OK: true, Detail: "relay smtp.example.org:587, STARTTLS"}, nil
}

// newTestSettings returns a Settings screen over f, loaded, in a w×h body.
func newTestSettings(t *testing.T, f *settingsFake, lang Lang, w, h int) *Settings {
	t.Helper()
	return loaded(t, NewSettings(f, testEnv(lang)), w, h).(*Settings)
}

// selectSetting moves the cursor to the setting key.
func selectSetting(t *testing.T, s Screen, key string) Screen {
	t.Helper()
	s, _ = settle(t, s, keyMsg("home"))
	for range 20 {
		if st, ok := s.(*Settings).selected(); ok && st.Key == key {
			return s
		}
		s, _ = settle(t, s, keyMsg("j"))
	}
	t.Fatalf("no setting %s in the list", key)
	return s
}

func TestSettingsGroupOrder(t *testing.T) {
	s := newTestSettings(t, newSettingsFake(), LangEN, 100, 20)
	var keys []string
	for _, st := range s.settings {
		keys = append(keys, st.Key)
	}
	want := []string{"site.name", "mail.password", "mail.relay", "mail.tls", "branding.color", "quota.default", "zz.future"}
	if !slices.Equal(keys, want) {
		t.Fatalf("order %v, want %v", keys, want)
	}
	v := s.View()
	for _, want := range []string{"General", "Mail", "Branding", "experimen", secretMask, "The name shown on every page."} {
		if !strings.Contains(v, want) && !strings.Contains(s.info(), want) {
			t.Errorf("view lacks %q:\n%s", want, v)
		}
	}
	if strings.Contains(v, "hunter2") {
		t.Fatal("a secret is shown")
	}
	s2, _ := settle(t, s, LangMsg{Lang: LangFR})
	if v := s2.View(); !strings.Contains(v, "Général") || !strings.Contains(v, "Le nom affiché sur chaque page.") {
		t.Fatalf("French view:\n%s", v)
	}
}

func TestSettingsLocalChecks(t *testing.T) {
	s := newTestSettings(t, newSettingsFake(), LangEN, 100, 20)
	for _, tc := range []struct {
		name, kind, in string
		ok             bool
	}{
		{"colour", "color", "#1F6feb", true},
		{"colour empty", "color", "", true},
		{"colour short", "color", "#fff", false},
		{"colour name", "color", "blue", false},
		{"colour no hash", "color", "1f6feb", false},
		{"int", "int", "42", true},
		{"int negative", "int", "-1", true},
		{"int letters", "int", "4x", false},
		{"email", "email", "ops@example.org", true},
		{"email bad", "email", "ops at example", false},
		{"text anything", "text", "  whatever  ", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check := s.localCheck(adminapi.Setting{Kind: tc.kind})
			var err error
			if check != nil {
				err = check(tc.in)
			}
			if (err == nil) != tc.ok {
				t.Fatalf("check(%q) = %v, want ok %v", tc.in, err, tc.ok)
			}
		})
	}
}

func TestSettingsEditRefusedThenAccepted(t *testing.T) {
	f := newSettingsFake()
	var s Screen = newTestSettings(t, f, LangEN, 100, 24)
	s = selectSetting(t, s, "branding.color")
	// A value the form itself refuses never reaches the node.
	s, _ = pressKeys(t, s, "e", "ctrl+u", "#12345g", "enter")
	if st := s.(*Settings); st.mode != settingsEdit || st.pending || len(f.sets) != 0 {
		t.Fatalf("a bad colour was submitted: mode %v, sets %v", st.mode, f.sets)
	}
	// A value the node refuses is shown on the field, and not saved.
	s, _ = pressKeys(t, s, "ctrl+u", "#000000", "enter")
	st := s.(*Settings)
	if st.mode != settingsEdit || len(f.sets) != 0 || !s.Typing() {
		t.Fatalf("a refused value left the form: mode %v, sets %v", st.mode, f.sets)
	}
	if v := s.View(); !strings.Contains(v, "this colour is too dark") {
		t.Fatalf("the refusal is not shown:\n%s", v)
	}
	// An accepted value is saved, once.
	s, out := pressKeys(t, s, "ctrl+u", "#2266aa", "enter")
	st = s.(*Settings)
	if st.mode != settingsList || !slices.Equal(f.sets, []string{"branding.color=#2266aa"}) {
		t.Fatalf("mode %v, sets %v", st.mode, f.sets)
	}
	if len(out) != 1 || out[0] != (ToastMsg{Text: "Setting branding.color saved"}) {
		t.Fatalf("sent %v", out)
	}
	if cur, _ := st.selected(); cur.Value != "#2266aa" || cur.Group != "branding" {
		t.Fatalf("the list shows %+v", cur)
	}
}

func TestSettingsChoiceAndSecret(t *testing.T) {
	f := newSettingsFake()
	var s Screen = newTestSettings(t, f, LangEN, 100, 24)
	s = selectSetting(t, s, "mail.tls")
	s, _ = pressKeys(t, s, "enter", "right", "enter")
	if !slices.Equal(f.sets, []string{"mail.tls=tls"}) {
		t.Fatalf("sets %v", f.sets)
	}
	// A secret's form starts empty; left empty, nothing is saved.
	s = selectSetting(t, s, "mail.password")
	s, _ = pressKeys(t, s, "e")
	if v := s.(*Settings).form.Values()["value"]; v != "" {
		t.Fatalf("the secret's form shows %q", v)
	}
	s, out := pressKeys(t, s, "enter")
	if len(f.sets) != 1 || len(out) != 1 || out[0] != (ToastMsg{Text: "Setting mail.password unchanged"}) {
		t.Fatalf("sets %v, sent %v", f.sets, out)
	}
	if s.(*Settings).mode != settingsList {
		t.Fatal("the form stayed open")
	}
}

func TestSettingsTestMail(t *testing.T) {
	f := newSettingsFake()
	var s Screen = newTestSettings(t, f, LangEN, 100, 24)
	// Outside the mail group, t does nothing.
	s = selectSetting(t, s, "site.name")
	if s, _ = pressKeys(t, s, "t"); s.Typing() {
		t.Fatal("t opened a form outside the mail group")
	}
	s = selectSetting(t, s, "mail.relay")
	s, _ = pressKeys(t, s, "t", "not an address", "enter")
	if st := s.(*Settings); st.mode != settingsMailTest || len(f.mails) != 0 {
		t.Fatalf("a bad address was sent: mode %v, mails %v", st.mode, f.mails)
	}
	s, out := pressKeys(t, s, "ctrl+u", "ops@example.org", "enter")
	if len(f.mails) != 1 || f.mails[0] != (adminapi.MailTestRequest{To: "ops@example.org", Lang: "en"}) {
		t.Fatalf("mails %v", f.mails)
	}
	if len(out) != 1 || out[0] != (ToastMsg{Text: "Test mail sent to ops@example.org"}) {
		t.Fatalf("sent %v", out)
	}
	if v := s.View(); !strings.Contains(v, "test mail: relay smtp.example.org:587, STARTTLS") {
		t.Fatalf("view:\n%s", v)
	}
	_, out = pressKeys(t, s, "t", "x@bounce.example", "enter")
	if len(out) != 1 || out[0] != (ToastMsg{Text: "Test mail to x@bounce.example failed: 550 no such user", Err: true}) {
		t.Fatalf("sent %v", out)
	}
}
