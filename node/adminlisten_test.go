package node

import (
	"strings"
	"testing"
)

// TestAdminListenAddr pins where the admin port listens (issue 20): the HTTPS host on 8445 by
// default, a free port when HTTPS takes one (so test nodes never contend for 8445), none when
// off, and a bad address refused by Validate.
func TestAdminListenAddr(t *testing.T) {
	for _, tc := range []struct {
		name, listen, admin, want, wantErr string
	}{
		{"default", ":8443", "", ":8445", ""},
		{"HTTPS host", "127.0.0.1:8443", "", "127.0.0.1:8445", ""},
		{"free port follows HTTPS", "127.0.0.1:0", "", "127.0.0.1:0", ""},
		{"IPv6 host", "[::1]:8443", "", "[::1]:8445", ""},
		{"explicit", ":8443", "10.0.0.5:9445", "10.0.0.5:9445", ""},
		{"off", ":8443", AdminListenOff, "", ""},
		{"bad", ":8443", "nowhere", "nowhere", "network.admin_listen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.DataDir, cfg.Node.ID, cfg.Storage.Disks = t.TempDir(), "n1", []string{"d1"}
			cfg.Network.Listen, cfg.Network.AdminListen = tc.listen, tc.admin
			if got := cfg.AdminListenAddr(); got != tc.want {
				t.Fatalf("AdminListenAddr = %q, want %q", got, tc.want)
			}
			err := cfg.Validate()
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}
