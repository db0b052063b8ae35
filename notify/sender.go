package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"sort"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"

	"valise/internal/logkey"
	"valise/raftfsm"
)

// Key prefixes of the records notify keeps in the metadata.
const (
	// QueuePrefix + ID holds a Record of a message waiting for, or done with, the relay.
	QueuePrefix = "notify/queue/"
	// OutboxPrefix + ID holds a Message kept because no relay is configured.
	OutboxPrefix = "notify/outbox/"
)

// Journal actions of this package.
const (
	ActionQueued  = "mail.queued"  // a message entered the queue or the outbox
	ActionAttempt = "mail.attempt" // a delivery attempt was claimed (one node delivers)
	ActionSent    = "mail.sent"    // the relay accepted the message
	ActionFailed  = "mail.failed"  // an attempt failed; details say whether it was the last
	ActionPurged  = "mail.purged"  // old sent and failed records were deleted from the queue
)

// Store is the part of raftfsm.Store that notify uses; *raftfsm.Store implements it.
type Store interface {
	// Propose commits b through Raft on the leader; ErrConflict when a Cond failed,
	// ErrNotLeader on a follower.
	Propose(ctx context.Context, b raftfsm.Batch) (raftfsm.Result, error)
	// Get returns key's item from the local state, or raftfsm.ErrNotFound.
	Get(key []byte) (raftfsm.Item, error)
	// Scan calls fn for each item under prefix in key order; fn must not write.
	Scan(prefix []byte, fn func(raftfsm.Item) error) error
}

var _ Store = (*raftfsm.Store)(nil)

// State is where a queued message stands.
type State string

const (
	// StatePending: waiting for its next attempt.
	StatePending State = "pending"
	// StateSent: the relay accepted it; its bodies were dropped from the record.
	StateSent State = "sent"
	// StateFailed: every attempt failed; an operator may look at LastError.
	StateFailed State = "failed"
)

// Record is a queued message with its delivery state, stored as JSON at QueuePrefix+ID.
type Record struct {
	Message     Message   `json:"message"`
	State       State     `json:"state"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt"`
	LastError   string    `json:"last_error,omitempty"`
	Updated     time.Time `json:"updated"`
}

// TLSPolicy says how the relay connection is protected.
type TLSPolicy string

const (
	// TLSMandatory requires STARTTLS: no mail leaves in clear text. The default.
	TLSMandatory TLSPolicy = "mandatory"
	// TLSOpportunistic uses STARTTLS when the relay offers it, clear text otherwise.
	TLSOpportunistic TLSPolicy = "opportunistic"
	// TLSImplicit connects with TLS from the first byte (port 465).
	TLSImplicit TLSPolicy = "implicit"
)

// AuthMethod is the SMTP authentication mechanism.
type AuthMethod string

const (
	// AuthNone sends without authenticating.
	AuthNone AuthMethod = ""
	// AuthPlain is SASL PLAIN (only over TLS).
	AuthPlain AuthMethod = "plain"
	// AuthLogin is LOGIN (only over TLS).
	AuthLogin AuthMethod = "login"
)

// Relay is the organisation's SMTP relay.
type Relay struct {
	// Host is the relay's name or IP; the TLS certificate must match it.
	Host string `toml:"host"`
	// Port defaults to 587 (465 with TLSImplicit).
	Port int `toml:"port"`
	// TLS defaults to TLSMandatory.
	TLS TLSPolicy `toml:"tls"`
	// Auth, Username and Password authenticate to the relay.
	Auth     AuthMethod `toml:"auth"`
	Username string     `toml:"username"`
	Password string     `toml:"password"`
	// HELO is the name announced; default the local host name (go-mail's default).
	HELO string `toml:"helo"`
	// Timeout bounds the dial and each SMTP command. Default 30 s.
	Timeout time.Duration `toml:"timeout"`
	// RootCAs verifies the relay's certificate; nil means the system roots.
	RootCAs *x509.CertPool `toml:"-"`
	// InsecureSkipVerifyForTestsOnly accepts any relay certificate. Tests only: it is not
	// read from any configuration file, and it disables the protection TLS exists for.
	InsecureSkipVerifyForTestsOnly bool `toml:"-"`
}

func (r *Relay) validate() error {
	switch {
	case r.Host == "":
		return errors.New("smtp relay: host is empty")
	case r.Port < 0 || r.Port > 65535:
		return fmt.Errorf("smtp relay: port %d out of range", r.Port)
	}
	switch r.TLS {
	case "", TLSMandatory, TLSOpportunistic, TLSImplicit:
	default:
		return fmt.Errorf("smtp relay: tls %q is not mandatory, opportunistic or implicit", r.TLS)
	}
	switch r.Auth {
	case AuthNone, AuthPlain, AuthLogin:
	default:
		return fmt.Errorf("smtp relay: auth %q is not plain or login", r.Auth)
	}
	if r.Auth != AuthNone && r.TLS == TLSOpportunistic {
		// go-mail refuses PLAIN and LOGIN without TLS anyway; say it up front.
		return errors.New("smtp relay: authentication needs tls mandatory or implicit")
	}
	return nil
}

// Config configures a Sender.
type Config struct {
	// From is the system address every message comes from ("valise@example.org"); the
	// display name is the message's FromName. Required.
	From string `toml:"from"`
	// Relay is the SMTP relay; nil keeps every message in the outbox.
	Relay *Relay `toml:"relay"`
	// RetryMin and RetryMax bound the back-off between attempts: it doubles from RetryMin.
	// Defaults 30 s and 1 h.
	RetryMin time.Duration `toml:"retry_min"`
	RetryMax time.Duration `toml:"retry_max"`
	// MaxAttempts is how many attempts a message gets before it is marked failed. Default 20.
	MaxAttempts int `toml:"max_attempts"`
	// PollInterval is how often the queue is looked at without a new message (a node that
	// became leader picks up the queue then). Default 10 s.
	PollInterval time.Duration `toml:"poll_interval"`
	// SendTimeout bounds one delivery. Default 2 min.
	SendTimeout time.Duration `toml:"send_timeout"`
	// KeepDone is how long sent and failed records stay in the queue (for the console)
	// before the loop deletes them, so the queue does not grow forever. Default 7 days.
	KeepDone time.Duration `toml:"keep_done"`
}

// DefaultConfig returns the defaults; From is left empty and Relay nil (outbox).
func DefaultConfig() Config {
	return Config{
		RetryMin:     30 * time.Second,
		RetryMax:     time.Hour,
		MaxAttempts:  20,
		PollInterval: 10 * time.Second,
		SendTimeout:  2 * time.Minute,
		KeepDone:     7 * 24 * time.Hour,
	}
}

// Validate checks c and fills zero fields with defaults.
func (c *Config) Validate() error {
	d := DefaultConfig()
	if a, err := mail.ParseAddress(c.From); err != nil || a.Address != c.From {
		return fmt.Errorf("notify config: from %q is not a plain e-mail address", c.From)
	}
	if c.RetryMin == 0 {
		c.RetryMin = d.RetryMin
	}
	if c.RetryMax == 0 {
		c.RetryMax = d.RetryMax
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = d.MaxAttempts
	}
	if c.PollInterval == 0 {
		c.PollInterval = d.PollInterval
	}
	if c.SendTimeout == 0 {
		c.SendTimeout = d.SendTimeout
	}
	if c.KeepDone == 0 {
		c.KeepDone = d.KeepDone
	}
	if c.RetryMin < 0 || c.RetryMax < c.RetryMin || c.MaxAttempts < 1 || c.PollInterval < 0 || c.SendTimeout < 0 || c.KeepDone < 0 {
		return errors.New("notify config: negative or inconsistent retry settings")
	}
	if c.Relay != nil {
		return c.Relay.validate()
	}
	return nil
}

// Sender is the durable mail queue and the loop that delivers it. Enqueue records a message
// in the metadata (the queue when a relay is configured, the outbox otherwise); the loop,
// started by Start and stopped by Stop, delivers due messages with retries and back-off. In a
// cluster every node may run a Sender: an attempt is claimed with a versioned batch first, so
// only the leader delivers, and a message is delivered at least once.
type Sender struct {
	cfg    Config
	store  Store
	logger *slog.Logger
	now    func() time.Time

	kick chan struct{} // capacity 1: wakes the loop

	mu sync.Mutex // guards relay, cancel, done, stopped
	// relay is the current relay, nil for the outbox.
	relay   *Relay
	cancel  context.CancelFunc // cancels the loop; nil before Start
	done    chan struct{}      // closed when the loop returned; nil before Start
	stopped bool
}

// New returns a Sender over store. It does nothing until Start, but Enqueue and Outbox work.
func New(cfg Config, store Store, logger *slog.Logger) (*Sender, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Sender{
		cfg:    cfg,
		store:  store,
		logger: logger.With("component", "notify"),
		now:    time.Now,
		kick:   make(chan struct{}, 1),
		relay:  cfg.Relay,
	}, nil
}

// SetRelay changes the relay (the cluster setting changed); nil sends new messages to the
// outbox. Messages already queued wait for a relay.
func (s *Sender) SetRelay(r *Relay) error {
	if r != nil {
		if err := r.validate(); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.relay = r
	s.mu.Unlock()
	s.wake()
	return nil
}

func (s *Sender) currentRelay() *Relay {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.relay
}

func (s *Sender) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// auditDetails is the journal detail of a mail action: identifiers and counts, never the
// bodies or link tokens, nor the recipients' addresses (the relay's error text of a failed
// attempt may name one).
type auditDetails struct {
	Kind       Kind   `json:"kind"`
	Ref        string `json:"ref,omitempty"`
	Recipients int    `json:"recipients"`
	Outbox     bool   `json:"outbox,omitempty"`
	Attempt    int    `json:"attempt,omitempty"`
	Final      bool   `json:"final,omitempty"`
	Error      string `json:"error,omitempty"`
}

func (s *Sender) audit(actor, action string, m Message, d auditDetails) raftfsm.Audit {
	d.Kind, d.Ref, d.Recipients = m.Kind, m.Ref, len(m.Recipients())
	details, _ := json.Marshal(d) // plain struct: never fails
	return raftfsm.Audit{Time: s.now().UTC(), Actor: actor, Action: action, Target: m.ID, Details: details}
}

// Enqueue checks msg's addresses, gives it an ID and a creation time, and records it durably
// with a "mail.queued" journal entry: in the queue when a relay is configured (the loop then
// delivers it), in the outbox otherwise. actor is who caused it (a user ID, "system"). It
// returns the message as stored. Errors: ErrBadAddress, ErrStopped, and the store's (such as
// raftfsm.ErrNotLeader).
func (s *Sender) Enqueue(ctx context.Context, msg Message, actor string) (Message, error) {
	s.mu.Lock()
	stopped := s.stopped
	s.mu.Unlock()
	if stopped {
		return Message{}, ErrStopped
	}
	if err := msg.validate(); err != nil {
		return Message{}, err
	}
	msg.ID = newID()
	msg.Created = s.now().UTC()
	msg.FromName = cleanHeader(msg.FromName)
	msg.Subject = cleanHeader(msg.Subject)
	outbox := s.currentRelay() == nil
	var key string
	var value []byte
	if outbox {
		key = OutboxPrefix + msg.ID
		value, _ = json.Marshal(msg)
	} else {
		key = QueuePrefix + msg.ID
		value, _ = json.Marshal(Record{Message: msg, State: StatePending, NextAttempt: msg.Created, Updated: msg.Created})
	}
	_, err := s.store.Propose(ctx, raftfsm.Batch{
		Conds: []raftfsm.Cond{{Kind: raftfsm.CondAbsent, Key: []byte(key)}},
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: []byte(key), Value: value}},
		Audit: s.audit(actor, ActionQueued, msg, auditDetails{Outbox: outbox}),
	})
	if err != nil {
		return Message{}, fmt.Errorf("enqueue mail %s: %w", msg.ID, err)
	}
	s.logger.Info("mail queued", "mail_id", msg.ID, "kind", msg.Kind, "outbox", outbox)
	s.wake()
	return msg, nil
}

// Outbox returns the messages kept because no relay was configured, oldest first, with their
// bodies (`appliance outbox` shows them; the links are in them).
func (s *Sender) Outbox(ctx context.Context) ([]Message, error) {
	var out []Message
	err := s.store.Scan([]byte(OutboxPrefix), func(it raftfsm.Item) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		var m Message
		if err := json.Unmarshal(it.Value, &m); err != nil {
			return fmt.Errorf("%w %q: %v", ErrBadRecord, it.Key, err)
		}
		out = append(out, m)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// Queue returns every queue record (pending, sent and failed), oldest first.
func (s *Sender) Queue(ctx context.Context) ([]Record, error) {
	items, err := s.queueItems(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Record, len(items))
	for i, it := range items {
		out[i] = it.rec
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Message.Created.Before(out[j].Message.Created) })
	return out, nil
}

type queueItem struct {
	key     []byte
	version uint64
	rec     Record
}

func (s *Sender) queueItems(ctx context.Context) ([]queueItem, error) {
	var out []queueItem
	err := s.store.Scan([]byte(QueuePrefix), func(it raftfsm.Item) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		var r Record
		if err := json.Unmarshal(it.Value, &r); err != nil {
			return fmt.Errorf("%w %q: %v", ErrBadRecord, it.Key, err)
		}
		out = append(out, queueItem{key: append([]byte(nil), it.Key...), version: it.Version, rec: r})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read mail queue: %w", err)
	}
	return out, nil
}

// Start runs the delivery loop in a goroutine that Stop ends. Calling it twice, or after
// Stop, does nothing.
func (s *Sender) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done != nil || s.stopped {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	go s.loop(ctx, s.done)
}

// Stop ends the loop, cancelling a delivery in progress (it is retried later, maybe by
// another node), and waits for it. Enqueue fails with ErrStopped afterwards.
func (s *Sender) Stop() {
	s.mu.Lock()
	s.stopped = true
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

func (s *Sender) loop(ctx context.Context, done chan struct{}) {
	defer close(done)
	for {
		wait := s.pass(ctx)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.kick:
			t.Stop()
		case <-t.C:
		}
	}
}

// pass delivers every due message once and returns how long to wait before the next pass.
func (s *Sender) pass(ctx context.Context) time.Duration {
	wait := s.cfg.PollInterval
	relay := s.currentRelay()
	if relay == nil {
		return wait
	}
	items, err := s.queueItems(ctx)
	if err != nil {
		s.logger.Warn("read mail queue", logkey.Err, err)
		return wait
	}
	s.purge(ctx, items)
	for _, it := range items {
		if ctx.Err() != nil {
			return wait
		}
		if it.rec.State != StatePending {
			continue
		}
		if d := it.rec.NextAttempt.Sub(s.now()); d > 0 {
			wait = min(wait, d)
			continue
		}
		s.attempt(ctx, relay, it)
		// A retry is due later; the next pass computes when.
		wait = min(wait, s.cfg.RetryMin)
	}
	return max(wait, time.Millisecond)
}

// maxPurge bounds the deletions of one purge batch.
const maxPurge = 1024

// purge deletes sent and failed records older than KeepDone, in one journalled batch.
func (s *Sender) purge(ctx context.Context, items []queueItem) {
	cutoff := s.now().Add(-s.cfg.KeepDone)
	var b raftfsm.Batch
	for _, it := range items {
		if it.rec.State != StatePending && it.rec.Updated.Before(cutoff) && len(b.Ops) < maxPurge {
			b.Conds = append(b.Conds, raftfsm.Cond{Kind: raftfsm.CondVersion, Key: it.key, Version: it.version})
			b.Ops = append(b.Ops, raftfsm.Op{Kind: raftfsm.OpDelete, Key: it.key})
		}
	}
	if len(b.Ops) == 0 {
		return
	}
	details, _ := json.Marshal(map[string]int{"records": len(b.Ops)})
	b.Audit = raftfsm.Audit{Time: s.now().UTC(), Actor: "system", Action: ActionPurged, Target: QueuePrefix, Details: details}
	if _, err := s.store.Propose(ctx, b); err != nil {
		if !errors.Is(err, raftfsm.ErrNotLeader) && !errors.Is(err, raftfsm.ErrConflict) {
			s.logger.Warn("purge mail queue", logkey.Err, err)
		}
		return
	}
	s.logger.Info("mail queue purged", "records", len(b.Ops))
}

// backoff is the wait after the n-th failed attempt.
func (s *Sender) backoff(n int) time.Duration {
	d := s.cfg.RetryMin
	for i := 1; i < n && d < s.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, s.cfg.RetryMax)
}

// attempt claims one delivery of it, delivers it, and records the outcome.
func (s *Sender) attempt(ctx context.Context, relay *Relay, it queueItem) {
	rec := it.rec
	m := rec.Message
	rec.Attempts++
	now := s.now().UTC()
	// The claim: until NextAttempt passes, no other node tries this message.
	rec.NextAttempt = now.Add(s.cfg.SendTimeout + s.backoff(rec.Attempts))
	rec.Updated = now
	claim, err := s.put(ctx, it.key, it.version, rec, s.audit("system", ActionAttempt, m, auditDetails{Attempt: rec.Attempts}))
	if err != nil {
		if !errors.Is(err, raftfsm.ErrNotLeader) && !errors.Is(err, raftfsm.ErrConflict) {
			s.logger.Warn("claim mail delivery", "mail_id", m.ID, logkey.Err, err)
		}
		return
	}
	sctx, cancel := context.WithTimeout(ctx, s.cfg.SendTimeout)
	sendErr := s.deliver(sctx, relay, m)
	cancel()
	if ctx.Err() != nil {
		return // stopping: the claim expires and the message is tried again
	}
	now = s.now().UTC()
	rec.Updated = now
	var action string
	var d auditDetails
	if sendErr == nil {
		rec.State, rec.LastError = StateSent, ""
		rec.Message.Text, rec.Message.HTML = "", "" // they hold the link token
		action = ActionSent
		d = auditDetails{Attempt: rec.Attempts}
		s.logger.Info("mail sent", "mail_id", m.ID, "attempt", rec.Attempts)
	} else {
		rec.LastError = truncate(sendErr.Error(), 500)
		final := rec.Attempts >= s.cfg.MaxAttempts
		if final {
			rec.State = StateFailed
		} else {
			rec.NextAttempt = now.Add(s.backoff(rec.Attempts))
		}
		action = ActionFailed
		d = auditDetails{Attempt: rec.Attempts, Final: final, Error: truncate(sendErr.Error(), 200)}
		s.logger.Warn("mail delivery failed", "mail_id", m.ID, "attempt", rec.Attempts, "final", final, logkey.Err, sendErr)
	}
	if _, err := s.put(ctx, it.key, claim.Index, rec, s.audit("system", action, m, d)); err != nil {
		s.logger.Warn("record mail delivery", "mail_id", m.ID, logkey.Err, err)
	}
}

func (s *Sender) put(ctx context.Context, key []byte, version uint64, rec Record, a raftfsm.Audit) (raftfsm.Result, error) {
	value, err := json.Marshal(rec)
	if err != nil {
		return raftfsm.Result{}, fmt.Errorf("encode mail record: %w", err)
	}
	return s.store.Propose(ctx, raftfsm.Batch{
		Conds: []raftfsm.Cond{{Kind: raftfsm.CondVersion, Key: key, Version: version}},
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: key, Value: value}},
		Audit: a,
	})
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// deliver sends m through relay with go-mail.
func (s *Sender) deliver(ctx context.Context, relay *Relay, m Message) error {
	msg, err := s.build(m)
	if err != nil {
		return err
	}
	opts := []gomail.Option{
		gomail.WithTimeout(orDefault(relay.Timeout, 30*time.Second)),
		gomail.WithTLSConfig(&tls.Config{
			ServerName:         relay.Host,
			RootCAs:            relay.RootCAs,
			MinVersion:         tls.VersionTLS12,
			InsecureSkipVerify: relay.InsecureSkipVerifyForTestsOnly, //nolint:gosec // tests only, see Relay
		}),
	}
	port := relay.Port
	switch relay.TLS {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
		if port == 0 {
			port = 465
		}
	case TLSOpportunistic:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if port == 0 {
		port = 587
	}
	opts = append(opts, gomail.WithPort(port))
	switch relay.Auth {
	case AuthPlain:
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthPlain))
	case AuthLogin:
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthLogin))
	}
	if relay.Auth != AuthNone {
		opts = append(opts, gomail.WithUsername(relay.Username), gomail.WithPassword(relay.Password))
	}
	if relay.HELO != "" {
		opts = append(opts, gomail.WithHELO(relay.HELO))
	}
	c, err := gomail.NewClient(relay.Host, opts...)
	if err != nil {
		return fmt.Errorf("smtp client for %s: %w", relay.Host, err)
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("deliver through %s:%d: %w", relay.Host, port, err)
	}
	return nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// build turns m into a go-mail message: From "<FromName>" <cfg.From>, the recipients, a
// subject free of control characters, a Message-ID from m.ID, and text and HTML alternatives.
func (s *Sender) build(m Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(&mail.Address{Name: cleanHeader(m.FromName), Address: s.cfg.From})
	set := func(f func(...string) error, addrs []string, what string) error {
		if len(addrs) == 0 {
			return nil
		}
		if err := f(addrs...); err != nil {
			return fmt.Errorf("mail %s %s: %w: %v", m.ID, what, ErrBadAddress, err)
		}
		return nil
	}
	if err := errors.Join(set(msg.To, m.To, "to"), set(msg.Cc, m.Cc, "cc"), set(msg.Bcc, m.Bcc, "bcc")); err != nil {
		return nil, err
	}
	if m.ReplyTo != "" {
		if err := msg.ReplyTo(m.ReplyTo); err != nil {
			return nil, fmt.Errorf("mail %s reply-to: %w: %v", m.ID, ErrBadAddress, err)
		}
	}
	msg.Subject(cleanHeader(m.Subject))
	domain := s.cfg.From[strings.LastIndexByte(s.cfg.From, '@')+1:]
	msg.SetMessageIDWithValue(m.ID + "@" + domain)
	msg.SetDateWithValue(m.Created)
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}
