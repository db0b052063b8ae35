package node

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"valise/adminapi"
	"valise/keyring"
)

func TestValidateSetting(t *testing.T) {
	for _, tc := range []struct {
		key, value string
		ok         bool
	}{
		{"public_url", "https://files.example.org", true},
		{"storage.layout", "auto", true},
		{"storage.layout", "3+3", true},
		{"storage.layout", "3 + 3", false},
		{"storage.layout", "", false},
		{"public_url", "", true},
		{"public_url", "ftp://files.example.org", false},
		{"public_url", "https://user:pw@files.example.org", false},
		{"public_url", "files.example.org", false},
		{"smtp.host", "relay.example.org", true},
		{"smtp.host", "relay example", false},
		{"smtp.port", "587", true},
		{"smtp.port", "0", false},
		{"smtp.port", "65536", false},
		{"smtp.from", "valise@example.org", true},
		{"smtp.from", "Valise <valise@example.org>", false},
		{"smtp.tls", "starttls", true},
		{"smtp.tls", "maybe", false},
		{"smtp.ca_file", "/etc/ssl/relay-ca.pem", true},
		{"smtp.ca_file", "", true},
		{"smtp.ca_file", "relay-ca.pem", false},
		{"upload.max_size", "10737418240", true},
		{"upload.max_size", "0", false},
		{"upload.max_size", "10G", false},
		{"retention.unsent_days", "7", true},
		{"retention.unsent_days", "0", false},
		{"clamd.address", "unix:/run/clamav/clamd.ctl", true},
		{"clamd.address", "tcp:127.0.0.1:3310", true},
		{"clamd.address", "127.0.0.1:3310", true},
		{"clamd.address", "unix:relative.sock", false},
		{"scan.policy", "hold", true},
		{"scan.policy", "pass", false},
		{"scan.test_signatures_only", "hold", true},
		{"scan.test_signatures_only", "allow", true},
		{"scan.test_signatures_only", "release", false},
		{"clamd.database_mirror", "http://mirror.example.org/clamav", true},
		{"clamd.database_mirror", "mirror.example.org:8080", true},
		{"clamd.database_mirror", "", true},
		{"clamd.database_mirror", "http://mirror.example.org DatabaseDirectory /etc", false},
		{"clamd.database_mirror", "file:///var/lib/clamav", false},
		{"retention.default_days", "7", true},
		{"retention.default_days", "-1", false},
		{"quota.user_bytes", "1073741824", true},
		{"quota.user_bytes", "1G", false},
		{"branding.name", "Valise", true},
		{"branding.name", "", false},
		{"branding.color", "#1A5B3C", true},
		{"branding.color", "#AABBCC", false}, // unreadable on white
		{"branding.logo", "data:image/svg+xml;base64,PHN2Zy8+", true},
		{"branding.logo", "https://example.org/logo.png", false},
		{"branding.logo_url", "https://example.org/logo.png", false}, // replaced by branding.logo
		{"branding.color", "red", false},
		{"branding.color", "", true},
		{"branding.color_dark", "#abcdef", true},
		{"branding.color_dark", "#0a0b0c", false}, // unreadable on the dark background
		{"branding.color_dark", "#abc", false},
		{"metrics.token", strings.Repeat("x", 32), true},
		{"metrics.token", "short", false},
		{"trusted_proxies", "", true},
		{"trusted_proxies", "10.0.0.0/8, 192.0.2.7", true},
		{"trusted_proxies", "2001:db8::/32", true},
		{"trusted_proxies", "lb.example.org", false},
		{"trusted_proxies", "10.0.0.0/40", false},
		{"smtp.username", "line\nbreak", false},
		{"no.such.key", "1", false},
	} {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			if err := validateSetting(tc.key, tc.value); (err == nil) != tc.ok {
				t.Fatalf("validateSetting(%q, %q) = %v, want ok=%v", tc.key, tc.value, err, tc.ok)
			}
		})
	}
}

func TestSettingDefaultsValidate(t *testing.T) {
	for _, k := range settingKeys() {
		t.Run(k, func(t *testing.T) {
			if err := validateSetting(k, knownSettings[k].def); err != nil {
				t.Fatalf("the default of %s does not validate: %v", k, err)
			}
		})
	}
}

func TestSettingBatchMasksSecrets(t *testing.T) {
	keys, err := keyring.Create(filepath.Join(t.TempDir(), "keys"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := settingBatch(keys, "cli", testTime, "smtp.password", "hunter2")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b.Audit.Details), "hunter2") {
		t.Fatalf("the journal entry shows a secret: %s", b.Audit.Details)
	}
	if strings.Contains(string(b.Ops[0].Value), "hunter2") {
		t.Fatalf("the stored value shows the secret: %q", b.Ops[0].Value)
	}
	if v, err := openSetting(keys, "smtp.password", b.Ops[0].Value); err != nil || v != "hunter2" {
		t.Fatalf("the stored value opens to %q, %v", v, err)
	}
}

func FuzzValidateSetting(f *testing.F) {
	for _, k := range settingKeys() {
		f.Add(k, knownSettings[k].def)
	}
	f.Add("clamd.address", "unix:/x")
	f.Add("public_url", "https://[::1]:8443/")
	f.Fuzz(func(t *testing.T, key, value string) {
		if err := validateSetting(key, value); err != nil {
			return
		}
		if _, ok := knownSettings[key]; !ok {
			t.Fatalf("unknown key %q accepted", key)
		}
		if strings.ContainsAny(value, "\x00\r\n") {
			t.Fatalf("control character accepted in %q", value)
		}
	})
}

// TestPolicyFrom maps the policy settings onto transfer's policy, the scan policies
// included, and corrects an inconsistent set.
func TestPolicyFrom(t *testing.T) {
	get := func(set map[string]string) func(string) string {
		return func(k string) string {
			if v, ok := set[k]; ok {
				return v
			}
			return knownSettings[k].def
		}
	}
	p, problem := policyFrom(get(nil))
	if problem != "" || p.ReleaseUnscanned || p.SkipLargeScan || p.HoldTestSignaturesOnly || p.MaxSendBytes != 0 || p.QuotaBytes != 0 || p.MaxFileSize != 10737418240 {
		t.Fatalf("defaults: %+v, %q", p, problem)
	}
	p, problem = policyFrom(get(map[string]string{
		"scan.policy": "release", "scan.large_files": "not_scanned", "quota.send_max_bytes": "5000", "quota.user_bytes": "9000",
		"scan.test_signatures_only": "hold",
	}))
	if problem != "" || !p.ReleaseUnscanned || !p.SkipLargeScan || !p.HoldTestSignaturesOnly || p.MaxSendBytes != 5000 || p.QuotaBytes != 9000 {
		t.Fatalf("set: %+v, %q", p, problem)
	}
	p, problem = policyFrom(get(map[string]string{"retention.default_days": "40", "retention.max_days": "30"}))
	if p.DefaultExpiry != p.MaxExpiry || !strings.Contains(problem, "exceeds retention.max_days") {
		t.Fatalf("inconsistent expiry: %+v, %q", p, problem)
	}
}

// TestBrandingFromOlderSettings: a colour or logo that an older node accepted but the web UI
// now refuses (a colour too pale for WCAG AA) is left out with a warning; the node starts.
func TestBrandingFromOlderSettings(t *testing.T) {
	var logs bytes.Buffer
	n := &instance{logger: slog.New(slog.NewTextHandler(&logs, nil))}
	c, logo := n.branding(webSettings{color: "#AABBCC", colorDark: "#ABCDEF", logo: "https://example.org/logo.png"})
	if c.Brand != "" || c.BrandDark != "#abcdef" || len(logo.Data) != 0 {
		t.Fatalf("colours %+v, logo %d bytes", c, len(logo.Data))
	}
	for _, want := range []string{"key=branding.color ", "key=branding.logo "} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no warning with %q:\n%s", want, logs.String())
		}
	}
	if c, _ := n.branding(webSettings{color: "#1a5b3c"}); c.Brand != "#1a5b3c" {
		t.Fatalf("a readable colour was dropped: %+v", c)
	}
}

// TestEverySettingDescribed checks that every known setting tells the console its group, kind
// and description in both languages, that a choice lists exactly what validates, and that
// the admin API's Setting carries them.
func TestEverySettingDescribed(t *testing.T) {
	groups := map[string]bool{"general": true, "mail": true, "tls": true, "branding": true, "policies": true,
		"quotas": true, "antivirus": true, "storage": true, "backup": true, "limits": true}
	kinds := map[string]bool{"text": true, "int": true, "bytes": true, "duration": true, "choice": true,
		"color": true, "url": true, "email": true, "path": true, "secret": true}
	for _, key := range settingKeys() {
		spec := knownSettings[key]
		var s adminapi.Setting
		spec.describe(&s)
		switch {
		case !groups[s.Group]:
			t.Errorf("%s: group %q", key, s.Group)
		case !kinds[s.Kind]:
			t.Errorf("%s: kind %q", key, s.Kind)
		case len(s.Description) < 20 || len(s.DescriptionFR) < 20 || s.Description == s.DescriptionFR:
			t.Errorf("%s: descriptions %q / %q", key, s.Description, s.DescriptionFR)
		case (s.Kind == "secret") != s.Secret:
			t.Errorf("%s: kind %q but secret %v", key, s.Kind, s.Secret)
		case (s.Kind == "choice") != (len(s.Choices) > 0):
			t.Errorf("%s: kind %q with choices %q", key, s.Kind, s.Choices)
		case s.Default != spec.def:
			t.Errorf("%s: default %q, want %q", key, s.Default, spec.def)
		}
		for _, c := range s.Choices {
			if err := validateSetting(key, c); err != nil {
				t.Errorf("%s: choice %q refused: %v", key, c, err)
			}
		}
		if len(s.Choices) > 0 && validateSetting(key, "surely-not-a-choice") == nil {
			t.Errorf("%s: a value outside the choices validates", key)
		}
	}
}
