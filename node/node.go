// Package node is Valise's composition root: it loads a node's configuration, opens its keys
// and stores, starts Raft, the byte path, the admin socket and HTTPS in order, and stops them
// in reverse. Nothing but cmd imports it.
//
// Init creates a one-node cluster in an empty directory; Run serves it until its context ends.
// See DESIGN.md beside this file for the data directory's layout and the start order.
package node

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"valise/account"
	"valise/adminapi"
	"valise/blobstore"
	"valise/blobstore/shardnet"
	"valise/certstore"
	"valise/httpd"
	"valise/httpd/tus"
	"valise/internal/clusternet"
	"valise/internal/logkey"
	"valise/internal/membudget"
	"valise/keyring"
	"valise/raftfsm"
	"valise/raftfsm/raftnet"
	"valise/transfer"
	"valise/upload"
)

// Errors returned by Init and Run. Callers test them with errors.Is.
var (
	// ErrRunning is returned by Run (and Init) when another process serves the data directory.
	ErrRunning = errors.New("another node is already serving this data directory")

	// ErrNotEmpty is returned by Init for a data directory that is not empty.
	ErrNotEmpty = errors.New("the data directory is not empty")

	// ErrNotInitialised is returned by Run for a data directory that init did not finish.
	ErrNotInitialised = errors.New("the data directory is not initialised")
)

// instance is a running node: every component, in start order. Its fields are set by start and
// read by the admin service and the probes; stop tears them down in reverse.
type instance struct {
	cfg    Config
	logger *slog.Logger

	localMu sync.Mutex // guards cfg.Local, which settings set changes while the node runs

	lock      *dirLock
	keys      *keyring.Keyring
	mux       *clusternet.Mux
	nodeLeaf  *x509.Certificate
	revoked   *revocationList // the cluster port's revocation check (revoke.go)
	advertise string
	trans     *raftnet.Transport
	riClient  *raftnet.ReadIndexClient
	store     *raftfsm.Store
	riServer  *raftnet.ReadIndexServer
	cluster   clusterInfo
	disks     []localDisk
	repair    *repairer // heal, scrub, drain, disk probes (heal.go, disks.go); set by openBlobs
	blobs     *blobstore.Store
	shards    *shardnet.Server // serves this node's disks to the other nodes
	placement *placement       // the Store's cluster map, other nodes' disks and layout (placement.go)
	joins     *joinServer      // admits joining nodes (joinserve.go)
	accounts  *account.Service
	scanner   *scanner
	mail      *mailer
	transfers *transfer.Service
	retention *transfer.Job
	uploader  *upload.Pipeline
	tus       *tus.Server
	memGate   *membudget.Gate // the byte path's memory budget (limits.go); set before the uploads
	api       apiMount
	web       webMount
	adminLn   net.Listener
	adminSrv  *http.Server
	https     *httpd.Server
	members   *prober // what this node hears from the other members (membership.go)

	// backups runs the scheduled backups (backupschedule.go); start sets it unless a test did.
	backups *backupScheduler

	// adminTLSLn is the admin port's listener (adminlisten.go); nil when it is off.
	adminTLSLn net.Listener
	// adminConns are the admin port's open connections, closed when their certificate is
	// revoked (adminlisten.go).
	adminConns adminConns

	// stops are the stop functions of the started components, in start order.
	stops []stopFunc

	bgCtx    context.Context    // cancelled first at stop: background jobs
	bgCancel context.CancelFunc // never nil after start
	bg       sync.WaitGroup     // background jobs

	fatal chan error // a component that dies reports here; Run stops the node

	// serving is set once start has finished: the admin API answers "starting" before, since
	// the components it reads are still being set up.
	serving atomic.Bool

	journalMu   sync.Mutex // guards journalOK
	journalOK   bool       // the last walk of the journal held
	selftestsMu sync.Mutex // serialises selftests: one at a time, they are heavy

	settingsMu sync.Mutex      // serialises applySettings; guards lastPolicy
	lastPolicy transfer.Policy // the policy last given to transfers
	// proxiesWith is the trusted_proxies value last given to HTTPS. Guarded by settingsMu
	// once serving.
	proxiesWith string
	// apiURL is the public URL last given to the mounted API. Guarded by settingsMu once
	// serving.
	apiURL string
	// webWith is what the mounted web UI was built with; zero before. Guarded by settingsMu
	// once serving.
	webWith webSettings
}

// localDisk is one of this node's disks.
type localDisk struct {
	id    blobstore.DiskID
	path  string
	disk  blobstore.Disk // nil when the disk is unusable
	state string         // "ok", or what is wrong
}

type stopFunc struct {
	name string
	fn   func(ctx context.Context) error
}

// Run serves the node configured by cfg until ctx ends (SIGTERM, SIGINT), then stops every
// component in reverse order within cfg.Node.ShutdownTimeout. It returns an error when the
// node could not start, or when a component failed while serving.
func Run(ctx context.Context, cfg Config) error { return run(ctx, cfg, os.Stderr) }

// run is Run with the log written to logOut.
func run(ctx context.Context, cfg Config, logOut io.Writer) error {
	n, err := newInstance(cfg, logOut)
	if err != nil {
		return err
	}
	return n.run(ctx)
}

// newInstance returns the node of cfg, not started, logging to logOut.
func newInstance(cfg Config, logOut io.Writer) (*instance, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// No node_id on the root logger: raftfsm and clusternet add it to their own lines.
	n := &instance{cfg: cfg, logger: newLogger(cfg.Log, logOut), fatal: make(chan error, 1)}
	n.bgCtx, n.bgCancel = context.WithCancel(context.Background())
	return n, nil
}

// run starts the node, serves it until ctx ends or a component fails, and stops it.
func (n *instance) run(ctx context.Context) error {
	cfg, logger := &n.cfg, n.logger
	err := n.start(ctx)
	if err == nil {
		select {
		case <-ctx.Done():
			logger.Info("stopping", "reason", context.Cause(ctx).Error())
		case err = <-n.fatal:
			logger.Error("stopping after a component failed", logkey.Err, err)
		}
	} else {
		logger.Error("start", logkey.Err, err)
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), cfg.Node.ShutdownTimeout)
	defer cancel()
	if serr := n.stop(stopCtx); serr != nil && err == nil {
		err = serr
	}
	if err == nil {
		logger.Info("stopped")
	}
	return err
}

// onStop records a started component's stop function.
func (n *instance) onStop(name string, fn func(ctx context.Context) error) {
	n.stops = append(n.stops, stopFunc{name: name, fn: fn})
}

// start opens and starts every component in order. On error, what started is left for stop.
func (n *instance) start(ctx context.Context) error {
	cfg := &n.cfg
	lock, err := lockDir(cfg.lockPath())
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: %s (run `appliance init --data %s` first)", ErrNotInitialised, cfg.DataDir, cfg.DataDir)
		}
		return fmt.Errorf("serve %s: %w", cfg.DataDir, err)
	}
	n.lock = lock
	n.onStop("lock", func(context.Context) error { lock.release(); return nil })

	if n.keys, err = keyring.Load(cfg.KeyDirPath()); err != nil {
		return fmt.Errorf("load the cluster keys: %w", err)
	}

	// The cluster port: mTLS with a node certificate from the cluster CA, naming this node.
	hosts, ips := certNames(cfg.Network.ClusterListen, cfg.Network.Advertise)
	hosts, ips = n.permitted("cluster port", hosts, ips)
	nodeCert, err := n.keys.IssueNodeCert(cfg.Node.ID, hosts, ips, 0)
	if err != nil {
		return err
	}
	n.nodeLeaf = nodeCert.Leaf
	ccfg := clusternet.DefaultConfig()
	ccfg.NodeID, ccfg.Cert, ccfg.CA, ccfg.ListenAddr = cfg.Node.ID, nodeCert, n.keys.CertPool(), cfg.Network.ClusterListen
	n.revoked = newRevocationList(n.logger)
	ccfg.Revoked = n.revoked.check // refuses every peer until the metadata is open (revoke.go)
	if n.mux, err = clusternet.Listen(ccfg, n.logger); err != nil {
		return fmt.Errorf("listen on the cluster port %s: %w", cfg.Network.ClusterListen, err)
	}
	n.onStop("cluster port", func(context.Context) error { return n.mux.Close() })
	if n.advertise, err = advertiseAddr(cfg.Network.Advertise, n.mux.Addr().String()); err != nil {
		return err
	}

	tcfg := raftnet.DefaultTransportConfig()
	tcfg.Advertise = raft.ServerAddress(n.advertise)
	if n.trans, err = raftnet.NewTransport(n.mux, tcfg, n.logger); err != nil {
		return fmt.Errorf("raft transport: %w", err)
	}
	n.onStop("raft transport", func(context.Context) error { return n.trans.Close() })
	if n.riClient, err = raftnet.NewReadIndexClient(n.mux, raftnet.DefaultClientConfig()); err != nil {
		return fmt.Errorf("read-index client: %w", err)
	}
	n.onStop("read-index client", func(context.Context) error { return n.riClient.Close() })

	if n.store, err = raftfsm.Open(n.raftConfig(), raftfsm.Deps{
		Transport: n.trans, ReadIndex: n.riClient, Forward: n.riClient, Signer: headSigner{n.keys}, Logger: n.logger,
	}); err != nil {
		if errors.Is(err, raftfsm.ErrLocked) {
			return fmt.Errorf("serve %s: %w", cfg.DataDir, ErrRunning)
		}
		return fmt.Errorf("open the metadata: %w", err)
	}
	n.onStop("metadata", func(context.Context) error { return n.store.Close() })
	n.revoked.setStore(n.store)
	if n.riServer, err = raftnet.NewReadIndexServer(n.mux, n.store, raftnet.DefaultServerConfig(), n.logger); err != nil {
		return fmt.Errorf("read-index server: %w", err)
	}
	n.onStop("read-index server", func(context.Context) error { return n.riServer.Close() })

	if err := n.readClusterInfo(ctx); err != nil { // a joined node waits for the log (join.go)
		return err
	}
	if err := n.startJoin(); err != nil {
		return err
	}

	if err := n.openBlobs(ctx); err != nil {
		return err
	}

	if n.accounts, err = account.New(account.DefaultConfig(), n.store, n.logger); err != nil {
		return fmt.Errorf("account service: %w", err)
	}

	n.verifyJournalAtStart(ctx)

	n.startScanner(ctx)
	if err := n.startMail(); err != nil {
		return err
	}
	if err := n.startTransfers(); err != nil {
		return err
	}
	n.lastPolicy = n.policy()
	if err := n.startLimits(); err != nil {
		return err
	}
	if err := n.startUploads(); err != nil {
		return err
	}

	if err := n.startAdmin(); err != nil {
		return err
	}
	if err := n.startAdminTLS(); err != nil { // adminlisten.go
		return err
	}
	n.onStop("rest api", n.closeAPI)
	if err := n.startHTTPS(ctx); err != nil {
		return err
	}

	if err := n.startAPI(); err != nil {
		return err
	}
	if err := n.startWeb(); err != nil {
		return err
	}

	n.startRepair()
	n.startBackups() // backupschedule.go
	n.bg.Add(5)
	go n.afterLeader()
	go n.watchHTTPS()
	go n.watchSettings()
	go n.rescanHeld()
	go n.purgeAccounts()
	n.bg.Add(1)
	go n.watchRevocations() // revoke.go
	n.bg.Add(1)
	go n.keepRestoreReport() // restorereport.go
	n.startMembership()
	n.onStop("background jobs", func(context.Context) error { n.bgCancel(); n.bg.Wait(); return nil })

	n.serving.Store(true)
	n.logger.Info("node serving",
		logNodeID, cfg.Node.ID,
		"https", n.https.Addr().String(),
		"cluster", n.mux.Addr().String(),
		"advertise", n.advertise,
		"admin_socket", cfg.AdminSocketPath(),
		"admin", n.adminTLSAddr(),
		"site", cfg.Node.Site,
		"disks", len(n.disks))
	return nil
}

// stop stops the started components in reverse order; each gets what is left of ctx.
func (n *instance) stop(ctx context.Context) error {
	n.bgCancel()
	var errs []error
	for i := len(n.stops) - 1; i >= 0; i-- {
		s := n.stops[i]
		if err := s.fn(ctx); err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, raftfsm.ErrClosed) {
			n.logger.Warn("stop", "component", s.name, logkey.Err, err)
			errs = append(errs, fmt.Errorf("stop %s: %w", s.name, err))
		}
	}
	n.stops = nil
	return errors.Join(errs...)
}

// raftConfig maps the node's Raft settings onto raftfsm's.
func (n *instance) raftConfig() raftfsm.Config {
	rc := raftfsm.DefaultConfig()
	rc.NodeID = n.cfg.Node.ID
	rc.Dir = n.cfg.raftDir()
	rc.HeartbeatTimeout = n.cfg.Raft.HeartbeatTimeout
	rc.ElectionTimeout = max(n.cfg.Raft.ElectionTimeout, n.cfg.Raft.HeartbeatTimeout)
	rc.LeaderLeaseTimeout = n.cfg.Raft.LeaderLeaseTimeout
	rc.CommitTimeout = n.cfg.Raft.CommitTimeout
	rc.SnapshotThreshold = n.cfg.Raft.SnapshotThreshold
	return rc
}

// openBlobs opens the local disks and the blobstore over them, then cleans the staged
// leftovers of interrupted selftests.
func (n *instance) openBlobs(ctx context.Context) error {
	disks := map[blobstore.DiskID]blobstore.Disk{}
	n.repair = newRepairer(n)
	for i, p := range n.cfg.DiskPaths() {
		ld := localDisk{id: blobstore.DiskID(diskID(n.cfg.Node.ID, i)), path: p, state: "ok"}
		m, err := readDiskMarker(p)
		if errors.Is(err, os.ErrNotExist) {
			m, err = n.adoptDisk(p, i) // an empty directory: a replaced disk (disks.go)
		}
		switch {
		case errors.Is(err, os.ErrNotExist):
			ld.state = "missing"
		case errors.Is(err, errDiskNotEmpty):
			ld.state = "no marker and not empty: not used"
		case err != nil:
			ld.state = "unreadable"
		case m.ClusterID != n.cluster.ID || m.NodeID != n.cfg.Node.ID:
			return fmt.Errorf("disk %s belongs to another node or cluster (its %s names node %s of cluster %s)", p, diskMarkerName, m.NodeID, m.ClusterID)
		default:
			ld.id = blobstore.DiskID(m.DiskID)
			d, err := blobstore.NewDirDisk(ld.id, p)
			if err != nil {
				ld.state = "unusable"
				break
			}
			ld.disk = d
			disks[ld.id] = n.repair.watchDisk(d, p) // its errors wake the probes (diskwatch.go)
		}
		if ld.state != "ok" {
			n.logger.Warn("disk not usable: its shards count as lost until it returns", logDisk, p, "state", ld.state)
		}
		n.disks = append(n.disks, ld)
	}
	var err error
	bcfg := blobstore.DefaultConfig()
	bcfg.ClusterID = n.cluster.ID
	bcfg.BlockSize = n.cfg.Blobstore.BlockSize
	if n.placement, err = n.newPlacement(ctx, disks, bcfg.MinFreeBytes); err != nil {
		return err
	}
	bcfg.Layout = n.placement.layout()
	if n.blobs, err = blobstore.New(bcfg, n.placement.cmap, disks, n.placement, keyWrapper{n.keys}, n.logger); err != nil {
		n.placement.close()
		return fmt.Errorf("open the blobstore: %w", err)
	}
	n.onStop("blobstore", func(context.Context) error { return n.blobs.Close() })
	n.placement.failed = func(id blobstore.DiskID) bool { return n.repair.diskFailed(id) != "" }
	n.placement.start(n.blobs)
	n.onStop("placement", func(context.Context) error { return n.placement.close() })
	// The other nodes reach this node's usable disks on the cluster port (issue 18).
	if n.shards, err = shardnet.NewServer(n.mux, disks, shardnet.DefaultServerConfig(), n.logger); err != nil {
		return fmt.Errorf("shard server: %w", err)
	}
	n.onStop("shard server", func(context.Context) error { return n.shards.Close() })

	staged, err := n.blobs.ListStaged(ctx)
	if err != nil {
		return fmt.Errorf("list staged uploads: %w", err)
	}
	left, live := 0, 0
	for _, s := range staged {
		switch {
		case isSelftestID(s.FileID):
			left++
		case !s.Committed:
			live++
		}
	}
	if left > 0 {
		if err := n.blobs.CleanStaged(ctx, func(id blobstore.FileID) bool { return !isSelftestID(id) }); err != nil {
			return fmt.Errorf("clean interrupted selftests: %w", err)
		}
		n.logger.Info("cleaned interrupted selftests", "count", left)
	}
	n.logger.Info("staged uploads", "count", live)
	return nil
}

// verifyJournalAtStart walks the journal once, so that status can say it was verified.
func (n *instance) verifyJournalAtStart(ctx context.Context) {
	rep, err := n.store.VerifyJournal(ctx)
	n.journalMu.Lock()
	n.journalOK = err == nil
	n.journalMu.Unlock()
	if err != nil {
		n.logger.Error("the journal's hash chain does not hold: an operator must investigate", "broken_at", rep.BrokenAt, logkey.Err, err)
		return
	}
	n.logger.Info("journal verified", "entries", rep.Entries)
}

// startAdmin serves the admin API on the Unix socket, created private (listenPrivateUnix),
// then mode 0600.
func (n *instance) startAdmin() error {
	path := n.cfg.AdminSocketPath()
	// We hold the data directory's lock: a socket left here is stale (kill -9).
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		_ = os.Remove(path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("admin socket folder: %w", err)
	}
	ln, err := listenPrivateUnix(path)
	if err != nil {
		return fmt.Errorf("admin socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("restrict the admin socket %s: %w", path, err)
	}
	n.adminLn = ln
	n.adminSrv = &http.Server{
		Handler:           adminapi.WhileStarting(n.serving.Load, adminapi.NewHandler(&adminService{n: n}, n.logger)),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(n.logger.Handler(), slog.LevelDebug),
		ConnContext:       adminapi.ConnContext, // the peer's uid, for the journal
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := n.adminSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.reportFatal(fmt.Errorf("admin socket: %w", err))
		}
	}()
	n.onStop("admin socket", func(ctx context.Context) error {
		err := n.adminSrv.Shutdown(ctx)
		if err != nil {
			_ = n.adminSrv.Close()
		}
		<-done
		_ = os.Remove(path)
		return err
	})
	n.logger.Info("admin socket listening", logAddr, path)
	return nil
}

// leaderWait bounds how long startHTTPS waits for a Raft leader before obtaining the HTTPS
// certificates: without one, certmagic's locks and writes cannot commit.
const leaderWait = 15 * time.Second

// noLeaderObtain bounds obtaining the certificates when no leader is known: enough to load
// those already in the metadata; the others are retried in the background.
const noLeaderObtain = 5 * time.Second

// startHTTPS serves /healthz, /readyz, /ca.pem and the mounts with certificates that certmagic
// obtains from the cluster CA and keeps in the metadata (certstore, docs/dependencies.md, trap 6), one
// per name this node answers to. A certificate issued at each start for the listen and
// advertised names stays the fallback, for a name certmagic holds none for yet. HTTPS starts once a leader is known (or
// leaderWait passed), so that the first obtain on a new cluster can commit.
func (n *instance) startHTTPS(ctx context.Context) error {
	hosts, ips := certNames(n.cfg.Network.Listen, n.cfg.Network.Advertise)
	hosts, ips = n.permitted("https fallback", hosts, ips)
	cert, err := n.keys.IssueServerCert(hosts, ips)
	if err != nil {
		return err
	}
	storage, err := n.certStorage()
	if err != nil {
		return err
	}
	issuer, err := certstore.NewIssuer(n.keys, 0)
	if err != nil {
		return err
	}
	obtain := time.Duration(0) // httpd's default
	wctx, cancel := context.WithTimeout(ctx, leaderWait)
	_, werr := n.store.WaitLeader(wctx)
	cancel()
	if werr != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("start https: %w", ctx.Err())
		}
		n.logger.Warn("no raft leader yet: serving HTTPS with the certificates already stored, obtaining the others in the background", logkey.Err, werr)
		obtain = noLeaderObtain
	}
	hcfg := httpd.DefaultConfig()
	hcfg.Listen = n.cfg.Network.Listen
	hcfg.Certificate = cert
	hcfg.Managed = &httpd.ManagedTLS{
		Storage:           storage,
		Issuer:            issuer,
		Names:             n.permittedNames("https", httpd.ServerNames(n.cfg.Network.Listen, n.cfg.Network.Advertise, n.setting("public_url"), append(tlsExtraNames(hosts, ips), "::1")...)),
		DefaultServerName: defaultServerName(n.cfg.Network.Listen, n.cfg.Network.Advertise),
		ObtainTimeout:     obtain,
	}
	hcfg.CAPEM = n.keys.CAPEM()
	if n.https, err = httpd.New(hcfg, n.httpDeps(), n.logger); err != nil {
		return err
	}
	n.applyProxies()
	if err := n.https.Start(); err != nil {
		return err
	}
	n.onStop("https", n.https.Shutdown)
	return nil
}

// certStorage returns certmagic's storage on the metadata, sealed by the cluster key; it is
// closed after HTTPS stops (stop runs in reverse).
func (n *instance) certStorage() (*certstore.Storage, error) {
	ccfg := certstore.DefaultConfig()
	ccfg.Holder = n.cfg.Node.ID
	storage, err := certstore.New(ccfg, certstore.Deps{Store: n.store, Sealer: n.keys, Logger: n.logger})
	if err != nil {
		return nil, fmt.Errorf("certificate storage: %w", err)
	}
	n.onStop("certificate storage", func(context.Context) error { return storage.Close() })
	return storage, nil
}

// tlsExtraNames turns certNames' output into httpd.ServerNames' extra names (the fallback
// certificate's names; start adds ::1, which it names too).
func tlsExtraNames(hosts []string, ips []net.IP) []string {
	out := slices.Clone(hosts)
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	return out
}

// defaultServerName is the name whose certificate answers a client that sends no SNI and
// reached an address no certificate names: the advertised host, else the listen IP, else
// 127.0.0.1. (A client connecting by an IP a certificate names gets that one.)
func defaultServerName(listen, advertise string) string {
	host := func(s string) (string, net.IP) {
		if h, _, err := net.SplitHostPort(s); err == nil {
			s = h
		}
		s = strings.ToLower(strings.Trim(s, "[]"))
		ip := net.ParseIP(s)
		if ip != nil && ip.IsUnspecified() {
			return "", nil
		}
		return s, ip
	}
	if h, ip := host(advertise); ip != nil {
		return ip.String()
	} else if h != "" {
		return h
	}
	if _, ip := host(listen); ip != nil {
		return ip.String()
	}
	return "127.0.0.1"
}

// reportFatal hands a component's failure to Run, which stops the node.
func (n *instance) reportFatal(err error) {
	select {
	case n.fatal <- err:
	default:
	}
}

// afterLeader waits for a leader, then updates this node's address in the Raft configuration
// if it changed, and removes what interrupted selftests left in the metadata.
func (n *instance) afterLeader() {
	defer n.bg.Done()
	ctx := n.bgCtx
	if _, err := n.store.WaitLeader(ctx); err != nil {
		return
	}
	st := n.store.Status()
	if st.State.IsLeader() {
		for _, m := range st.Members {
			if m.ID == n.cfg.Node.ID && m.Address != n.advertise {
				if err := n.store.AddVoter(ctx, n.cfg.Node.ID, raft.ServerAddress(n.advertise)); err != nil {
					n.logger.Warn("update this node's address in the raft configuration", "from", m.Address, "to", n.advertise, logkey.Err, err)
				} else {
					n.logger.Info("updated this node's address in the raft configuration", "from", m.Address, "to", n.advertise)
				}
			}
		}
		n.cleanSelftests(ctx)
		if c, err := n.uploader.CleanOrphans(ctx, stagedByOthers); err != nil {
			n.logger.Warn("clean orphaned staged uploads", logkey.Err, err)
		} else if c > 0 {
			n.logger.Info("cleaned orphaned staged uploads", "count", c)
		}
	} else if st.LeaderID != "" {
		for _, m := range st.Members {
			if m.ID == n.cfg.Node.ID && m.Address != n.advertise {
				n.logger.Info("this node's address changed; the leader updates it from this node's record", "from", m.Address, "to", n.advertise, "leader", st.LeaderID)
			}
		}
	}
}

// watchHTTPS stops the node if the HTTPS server stops serving on its own.
func (n *instance) watchHTTPS() {
	defer n.bg.Done()
	select {
	case <-n.bgCtx.Done():
	case <-n.https.Done():
		n.reportFatal(errors.New("the HTTPS server stopped serving"))
	}
}

// ready says whether the stores are open and a leader is known.
func (n *instance) ready() error {
	if n.store == nil || n.blobs == nil {
		return errors.New("stores not open")
	}
	st := n.store.Status()
	if st.State == raftfsm.Shutdown {
		return errors.New("raft shut down")
	}
	if st.LeaderID == "" {
		return errors.New("no raft leader known")
	}
	return nil
}

// readiness adapts a running node to httpd.Readiness.
type readiness struct{ n *instance }

// Ready implements httpd.Readiness.
func (r readiness) Ready() error { return r.n.ready() }

// certNames returns the names a certificate for a listener at listen (and advertised as
// advertise) must carry.
func certNames(listen, advertise string) ([]string, []net.IP) {
	var hosts []string
	var ips []net.IP
	add := func(h string) {
		if h == "" {
			return
		}
		if ip := net.ParseIP(h); ip != nil {
			if !ip.IsUnspecified() {
				ips = append(ips, ip)
			}
			return
		}
		hosts = append(hosts, h)
	}
	if h, _, err := net.SplitHostPort(listen); err == nil {
		add(h)
	}
	if advertise != "" {
		if h, _, err := net.SplitHostPort(advertise); err == nil {
			add(h)
		} else {
			add(advertise)
		}
	}
	if h, _, err := net.SplitHostPort(listen); err == nil && (h == "" || net.ParseIP(h) != nil && net.ParseIP(h).IsUnspecified()) {
		if name, err := os.Hostname(); err == nil {
			add(name)
		}
		if ip := firstNonLoopback(); ip != nil {
			ips = append(ips, ip)
		}
	}
	return hosts, ips
}

// liveStaged counts the staged uploads still being written: not the committed leftovers
// blobstore keeps until the file is recorded (StagedUpload.Committed).
func liveStaged(staged []blobstore.StagedUpload) int {
	n := 0
	for _, s := range staged {
		if !s.Committed {
			n++
		}
	}
	return n
}

// isSelftestID reports whether id names a selftest file.
func isSelftestID(id blobstore.FileID) bool { return strings.HasPrefix(string(id), selftestIDPrefix) }
