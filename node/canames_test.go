package node

import (
	"bytes"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"valise/keyring"
)

// TestNodeNeverAsksCAForForeignNames guards issue 16 item 8: a node whose host name, public
// address or public_url lies outside the cluster CA's name constraints must leave those names
// out of what it asks the CA to sign, and say so in its log with the way to permit them.
func TestNodeNeverAsksCAForForeignNames(t *testing.T) {
	nc, err := InitConstraints(nil, []string{"198.51.100.0/24"}, "files.example.org:8444")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := keyring.CreateConstrained(filepath.Join(t.TempDir(), "keys"), nc)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	n := &instance{keys: keys, logger: slog.New(slog.NewTextHandler(&log, nil))}

	hosts, ips := n.permitted("cluster port", []string{"files.example.org", "build-host", "localhost"},
		[]net.IP{net.ParseIP("10.0.0.4"), net.ParseIP("8.8.8.8"), net.ParseIP("198.51.100.9")})
	if !slices.Equal(hosts, []string{"files.example.org", "localhost"}) || len(ips) != 2 {
		t.Fatalf("permitted = %q %v", hosts, ips)
	}
	if _, err := keys.IssueNodeCert("n-1", hosts, ips, 0); err != nil {
		t.Fatalf("issue with the permitted names: %v", err)
	}
	names := n.permittedNames("https", []string{"www.example.com", "example.org", "127.0.0.1", "2001:db8::1"})
	if !slices.Equal(names, []string{"example.org", "127.0.0.1"}) {
		t.Fatalf("permittedNames = %q", names)
	}
	out := log.String()
	for _, want := range []string{"build-host", "8.8.8.8", "www.example.com", "2001:db8::1", "appliance ca renew", "example.org"} {
		if !strings.Contains(out, want) {
			t.Errorf("log does not mention %q:\n%s", want, out)
		}
	}
}

// TestInitConstraints: init's --domain and --permit-ip, and the domain taken from
// --advertise when no --domain is given (issue 16 item 8).
func TestInitConstraints(t *testing.T) {
	for _, tc := range []struct {
		name      string
		domains   []string
		ips       []string
		advertise string
		want      []string
		wantErr   bool
	}{
		{"advertise name", nil, nil, "files.example.org:8444", []string{"example.org"}, false},
		{"advertise two labels", nil, nil, "example.org", []string{"example.org"}, false},
		{"advertise IP", nil, nil, "192.168.1.4:8444", nil, false},
		{"advertise localhost", nil, nil, "localhost", nil, false},
		{"domains win", []string{"Acme.FR", "acme.com."}, nil, "files.example.org", []string{"acme.fr", "acme.com"}, false},
		{"bad domain", []string{"*.acme.fr"}, nil, "", nil, true},
		{"IP as domain", []string{"10.0.0.1"}, nil, "", nil, true},
		{"bad range", nil, []string{"300.1.1.1/8"}, "", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := InitConstraints(tc.domains, tc.ips, tc.advertise)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("accepted: %+v", nc)
				}
				return
			}
			if err != nil || !slices.Equal(nc.Domains, tc.want) {
				t.Fatalf("InitConstraints = %q, %v; want %q", nc.Domains, err, tc.want)
			}
		})
	}
}
