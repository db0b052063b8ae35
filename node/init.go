package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"valise/account"
	"valise/internal/logkey"
	"valise/keyring"
	"valise/raftfsm"
)

// InitOptions say how to create a one-node cluster.
type InitOptions struct {
	// DataDir is the node's data directory; it must be missing or empty.
	DataDir string
	// Disks is how many disk directories to create under DataDir/disks when DiskPaths is empty.
	Disks int
	// DiskPaths are the disk directories (mount points) to use instead; each must be missing
	// or empty.
	DiskPaths []string
	// Site names the node's site; empty means "default".
	Site string
	// AdminEmail is the first administrator's e-mail; a supervisor.
	AdminEmail string
	// Listen, ClusterListen and Advertise are recorded in the configuration (see
	// NetworkConfig); empty means the defaults.
	Listen, ClusterListen, Advertise string
	// AdminSocket is recorded in the configuration when not empty.
	AdminSocket string
	// Domains are the organisation's DNS domains the cluster CA may certify (see
	// keyring.NameConstraints); empty means the domain of Advertise when it is a DNS name.
	Domains []string
	// PermitIPs are address ranges (CIDR, or one address) the cluster CA may certify besides
	// the private ones.
	PermitIPs []string
	// Settings seed the cluster-wide settings, on top of public_url derived from the
	// addresses.
	Settings map[string]string
	// Raft overrides the default Raft timeouts when not nil (tests shorten them).
	Raft *RaftConfig
}

// InitResult is what init prints: the administrator's password is shown only here.
type InitResult struct {
	NodeID        string `json:"node_id"`
	ConfigPath    string `json:"config"`
	CAPath        string `json:"ca_certificate"`
	AdminEmail    string `json:"admin_email"`
	AdminPassword string `json:"admin_password"`
	CAFingerprint string `json:"ca_fingerprint"`
	// CAPermitted lists the names the cluster CA may certify: its name constraints.
	CAPermitted []string `json:"ca_permitted"`
	// CANotPermitted lists the names this node answers to (its host name, addresses, the
	// public_url host) that the CA may not certify: no certificate will name them.
	CANotPermitted []string `json:"ca_not_permitted,omitempty"`
	// SigningKey is the fingerprint of the cluster's signing key, "SHA256:…": what an
	// operator writes down for `restore --expect-key`.
	SigningKey string `json:"signing_key"`
}

// initTimeout bounds the whole of Init: a one-node Raft elects itself within seconds.
const initTimeout = 2 * time.Minute

// Init creates a one-node cluster in an empty data directory: the disk directories, the
// cluster keys, the metadata stores (Raft bootstrapped with this node alone), the cluster and
// node records, the seeded settings, the first administrator (a supervisor) and, last, the
// configuration file DIR/valise.toml. On failure it removes what it created.
func Init(ctx context.Context, opts InitOptions) (res InitResult, err error) {
	ctx, cancel := context.WithTimeout(ctx, initTimeout)
	defer cancel()
	if opts.DataDir == "" {
		return res, errors.New("init: no data directory")
	}
	if opts.AdminEmail == "" {
		return res, errors.New("init: no administrator e-mail")
	}
	cfg, err := initConfig(opts)
	if err != nil {
		return res, err
	}
	nc, err := InitConstraints(opts.Domains, opts.PermitIPs, opts.Advertise)
	if err != nil {
		return res, err
	}
	if err := checkEmpty(opts.DataDir, true); err != nil {
		return res, err
	}
	for _, d := range opts.DiskPaths {
		if err := checkEmpty(d, false); err != nil {
			return res, fmt.Errorf("disk %s: %w", d, err)
		}
	}

	// Remember what existed, so that a failed init leaves things as it found them.
	nd, err := createDataDir(opts.DataDir)
	if err != nil {
		return res, err
	}
	defer func() {
		if err != nil {
			nd.rollback()
		}
	}()
	lock, err := lockDir(cfg.lockPath())
	if err != nil {
		return res, fmt.Errorf("init %s: %w", opts.DataDir, err)
	}
	defer lock.release()

	keys, err := keyring.CreateConstrained(cfg.KeyDirPath(), nc)
	if err != nil {
		return res, fmt.Errorf("create the cluster keys: %w", err)
	}

	cluster := clusterInfo{ID: "c-" + randomHex(8)}
	rec := nodeRecord{ID: cfg.Node.ID, Site: cfg.Node.Site, State: nodeActive}
	for i, p := range cfg.DiskPaths() {
		if err := nd.mkdir(p); err != nil {
			return res, fmt.Errorf("create disk directory %s: %w", p, err)
		}
		id := diskID(cfg.Node.ID, i)
		if err := writeDiskMarker(p, diskMarker{ClusterID: cluster.ID, NodeID: cfg.Node.ID, DiskID: id}); err != nil {
			return res, fmt.Errorf("mark disk %s: %w", p, err)
		}
		nd.created(filepath.Join(p, diskMarkerName))
		rec.Disks = append(rec.Disks, diskRecord{ID: id, Path: p})
	}

	password, err := initMetadata(ctx, cfg, keys, cluster, rec, opts)
	if err != nil {
		return res, err
	}

	data, err := cfg.Encode()
	if err != nil {
		return res, err
	}
	cfgPath := filepath.Join(opts.DataDir, ConfigFileName)
	if err := writeFileAtomic(cfgPath, data, 0o600); err != nil {
		return res, err
	}
	return InitResult{
		NodeID:         cfg.Node.ID,
		ConfigPath:     cfgPath,
		CAPath:         filepath.Join(cfg.KeyDirPath(), "ca.pem"),
		AdminEmail:     opts.AdminEmail,
		AdminPassword:  password,
		CAFingerprint:  keys.Fingerprint(),
		CAPermitted:    keys.PermittedNames(),
		CANotPermitted: notPermitted(keys, cfg),
		SigningKey:     keys.SigningFingerprint(),
	}, nil
}

// notPermitted returns the names the node of cfg will want certificates for that the CA's
// name constraints leave out, so that init can say so before anyone browses to them.
func notPermitted(keys *keyring.Keyring, cfg Config) []string {
	hosts, ips := certNames(cfg.Network.Listen, cfg.Network.Advertise)
	h2, i2 := certNames(cfg.Network.ClusterListen, cfg.Network.Advertise)
	hosts, ips = append(hosts, h2...), append(ips, i2...)
	if u, err := url.Parse(cfg.Settings["public_url"]); err == nil && u.Hostname() != "" {
		hosts = append(hosts, u.Hostname())
	}
	_, _, refused := keys.FilterPermitted(hosts, ips)
	slices.Sort(refused)
	return slices.Compact(refused)
}

// InitConstraints builds the cluster CA's name constraints from init's --domain and
// --permit-ip (and `ca renew`'s): domains, or else the domain of advertise when it names a
// host by DNS, and the address ranges given. localhost and the private ranges are always
// permitted (keyring.NameConstraints).
func InitConstraints(domains, permitIPs []string, advertise string) (keyring.NameConstraints, error) {
	var nc keyring.NameConstraints
	for _, d := range domains {
		nd, err := keyring.NormalizeDomain(d)
		if err != nil {
			return nc, fmt.Errorf("--domain: %w", err)
		}
		nc.Domains = append(nc.Domains, nd)
	}
	if len(nc.Domains) == 0 {
		if d := domainOf(advertise); d != "" {
			nc.Domains = []string{d}
		}
	}
	for _, p := range permitIPs {
		r, err := keyring.ParseIPRange(p)
		if err != nil {
			return nc, fmt.Errorf("--permit-ip: %w", err)
		}
		nc.IPRanges = append(nc.IPRanges, r)
	}
	return nc, nil
}

// domainOf returns the organisation's domain of an advertised host[:port]: "" for an IP
// address or localhost, the name less its first label when it has three or more
// ("files.example.org" gives "example.org"), else the name itself.
func domainOf(advertise string) string {
	host := advertise
	if h, _, err := net.SplitHostPort(advertise); err == nil {
		host = h
	}
	host, err := keyring.NormalizeDomain(strings.Trim(host, "[]"))
	if err != nil || host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return ""
	}
	if labels := strings.Split(host, "."); len(labels) >= 3 {
		return strings.Join(labels[1:], ".")
	}
	return host
}

// initConfig builds and validates the configuration init (and join) will write.
func initConfig(opts InitOptions) (Config, error) {
	cfg := DefaultConfig()
	cfg.DataDir = opts.DataDir
	cfg.Node.ID = "n-" + randomHex(6)
	if opts.Site != "" {
		cfg.Node.Site = opts.Site
	}
	if opts.Listen != "" {
		cfg.Network.Listen = opts.Listen
	}
	if opts.ClusterListen != "" {
		cfg.Network.ClusterListen = opts.ClusterListen
	}
	cfg.Network.Advertise = opts.Advertise
	if opts.AdminSocket != "" {
		// Recorded absolute: serve and the admin commands may run from another directory.
		a, err := filepath.Abs(opts.AdminSocket)
		if err != nil {
			return cfg, fmt.Errorf("admin socket %s: %w", opts.AdminSocket, err)
		}
		cfg.Network.AdminSocket = a
	}
	if opts.Raft != nil {
		cfg.Raft = *opts.Raft
	}
	switch {
	case len(opts.DiskPaths) > 0:
		for _, p := range opts.DiskPaths {
			a, err := filepath.Abs(p)
			if err != nil {
				return cfg, fmt.Errorf("disk %s: %w", p, err)
			}
			cfg.Storage.Disks = append(cfg.Storage.Disks, a)
		}
	case opts.Disks < 1 || opts.Disks > 64:
		return cfg, fmt.Errorf("init: --disks %d: want 1 to 64 disk directories", opts.Disks)
	default:
		for i := 1; i <= opts.Disks; i++ {
			cfg.Storage.Disks = append(cfg.Storage.Disks, filepath.Join("disks", "d"+strconv.Itoa(i)))
		}
	}
	cfg.Settings = map[string]string{}
	for k, v := range opts.Settings {
		cfg.Settings[k] = v
	}
	if _, ok := cfg.Settings["public_url"]; !ok {
		if u := publicURL(cfg.Network.Listen, cfg.Network.Advertise); u != "" {
			cfg.Settings["public_url"] = u
		}
	}
	cfg.moveLocalSeeds() // paths and sockets: this node's file, not the metadata
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	if err := cfg.ValidateSeeds(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// initMetadata opens the metadata stores with an in-memory transport (no port is needed to
// elect a one-node cluster), bootstraps Raft with this node alone, records the cluster and
// the node, seeds the settings and creates the first administrator, whose password it returns.
func initMetadata(ctx context.Context, cfg Config, keys *keyring.Keyring, cluster clusterInfo, rec nodeRecord, opts InitOptions) (string, error) {
	// Quiet: a one-node election's warnings are expected here; errors still show.
	logger := newLogger(LogConfig{Level: "error", Format: cfg.Log.Format}, os.Stderr)
	addr, err := advertiseAddr(cfg.Network.Advertise, cfg.Network.ClusterListen)
	if err != nil {
		return "", err
	}
	_, trans := raft.NewInmemTransport(raft.ServerAddress(addr))
	defer trans.Close()
	n := &instance{cfg: cfg}
	store, err := raftfsm.Open(n.raftConfig(), raftfsm.Deps{Transport: trans, Signer: headSigner{keys}, Logger: logger})
	if err != nil {
		return "", fmt.Errorf("create the metadata: %w", err)
	}
	defer store.Close()
	if err := store.BootstrapSelf(raft.ServerAddress(addr)); err != nil {
		return "", fmt.Errorf("bootstrap raft: %w", err)
	}
	if err := waitLeading(ctx, store); err != nil {
		return "", err
	}

	now := time.Now().UTC()
	cb, _ := json.Marshal(cluster)
	nb, _ := json.Marshal(rec)
	details, _ := json.Marshal(map[string]string{"cluster_id": cluster.ID, "node_id": rec.ID, "site": rec.Site})
	if _, err := store.Propose(ctx, raftfsm.Batch{
		Conds: []raftfsm.Cond{{Kind: raftfsm.CondAbsent, Key: []byte(keyClusterInfo)}},
		Ops: []raftfsm.Op{
			{Kind: raftfsm.OpPut, Key: []byte(keyClusterInfo), Value: cb},
			{Kind: raftfsm.OpPut, Key: []byte(prefixNodes + rec.ID), Value: nb},
		},
		Audit: raftfsm.Audit{Time: now, Actor: "init", Action: "cluster.init", Target: cluster.ID, Details: details},
	}); err != nil {
		return "", fmt.Errorf("record the cluster: %w", err)
	}
	for _, k := range sortedKeys(cfg.Settings) {
		b, err := settingBatch(keys, "init", now, k, cfg.Settings[k])
		if err != nil {
			return "", err
		}
		if _, err := store.Propose(ctx, b); err != nil {
			return "", fmt.Errorf("seed setting %s: %w", k, err)
		}
	}

	acc, err := account.New(account.DefaultConfig(), store, logger)
	if err != nil {
		return "", err
	}
	_, password, err := acc.Add(account.WithActor(ctx, "init"), account.NewUser{
		Email: opts.AdminEmail, Name: "Administrator", Language: account.LangFR, Role: account.RoleSupervisor,
	})
	if err != nil {
		var ue *account.UserError
		if errors.As(err, &ue) {
			return "", fmt.Errorf("create the administrator %s: %s", opts.AdminEmail, ue.Message(account.LangEN))
		}
		return "", fmt.Errorf("create the administrator: %w", err)
	}
	if err := store.Snapshot(); err != nil {
		logger.Warn("snapshot after init", logkey.Err, err)
	}
	return password, nil
}

// waitLeading waits until store leads (a bootstrapped one-node cluster elects itself).
func waitLeading(ctx context.Context, store *raftfsm.Store) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if store.Status().State.IsLeader() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for this node to lead: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// checkEmpty fails when dir exists and holds anything (but lost+found on a disk).
func checkEmpty(dir string, isData bool) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	for _, e := range entries {
		if !isData && e.Name() == "lost+found" {
			continue
		}
		if isData {
			return fmt.Errorf("%w: %s holds %s; init creates a new cluster only in an empty directory", ErrNotEmpty, dir, e.Name())
		}
		return fmt.Errorf("%w: %s holds %s", ErrNotEmpty, dir, e.Name())
	}
	return nil
}

// contentsOf lists the paths inside dir.
func contentsOf(dir string) []string {
	entries, _ := os.ReadDir(dir)
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, filepath.Join(dir, e.Name()))
	}
	return out
}

// publicURL derives the default public_url from the listen and advertise addresses.
func publicURL(listen, advertise string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil || port == "0" {
		return "" // a port chosen at each start: no stable URL to seed
	}
	if advertise != "" {
		if h, _, err := net.SplitHostPort(advertise); err == nil {
			host = h
		} else {
			host = advertise
		}
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		if ip := firstNonLoopback(); ip != nil {
			host = ip.String()
		} else {
			host = "localhost"
		}
	}
	if port == "443" {
		return "https://" + bracket(host)
	}
	return "https://" + net.JoinHostPort(host, port)
}

func bracket(h string) string {
	if ip := net.ParseIP(h); ip != nil && ip.To4() == nil {
		return "[" + h + "]"
	}
	return h
}

// sortedKeys returns m's keys in order.
func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }
