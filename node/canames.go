package node

import (
	"net"
	"strings"
)

// permitted returns hosts and ips without the names the cluster CA's name constraints do not
// permit, so that the node never asks the CA to sign one (issue 16 item 8), and logs those it
// left out, with what the CA permits and how to change it. what says which certificate the
// names were for.
func (n *instance) permitted(what string, hosts []string, ips []net.IP) ([]string, []net.IP) {
	hosts, ips, refused := n.keys.FilterPermitted(hosts, ips)
	n.warnRefused(what, refused)
	return hosts, ips
}

// permittedNames is permitted for names that mix host names and IP addresses.
func (n *instance) permittedNames(what string, names []string) []string {
	var out, refused []string
	for _, name := range names {
		if n.keys.Permits(name) {
			out = append(out, name)
		} else {
			refused = append(refused, name)
		}
	}
	n.warnRefused(what, refused)
	return out
}

func (n *instance) warnRefused(what string, refused []string) {
	if len(refused) == 0 {
		return
	}
	n.logger.Warn("names outside the cluster CA's name constraints: no certificate names them; "+
		"to permit them, run `appliance ca renew --domain DOMAIN --permit-ip CIDR`",
		"certificate", what, "names", strings.Join(refused, ", "), "permitted", strings.Join(n.keys.PermittedNames(), ", "))
}
