package clientaddr

import "testing"

// TestKey guards issue 16 item 4: failures from one host count together, whichever address
// of its /64 or of its IPv4-mapped form it uses.
func TestKey(t *testing.T) {
	for _, tc := range []struct{ name, ip, want string }{
		{"IPv4", "192.0.2.7", "192.0.2.7"},
		{"IPv4-mapped IPv6", "::ffff:192.0.2.7", "192.0.2.7"},
		{"IPv6 host in its /64", "2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::"},
		{"IPv6 with a zone", "fe80::1%eth0", "fe80::"},
		{"not an address", "example.org", "unknown"},
		{"empty", "", "unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Key(tc.ip); got != tc.want {
				t.Errorf("Key(%q) = %q, want %q", tc.ip, got, tc.want)
			}
		})
	}
}
