package adminapi

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ErrCertRefused is returned by a client over mutual TLS (NewTLSClient) when the node refuses
// its admin certificate in the handshake or at a request: revoked, unknown, or not issued by
// the cluster's CA.
var ErrCertRefused = errors.New(MsgCertRefused)

// nodeURIScheme is the scheme of the URI SAN that names a node in its certificate (keyring's
// NodeURIScheme): a client over mutual TLS accepts only a node of the cluster as its server.
const nodeURIScheme = "valise-node"

// connectTimeout bounds a connection to the admin port and its handshake: a workstation may
// be given an address nothing answers at (a firewall dropping packets).
const connectTimeout = 10 * time.Second

// NewTLSClient returns a client of a node's admin port (serve --admin-listen) at baseURL,
// "https://host:port", presenting the admin certificate of certDir (CertFile and KeyFile, as
// `appliance admin cert --out` wrote them) and trusting only the cluster CA of its CAFile. The
// node is authenticated as a node of that cluster (its certificate names a node), not by host
// name, as nodes authenticate each other: a workstation may reach it at any address. It does
// not connect until the first call.
func NewTLSClient(baseURL, certDir string) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("admin URL %q: want https://HOST:PORT", baseURL)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(certDir, CertFile), filepath.Join(certDir, KeyFile))
	if err != nil {
		return nil, fmt.Errorf("load the admin certificate of %s (made by `appliance admin cert --out %s`): %w", certDir, certDir, err)
	}
	caPEM, err := os.ReadFile(filepath.Join(certDir, CAFile))
	if err != nil {
		return nil, fmt.Errorf("load the cluster CA: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("%s holds no certificate", filepath.Join(certDir, CAFile))
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		// The chain is verified below, against the cluster CA, with the node's identity in
		// place of the host name (which the node's certificate need not carry).
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyNode(roots, cs.PeerCertificates)
		},
	}
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: connectTimeout}).DialContext,
		TLSClientConfig:     cfg,
		TLSHandshakeTimeout: connectTimeout,
		DisableCompression:  true,
		MaxIdleConns:        2,
	}
	return &Client{base: "https://" + u.Host, hc: &http.Client{Transport: tr}}, nil
}

// verifyNode checks that certs is a node certificate of the cluster whose CA roots hold.
func verifyNode(roots *x509.CertPool, certs []*x509.Certificate) error {
	if len(certs) == 0 {
		return errors.New("the admin port presented no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return fmt.Errorf("the admin port's certificate is not from this cluster's CA (ca.pem): %w", err)
	}
	for _, u := range certs[0].URIs {
		if strings.EqualFold(u.Scheme, nodeURIScheme) {
			return nil
		}
	}
	return errors.New("the admin port's certificate names no node of the cluster")
}

// tlsError says what a failed call over mutual TLS means: nothing listening (ErrNotRunning),
// the certificate refused (ErrCertRefused), the connection lost.
func (c *Client) tlsError(method, path string, err error) error {
	var oe *net.OpError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w: nothing answers at %s (is the node serving with --admin-listen?)", ErrNotRunning, c.base)
	case errors.As(err, &oe) && oe.Op == "remote error":
		return ErrCertRefused // the node sent a TLS alert: our certificate
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET):
		return fmt.Errorf("the node closed the connection before answering %s %s: it stopped, or refused this admin certificate", method, path)
	}
	return fmt.Errorf("call the node at %s: %w", c.base, err)
}

// Is makes a refusal of the caller's admin certificate at a request (the node answers
// CodeForbidden, MsgCertRefused) match ErrCertRefused, as a refusal in the handshake does.
func (e *Error) Is(target error) bool {
	return target == ErrCertRefused && e.Code == CodeForbidden && e.Message == MsgCertRefused
}
