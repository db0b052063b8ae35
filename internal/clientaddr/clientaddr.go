// Package clientaddr names the client address that guessing limits count failures under.
package clientaddr

import "net/netip"

// Key maps a client address to the key its failures are counted under: the IPv4 address, or
// the IPv6 /64 (one host commonly holds a whole /64); "unknown" when ip is not an address.
func Key(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "unknown"
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64) // cannot fail for a valid IPv6 address
		return p.Addr().String()
	}
	return a.String()
}
