package httpd

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"

	"github.com/valyala/fasthttp"
)

// trustedProxies holds the networks whose X-Forwarded-For is believed (the trusted_proxies
// setting). Every other peer is the client itself, whatever its headers say.
type trustedProxies struct {
	nets atomic.Pointer[[]netip.Prefix] // nil or empty: trust nobody
}

// ParseTrustedProxies parses the trusted_proxies setting: CIDRs or single addresses,
// separated by commas or spaces ("10.0.0.0/8, 192.0.2.7"); "" trusts nobody.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("trusted proxy %q is neither a CIDR nor an IP address", f)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// SetTrustedProxies sets the networks whose X-Forwarded-For the server believes, from the
// next request on; nil trusts nobody. Safe to call while serving.
func (s *Server) SetTrustedProxies(nets []netip.Prefix) {
	cp := append([]netip.Prefix(nil), nets...)
	s.proxies.nets.Store(&cp)
}

// trusts reports whether a is one of the trusted proxies.
func trusts(nets []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr returns the address of the client a request comes from. The peer is the client
// unless it is a trusted proxy; then the X-Forwarded-For list (each proxy appends the address
// it got the request from) is read from its end: the first address that is not a trusted
// proxy is the client. An entry that is not an address stops the walk at the last proxy
// believed: what came before it is whatever the client wrote.
func clientAddr(peer netip.Addr, xff []string, nets []netip.Prefix) netip.Addr {
	client := peer.Unmap()
	if len(nets) == 0 || !trusts(nets, client) {
		return client
	}
	var hops []string
	for _, h := range xff {
		hops = append(hops, strings.Split(h, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return client
		}
		client = a.Unmap().WithZone("")
		if !trusts(nets, client) {
			return client
		}
	}
	return client
}

// resolveClient puts in ctx's remote address the client that trusted proxies vouch for, so
// that every mount's RemoteIP (rate limits, lockout, download records) sees the client
// rather than the load balancer. Without trusted proxies it changes nothing.
func (s *Server) resolveClient(ctx *fasthttp.RequestCtx) {
	// fasthttp keeps one RequestCtx for all the requests of a connection, and the address
	// set for the previous one with it: start from the connection's peer every time.
	ctx.SetRemoteAddr(nil)
	p := s.proxies.nets.Load()
	if p == nil || len(*p) == 0 {
		return
	}
	peer, ok := netip.AddrFromSlice(ctx.RemoteIP())
	if !ok {
		return
	}
	var xff []string
	for _, v := range ctx.Request.Header.PeekAll("X-Forwarded-For") {
		xff = append(xff, string(bytes.TrimSpace(v)))
	}
	client := clientAddr(peer, xff, *p)
	if client != peer.Unmap() {
		ctx.SetRemoteAddr(&net.TCPAddr{IP: client.AsSlice()})
	}
}
