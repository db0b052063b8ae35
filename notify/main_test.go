package notify

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"valise/internal/testlog"
	"valise/raftfsm"
	"valise/raftfsm/rafttest"
)

func testLogger(t *testing.T) *slog.Logger {
	return testlog.New(t, slog.LevelWarn)
}

// openStore opens a real one-node raftfsm store on an in-memory Raft transport.
func openStore(t *testing.T) *raftfsm.Store {
	t.Helper()
	return rafttest.NewStore(t)
}

// journal returns the store's journal entries.
func journal(t *testing.T, s *raftfsm.Store) []raftfsm.Entry {
	t.Helper()
	var out []raftfsm.Entry
	if err := s.Journal(1, func(e raftfsm.Entry) error { out = append(out, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// received is one mail the test SMTP server accepted.
type received struct {
	From string
	To   []string
	Data []byte
	Auth string // the user that authenticated
	TLS  bool
}

// smtpServer is a real SMTP server (go-smtp) with STARTTLS on a self-signed certificate and
// PLAIN authentication, on 127.0.0.1.
type smtpServer struct {
	srv   *smtp.Server
	ln    net.Listener
	done  chan struct{}
	mails chan received
	roots *x509.CertPool
	port  int
}

const (
	smtpUser = "valise"
	smtpPass = "s3cret-pass"
)

// selfSigned returns a certificate for 127.0.0.1 and localhost, and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test relay"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// startSMTP starts the test server on addr ("127.0.0.1:0" for any port).
func startSMTP(t *testing.T, addr string) *smtpServer {
	t.Helper()
	cert, pool := selfSigned(t)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{ln: ln, done: make(chan struct{}), mails: make(chan received, 16), roots: pool,
		port: ln.Addr().(*net.TCPAddr).Port}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{conn: c, mails: s.mails}, nil
	}))
	s.srv.Domain = "localhost"
	s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	s.srv.AllowInsecureAuth = false // AUTH only after STARTTLS
	s.srv.ReadTimeout = 10 * time.Second
	s.srv.WriteTimeout = 10 * time.Second
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	t.Cleanup(s.Close)
	return s
}

func (s *smtpServer) Close() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.srv.Close()
	<-s.done
}

func (s *smtpServer) relay() *Relay {
	return &Relay{Host: "127.0.0.1", Port: s.port, TLS: TLSMandatory, Auth: AuthPlain,
		Username: smtpUser, Password: smtpPass, RootCAs: s.roots, Timeout: 5 * time.Second}
}

// next waits for the next mail.
func (s *smtpServer) next(t *testing.T) received {
	t.Helper()
	select {
	case m := <-s.mails:
		return m
	case <-time.After(2 * time.Minute): // a hang guard only
		t.Fatal("no mail arrived")
	}
	return received{}
}

type session struct {
	conn  *smtp.Conn
	mails chan received
	mu    sync.Mutex // guards cur
	cur   received
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != smtpUser || password != smtpPass {
			return errors.New("invalid credentials")
		}
		s.mu.Lock()
		s.cur.Auth = username
		s.mu.Unlock()
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur.Auth == "" {
		return smtp.ErrAuthRequired
	}
	s.cur.From = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur.To = append(s.cur.To, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.mu.Lock()
	m := s.cur
	s.cur = received{Auth: s.cur.Auth}
	s.mu.Unlock()
	m.Data, m.TLS = b, isTLS
	s.mails <- m
	return nil
}

func (s *session) Reset() {
	s.mu.Lock()
	s.cur = received{Auth: s.cur.Auth}
	s.mu.Unlock()
}

func (s *session) Logout() error { return nil }
