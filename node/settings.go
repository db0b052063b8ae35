package node

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"valise/httpd"
	"valise/httpd/web"
	"valise/scan"
)

// settingsPrefix is the metadata key prefix of the cluster-wide settings: settings/<key>.
const settingsPrefix = "settings/"

// settingSpec describes one known setting: its default and how a value is checked.
type settingSpec struct {
	def      string             // the value when never set
	secret   bool               // shown masked, never journalled
	node     bool               // node scope: a path or socket on this machine (localsettings.go)
	validate func(string) error // nil error for an acceptable value
}

// knownSettings is the allow-list of settings: cluster-wide ones, in the metadata, and the
// node-scope ones marked node, in each node's valise.toml (localsettings.go). An empty value
// means "unset" for the optional ones (no SMTP relay: the outbox; no clamd address: the
// private clamd).
var knownSettings = map[string]settingSpec{
	"public_url":             {validate: optional(validURL)},
	"smtp.host":              {validate: optional(validHost)},
	"smtp.port":              {def: "587", validate: intRange(1, 65535)},
	"smtp.username":          {validate: maxLen(256)},
	"smtp.password":          {secret: true, validate: maxLen(1024)},
	"smtp.from":              {validate: optional(validEmail)},
	"smtp.tls":               {def: "starttls", validate: oneOf("starttls", "tls", "none")},
	"smtp.ca_file":           {node: true, validate: optional(validAbsPath)},
	"clamd.address":          {node: true, validate: optional(validClamd)},
	"scan.policy":            {def: "hold", validate: oneOf("hold", "release")},
	"scan.large_files":       {def: "windows", validate: oneOf("windows", "not_scanned")},
	"retention.default_days": {def: "7", validate: intRange(1, 3650)},
	"retention.max_days":     {def: "30", validate: intRange(1, 3650)},
	"quota.user_bytes":       {def: "0", validate: intRange(0, 1<<62)},
	"quota.send_max_bytes":   {def: "0", validate: intRange(0, 1<<62)},
	"upload.max_size":        {def: "10737418240", validate: intRange(1, 1<<50)},
	"retention.unsent_days":  {def: "7", validate: intRange(1, 3650)},
	"branding.name":          {def: "Valise", validate: nonEmptyMaxLen(64)},
	"branding.color":         {validate: optional(brandColor(false))}, // "": Valise's own colours
	"branding.color_dark":    {validate: optional(brandColor(true))},  // "": branding.color, lightened
	"branding.logo":          {validate: optional(validLogo)},         // a data: URL, see web.ParseLogo
	"metrics.token":          {secret: true, validate: optional(minLen(32))},
	// trusted_proxies: the load balancers (CIDRs or addresses, comma-separated) whose
	// X-Forwarded-For names the client; "" believes nobody's.
	"trusted_proxies": {validate: validTrustedProxies},

	// Signatures: whether a file checked with test signatures only may be sent, and the
	// organisation's mirror the private clamd's freshclam updates from (read at start).
	"scan.test_signatures_only": {def: "allow", validate: oneOf("allow", "hold")},
	"clamd.database_mirror":     {validate: scan.ValidateMirror}, // "": no update

	"limits.memory_budget": {def: "536870912", validate: intRange(64<<20, 1<<40)}, // bytes; read at start
	"limits.max_zips":      {def: "2", validate: intRange(1, 64)},                 // zips streaming at once; read at start

	// The repair jobs (heal.go): how often the leader heals and scrubs ("0": never on a
	// schedule), and the bytes per second they may read ("0": unlimited).
	"heal.interval":  {def: "1h", validate: validInterval},
	"scrub.interval": {def: "168h", validate: validInterval},
	"heal.bandwidth": {def: "0", validate: validBandwidth},
	// storage.layout: the erasure-coding layout of new files, "auto" or K+M (placement.go);
	// settings set also refuses one the cluster cannot spread to survive its failure domain.
	layoutSetting: {def: "auto", validate: validLayout},
	// Scheduled backups (backupschedule.go): how often the leader writes one ("0" or "": never),
	// into which directory (on every node), how many of them it keeps there, encrypted to
	// which age public key.
	"backup.interval":  {def: "0", validate: validBackupInterval},
	"backup.dir":       {validate: validBackupDir},
	"backup.keep":      {def: "7", validate: intRange(1, 10000)},
	"backup.recipient": {validate: optional(validAgeRecipient)},
}

// validLayout accepts "auto" or K+M (1 ≤ K ≤ 32, 0 ≤ M ≤ 16).
func validLayout(v string) error {
	_, _, err := ParseLayout(v)
	return err
}

// settingKeys returns the known setting keys, sorted.
func settingKeys() []string {
	keys := make([]string, 0, len(knownSettings))
	for k := range knownSettings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// validateSetting reports whether key is known and value acceptable for it.
func validateSetting(key, value string) error {
	spec, ok := knownSettings[key]
	if !ok {
		return fmt.Errorf("unknown setting %q (known: %s)", key, strings.Join(settingKeys(), ", "))
	}
	if strings.ContainsAny(value, "\x00\n\r") {
		return fmt.Errorf("setting %s: the value holds a control character", key)
	}
	if err := spec.validate(value); err != nil {
		return fmt.Errorf("setting %s: %w", key, err)
	}
	return nil
}

// maskSecret returns what an operator sees of a secret value: whether it is set, never the
// value, nor its length.
func maskSecret(v string) string {
	if v == "" {
		return ""
	}
	return "(set)"
}

func optional(f func(string) error) func(string) error {
	return func(v string) error {
		if v == "" {
			return nil
		}
		return f(v)
	}
}

func validURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return fmt.Errorf("%q is not an absolute http(s) URL", v)
	}
	return nil
}

func validHost(v string) error {
	if len(v) > 253 || strings.ContainsAny(v, " /:@") && net.ParseIP(v) == nil {
		return fmt.Errorf("%q is not a host name or IP address", v)
	}
	return nil
}

func validEmail(v string) error {
	a, err := mail.ParseAddress(v)
	if err != nil || a.Name != "" {
		return fmt.Errorf("%q is not an e-mail address", v)
	}
	return nil
}

func validAbsPath(v string) error {
	if !strings.HasPrefix(v, "/") || len(v) > 4096 {
		return fmt.Errorf("%q is not an absolute path", v)
	}
	return nil
}

// validClamd accepts "unix:/path/to/clamd.sock" or "tcp:host:port" (or plain host:port).
func validClamd(v string) error {
	if p, ok := strings.CutPrefix(v, "unix:"); ok {
		if !strings.HasPrefix(p, "/") || len(p) > maxSocketPath {
			return fmt.Errorf("%q: want unix:/absolute/path (at most %d bytes)", v, maxSocketPath)
		}
		return nil
	}
	hp := strings.TrimPrefix(v, "tcp:")
	if err := validHostPort(hp); err != nil {
		return fmt.Errorf("%q: want unix:/path or tcp:host:port", v)
	}
	return nil
}

func oneOf(choices ...string) func(string) error {
	return func(v string) error {
		for _, c := range choices {
			if v == c {
				return nil
			}
		}
		return fmt.Errorf("%q: want one of %s", v, strings.Join(choices, ", "))
	}
}

func intRange(lo, hi int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("%q: want a whole number from %d to %d", v, lo, hi)
		}
		return nil
	}
}

func maxLen(n int) func(string) error {
	return func(v string) error {
		if len(v) > n {
			return fmt.Errorf("the value is longer than %d bytes", n)
		}
		return nil
	}
}

func minLen(n int) func(string) error {
	return func(v string) error {
		if len(v) < n {
			return fmt.Errorf("the value is shorter than %d bytes", n)
		}
		return nil
	}
}

func nonEmptyMaxLen(n int) func(string) error {
	return func(v string) error {
		if v == "" || len(v) > n {
			return fmt.Errorf("want 1 to %d bytes", n)
		}
		return nil
	}
}

var colorRE = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// brandColor accepts a "#rrggbb" colour that reads as text on the light scheme's background
// (dark false) or the dark one's (WCAG 2.1 AA).
func brandColor(dark bool) func(string) error {
	return func(v string) error {
		if !colorRE.MatchString(v) {
			return fmt.Errorf("%q is not a #rrggbb colour", v)
		}
		return web.CheckBrandColor(strings.ToLower(v), dark)
	}
}

// validTrustedProxies accepts the trusted_proxies list httpd parses, at most 4 KiB.
func validTrustedProxies(v string) error {
	if len(v) > 4096 {
		return fmt.Errorf("the value is longer than 4096 bytes")
	}
	_, err := httpd.ParseTrustedProxies(v)
	return err
}

// validLogo accepts an image as a data: URL (appliance settings set branding.logo --file).
func validLogo(v string) error {
	_, err := web.ParseLogo(v)
	return err
}
