package node

import (
	"net"
	"testing"
	"time"

	"valise/blobstore"
)

var testTime = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func TestAdvertiseAddr(t *testing.T) {
	for _, tc := range []struct {
		name, advertise, bound, want string
	}{
		{"bound IP", "", "127.0.0.1:8444", "127.0.0.1:8444"},
		{"advertise host, bound port", "10.0.0.5", "0.0.0.0:8444", "10.0.0.5:8444"},
		{"advertise host:port", "node1.example.org:9444", "0.0.0.0:8444", "node1.example.org:9444"},
		{"advertise port 0", "10.0.0.5:0", "127.0.0.1:34567", "10.0.0.5:34567"},
		{"named host", "", "node1.lan:8444", "node1.lan:8444"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := advertiseAddr(tc.advertise, tc.bound)
			if err != nil || got != tc.want {
				t.Fatalf("advertiseAddr(%q, %q) = %q, %v; want %q", tc.advertise, tc.bound, got, err, tc.want)
			}
		})
	}
	t.Run("unspecified", func(t *testing.T) {
		got, err := advertiseAddr("", "0.0.0.0:8444")
		if err != nil {
			t.Fatal(err)
		}
		host, port, _ := net.SplitHostPort(got)
		if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() || port != "8444" {
			t.Fatalf("advertiseAddr for 0.0.0.0 = %q, want a real address", got)
		}
	})
}

func TestPublicURL(t *testing.T) {
	for _, tc := range []struct {
		name, listen, advertise, want string
	}{
		{"loopback", "127.0.0.1:8443", "", "https://127.0.0.1:8443"},
		{"advertised", "0.0.0.0:8443", "files.example.org", "https://files.example.org:8443"},
		{"port 443", "10.0.0.5:443", "", "https://10.0.0.5"},
		{"ipv6", "[::1]:8443", "", "https://[::1]:8443"},
		{"port 0", "127.0.0.1:0", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := publicURL(tc.listen, tc.advertise); got != tc.want {
				t.Fatalf("publicURL(%q, %q) = %q, want %q", tc.listen, tc.advertise, got, tc.want)
			}
		})
	}
}

func TestCertNames(t *testing.T) {
	hosts, ips := certNames("127.0.0.1:8443", "files.example.org")
	if len(ips) != 1 || !ips[0].Equal(net.ParseIP("127.0.0.1")) || len(hosts) != 1 || hosts[0] != "files.example.org" {
		t.Fatalf("certNames = %v, %v", hosts, ips)
	}
}

// TestDefaultServerName: the certificate for clients without SNI names the advertised host,
// else the listen IP, else 127.0.0.1.
func TestDefaultServerName(t *testing.T) {
	for _, tc := range []struct {
		name, listen, advertise, want string
	}{
		{"advertised name", "0.0.0.0:8443", "Files.Example.org", "files.example.org"},
		{"advertised ip with port", "0.0.0.0:8443", "10.0.0.5:8444", "10.0.0.5"},
		{"advertised ipv6", ":8443", "[fd00::5]", "fd00::5"},
		{"listen ip", "10.0.0.7:8443", "", "10.0.0.7"},
		{"listen name is not an ip", "files.example.org:8443", "", "127.0.0.1"},
		{"unspecified", ":8443", "0.0.0.0", "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := defaultServerName(tc.listen, tc.advertise); got != tc.want {
				t.Fatalf("defaultServerName(%q, %q) = %q, want %q", tc.listen, tc.advertise, got, tc.want)
			}
		})
	}
}

// TestLiveStaged: status counts the staged uploads still being written, not the committed
// tails blobstore keeps until the file is recorded.
func TestLiveStaged(t *testing.T) {
	for _, tc := range []struct {
		name   string
		staged []blobstore.StagedUpload
		want   int
	}{
		{"none", nil, 0},
		{"live only", []blobstore.StagedUpload{{FileID: "a"}, {FileID: "b"}}, 2},
		{"committed tails skipped", []blobstore.StagedUpload{{FileID: "a"}, {FileID: "b", Committed: true}, {FileID: "c", Committed: true}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := liveStaged(tc.staged); got != tc.want {
				t.Fatalf("liveStaged = %d, want %d", got, tc.want)
			}
		})
	}
}
