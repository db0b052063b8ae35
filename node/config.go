package node

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"valise/raftfsm"
)

// ConfigFileName is the node's configuration file inside its data directory.
const ConfigFileName = "valise.toml"

// Config is a node's configuration, read from DIR/valise.toml (or --config) and adjusted by the
// command line. init writes it; serve reads it. Cluster-wide settings (SMTP, policies, …) live in
// the replicated metadata instead; Settings only seeds them at init.
type Config struct {
	// DataDir is the node's data directory (--data). It is not stored in the file: the file
	// lives in it. Relative paths in the file are relative to it.
	DataDir string `toml:"-"`
	// Path is the file the configuration was read from (LoadConfig); settings set writes the
	// node-scope settings there. Empty: DataDir/valise.toml.
	Path string `toml:"-"`

	// Node names this node.
	Node NodeConfig `toml:"node"`
	// Network says where the node listens and how peers reach it.
	Network NetworkConfig `toml:"network"`
	// Storage lists the node's data disks.
	Storage StorageConfig `toml:"storage"`
	// Raft tunes the metadata replication.
	Raft RaftConfig `toml:"raft"`
	// Blobstore tunes the byte path.
	Blobstore BlobstoreConfig `toml:"blobstore"`
	// Log says how the node logs.
	Log LogConfig `toml:"log"`
	// Local holds the node-scope settings: those naming a path or a socket on this machine
	// (localsettings.go); `settings set` writes them here.
	Local LocalConfig `toml:"local"`
	// Settings seeds the cluster-wide settings at init (keys as `appliance settings` names
	// them, e.g. "public_url", "smtp.host"); later changes go through `settings set`.
	Settings map[string]string `toml:"settings,omitempty"`
}

// NodeConfig names the node.
type NodeConfig struct {
	// ID is the node's identity in the cluster, chosen at init and never changed: its
	// certificate names it, and peers check it rather than the address.
	ID string `toml:"id"`
	// Site is the data centre the node stands in; placement spreads shards across sites.
	Site string `toml:"site"`
	// ShutdownTimeout bounds an orderly stop after SIGTERM; what is still running then is
	// abandoned.
	ShutdownTimeout time.Duration `toml:"shutdown_timeout"`
}

// NetworkConfig says where the node listens.
type NetworkConfig struct {
	// Listen is the HTTPS address, host:port; port 0 picks a free port.
	Listen string `toml:"listen"`
	// ClusterListen is the cluster (mTLS) address for Raft and node-to-node traffic.
	ClusterListen string `toml:"cluster_listen"`
	// Advertise is the host (or host:port) peers use to reach the cluster port; empty means
	// the cluster listen IP, or the host's first non-loopback address.
	Advertise string `toml:"advertise"`
	// AdminSocket is the admin API's Unix socket; empty means DIR/admin.sock. Its path must be
	// at most 107 bytes.
	AdminSocket string `toml:"admin_socket"`
	// AdminListen is the admin port (the admin API over mutual TLS, for admin certificates):
	// host:port, "off" for none, or empty for the HTTPS listen host on port 8445 (port 0 when
	// HTTPS picks its port). AdminListenAddr resolves it.
	AdminListen string `toml:"admin_listen"`
}

// StorageConfig lists the node's disks and its key directory.
type StorageConfig struct {
	// Disks are the data disk directories, one per physical disk, relative to the data
	// directory or absolute.
	Disks []string `toml:"disks"`
	// KeyDir holds the cluster keys (root-only), outside every disk directory; empty means
	// DIR/keys.
	KeyDir string `toml:"key_dir"`
}

// RaftConfig tunes Raft. The defaults suit a LAN: a new leader within about 0.4 s of losing
// one (raftfsm.DefaultConfig says why); on a WAN raise the three timeouts together.
type RaftConfig struct {
	// HeartbeatTimeout is how long a follower waits for the leader before an election (a
	// random wait between it and twice it; heartbeats go every tenth of it). At least 5ms.
	HeartbeatTimeout time.Duration `toml:"heartbeat_timeout"`
	// ElectionTimeout is how long a candidate waits before a new election; at least
	// HeartbeatTimeout.
	ElectionTimeout time.Duration `toml:"election_timeout"`
	// LeaderLeaseTimeout is how long a leader stays leader without hearing a quorum: 5ms to
	// HeartbeatTimeout, so that a cut-off leader steps down before a new one is elected.
	LeaderLeaseTimeout time.Duration `toml:"leader_lease_timeout"`
	// CommitTimeout bounds how long a commit may wait before being sent without others.
	CommitTimeout time.Duration `toml:"commit_timeout"`
	// SnapshotThreshold is how many log entries past the last snapshot trigger a new one.
	SnapshotThreshold uint64 `toml:"snapshot_threshold"`
}

// BlobstoreConfig tunes the byte path.
type BlobstoreConfig struct {
	// BlockSize is the plaintext block size in bytes (1 MiB by default).
	BlockSize int `toml:"block_size"`
	// Layout is the erasure-coding layout: "auto" (from the cluster's failure domains: 6 disks
	// on one node give 4+2), or "K+M" such as "4+2". Read only while the cluster-wide setting
	// storage.layout was never set (appliance settings set storage.layout): it is its seed.
	Layout string `toml:"layout"`
}

// LogConfig says how the node logs.
type LogConfig struct {
	// Level is the lowest level logged: "debug", "info", "warn" or "error".
	Level string `toml:"level"`
	// Format is "json" (the default, for journald) or "text".
	Format string `toml:"format"`
}

// DefaultConfig returns a node's defaults: HTTPS on :8443, the cluster port on :8444, LAN Raft
// timeouts (raftfsm.DefaultConfig's 200/200/100 ms), 1 MiB blocks with the automatic layout,
// JSON logs at info.
func DefaultConfig() Config {
	rd := raftfsm.DefaultConfig()
	return Config{
		Node: NodeConfig{Site: "default", ShutdownTimeout: 15 * time.Second},
		Network: NetworkConfig{
			Listen:        ":8443",
			ClusterListen: ":8444",
		},
		Raft: RaftConfig{
			// raftfsm.DefaultConfig says why these LAN timeouts (a new leader within 1 s).
			HeartbeatTimeout:   rd.HeartbeatTimeout,
			ElectionTimeout:    rd.ElectionTimeout,
			LeaderLeaseTimeout: rd.LeaderLeaseTimeout,
			CommitTimeout:      rd.CommitTimeout,
			SnapshotThreshold:  rd.SnapshotThreshold,
		},
		Blobstore: BlobstoreConfig{BlockSize: 1 << 20, Layout: "auto"},
		Log:       LogConfig{Level: "info", Format: "json"},
	}
}

// Validate reports the first thing wrong with c, naming the field as the file spells it.
func (c *Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("config: no data directory")
	}
	if err := validNodeID(c.Node.ID); err != nil {
		return fmt.Errorf("config: node.id: %w", err)
	}
	if err := validName(c.Node.Site); err != nil {
		return fmt.Errorf("config: node.site: %w", err)
	}
	if c.Node.ShutdownTimeout <= 0 {
		return errors.New("config: node.shutdown_timeout must be positive")
	}
	if err := validHostPort(c.Network.Listen); err != nil {
		return fmt.Errorf("config: network.listen: %w", err)
	}
	if err := validHostPort(c.Network.ClusterListen); err != nil {
		return fmt.Errorf("config: network.cluster_listen: %w", err)
	}
	if c.Network.Advertise != "" && strings.ContainsAny(c.Network.Advertise, " /") {
		return fmt.Errorf("config: network.advertise %q is not a host or host:port", c.Network.Advertise)
	}
	if a := c.AdminListenAddr(); a != "" {
		if err := validHostPort(a); err != nil {
			return fmt.Errorf("config: network.admin_listen: %w", err)
		}
	}
	if n := len(c.AdminSocketPath()); n > maxSocketPath {
		return fmt.Errorf("config: the admin socket path %s is %d bytes long, more than the %d a Unix socket allows: set network.admin_socket or --admin-socket to a shorter path", c.AdminSocketPath(), n, maxSocketPath)
	}
	if len(c.Storage.Disks) == 0 {
		return errors.New("config: storage.disks lists no disk")
	}
	seen := map[string]bool{}
	for _, d := range c.DiskPaths() {
		if seen[d] {
			return fmt.Errorf("config: storage.disks lists %s twice", d)
		}
		seen[d] = true
	}
	kd := c.KeyDirPath()
	for _, d := range c.DiskPaths() {
		if within(kd, d) {
			return fmt.Errorf("config: the key directory %s must not be inside the disk %s", kd, d)
		}
	}
	r := c.Raft
	if r.HeartbeatTimeout < 5*time.Millisecond || r.ElectionTimeout < 5*time.Millisecond {
		return errors.New("config: raft.heartbeat_timeout and raft.election_timeout must be at least 5ms")
	}
	if r.ElectionTimeout < r.HeartbeatTimeout {
		return errors.New("config: raft.election_timeout must be at least raft.heartbeat_timeout")
	}
	if r.LeaderLeaseTimeout < 5*time.Millisecond || r.LeaderLeaseTimeout > r.HeartbeatTimeout {
		return errors.New("config: raft.leader_lease_timeout must be at least 5ms and at most raft.heartbeat_timeout")
	}
	if r.CommitTimeout <= 0 {
		return errors.New("config: raft.commit_timeout must be positive")
	}
	if r.SnapshotThreshold == 0 {
		return errors.New("config: raft.snapshot_threshold must be positive")
	}
	if c.Blobstore.BlockSize < 4<<10 || c.Blobstore.BlockSize > 16<<20 {
		return fmt.Errorf("config: blobstore.block_size %d must be between 4 KiB and 16 MiB", c.Blobstore.BlockSize)
	}
	if _, _, err := ParseLayout(c.Blobstore.Layout); err != nil {
		return fmt.Errorf("config: blobstore.layout: %w", err)
	}
	if err := c.Local.validate(); err != nil {
		return fmt.Errorf("config: local: %w", err)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("config: log.level %q: want debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		return fmt.Errorf("config: log.format %q: want json or text", c.Log.Format)
	}
	return nil
}

// ValidateSeeds reports the first seed setting that settings set would refuse. Only init
// applies the seeds, so only init checks them: a seed that a later version's rules refuse
// (a key renamed, a colour now too pale) never stops a node from serving.
func (c *Config) ValidateSeeds() error {
	for _, k := range sortedKeys(c.Settings) {
		if err := validateSetting(k, c.Settings[k]); err != nil {
			return fmt.Errorf("config: settings: %w", err)
		}
	}
	return nil
}

// ParseLayout parses an erasure-coding layout: "auto" gives 0, 0; "K+M" gives K data and M
// parity shards (1 ≤ K ≤ 32, 0 ≤ M ≤ 16).
func ParseLayout(s string) (k, m int, err error) {
	if s == "auto" {
		return 0, 0, nil
	}
	ks, ms, ok := strings.Cut(s, "+")
	if !ok {
		return 0, 0, fmt.Errorf("layout %q: want auto or K+M such as 4+2", s)
	}
	k, err1 := strconv.Atoi(ks)
	m, err2 := strconv.Atoi(ms)
	if err1 != nil || err2 != nil || k < 1 || k > 32 || m < 0 || m > 16 {
		return 0, 0, fmt.Errorf("layout %q: want K+M with 1 ≤ K ≤ 32 and 0 ≤ M ≤ 16", s)
	}
	return k, m, nil
}

// DiskPaths returns the disk directories, absolute (relative ones resolved against DataDir).
func (c *Config) DiskPaths() []string {
	out := make([]string, len(c.Storage.Disks))
	for i, d := range c.Storage.Disks {
		out[i] = c.abs(d)
	}
	return out
}

// KeyDirPath returns the key directory, absolute.
func (c *Config) KeyDirPath() string {
	if c.Storage.KeyDir == "" {
		return filepath.Join(c.abs("."), "keys")
	}
	return c.abs(c.Storage.KeyDir)
}

// AdminSocketPath returns the admin socket's path.
func (c *Config) AdminSocketPath() string {
	if c.Network.AdminSocket == "" {
		return filepath.Join(c.DataDir, "admin.sock")
	}
	return c.Network.AdminSocket
}

// raftDir is where raftfsm keeps its Badger directories.
func (c *Config) raftDir() string { return filepath.Join(c.abs("."), "raft") }

// stateDir holds the node's small local state files (the lock).
func (c *Config) lockPath() string { return filepath.Join(c.abs("."), "serve.lock") }

func (c *Config) abs(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	base := c.DataDir
	if a, err := filepath.Abs(base); err == nil {
		base = a
	}
	return filepath.Join(base, p)
}

// LoadConfig reads a configuration file over DefaultConfig. It does not validate: the caller
// applies its flags first, then calls Validate. An unknown key in the file is an error, so a
// typo never passes silently.
func LoadConfig(path, dataDir string) (Config, error) {
	cfg := DefaultConfig()
	md, err := toml.DecodeFile(path, &cfg)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Config{}, fmt.Errorf("read config: %s does not exist (run `appliance init --data %s` first)", path, dataDir)
		}
		return Config{}, fmt.Errorf("read config %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return Config{}, fmt.Errorf("read config %s: unknown key %s", path, und[0])
	}
	cfg.DataDir, cfg.Path = dataDir, path
	return cfg, nil
}

// Encode returns c as the TOML of a configuration file, with a header saying what it is.
func (c *Config) Encode() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("# Valise node configuration, written by `appliance init`.\n" +
		"# Durations are Go durations (\"1s\", \"500ms\"); relative paths are relative to this file's directory.\n" +
		"# Cluster-wide settings are kept in the metadata: change them with `appliance settings set`.\n\n")
	var body bytes.Buffer
	if err := toml.NewEncoder(&body).Encode(c); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	// Comment every key, so the file explains itself to an operator.
	section := ""
	for _, line := range strings.SplitAfter(body.String(), "\n") {
		t := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]"):
			section = strings.Trim(t, "[]")
			if doc := configDocs[section]; doc != "" {
				buf.WriteString("# " + doc + "\n")
			}
		case strings.Contains(t, " = ") && section != "settings":
			key, _, _ := strings.Cut(t, " = ")
			if doc := configDocs[section+"."+key]; doc != "" {
				indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
				buf.WriteString(indent + "# " + doc + "\n")
			}
		}
		buf.WriteString(line)
	}
	return buf.Bytes(), nil
}

// configDocs are the comments Encode writes above each section and key of the file; they say
// in one line what the field comments above say.
var configDocs = map[string]string{
	"node":                      "This node.",
	"node.id":                   "The node's identity in the cluster, chosen at init; never change it.",
	"node.site":                 "The site (data centre) the node stands in.",
	"node.shutdown_timeout":     "How long an orderly stop may take after SIGTERM.",
	"network":                   "Where the node listens. Port 0 picks a free port at each start.",
	"network.listen":            "HTTPS, host:port.",
	"network.cluster_listen":    "The cluster port (mutual TLS: Raft, node-to-node calls), host:port.",
	"network.advertise":         "The host peers reach this node at; empty: the cluster listen IP, or the first non-loopback address.",
	"network.admin_socket":      "The admin API's Unix socket (at most 107 bytes); empty: DIR/admin.sock.",
	"network.admin_listen":      "The admin port (mutual TLS, admin certificates), host:port or off; empty: the HTTPS host on port 8445.",
	"storage":                   "The data disks and the key directory.",
	"storage.disks":             "The disk directories, one per physical disk, relative to DIR or absolute.",
	"storage.key_dir":           "The cluster keys (root-only), never inside a disk; empty: DIR/keys.",
	"raft":                      "Raft timeouts. LAN defaults (200/200/100 ms): a new leader in about 0.4 s; on a WAN raise the three together.",
	"raft.heartbeat_timeout":    "How long a follower waits for the leader before an election (heartbeats every tenth of it).",
	"raft.election_timeout":     "How long a candidate waits before a new election (at least heartbeat_timeout).",
	"raft.leader_lease_timeout": "How long a leader stays leader without a quorum (5ms to heartbeat_timeout).",
	"raft.commit_timeout":       "The longest a commit waits before being sent to followers.",
	"raft.snapshot_threshold":   "Log entries past the last snapshot that trigger a new one.",
	"blobstore":                 "The byte path.",
	"blobstore.block_size":      "Plaintext block size in bytes.",
	"blobstore.layout":          "Erasure coding until the setting storage.layout is set: auto or K+M.",
	"log":                       "Logging, to stderr.",
	"log.level":                 "debug, info, warn or error.",
	"log.format":                "json or text.",
	"local":                     "Node-scope settings: paths and sockets on this machine (appliance settings set writes them here).",
	"local.clamd":               "The antivirus this node scans with.",
	"local.clamd.address":       "unix:/path/clamd.sock or tcp:host:port; empty: the node's private clamd.",
	"local.smtp":                "The mail relay, as this node reaches it.",
	"local.smtp.ca_file":        "A PEM file on this node with the CA that signs the relay's certificate; empty: the system's.",
	"settings":                  "Cluster-wide settings seeded at init; later changes: appliance settings set.",
}

// maxSocketPath is the longest Unix socket path the kernel accepts.
const maxSocketPath = 107

func validNodeID(id string) error {
	if id == "" || len(id) > 128 {
		return fmt.Errorf("%q: want 1 to 128 characters", id)
	}
	return validChars(id)
}

func validName(s string) error {
	if s == "" || len(s) > 64 {
		return fmt.Errorf("%q: want 1 to 64 characters", s)
	}
	return validChars(s)
}

func validChars(s string) error {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' {
			continue
		}
		return fmt.Errorf("%q: character %q not allowed (want letters, digits, '.', '_', '-')", s, c)
	}
	return nil
}

func validHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", s, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", s, port)
	}
	if strings.ContainsAny(host, " /") {
		return fmt.Errorf("%q: bad host %q", s, host)
	}
	return nil
}

// within reports whether path is dir or inside it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
