package tustest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// BufferSize is the servers' and clients' read and write buffer size (docs/performance.md).
const BufferSize = 256 << 10

// Server is a fasthttp server over TLS on 127.0.0.1:0, set up as httpd sets up its own:
// StreamRequestBody, 256 KiB buffers, HTTP/1.1.
type Server struct {
	// URL is https://127.0.0.1:port, without a trailing slash.
	URL string
	// Client trusts the server's throw-away certificate; it speaks HTTP/1.1 with 256 KiB
	// buffers.
	Client *http.Client
	// ClientTLS is a TLS client configuration trusting the server, for raw connections.
	ClientTLS *tls.Config
}

// StartTLS serves h until the test ends; readTimeout is the server's ReadTimeout.
func StartTLS(tb testing.TB, h fasthttp.RequestHandler, readTimeout time.Duration) *Server {
	tb.Helper()
	cert, pool := selfSigned(tb)
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ln := tls.NewListener(tcp, &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"http/1.1"},
	})
	srv := &fasthttp.Server{
		Handler:           h,
		StreamRequestBody: true,
		ReadBufferSize:    BufferSize,
		WriteBufferSize:   BufferSize,
		ReadTimeout:       readTimeout,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       30 * time.Second,
		CloseOnShutdown:   true,
		Logger:            testLogger{tb},
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	clientTLS := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	tr := &http.Transport{
		TLSClientConfig:   clientTLS.Clone(),
		ForceAttemptHTTP2: false,
		WriteBufferSize:   BufferSize,
		ReadBufferSize:    BufferSize,
		MaxIdleConns:      16,
	}
	tb.Cleanup(func() {
		tr.CloseIdleConnections()
		if err := srv.Shutdown(); err != nil {
			tb.Errorf("shut down test server: %v", err)
		}
		if err := <-done; err != nil {
			tb.Errorf("serve: %v", err)
		}
	})
	return &Server{URL: "https://" + tcp.Addr().String(), Client: &http.Client{Transport: tr}, ClientTLS: clientTLS}
}

// selfSigned makes a throw-away ECDSA certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(tb testing.TB) (tls.Certificate, *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tustest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// testLogger routes fasthttp's messages to the test log.
type testLogger struct{ tb testing.TB }

func (l testLogger) Printf(format string, args ...any) { l.tb.Logf("fasthttp: "+format, args...) }
