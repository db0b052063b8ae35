package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"valise/adminapi"
)

// Node-scope settings (issue 18). A setting that names a path or a socket on one machine —
// clamd.address, smtp.ca_file — means nothing on another node, so it is not kept in the
// cluster's metadata but in each node's valise.toml, under [local] (local.clamd.address is
// the setting clamd.address). `appliance settings set` of such a key, run against a node,
// writes that node's file, so that an operator sets it where the path exists, node by node;
// `settings get` says each key's scope. Disk directories are node configuration too
// (storage.disks), not settings.
//
// A value that a version before issue 18 stored cluster-wide is still read by a node whose
// file sets none, so an upgraded cluster keeps scanning and mailing as before.

// Setting scopes, as `settings get` shows them.
const (
	scopeCluster = "cluster" // in the replicated metadata: the same on every node
	scopeNode    = "node"    // in this node's valise.toml, [local]
)

// LocalConfig holds the node-scope settings: the [local] table of valise.toml.
type LocalConfig struct {
	// Clamd says which clamd this node scans with.
	Clamd LocalClamdConfig `toml:"clamd,omitempty"`
	// SMTP says how this node reaches the mail relay.
	SMTP LocalSMTPConfig `toml:"smtp,omitempty"`
}

// LocalClamdConfig is [local.clamd].
type LocalClamdConfig struct {
	// Address is the setting clamd.address: "unix:/path/clamd.sock" or "tcp:host:port";
	// empty means the node's private clamd (read at start).
	Address string `toml:"address,omitempty"`
}

// LocalSMTPConfig is [local.smtp].
type LocalSMTPConfig struct {
	// CAFile is the setting smtp.ca_file: an absolute path to a PEM file on this node with
	// the CA that signs the relay's certificate; empty means the system's roots.
	CAFile string `toml:"ca_file,omitempty"`
}

// field returns the field holding the node-scope setting key, or nil for any other key.
// Every key knownSettings marks node has one (TestNodeSettingsHaveAField).
func (l *LocalConfig) field(key string) *string {
	switch key {
	case "clamd.address":
		return &l.Clamd.Address
	case "smtp.ca_file":
		return &l.SMTP.CAFile
	}
	return nil
}

// validate checks every value set in l as settings set would.
func (l *LocalConfig) validate() error {
	for _, k := range nodeSettingKeys() {
		if v := *l.field(k); v != "" {
			if err := validateSetting(k, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// nodeSettingKeys returns the node-scope setting keys, sorted.
func nodeSettingKeys() []string {
	var keys []string
	for k, spec := range knownSettings {
		if spec.node {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// settingScope returns scopeNode or scopeCluster for a known key.
func settingScope(key string) string {
	if knownSettings[key].node {
		return scopeNode
	}
	return scopeCluster
}

// moveLocalSeeds moves the node-scope keys of c.Settings (init's seeds) into c.Local: they
// are written into the node's file, not into the cluster's metadata.
func (c *Config) moveLocalSeeds() {
	for k, v := range c.Settings {
		if f := c.Local.field(k); f != nil {
			*f = v
			delete(c.Settings, k)
		}
	}
}

// localSetting returns this node's value of a node-scope setting, and whether it sets one.
func (n *instance) localSetting(key string) (string, bool) {
	n.localMu.Lock()
	defer n.localMu.Unlock()
	f := n.cfg.Local.field(key)
	if f == nil || *f == "" {
		return "", false
	}
	return *f, true
}

// setLocalSetting sets a node-scope setting (value already validated) in this node's
// configuration file and in the running configuration. The file is read again and rewritten
// whole (atomically, keeping its mode), so that the command-line overrides of serve never end
// up in it; the comments Encode writes are kept, an operator's own are not.
func (n *instance) setLocalSetting(key, value string) error {
	n.localMu.Lock()
	defer n.localMu.Unlock()
	path := n.cfg.Path
	if path == "" {
		path = filepath.Join(n.cfg.DataDir, ConfigFileName)
	}
	onDisk, err := LoadConfig(path, n.cfg.DataDir)
	if err != nil {
		return err
	}
	f := onDisk.Local.field(key)
	if f == nil {
		return fmt.Errorf("%s is not a node setting", key)
	}
	*f = value
	data, err := onDisk.Encode()
	if err != nil {
		return err
	}
	mode := os.FileMode(0o600)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	if err := writeFileAtomic(path, data, mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	*n.cfg.Local.field(key) = value
	n.logger.Info("node setting changed", "key", key, "file", path)
	return nil
}

// setNodeSetting is SetSetting for a node-scope key: it writes this node's file, needs no
// leader and is not journalled (the metadata does not hold it).
func (s *adminService) setNodeSetting(ctx context.Context, key, value string) (adminapi.Setting, error) {
	if err := s.n.setLocalSetting(key, value); err != nil {
		return adminapi.Setting{}, adminapi.Errorf(adminapi.CodeInternal, "%s is a node setting, kept in this node's configuration file, which could not be written: %v", key, err)
	}
	s.n.applySettings()
	return s.Setting(ctx, key)
}
