package keyring

import (
	"crypto/x509"
	"fmt"
	"net"
	"strings"
)

// NameConstraints say which names a cluster CA may certify, as X.509 name constraints (RFC 5280
// section 4.2.1.10) in the CA certificate: a browser or Go client that trusts the CA refuses
// any certificate it signed for another name, so a user who installs the cluster CA does not
// hand it the power to impersonate the whole web (issue 16 item 8).
//
// The CA always permits "localhost" and PrivateRanges on top of what is listed here.
type NameConstraints struct {
	// Domains are the organisation's DNS domains; each permits itself and every name under it
	// ("example.org" permits "files.example.org"). Lower case, no wildcard, no IP literal.
	Domains []string
	// IPRanges are address ranges permitted besides PrivateRanges (a public address the node
	// is reached at).
	IPRanges []*net.IPNet
}

// privateCIDRs are the ranges every constrained CA permits: RFC 1918, loopback and IPv6
// unique local addresses.
var privateCIDRs = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "::1/128", "fc00::/7"}

// PrivateRanges returns the address ranges every constrained CA permits: 10/8, 172.16/12,
// 192.168/16, 127/8, ::1/128 and fc00::/7. The caller gets its own copies.
func PrivateRanges() []*net.IPNet {
	out := make([]*net.IPNet, 0, len(privateCIDRs))
	for _, c := range privateCIDRs {
		_, n, err := net.ParseCIDR(c)
		if err != nil {
			panic(err) // a constant above is malformed
		}
		out = append(out, n)
	}
	return out
}

// ParseIPRange parses an address range for NameConstraints.IPRanges: a CIDR ("203.0.113.0/24")
// or a single address ("203.0.113.7", meaning /32 or /128).
func ParseIPRange(s string) (*net.IPNet, error) {
	s = strings.TrimSpace(s)
	if _, n, err := net.ParseCIDR(s); err == nil {
		return n, nil
	}
	ip := net.ParseIP(strings.Trim(s, "[]"))
	if ip == nil {
		return nil, fmt.Errorf("%w: %q is neither an address nor a CIDR range", ErrBadConstraints, s)
	}
	if v4 := ip.To4(); v4 != nil {
		return &net.IPNet{IP: v4, Mask: net.CIDRMask(32, 32)}, nil
	}
	return &net.IPNet{IP: ip, Mask: net.CIDRMask(128, 128)}, nil
}

// NormalizeDomain returns a domain for NameConstraints.Domains in lower case without a
// trailing dot, or an error wrapping ErrBadConstraints for something that is not a DNS name.
func NormalizeDomain(d string) (string, error) {
	d = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
	if d == "" || len(d) > 253 || net.ParseIP(d) != nil {
		return "", fmt.Errorf("%w: %q is not a DNS domain", ErrBadConstraints, d)
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", fmt.Errorf("%w: %q is not a DNS domain", ErrBadConstraints, d)
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", fmt.Errorf("%w: %q is not a DNS domain (letters, digits, '-' and '.' only)", ErrBadConstraints, d)
			}
		}
	}
	return d, nil
}

func (nc *NameConstraints) validate() error {
	for _, d := range nc.Domains {
		if _, err := NormalizeDomain(d); err != nil {
			return err
		}
	}
	for _, r := range nc.IPRanges {
		if r == nil || len(r.IP) != len(r.Mask) {
			return fmt.Errorf("%w: malformed address range %v", ErrBadConstraints, r)
		}
	}
	return nil
}

// apply sets the constraints on a CA certificate template: localhost and nc.Domains, the
// private ranges and nc.IPRanges, marked critical as RFC 5280 requires.
func (nc *NameConstraints) apply(tmpl *x509.Certificate) {
	dns := []string{"localhost"}
	for _, d := range nc.Domains {
		d, _ = NormalizeDomain(d)
		dns = append(dns, d)
	}
	tmpl.PermittedDNSDomains = dedupe(dns)
	ranges := PrivateRanges()
	seen := map[string]bool{}
	for _, r := range ranges {
		seen[r.String()] = true
	}
	for _, r := range nc.IPRanges {
		n := &net.IPNet{IP: r.IP.Mask(r.Mask), Mask: r.Mask}
		if v4 := n.IP.To4(); v4 != nil && len(n.Mask) == net.IPv4len {
			n.IP = v4
		}
		if !seen[n.String()] {
			seen[n.String()] = true
			ranges = append(ranges, n)
		}
	}
	tmpl.PermittedIPRanges = ranges
	tmpl.PermittedDNSDomainsCritical = true
}

// Constrained reports whether the signing CA carries name constraints (clusters made before
// issue 16 have a CA without, until `appliance ca renew`).
func (k *Keyring) Constrained() bool {
	c := k.auth().cert
	return len(c.PermittedDNSDomains) > 0 || len(c.PermittedIPRanges) > 0
}

// PermittedNames lists what the signing CA may certify, for operators: its permitted domains,
// then its address ranges in CIDR form; empty for a CA without name constraints.
func (k *Keyring) PermittedNames() []string { return permittedNames(k.auth().cert) }

func permittedNames(ca *x509.Certificate) []string {
	out := append([]string(nil), ca.PermittedDNSDomains...)
	for _, r := range ca.PermittedIPRanges {
		out = append(out, r.String())
	}
	if len(out) == 0 {
		return []string{"any name"}
	}
	return out
}

// Permits reports whether the signing CA may certify name, a DNS name or an IP address.
func (k *Keyring) Permits(name string) bool {
	hosts, ips := splitHosts([]string{name}, nil)
	return len(outside(k.auth().cert, hosts, ips)) == 0
}

// FilterPermitted returns the hosts and ips the signing CA may certify and, apart, the names
// it may not (which IssueNodeCert and IssueServerCert would refuse), so that the caller can
// leave them out and say so. IP literals among hosts are moved to ips.
func (k *Keyring) FilterPermitted(hosts []string, ips []net.IP) (okHosts []string, okIPs []net.IP, refused []string) {
	ca := k.auth().cert
	hosts, ips = splitHosts(hosts, ips)
	for _, h := range hosts {
		if len(outside(ca, []string{h}, nil)) == 0 {
			okHosts = append(okHosts, h)
		} else {
			refused = append(refused, h)
		}
	}
	for _, ip := range ips {
		if len(outside(ca, nil, []net.IP{ip})) == 0 {
			okIPs = append(okIPs, ip)
		} else {
			refused = append(refused, ip.String())
		}
	}
	return okHosts, okIPs, refused
}

// outside returns the names among hosts and ips that ca's permitted subtrees do not cover, as
// Go's and browsers' verification would judge them. A CA without constraints of a kind
// permits every name of that kind.
func outside(ca *x509.Certificate, hosts []string, ips []net.IP) []string {
	var out []string
	if len(ca.PermittedDNSDomains) > 0 {
		for _, h := range hosts {
			if !matchesAnyDomain(strings.ToLower(strings.TrimSuffix(h, ".")), ca.PermittedDNSDomains) {
				out = append(out, h)
			}
		}
	}
	if len(ca.PermittedIPRanges) > 0 {
		for _, ip := range ips {
			ok := false
			for _, r := range ca.PermittedIPRanges {
				if r.Contains(ip) {
					ok = true
					break
				}
			}
			if !ok {
				out = append(out, ip.String())
			}
		}
	}
	return out
}

// matchesAnyDomain matches name against DNS name constraints as RFC 5280 and Go's x509 do: a
// constraint "example.org" covers example.org and any name under it, ".example.org" only the
// names under it.
func matchesAnyDomain(name string, constraints []string) bool {
	for _, c := range constraints {
		c = strings.ToLower(c)
		if sub, ok := strings.CutPrefix(c, "."); ok {
			if strings.HasSuffix(name, "."+sub) {
				return true
			}
			continue
		}
		if name == c || strings.HasSuffix(name, "."+c) {
			return true
		}
	}
	return false
}
