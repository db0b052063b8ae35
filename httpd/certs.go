package httpd

import (
	"crypto/x509"
	"slices"
)

// ServedCert is a certificate the HTTPS listener serves.
type ServedCert struct {
	// Name is the server name certmagic holds it for; "" for the static Config.Certificate.
	Name string
	Leaf *x509.Certificate // never nil
}

// ServedCertificates returns the certificates the listener serves now: certmagic's, from its
// in-memory cache (one per managed name; a name without one yet is left out), then the static
// Config.Certificate if any. It reads memory only (no storage, no network), so status may call
// it at will.
func (s *Server) ServedCertificates() []ServedCert {
	var out []ServedCert
	certs, names := s.managed()
	seen := map[string]bool{}
	if certs != nil {
		for _, name := range names {
			for _, c := range certs.cache.AllMatchingCertificates(name) {
				if c.Leaf == nil || seen[c.Hash()] {
					continue
				}
				seen[c.Hash()] = true
				out = append(out, ServedCert{Name: name, Leaf: c.Leaf})
			}
		}
	}
	if leaf := s.staticLeaf(); leaf != nil {
		out = append(out, ServedCert{Leaf: leaf})
	}
	return out
}

// staticLeaf returns Config.Certificate's leaf, parsed if need be; nil when there is none.
func (s *Server) staticLeaf() *x509.Certificate {
	c := s.cfg.Certificate
	if c.Leaf != nil {
		return c.Leaf
	}
	if len(c.Certificate) == 0 {
		return nil
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return nil
	}
	return leaf
}

// managed returns certmagic's state and the names it manages; nil without Config.Managed,
// before Start or after Shutdown.
func (s *Server) managed() (*managedCerts, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.certs == nil {
		return nil, nil
	}
	return s.certs, slices.Clone(s.certs.names)
}
