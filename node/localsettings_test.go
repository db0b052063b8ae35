package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"valise/adminapi"
	"valise/raftfsm"
)

// TestNodeSettingsHaveAField: every node-scope setting has its place in [local], and [local]
// holds nothing else.
func TestNodeSettingsHaveAField(t *testing.T) {
	var l LocalConfig
	keys := nodeSettingKeys()
	if len(keys) == 0 {
		t.Fatal("no node-scope setting")
	}
	for _, k := range keys {
		if l.field(k) == nil {
			t.Errorf("node setting %s has no field in LocalConfig", k)
		}
	}
	for _, k := range settingKeys() {
		if !knownSettings[k].node && l.field(k) != nil {
			t.Errorf("cluster setting %s has a field in LocalConfig", k)
		}
	}
}

// TestLocalConfigFile: [local] is read in both TOML spellings, checked as settings set would
// check it, and a typo in it is refused.
func TestLocalConfigFile(t *testing.T) {
	for _, tc := range []struct {
		name, toml string
		clamd, ca  string
		wantErr    string // from LoadConfig or Validate
	}{
		{"dotted keys", "[local]\nclamd.address = \"unix:/run/clamav/clamd.ctl\"\nsmtp.ca_file = \"/etc/ssl/relay.pem\"\n", "unix:/run/clamav/clamd.ctl", "/etc/ssl/relay.pem", ""},
		{"sub-tables", "[local.clamd]\naddress = \"tcp:10.0.0.9:3310\"\n", "tcp:10.0.0.9:3310", "", ""},
		{"empty", "", "", "", ""},
		{"relative path", "[local.smtp]\nca_file = \"relay.pem\"\n", "", "", "smtp.ca_file"},
		{"bad socket", "[local.clamd]\naddress = \"unix:relative.sock\"\n", "", "", "clamd.address"},
		{"typo", "[local.clamd]\nadress = \"unix:/x\"\n", "", "", "unknown key"},
		{"cluster setting in local", "[local.smtp]\nhost = \"relay.example.org\"\n", "", "", "unknown key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig(t)
			path := filepath.Join(c.DataDir, ConfigFileName)
			b, err := c.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(tc.toml, "[local]\n") {
				b = []byte(strings.Replace(string(b), "[local]\n", "", 1)) // the case writes its own
			} // else [local.x] appended after the file's own [local]: what a harness does
			if err := os.WriteFile(path, append(b, tc.toml...), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := LoadConfig(path, c.DataDir)
			if err == nil {
				err = got.Validate()
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("load = %v, want an error naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Local.Clamd.Address != tc.clamd || got.Local.SMTP.CAFile != tc.ca {
				t.Fatalf("local = %+v", got.Local)
			}
		})
	}
}

// TestSettingScopes (issue 18: node-local settings stay local). On a real node: a path seeded
// at init goes into the node's valise.toml, not the cluster's metadata; settings get says
// each key's scope; settings set of a node setting writes the node's file (and only what the
// file said: no serve override leaks into it), needs no journal entry and survives a
// restart; a cluster setting still goes through Raft; a node value that an older version
// stored cluster-wide is still read where the node's file sets none.
func TestSettingScopes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	sock := filepath.Join(shortDir(t), "a.sock")
	ctx := context.Background()
	if _, err := Init(ctx, InitOptions{
		DataDir: dir, Disks: 1, AdminEmail: "root@example.org",
		Listen: "127.0.0.1:0", ClusterListen: "127.0.0.1:0", AdminSocket: sock, Raft: &fastRaft,
		// A clamd that does not exist: no private clamd to start.
		Settings: map[string]string{"clamd.address": "unix:/nonexistent/clamd.sock", "smtp.host": "relay.example.org"},
	}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, ConfigFileName)
	onDisk := func() Config {
		t.Helper()
		c, err := LoadConfig(path, dir)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := onDisk(); c.Local.Clamd.Address != "unix:/nonexistent/clamd.sock" || c.Settings["clamd.address"] != "" || c.Settings["smtp.host"] != "relay.example.org" {
		t.Fatalf("init's file: local %+v, seeds %v; want clamd.address in [local] only", c.Local, c.Settings)
	}

	c := adminapi.NewClient(sock)
	defer c.Close()
	serve := func(t *testing.T) (*instance, func()) {
		cfg := onDisk()
		cfg.Log.Format = "text" // as a command-line override: must not reach the file
		return serveLeader(t, cfg, c)
	}
	n, stop := serve(t)
	inMetadata := func(key string) bool {
		_, err := n.store.Get([]byte(settingsPrefix + key))
		if err != nil && !errors.Is(err, raftfsm.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	want := func(s adminapi.Setting, key, value, scope string, set bool) {
		t.Helper()
		if s.Key != key || s.Value != value || s.Scope != scope || s.Set != set {
			t.Fatalf("setting %+v, want %s = %q, scope %s, set %v", s, key, value, scope, set)
		}
	}

	all, err := c.Settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		if wantScope := settingScope(s.Key); s.Scope != wantScope || (s.Scope != scopeNode && s.Scope != scopeCluster) {
			t.Errorf("%s: scope %q, want %q", s.Key, s.Scope, wantScope)
		}
		switch s.Key {
		case "clamd.address":
			want(s, s.Key, "unix:/nonexistent/clamd.sock", scopeNode, true)
		case "smtp.host":
			want(s, s.Key, "relay.example.org", scopeCluster, true)
		case "smtp.ca_file":
			want(s, s.Key, "", scopeNode, false)
		}
	}
	if inMetadata("clamd.address") {
		t.Fatal("init put the node setting clamd.address into the cluster's metadata")
	}

	t.Run("a value stored cluster-wide by an older version", func(t *testing.T) {
		b, err := settingBatch(n.keys, "test", time.Now(), "smtp.ca_file", "/legacy/relay.pem")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.store.Propose(ctx, b); err != nil {
			t.Fatal(err)
		}
		s, err := c.Setting(ctx, "smtp.ca_file")
		if err != nil {
			t.Fatal(err)
		}
		want(s, "smtp.ca_file", "/legacy/relay.pem", scopeNode, true)
	})

	head, err := n.store.JournalHead()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("set a node setting", func(t *testing.T) {
		s, err := c.SetSetting(ctx, "smtp.ca_file", "/etc/ssl/relay.pem")
		if err != nil {
			t.Fatal(err)
		}
		want(s, "smtp.ca_file", "/etc/ssl/relay.pem", scopeNode, true)
		file := onDisk()
		if file.Local.SMTP.CAFile != "/etc/ssl/relay.pem" || file.Local.Clamd.Address != "unix:/nonexistent/clamd.sock" {
			t.Fatalf("the node's file: local %+v", file.Local)
		}
		if file.Log.Format != "json" {
			t.Fatalf("a serve override reached the file: log.format %q", file.Log.Format)
		}
		if n.setting("smtp.ca_file") != "/etc/ssl/relay.pem" {
			t.Fatalf("the running node reads smtp.ca_file as %q", n.setting("smtp.ca_file"))
		}
		// Background jobs may journal meanwhile (a repair run): only a settings.set of this
		// key would be wrong.
		if err := n.store.Journal(head.Seq+1, func(e raftfsm.Entry) error {
			if e.Action == "settings.set" && e.Target == "smtp.ca_file" {
				return fmt.Errorf("a node setting was journalled: entry %d", e.Seq)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("refuse a bad node value", func(t *testing.T) {
		_, err := c.SetSetting(ctx, "smtp.ca_file", "relative.pem")
		var e *adminapi.Error
		if !errors.As(err, &e) || e.Code != adminapi.CodeInvalidValue {
			t.Fatalf("set a relative smtp.ca_file: %v, want invalid_value", err)
		}
		if onDisk().Local.SMTP.CAFile != "/etc/ssl/relay.pem" {
			t.Fatal("a refused value reached the file")
		}
	})
	t.Run("set a cluster setting", func(t *testing.T) {
		s, err := c.SetSetting(ctx, "smtp.port", "25")
		if err != nil {
			t.Fatal(err)
		}
		want(s, "smtp.port", "25", scopeCluster, true)
		if !inMetadata("smtp.port") {
			t.Fatal("a cluster setting is not in the metadata")
		}
		if _, ok := onDisk().Settings["smtp.port"]; ok {
			t.Fatal("a cluster setting was written into the node's file")
		}
	})
	stop()

	_, stop = serve(t)
	defer stop()
	s, err := c.Setting(ctx, "smtp.ca_file")
	if err != nil {
		t.Fatal(err)
	}
	want(s, "smtp.ca_file", "/etc/ssl/relay.pem", scopeNode, true)
}
