package httpd

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestClientAddrTrustedProxies guards issue 16 item 4: behind a load balancer every client
// shared the balancer's address (one rate limit, one lockout address for all), and a client
// must not choose its own address by writing X-Forwarded-For. Only the trusted_proxies are
// believed, read from the end of the list.
func TestClientAddrTrustedProxies(t *testing.T) {
	nets, err := ParseTrustedProxies("10.0.0.0/8, 192.0.2.7 2001:db8::/32")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"no proxy, no header", "198.51.100.1", nil, "198.51.100.1"},
		{"untrusted peer's header ignored", "198.51.100.1", []string{"203.0.113.9"}, "198.51.100.1"},
		{"trusted peer, one hop", "10.1.2.3", []string{"203.0.113.9"}, "203.0.113.9"},
		{"trusted single address", "192.0.2.7", []string{"203.0.113.9"}, "203.0.113.9"},
		{"trusted peer without header", "10.1.2.3", nil, "10.1.2.3"},
		{"client-written prefix not believed", "10.1.2.3", []string{"1.1.1.1, 203.0.113.9"}, "203.0.113.9"},
		{"chain of trusted proxies", "10.1.2.3", []string{"203.0.113.9, 10.9.9.9"}, "203.0.113.9"},
		{"several headers", "10.1.2.3", []string{"1.1.1.1", "203.0.113.9, 10.9.9.9"}, "203.0.113.9"},
		{"garbage stops at the last proxy", "10.1.2.3", []string{"203.0.113.9, not-an-ip"}, "10.1.2.3"},
		{"all trusted: the farthest", "10.1.2.3", []string{"10.5.5.5"}, "10.5.5.5"},
		{"IPv6 proxy and client", "2001:db8::1", []string{"2001:db9::42"}, "2001:db9::42"},
		{"IPv4-mapped peer", "::ffff:10.1.2.3", []string{"203.0.113.9"}, "203.0.113.9"},
		{"outside the trusted /8", "11.0.0.1", []string{"203.0.113.9"}, "11.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := clientAddr(netip.MustParseAddr(tc.peer), tc.xff, nets)
			if got != netip.MustParseAddr(tc.want) {
				t.Fatalf("clientAddr = %s, want %s", got, tc.want)
			}
		})
	}
	if got := clientAddr(netip.MustParseAddr("10.1.2.3"), []string{"203.0.113.9"}, nil); got != netip.MustParseAddr("10.1.2.3") {
		t.Fatalf("without trusted proxies the header was believed: %s", got)
	}
	for _, bad := range []string{"10.0.0.0/33", "example.org", "fe80::1%eth0", "10.0.0.1-10.0.0.9"} {
		if _, err := ParseTrustedProxies(bad); err == nil {
			t.Errorf("ParseTrustedProxies(%q) accepted", bad)
		}
	}
}

// echoIP is a mount answering the client address it sees.
type echoIP struct{}

func (echoIP) Handle(ctx *fasthttp.RequestCtx) bool {
	ctx.SetBodyString(ctx.RemoteIP().String())
	return true
}

// TestServerBelievesOnlyTrustedProxies checks the server end to end: a mount sees the
// forwarded client only from a trusted proxy, and the next request on the same keep-alive
// connection starts again from the peer.
func TestServerBelievesOnlyTrustedProxies(t *testing.T) {
	s, pool := startTest(t, Deps{API: echoIP{}}, nil)
	client := func(src string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		return &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool}, DialContext: d.DialContext, MaxConnsPerHost: 1,
		}}
	}
	seen := func(c *http.Client, xff string) string {
		t.Helper()
		req, _ := http.NewRequest("GET", "https://"+s.Addr().String()+"/whoami", nil)
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	proxy, stranger := client("127.0.0.1"), client("127.0.0.2")
	if got := seen(proxy, "203.0.113.9"); got != "127.0.0.1" {
		t.Fatalf("no trusted proxies: a header made the client %s", got)
	}
	s.SetTrustedProxies([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")})
	if got := seen(proxy, "203.0.113.9"); got != "203.0.113.9" {
		t.Fatalf("trusted proxy: client %s, want 203.0.113.9", got)
	}
	if got := seen(proxy, ""); got != "127.0.0.1" {
		t.Fatalf("next request on the connection, no header: client %s, want the proxy itself", got)
	}
	if got := seen(stranger, "203.0.113.9"); got != "127.0.0.2" {
		t.Fatalf("untrusted peer's header believed: client %s", got)
	}
}
