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

	"valise/adminapi"
	"valise/httpd"
	"valise/httpd/web"
	"valise/scan"
)

// settingsPrefix is the metadata key prefix of the cluster-wide settings: settings/<key>.
const settingsPrefix = "settings/"

// settingSpec describes one known setting: its default, how a value is checked, and what the
// console shows of it (group, kind, choices, descriptions in French and English).
type settingSpec struct {
	def      string             // the value when never set
	secret   bool               // shown masked, never journalled
	node     bool               // node scope: a path or socket on this machine (localsettings.go)
	validate func(string) error // nil error for an acceptable value

	group   string   // the console's section (adminapi.Setting.Group)
	kind    string   // how the console edits it (adminapi.Setting.Kind)
	choices []string // the accepted values of a "choice"
	en, fr  string   // what it does, in English and in French
}

// choice is a "choice" setting's validation and choices together.
func choice(values ...string) (func(string) error, []string) { return oneOf(values...), values }

var (
	smtpTLSCheck, smtpTLSChoices       = choice("starttls", "tls", "none")
	scanPolicyCheck, scanPolicyChoices = choice("hold", "release")
	largeFilesCheck, largeFilesChoices = choice("windows", "not_scanned")
	testSigsCheck, testSigsChoices     = choice("allow", "hold")
)

// knownSettings is the allow-list of settings: cluster-wide ones, in the metadata, and the
// node-scope ones marked node, in each node's valise.toml (localsettings.go). An empty value
// means "unset" for the optional ones (no SMTP relay: the outbox; no clamd address: the
// private clamd).
var knownSettings = map[string]settingSpec{
	"public_url": {validate: optional(validURL), group: "general", kind: "url",
		en: "The address users reach Valise at (https://…), used in the links mailed; empty: the node's own address.",
		fr: "L'adresse à laquelle les utilisateurs joignent Valise (https://…), utilisée dans les liens envoyés ; vide : l'adresse du nœud."},
	"smtp.host": {validate: optional(validHost), group: "mail", kind: "text",
		en: "The SMTP relay's host name; empty: no relay, mails are kept in the outbox.",
		fr: "Le nom du relais SMTP ; vide : aucun relais, les courriels restent dans la boîte d'envoi."},
	"smtp.port": {def: "587", validate: intRange(1, 65535), group: "mail", kind: "int",
		en: "The SMTP relay's port (587 for STARTTLS, 465 for TLS).",
		fr: "Le port du relais SMTP (587 pour STARTTLS, 465 pour TLS)."},
	"smtp.username": {validate: maxLen(256), group: "mail", kind: "text",
		en: "The user name to authenticate to the relay; empty: no authentication.",
		fr: "Le nom d'utilisateur auprès du relais ; vide : sans authentification."},
	"smtp.password": {secret: true, validate: maxLen(1024), group: "mail", kind: "secret",
		en: "The password to authenticate to the relay (stored encrypted, never shown).",
		fr: "Le mot de passe auprès du relais (stocké chiffré, jamais affiché)."},
	"smtp.from": {validate: optional(validEmail), group: "mail", kind: "email",
		en: "The address mails come from; empty: valise@ the public host name.",
		fr: "L'adresse d'expédition des courriels ; vide : valise@ le nom public."},
	"smtp.tls": {def: "starttls", validate: smtpTLSCheck, choices: smtpTLSChoices, group: "mail", kind: "choice",
		en: "How the relay connection is protected: starttls (required), tls (from the first byte) or none (STARTTLS when offered).",
		fr: "Protection de la connexion au relais : starttls (exigé), tls (dès le premier octet) ou none (STARTTLS si proposé)."},
	"smtp.ca_file": {node: true, validate: optional(validAbsPath), group: "mail", kind: "path",
		en: "A PEM file of the CA that signed the relay's certificate, on this node; empty: the system's CAs.",
		fr: "Un fichier PEM de l'autorité qui a signé le certificat du relais, sur ce nœud ; vide : les autorités du système."},
	"clamd.address": {node: true, validate: optional(validClamd), group: "antivirus", kind: "text",
		en: "The clamd to scan with, unix:/path or tcp:host:port, on this node; empty: the node's private clamd.",
		fr: "Le clamd qui analyse, unix:/chemin ou tcp:hôte:port, sur ce nœud ; vide : le clamd privé du nœud."},
	"scan.policy": {def: "hold", validate: scanPolicyCheck, choices: scanPolicyChoices, group: "antivirus", kind: "choice",
		en: "What happens to a file that could not be scanned: hold it until it is, or release it.",
		fr: "Sort d'un fichier qui n'a pas pu être analysé : le retenir jusqu'à l'analyse, ou le libérer."},
	"scan.large_files": {def: "windows", validate: largeFilesCheck, choices: largeFilesChoices, group: "antivirus", kind: "choice",
		en: "Files larger than clamd's limit: scanned in overlapping windows, or marked not scanned.",
		fr: "Fichiers plus grands que la limite de clamd : analysés par fenêtres qui se chevauchent, ou marqués non analysés."},
	"retention.default_days": {def: "7", validate: intRange(1, 3650), group: "policies", kind: "int",
		en: "Days a send's links live when the sender does not choose.",
		fr: "Jours de validité des liens d'un envoi quand l'expéditeur ne choisit pas."},
	"retention.max_days": {def: "30", validate: intRange(1, 3650), group: "policies", kind: "int",
		en: "The most days a sender may choose for a send's links.",
		fr: "Le plus grand nombre de jours qu'un expéditeur peut choisir pour les liens d'un envoi."},
	"quota.user_bytes": {def: "0", validate: intRange(0, 1<<62), group: "quotas", kind: "bytes",
		en: "The storage each user's files may hold, in bytes, unless the user has their own quota; 0: none.",
		fr: "L'espace que les fichiers de chaque utilisateur peuvent occuper, en octets, sauf quota propre ; 0 : aucun."},
	"quota.send_max_bytes": {def: "0", validate: intRange(0, 1<<62), group: "quotas", kind: "bytes",
		en: "The largest total size of one send, in bytes; 0: no limit.",
		fr: "La plus grande taille totale d'un envoi, en octets ; 0 : sans limite."},
	"upload.max_size": {def: "10737418240", validate: intRange(1, 1<<50), group: "quotas", kind: "bytes",
		en: "The largest file one may upload, in bytes.",
		fr: "Le plus gros fichier qu'on peut déposer, en octets."},
	"retention.unsent_days": {def: "7", validate: intRange(1, 3650), group: "policies", kind: "int",
		en: "Days an uploaded file that no send carries is kept.",
		fr: "Jours de conservation d'un fichier déposé qu'aucun envoi ne porte."},
	"branding.name": {def: "Valise", validate: nonEmptyMaxLen(64), group: "branding", kind: "text",
		en: "The product name shown on the pages and in the mails.",
		fr: "Le nom du produit affiché sur les pages et dans les courriels."},
	"branding.color": {validate: optional(brandColor(false)), group: "branding", kind: "color",
		en: "The accent colour (#rrggbb) of the light scheme, readable on white; empty: Valise's own.",
		fr: "La couleur d'accent (#rrggbb) du thème clair, lisible sur blanc ; vide : celle de Valise."},
	"branding.color_dark": {validate: optional(brandColor(true)), group: "branding", kind: "color",
		en: "The accent colour (#rrggbb) of the dark scheme; empty: branding.color, lightened.",
		fr: "La couleur d'accent (#rrggbb) du thème sombre ; vide : branding.color, éclaircie."},
	"branding.logo": {validate: optional(validLogo), group: "branding", kind: "text",
		en: "The logo, as a data: URL (appliance settings set branding.logo --file FILE); empty: none.",
		fr: "Le logo, en URL data: (appliance settings set branding.logo --file FICHIER) ; vide : aucun."},
	"metrics.token": {secret: true, validate: optional(minLen(32)), group: "general", kind: "secret",
		en: "The bearer token that reads /metrics (at least 32 bytes); empty: metrics are closed.",
		fr: "Le jeton qui permet de lire /metrics (au moins 32 octets) ; vide : métriques fermées."},
	// trusted_proxies: the load balancers (CIDRs or addresses, comma-separated) whose
	// X-Forwarded-For names the client; "" believes nobody's.
	"trusted_proxies": {validate: validTrustedProxies, group: "general", kind: "text",
		en: "The load balancers (addresses or CIDRs, comma-separated) whose X-Forwarded-For is believed; empty: nobody's.",
		fr: "Les répartiteurs de charge (adresses ou CIDR, séparés par des virgules) dont on croit X-Forwarded-For ; vide : aucun."},

	// Signatures: whether a file checked with test signatures only may be sent, and the
	// organisation's mirror the private clamd's freshclam updates from (read at start).
	"scan.test_signatures_only": {def: "allow", validate: testSigsCheck, choices: testSigsChoices, group: "antivirus", kind: "choice",
		en: "Whether a file checked with test signatures only may be sent (allow) or is held (hold).",
		fr: "Un fichier vérifié avec les seules signatures de test peut-il partir (allow) ou est-il retenu (hold)."},
	"clamd.database_mirror": {validate: scan.ValidateMirror, group: "antivirus", kind: "url",
		en: "The organisation's signature mirror the private clamd updates from (read at start); empty: no update.",
		fr: "Le miroir de signatures de l'organisation d'où le clamd privé se met à jour (lu au démarrage) ; vide : aucune mise à jour."},

	"limits.memory_budget": {def: "536870912", validate: intRange(64<<20, 1<<40), group: "limits", kind: "bytes",
		en: "The memory the byte path may use, in bytes (read at start).",
		fr: "La mémoire que le chemin des octets peut utiliser, en octets (lu au démarrage)."},
	"limits.max_zips": {def: "2", validate: intRange(1, 64), group: "limits", kind: "int",
		en: "How many zip downloads may stream at once (read at start).",
		fr: "Combien de téléchargements zip peuvent se faire en même temps (lu au démarrage)."},

	// The repair jobs (heal.go): how often the leader heals and scrubs ("0": never on a
	// schedule), and the bytes per second they may read ("0": unlimited).
	"heal.interval": {def: "1h", validate: validInterval, group: "storage", kind: "duration",
		en: "How often missing shards are rebuilt (1m to 10000h); 0: never on a schedule.",
		fr: "Fréquence de reconstruction des fragments manquants (1m à 10000h) ; 0 : jamais automatiquement."},
	"scrub.interval": {def: "168h", validate: validInterval, group: "storage", kind: "duration",
		en: "How often every shard is read and checked (1m to 10000h); 0: never on a schedule.",
		fr: "Fréquence de relecture et de vérification de tous les fragments (1m à 10000h) ; 0 : jamais automatiquement."},
	"heal.bandwidth": {def: "0", validate: validBandwidth, group: "storage", kind: "text",
		en: "The bytes per second heal and scrub may read, such as 50MB/s; 0: unlimited.",
		fr: "Les octets par seconde que la réparation et la vérification peuvent lire, par exemple 50MB/s ; 0 : sans limite."},
	// storage.layout: the erasure-coding layout of new files, "auto" or K+M (placement.go);
	// settings set also refuses one the cluster cannot spread to survive its failure domain.
	layoutSetting: {def: "auto", validate: validLayout, group: "storage", kind: "text",
		en: "The erasure-coding layout of new files: auto, or K+M data and parity shards such as 3+3.",
		fr: "La répartition des nouveaux fichiers : auto, ou K+M fragments de données et de parité, par exemple 3+3."},
	// Scheduled backups (backupschedule.go): how often the leader writes one ("0" or "": never),
	// into which directory (on every node), how many of them it keeps there, encrypted to
	// which age public key.
	"backup.interval": {def: "0", validate: validBackupInterval, group: "backup", kind: "duration",
		en: "How often the leader writes a backup into backup.dir (1m to 10000h); 0: never.",
		fr: "Fréquence à laquelle le leader écrit une sauvegarde dans backup.dir (1m à 10000h) ; 0 : jamais."},
	"backup.dir": {validate: validBackupDir, group: "backup", kind: "path",
		en: "The directory, on every node, scheduled backups are written to.",
		fr: "Le répertoire, sur chaque nœud, où s'écrivent les sauvegardes planifiées."},
	"backup.keep": {def: "7", validate: intRange(1, 10000), group: "backup", kind: "int",
		en: "How many scheduled backups each node keeps in backup.dir.",
		fr: "Combien de sauvegardes planifiées chaque nœud garde dans backup.dir."},
	"backup.recipient": {validate: optional(validAgeRecipient), group: "backup", kind: "text",
		en: "The age public key (age1…) backups are encrypted to: whoever restores holds its private key.",
		fr: "La clé publique age (age1…) pour laquelle les sauvegardes sont chiffrées : qui restaure détient la clé privée."},
}

// describe fills what the console shows of a setting: its default, whether it is secret,
// its group, kind, choices and descriptions.
func (spec settingSpec) describe(s *adminapi.Setting) {
	s.Default, s.Secret, s.Group, s.Kind = spec.def, spec.secret, spec.group, spec.kind
	s.Choices = spec.choices
	s.Description, s.DescriptionFR = spec.en, spec.fr
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
