package node

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// validConfig is DefaultConfig with what init fills in.
func validConfig(t *testing.T) Config {
	t.Helper()
	c := DefaultConfig()
	c.DataDir = t.TempDir()
	c.Node.ID = "n-0123456789ab"
	c.Storage.Disks = []string{"disks/d1", "disks/d2"}
	return c
}

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if c.Network.Listen != ":8443" || c.Network.ClusterListen != ":8444" {
		t.Fatalf("default addresses %q, %q; want :8443, :8444", c.Network.Listen, c.Network.ClusterListen)
	}
	if c.Blobstore.Layout != "auto" || c.Blobstore.BlockSize != 1<<20 {
		t.Fatalf("default blobstore %+v", c.Blobstore)
	}
	// Only what init fills in is missing from the defaults.
	if err := c.Validate(); err == nil {
		t.Fatal("the defaults validated without a data directory, node ID and disks")
	}
	if vc := validConfig(t); vc.Validate() != nil {
		err := vc.Validate()
		t.Fatalf("defaults plus init's fields: %v", err)
	}
	// Issue 18 (failover): LAN timeouts, stated in the file init writes.
	if r := c.Raft; r.HeartbeatTimeout != 200*time.Millisecond || r.ElectionTimeout != 200*time.Millisecond || r.LeaderLeaseTimeout != 100*time.Millisecond {
		t.Fatalf("default raft timeouts %+v, want 200ms/200ms/100ms", r)
	}
	vc := validConfig(t)
	b, err := vc.Encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`heartbeat_timeout = "200ms"`, `election_timeout = "200ms"`, `leader_lease_timeout = "100ms"`} {
		if !strings.Contains(string(b), want) {
			t.Fatalf("the config file does not state %s:\n%s", want, b)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mutate  func(*Config)
		wantErr string // "" means valid
	}{
		{"valid", func(*Config) {}, ""},
		{"no data dir", func(c *Config) { c.DataDir = "" }, "data directory"},
		{"no node id", func(c *Config) { c.Node.ID = "" }, "node.id"},
		{"bad node id", func(c *Config) { c.Node.ID = "a b" }, "node.id"},
		{"bad site", func(c *Config) { c.Node.Site = "paris/1" }, "node.site"},
		{"zero shutdown", func(c *Config) { c.Node.ShutdownTimeout = 0 }, "shutdown_timeout"},
		{"bad listen", func(c *Config) { c.Network.Listen = "8443" }, "network.listen"},
		{"bad port", func(c *Config) { c.Network.ClusterListen = ":99999" }, "network.cluster_listen"},
		{"port 0", func(c *Config) { c.Network.Listen = "127.0.0.1:0" }, ""},
		{"bad advertise", func(c *Config) { c.Network.Advertise = "a b" }, "network.advertise"},
		{"long socket", func(c *Config) { c.Network.AdminSocket = "/" + strings.Repeat("s", 120) }, "admin socket"},
		{"no disks", func(c *Config) { c.Storage.Disks = nil }, "storage.disks"},
		{"same disk twice", func(c *Config) { c.Storage.Disks = []string{"d", "./d"} }, "twice"},
		{"keys inside a disk", func(c *Config) { c.Storage.KeyDir = "disks/d1/keys" }, "key directory"},
		{"election below heartbeat", func(c *Config) { c.Raft.ElectionTimeout = c.Raft.HeartbeatTimeout / 2 }, "election_timeout"},
		{"tiny lease", func(c *Config) { c.Raft.LeaderLeaseTimeout = time.Millisecond }, "leader_lease"},
		{"huge blocks", func(c *Config) { c.Blobstore.BlockSize = 32 << 20 }, "block_size"},
		{"tiny heartbeat", func(c *Config) { c.Raft.HeartbeatTimeout = time.Millisecond }, "heartbeat"},
		{"lease above heartbeat", func(c *Config) { c.Raft.LeaderLeaseTimeout = 2 * time.Second }, "leader_lease"},
		{"zero commit timeout", func(c *Config) { c.Raft.CommitTimeout = 0 }, "commit_timeout"},
		{"zero snapshot threshold", func(c *Config) { c.Raft.SnapshotThreshold = 0 }, "snapshot_threshold"},
		{"tiny blocks", func(c *Config) { c.Blobstore.BlockSize = 1024 }, "block_size"},
		{"layout 4+2", func(c *Config) { c.Blobstore.Layout = "4+2" }, ""},
		{"bad layout", func(c *Config) { c.Blobstore.Layout = "four" }, "layout"},
		{"bad log level", func(c *Config) { c.Log.Level = "loud" }, "log.level"},
		{"bad log format", func(c *Config) { c.Log.Format = "xml" }, "log.format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig(t)
			tc.mutate(&c)
			err := c.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Validate = %v, want nil", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Validate = %v, want an error naming %q", err, tc.wantErr)
			}
		})
	}
}

// TestConfigSeeds: init refuses a seed setting that settings set would refuse; serve, which
// does not apply the seeds, starts whatever they hold (a key an older version knew).
func TestConfigSeeds(t *testing.T) {
	for _, tc := range []struct {
		name    string
		seeds   map[string]string
		wantErr string
	}{
		{"unknown", map[string]string{"nope": "1"}, "unknown setting"},
		{"bad", map[string]string{"smtp.port": "0"}, "smtp.port"},
		{"too pale a colour", map[string]string{"branding.color": "#aabbcc"}, "contrast"},
		{"good", map[string]string{"public_url": "https://files.example.org"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig(t)
			c.Settings = tc.seeds
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate = %v: the seeds must not stop a node from serving", err)
			}
			err := c.ValidateSeeds()
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("ValidateSeeds = %v, want an error naming %q", err, tc.wantErr)
			}
		})
	}
}

func TestConfigRoundTrip(t *testing.T) {
	c := validConfig(t)
	c.Node.Site = "paris"
	c.Network.Advertise = "10.0.0.5"
	c.Raft.HeartbeatTimeout = 250 * time.Millisecond
	c.Raft.LeaderLeaseTimeout = 100 * time.Millisecond
	c.Blobstore.Layout = "4+2"
	c.Settings = map[string]string{"public_url": "https://files.example.org", "smtp.port": "25"}
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(c.DataDir, ConfigFileName)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadConfig(path, c.DataDir)
	if err != nil {
		t.Fatalf("LoadConfig: %v\n%s", err, b)
	}
	c.Path = path // where LoadConfig read it
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("round trip changed the config:\n got %+v\nwant %+v\nfile:\n%s", got, c, b)
	}
	if !strings.Contains(string(b), `heartbeat_timeout = "250ms"`) {
		t.Fatalf("durations are not written as Go durations:\n%s", b)
	}
}

// TestEncodeCommentsEveryKey guards the file's self-documentation: a new field needs a line in
// configDocs.
func TestEncodeCommentsEveryKey(t *testing.T) {
	c := validConfig(t)
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	failf := t.Errorf
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if (strings.Contains(t, " = ") || strings.HasPrefix(t, "[")) && (i == 0 || !strings.HasPrefix(strings.TrimSpace(lines[i-1]), "#")) {
			failf("no comment above %q", t)
		}
	}
}

func TestLoadConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content, wantErr string
	}{
		{"unknown key", "[node]\nid = \"n1\"\ncolour = \"red\"\n", "unknown key node.colour"},
		{"bad toml", "[node\n", "read config"},
		{"bad duration", "[raft]\nheartbeat_timeout = \"soon\"\n", "read config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".toml")
			if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadConfig(p, dir); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("LoadConfig = %v, want %q", err, tc.wantErr)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := LoadConfig(filepath.Join(dir, "none.toml"), dir)
		if err == nil || !strings.Contains(err.Error(), "appliance init") {
			t.Fatalf("LoadConfig = %v, want a hint to run init", err)
		}
	})
}

func TestConfigPaths(t *testing.T) {
	c := validConfig(t)
	c.Storage.Disks = []string{"disks/d1", "/mnt/disk2"}
	got := c.DiskPaths()
	if got[0] != filepath.Join(c.DataDir, "disks/d1") || got[1] != "/mnt/disk2" {
		t.Fatalf("DiskPaths = %v", got)
	}
	if c.KeyDirPath() != filepath.Join(c.DataDir, "keys") {
		t.Fatalf("KeyDirPath = %s", c.KeyDirPath())
	}
	if c.AdminSocketPath() != filepath.Join(c.DataDir, "admin.sock") {
		t.Fatalf("AdminSocketPath = %s", c.AdminSocketPath())
	}
	c.Network.AdminSocket = "/run/valise/admin.sock"
	if c.AdminSocketPath() != "/run/valise/admin.sock" {
		t.Fatalf("AdminSocketPath = %s", c.AdminSocketPath())
	}
}

func TestParseLayout(t *testing.T) {
	for _, tc := range []struct {
		in   string
		k, m int
		ok   bool
	}{
		{"auto", 0, 0, true}, {"4+2", 4, 2, true}, {"1+0", 1, 0, true}, {"32+16", 32, 16, true},
		{"0+2", 0, 0, false}, {"33+1", 0, 0, false}, {"4+17", 0, 0, false}, {"4", 0, 0, false}, {"a+b", 0, 0, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			k, m, err := ParseLayout(tc.in)
			if (err == nil) != tc.ok || k != tc.k || m != tc.m {
				t.Fatalf("ParseLayout(%q) = %d, %d, %v", tc.in, k, m, err)
			}
		})
	}
}

func FuzzLoadConfig(f *testing.F) {
	c := DefaultConfig()
	c.Node.ID = "n1"
	c.Storage.Disks = []string{"d1"}
	seed, _ := c.Encode()
	f.Add(string(seed))
	f.Add("[node]\nid = 1\n")
	f.Add("")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, content string) {
		p := filepath.Join(dir, "valise.toml")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := LoadConfig(p, dir)
		if err != nil {
			return
		}
		_ = cfg.Validate() // must not panic, whatever the file says
	})
}
