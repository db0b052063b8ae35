package node

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"valise/account"
	"valise/adminapi"
	"valise/httpd"
	"valise/internal/logkey"
	"valise/notify"
	"valise/raftfsm"
	"valise/scan"
	"valise/transfer"
)

// officialClamDB is where Debian's clamav keeps the official signature database.
const officialClamDB = "/var/lib/clamav"

// scanStartWait bounds how long start waits for the private clamd's first answer; a clamd
// slower than that (a large official database) keeps starting in the background while the
// node serves, and uploads meanwhile are held until scanned.
const scanStartWait = 60 * time.Second

// settingsRefresh is how often a node rereads the cluster settings, so that a change made
// through another node takes effect here without a restart.
const settingsRefresh = 5 * time.Second

// scanner is the node's antivirus: its private clamd under a supervisor, or a configured one.
type scanner struct {
	client  *scan.Client // never nil once started
	daemon  *scan.Daemon // nil when clamd.address names a clamd
	address string       // "unix:/path" or "tcp:host:port"
	reason  string       // why the private clamd could not be set up, when daemon is nil and address empty
}

// startScanner sets up the scanner: the configured clamd.address, or a private clamd
// supervised under DIR/clamd. A scanner that cannot start leaves the node serving; status
// and the log say why.
func (n *instance) startScanner(ctx context.Context) {
	sc := &scanner{}
	n.scanner = sc
	addr := n.setting("clamd.address")
	if addr != "" {
		network, a := "tcp", strings.TrimPrefix(addr, "tcp:")
		if p, ok := strings.CutPrefix(addr, "unix:"); ok {
			network, a = "unix", p
		}
		sc.client = &scan.Client{Network: network, Addr: a}
		sc.address = network + ":" + a
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := sc.client.Ping(pctx); err != nil {
			n.logger.Warn("the configured clamd does not answer: uploads are held until scanned", "clamd", sc.address, logkey.Err, err)
		} else {
			n.logger.Info("scanner: configured clamd", "clamd", sc.address)
		}
		return
	}
	dcfg := scan.DefaultDaemonConfig()
	dcfg.Dir = filepath.Join(n.cfg.abs("."), "clamd")
	if hasOfficialClamDB(officialClamDB) {
		dcfg.DatabaseDir = officialClamDB
	}
	dcfg.DatabaseMirror = n.setting("clamd.database_mirror")
	d, err := scan.NewDaemon(dcfg, n.logger)
	if err != nil {
		sc.reason = err.Error()
		sc.client = &scan.Client{Network: "unix", Addr: filepath.Join(dcfg.Dir, "clamd.sock")}
		n.logger.Error("scanner: the private clamd cannot be set up; the node serves without a scanner and holds uploads", logkey.Err, err)
		return
	}
	sc.daemon = d
	sc.client = d.Client()
	n.onStop("scanner", func(context.Context) error { return d.Close() })
	wctx, cancel := context.WithTimeout(ctx, scanStartWait)
	defer cancel()
	if err := d.Start(wctx); err != nil {
		n.logger.Error("scanner: the private clamd did not start; the node serves and holds uploads until it does", logkey.Err, err, "reason", d.Status().Reason)
	}
	st := d.Status()
	sc.address = "unix:" + st.Socket
	if st.Running {
		n.logger.Info("scanner: private clamd running", "version", st.Version, "test_signatures_only", st.TestSignaturesOnly, "db_age", st.DBAge.String())
		if st.TestSignaturesOnly {
			n.logger.Warn("scanner: no official signature database: test signatures only, nothing real is detected; "+
				"clean verdicts say \"checked with test signatures only\"", "database", officialClamDB,
				"database_update", st.DatabaseUpdate, "how_to_fix", realSignaturesAdvice)
		}
	}
}

// realSignaturesAdvice says how to give an offline node real signatures; status and the log
// show it while the private clamd has test signatures only.
const realSignaturesAdvice = "install real signatures offline: set clamd.database_mirror to your organisation's " +
	"ClamAV mirror (appliance settings set clamd.database_mirror http://mirror.example.org/clamav) and restart, " +
	"or copy main.cvd, daily.cvd and bytecode.cvd into " + officialClamDB + " and restart"

// hasOfficialClamDB reports whether dir holds an official ClamAV database (.cvd or .cld).
func hasOfficialClamDB(dir string) bool {
	for _, pat := range []string{"*.cvd", "*.cld"} {
		if m, _ := filepath.Glob(filepath.Join(dir, pat)); len(m) > 0 {
			return true
		}
	}
	return false
}

// scannerInfo is the scanner's state for status.
func (n *instance) scannerInfo(ctx context.Context) adminapi.ScannerInfo {
	sc := n.scanner
	if sc == nil {
		return adminapi.ScannerInfo{Reason: "not started"}
	}
	out := adminapi.ScannerInfo{Address: sc.address, Private: sc.daemon != nil}
	if sc.daemon != nil {
		st := sc.daemon.Status()
		out.Running, out.Reason, out.Version = st.Running, st.Reason, st.Version
		out.TestSignaturesOnly, out.DBAgeSeconds = st.TestSignaturesOnly, int64(st.DBAge/time.Second)
		out.DatabaseUpdate = st.DatabaseUpdate
		if st.TestSignaturesOnly {
			out.Advice = realSignaturesAdvice
		}
		return out
	}
	if sc.reason != "" {
		out.Reason = sc.reason
		return out
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	v, err := sc.client.Version(pctx)
	if err != nil {
		out.Reason = "the configured clamd does not answer: " + err.Error()
		return out
	}
	out.Running, out.Version = true, v
	return out
}

// mailer is the node's mail sender. A change of the relay settings reaches the running
// notify.Sender through SetRelay; a change of the From address replaces the Sender (its queue
// lives in the metadata, so nothing is lost), which is why callers go through mailer.
type mailer struct {
	mu       sync.Mutex     // guards s, from, relayKey, lastErr
	s        *notify.Sender // never nil after startMail
	from     string
	relayKey string // what the relay settings were at the last SetRelay
	lastErr  string // the last unusable-settings error logged, so it is logged once
}

// Enqueue records msg in the queue (relay) or the outbox (no relay); see notify.Sender.
func (m *mailer) Enqueue(ctx context.Context, msg notify.Message, actor string) (notify.Message, error) {
	for range 3 {
		out, err := m.sender().Enqueue(ctx, msg, actor)
		if !errors.Is(err, notify.ErrStopped) {
			return out, err
		}
		// The Sender was just replaced by a From change: try its successor.
	}
	return notify.Message{}, notify.ErrStopped
}

// Outbox returns the messages kept without a relay.
func (m *mailer) Outbox(ctx context.Context) ([]notify.Message, error) { return m.sender().Outbox(ctx) }

// Queue returns the queue records.
func (m *mailer) Queue(ctx context.Context) ([]notify.Record, error) { return m.sender().Queue(ctx) }

func (m *mailer) sender() *notify.Sender {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.s
}

func (m *mailer) stop() {
	m.mu.Lock()
	s := m.s
	m.mu.Unlock()
	s.Stop()
}

// startMail starts the mail queue with the relay the settings name (none: the outbox).
func (n *instance) startMail() error {
	m := &mailer{}
	if err := n.applyMail(m); err != nil {
		return err
	}
	n.mail = m
	n.onStop("mail", func(context.Context) error { m.stop(); return nil })
	return nil
}

// applyMail brings m in line with the smtp.* settings: a new Sender when From changed (or on
// the first call), SetRelay when the relay changed.
func (n *instance) applyMail(m *mailer) error {
	from := n.mailFrom()
	relay, key, err := n.relayFromSettings()
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil && err.Error() != m.lastErr {
		// Keep the relay in use (none at start: the outbox) until the settings are fixed.
		n.logger.Error("smtp settings unusable: the relay in use is kept", logkey.Err, err)
	}
	m.lastErr = ""
	if err != nil {
		m.lastErr = err.Error()
	}
	if m.s == nil || m.from != from {
		cfg := notify.DefaultConfig()
		cfg.From = from
		cfg.Relay = relay
		s, err := notify.New(cfg, sealedStore{store: n.store, keys: n.keys}, n.logger)
		if err != nil {
			return fmt.Errorf("mail sender: %w", err)
		}
		s.Start()
		if m.s != nil {
			m.s.Stop()
			n.logger.Info("mail sender restarted with a new From address", "from", from)
		}
		m.s, m.from, m.relayKey = s, from, key
		return nil
	}
	if err == nil && key != m.relayKey {
		if err := m.s.SetRelay(relay); err != nil {
			n.logger.Error("smtp relay refused", logkey.Err, err)
			return nil
		}
		m.relayKey = key
		if relay == nil {
			n.logger.Info("no smtp relay: mails are kept in the outbox")
		} else {
			n.logger.Info("smtp relay set", "host", relay.Host, "port", relay.Port)
		}
	}
	return nil
}

// mailFrom is the system address mails come from: smtp.from, or valise@ the public host.
func (n *instance) mailFrom() string {
	if f := n.setting("smtp.from"); f != "" {
		return f
	}
	host := "localhost"
	if u, err := url.Parse(n.publicURL()); err == nil && u.Hostname() != "" && net.ParseIP(u.Hostname()) == nil {
		host = u.Hostname()
	}
	from := "valise@" + host
	if a, err := mail.ParseAddress(from); err != nil || a.Address != from {
		return "valise@localhost"
	}
	return from
}

// relayFromSettings builds the relay from the smtp.* settings; nil when smtp.host is empty.
// key sums up every input, so a change is seen (the CA file's content included).
func (n *instance) relayFromSettings() (*notify.Relay, string, error) {
	host := n.setting("smtp.host")
	var parts []string
	for _, k := range []string{"smtp.host", "smtp.port", "smtp.username", "smtp.password", "smtp.tls", "smtp.ca_file"} {
		parts = append(parts, n.setting(k))
	}
	if host == "" {
		return nil, "", nil
	}
	port, err := strconv.Atoi(n.setting("smtp.port"))
	if err != nil {
		return nil, "", fmt.Errorf("smtp.port: %w", err)
	}
	r := &notify.Relay{Host: host, Port: port, Username: n.setting("smtp.username"), Password: n.setting("smtp.password")}
	switch n.setting("smtp.tls") {
	case "tls":
		r.TLS = notify.TLSImplicit
	case "none":
		r.TLS = notify.TLSOpportunistic
	default:
		r.TLS = notify.TLSMandatory
	}
	if r.Username != "" {
		r.Auth = notify.AuthPlain
	}
	if f := n.setting("smtp.ca_file"); f != "" {
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, "", fmt.Errorf("smtp.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, "", fmt.Errorf("smtp.ca_file %s holds no PEM certificate", f)
		}
		r.RootCAs = pool
		sum := sha256.Sum256(pem)
		parts = append(parts, hex.EncodeToString(sum[:]))
	}
	return r, strings.Join(parts, "\x00"), nil
}

// Link passwords are hashed by account's hasher: one Argon2id cost and one bound on
// concurrent hashes for logins and links together.
var _ transfer.PasswordHasher = (*account.PasswordHasher)(nil)

// startTransfers starts the transfer service with the policy from the settings, and its
// retention job.
func (n *instance) startTransfers() error {
	tcfg := transfer.DefaultConfig()
	tcfg.Policy = n.policy()
	svc, err := transfer.New(tcfg, transfer.Deps{
		Store:  n.store,
		Blobs:  transfer.NewStoreBlobs(n.blobs),
		Hasher: n.accounts.PasswordHasher(), // account's Argon2id, sharing its slots
		Quotas: n.accounts,                  // the users' own quotas (adminusers.go)
		Logger: n.logger,
	})
	if err != nil {
		return fmt.Errorf("transfer service: %w", err)
	}
	n.transfers = svc
	n.retention = transfer.NewJob(svc)
	n.retention.Start(n.bgCtx)
	n.onStop("retention job", func(context.Context) error { n.retention.Stop(); return nil })
	return nil
}

// policy maps the policy settings onto transfer.Policy (policyFrom), logging what it had to
// correct.
func (n *instance) policy() transfer.Policy {
	p, problem := policyFrom(n.setting)
	if problem != "" {
		n.logger.Warn("policy settings corrected", "problem", problem)
	}
	return p
}

// policyFrom maps the policy settings, read by setting, onto transfer.Policy. An
// inconsistent set (a default expiry beyond the maximum) keeps the safe value for what is
// wrong, and an unusable one the defaults; problem then says what was corrected.
func policyFrom(setting func(key string) string) (p transfer.Policy, problem string) {
	p = transfer.DefaultPolicy()
	num := func(k string) int64 {
		v, _ := strconv.ParseInt(setting(k), 10, 64)
		return v
	}
	day := 24 * time.Hour
	p.MaxFileSize = num("upload.max_size")
	p.QuotaBytes = num("quota.user_bytes")
	p.MaxSendBytes = num("quota.send_max_bytes")
	p.ReleaseUnscanned = setting("scan.policy") == "release"
	p.SkipLargeScan = setting("scan.large_files") == "not_scanned"
	p.HoldTestSignaturesOnly = setting("scan.test_signatures_only") == "hold"
	p.DefaultExpiry = time.Duration(num("retention.default_days")) * day
	p.MaxExpiry = time.Duration(num("retention.max_days")) * day
	p.UnsentRetention = time.Duration(num("retention.unsent_days")) * day
	if p.DefaultExpiry > p.MaxExpiry {
		problem = fmt.Sprintf("retention.default_days (%d) exceeds retention.max_days (%d): the maximum applies", num("retention.default_days"), num("retention.max_days"))
		p.DefaultExpiry = p.MaxExpiry
	}
	if err := p.Validate(); err != nil {
		return transfer.DefaultPolicy(), fmt.Sprintf("unusable, the defaults apply: %v", err)
	}
	return p, problem
}

// applySettings brings the running services in line with the cluster settings. It is called
// after a change through this node's admin socket, and every settingsRefresh for changes made
// elsewhere.
func (n *instance) applySettings() {
	n.settingsMu.Lock()
	defer n.settingsMu.Unlock()
	if n.transfers != nil {
		p := n.policy()
		if p != n.lastPolicy {
			if err := n.transfers.SetPolicy(p); err != nil {
				n.logger.Error("apply the policy settings", logkey.Err, err)
			} else {
				n.lastPolicy = p
			}
		}
	}
	if n.mail != nil {
		if err := n.applyMail(n.mail); err != nil {
			n.logger.Error("apply the smtp settings", logkey.Err, err)
		}
	}
	n.applyProxies()
	if n.apiURL != "" {
		if err := n.startAPI(); err != nil {
			n.logger.Error("apply public_url", logkey.Err, err)
		}
		if err := n.startWeb(); err != nil {
			n.logger.Error("apply public_url and branding to the web UI", logkey.Err, err)
		}
	}
}

// applyProxies gives the HTTPS server the trusted_proxies setting, once it exists. Called
// with settingsMu held, or before serving.
func (n *instance) applyProxies() {
	if n.https == nil {
		return
	}
	v := n.setting("trusted_proxies")
	if v == n.proxiesWith {
		return
	}
	nets, err := httpd.ParseTrustedProxies(v)
	if err != nil {
		// settings set checks the value; one stored under older rules trusts nobody.
		n.logger.Error("trusted_proxies not applied: no proxy is believed", logkey.Err, err)
		nets = nil
	}
	n.https.SetTrustedProxies(nets)
	n.proxiesWith = v
	n.logger.Info("trusted proxies set", "trusted_proxies", v)
}

// purgeAccountsEvery is how often the leader deletes expired sessions and stale lock records.
const purgeAccountsEvery = time.Hour

// purgeAccounts deletes, on the leader, the expired sessions and the lock records that no
// longer count (guessing leaves one per address tried), until the node stops.
func (n *instance) purgeAccounts() {
	n.onLeaderEvery(purgeAccountsEvery, func() {
		if c, err := n.accounts.PurgeSessions(n.bgCtx); err != nil {
			n.logger.Warn("purge expired sessions", logkey.Err, err, "deleted", c)
		}
		if c, err := n.accounts.PurgeLocks(n.bgCtx); err != nil {
			n.logger.Warn("purge stale lock records", logkey.Err, err, "deleted", c)
		}
	})
}

// onLeaderEvery runs job every d while this node is the Raft leader, until the node stops;
// it is the body of a background goroutine counted in n.bg.
func (n *instance) onLeaderEvery(d time.Duration, job func()) {
	defer n.bg.Done()
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-n.bgCtx.Done():
			return
		case <-t.C:
		}
		if n.store.Status().State.IsLeader() {
			job()
		}
	}
}

// watchSettings rereads the settings every settingsRefresh until the node stops.
func (n *instance) watchSettings() { n.every(settingsRefresh, n.applySettings) }

// every calls fn every d until the node stops, as one of the background jobs (n.bg: the
// caller has counted it).
func (n *instance) every(d time.Duration, fn func()) {
	defer n.bg.Done()
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-n.bgCtx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// setting returns a setting's value: a node-scope one from this node's configuration
// (localsettings.go), else from the local state, or its default.
func (n *instance) setting(key string) string {
	if v, ok := n.localSetting(key); ok {
		return v
	}
	it, err := n.store.Get([]byte(settingsPrefix + key))
	if err != nil {
		if !errors.Is(err, raftfsm.ErrNotFound) {
			n.logger.Warn("read a setting", "key", key, logkey.Err, err)
		}
		return knownSettings[key].def
	}
	v, err := openSetting(n.keys, key, it.Value)
	if err != nil {
		n.logger.Error("a secret setting does not open with the cluster key: set it again", "key", key, logkey.Err, err)
		return knownSettings[key].def
	}
	return v
}

// publicURL is the base of the links in mails: the public_url setting, or https://HOST:PORT
// from --advertise and the bound HTTPS address.
func (n *instance) publicURL() string {
	if u := n.setting("public_url"); u != "" {
		return strings.TrimRight(u, "/")
	}
	listen := n.cfg.Network.Listen
	if n.https != nil && n.https.Addr() != nil {
		listen = n.https.Addr().String()
	}
	if u := publicURL(listen, n.cfg.Network.Advertise); u != "" {
		return u
	}
	return "https://" + listen
}
