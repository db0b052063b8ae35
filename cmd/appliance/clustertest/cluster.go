// Package clustertest runs clusters of real appliance processes for the fault tests of issue
// 18: it builds the binary once, gives each node its own loopback address (127.A.B.N, every
// address of 127.0.0.0/8 answers on lo), creates the first node with `init`, adds the others
// with `cluster token` and `join`, and offers the faults as methods: kill -9, restart, and
// partitions with nftables (partition.go). Nodes are driven through the command line and its
// --json output, the contract operators and scripts use (docs/design.md).
//
// Every process a Cluster starts is killed by t.Cleanup; the data directories are removed
// unless the test failed (then their path is logged, with each node's log).
package clustertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"valise/adminapi"
	"valise/internal/poll"
)

// Hang guards: generous bounds for a slow machine, never budgets.
const (
	// readyWait bounds a node's start until /readyz answers.
	readyWait = 2 * time.Minute
	// commandWait bounds one command-line call.
	commandWait = 2 * time.Minute
)

// Ports every node uses on its own address.
const (
	httpsPort   = 8443
	clusterPort = 8444
)

var build struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// Binary builds cmd/appliance once per test binary and returns its path. The directory is
// left for the system's temporary files cleaner; RemoveBinary removes it from TestMain.
func Binary(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		build.dir, build.err = os.MkdirTemp("", "vct-bin")
		if build.err != nil {
			return
		}
		build.bin = filepath.Join(build.dir, "appliance")
		cmd := exec.Command("go", "build", "-o", build.bin, "valise/cmd/appliance")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			build.err = fmt.Errorf("build appliance: %w\n%s", err, out.String())
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.bin
}

// RemoveBinary removes what Binary built; call it from TestMain after m.Run.
func RemoveBinary() {
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
}

// Options say what cluster New makes.
type Options struct {
	// Sites lists each node's site, in order; its length is the number of nodes.
	Sites []string
	// Disks is each node's number of disk directories (default 2).
	Disks int
	// ClamdAddress, when set, is given to every node as clamd.address, a node setting written
	// into each node's valise.toml before its first start (one clamd shared by the test
	// binary: scantest.Shared); otherwise each node runs its own.
	ClamdAddress string
	// LAN keeps the configuration's LAN Raft timeouts (200/200/100 ms), for the benchmarks.
	// Otherwise the nodes get TestRaftTimeouts: the fault tests run beside the race suite on
	// two cores, where a leader starved for 100 ms would step down again and again; what they
	// check does not depend on how fast a leader is elected.
	LAN bool
}

// TestRaftTimeouts are the heartbeat, election and leader lease timeouts the fault tests give
// their nodes unless Options.LAN.
var TestRaftTimeouts = [3]string{"1s", "1s", "500ms"}

// Cluster is a set of appliance processes that form one cluster.
type Cluster struct {
	t      testing.TB
	bin    string
	opts   Options
	prefix string // "127.A.B.": node i listens on prefix+(i+1)
	Nodes  []*Node
}

// Node is one appliance process and its data directory.
type Node struct {
	c     *Cluster
	Index int    // from 0, in start order
	Name  string // "n1", … for logs
	Dir   string // data directory (short: Unix socket paths are limited)
	IP    string
	Site  string
	ID    string // the node ID, known once it ran

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd exited
	runs int
}

// HTTPS returns the node's HTTPS address, host:port.
func (n *Node) HTTPS() string { return fmt.Sprintf("%s:%d", n.IP, httpsPort) }

// ClusterAddr returns the node's cluster port address, host:port.
func (n *Node) ClusterAddr() string { return fmt.Sprintf("%s:%d", n.IP, clusterPort) }

// URL returns the node's HTTPS base URL.
func (n *Node) URL() string { return "https://" + n.HTTPS() }

// New starts a cluster: the first node by init, the others by join, each serving and ready,
// and waits until every node is a member.
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if len(opts.Sites) == 0 {
		t.Fatal("clustertest: no nodes")
	}
	if opts.Disks == 0 {
		opts.Disks = 2
	}
	c := &Cluster{t: t, bin: Binary(t), opts: opts, prefix: randomPrefix(t)}
	t.Cleanup(c.cleanup)
	for i, site := range opts.Sites {
		dir, err := os.MkdirTemp("", "vct")
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(dir) // init and join want a missing or empty directory: keep the short name
		n := &Node{c: c, Index: i, Name: "n" + strconv.Itoa(i+1), Dir: dir, IP: c.prefix + strconv.Itoa(i+1), Site: site}
		c.Nodes = append(c.Nodes, n)
		if i == 0 {
			n.MustRun("init", "--disks", strconv.Itoa(opts.Disks), "--site", site,
				"--listen", n.HTTPS(), "--cluster-listen", n.ClusterAddr())
		} else {
			token := c.Nodes[0].Token()
			n.MustRun("join", "--site", site, "--token", token, "--disks", strconv.Itoa(opts.Disks),
				"--listen", n.HTTPS(), "--cluster-listen", n.ClusterAddr(), c.Nodes[0].URL())
		}
		n.started()
	}
	c.WaitMembers()
	return c
}

// randomPrefix returns "127.A.B." with A, B random, so that clusters of concurrent test
// binaries (and a stale process of a crashed run) never share an address.
func randomPrefix(t testing.TB) string {
	a, err := rand.Int(rand.Reader, big.NewInt(150))
	if err != nil {
		t.Fatal(err)
	}
	b, err := rand.Int(rand.Reader, big.NewInt(250))
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.%d.%d.", 100+a.Int64(), 1+b.Int64())
}

// cleanup kills every process; removes the data unless the test failed.
func (c *Cluster) cleanup() {
	for _, n := range c.Nodes {
		n.Kill()
	}
	for _, n := range c.Nodes {
		if c.t.Failed() {
			c.t.Logf("%s: data kept in %s; log:\n%s", n.Name, n.Dir, tail(filepath.Join(n.Dir, "node.log"), 60))
			continue
		}
		os.RemoveAll(n.Dir)
	}
}

// tail returns the last lines of a file, for failure reports.
func tail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

// Run runs `appliance ARGS… --data DIR` for the node and returns its standard output.
func (n *Node) Run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandWait)
	defer cancel()
	cmd := exec.CommandContext(ctx, n.c.bin, append(args, "--data", n.Dir)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s: appliance %s: %w: %s", n.Name, strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), nil
}

// ExitUnavailable is the exit status of a command the cluster could not answer right now
// (no leader during an election, no quorum): the same command may succeed if tried again.
const ExitUnavailable = 4

// ExitCode returns the exit status in an error from Run, 0 for nil, -1 when the command did
// not exit by itself.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// MustRun is Run, failing the test on error. A command answered ExitUnavailable is tried again
// until the hang guard, as a script would: an election may be under way.
func (n *Node) MustRun(args ...string) string {
	n.c.t.Helper()
	var out string
	err := waitFor(readyWait, func() error {
		var err error
		out, err = n.Run(args...)
		if err != nil && ExitCode(err) != ExitUnavailable {
			return stop{err}
		}
		return err
	})
	if err != nil {
		n.c.t.Fatal(err)
	}
	return out
}

// RunJSON runs a command with --json and decodes its output into v.
func (n *Node) RunJSON(v any, args ...string) error {
	out, err := n.Run(append(args, "--json")...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("%s: appliance %s --json: %w: %q", n.Name, strings.Join(args, " "), err, out)
	}
	return nil
}

// Token returns a fresh join token from this node (`cluster token`, last line).
func (n *Node) Token() string {
	n.c.t.Helper()
	out := strings.TrimSpace(n.MustRun("cluster", "token"))
	lines := strings.Split(out, "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// setLocal sets the node setting table.key (clamd.address: "clamd", "address") in the node's
// valise.toml, as `settings set` would on a running node: a [local.table] table appended.
func (n *Node) setLocal(table, key, value string) {
	n.c.t.Helper()
	f, err := os.OpenFile(filepath.Join(n.Dir, "valise.toml"), os.O_APPEND|os.O_WRONLY, 0)
	if err == nil {
		_, err = fmt.Fprintf(f, "\n[local.%s]\n%s = %s\n", table, key, strconv.Quote(value))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		n.c.t.Fatalf("%s: set %s.%s: %v", n.Name, table, key, err)
	}
}

// raftTimeoutRE matches the Raft timeouts init and join write into valise.toml.
var raftTimeoutRE = regexp.MustCompile(`(?m)^(\s*)(heartbeat_timeout|election_timeout|leader_lease_timeout) = "[^"]*"$`)

// setRaftTimeouts rewrites the heartbeat, election and leader lease timeouts in the node's
// valise.toml.
func (n *Node) setRaftTimeouts(t [3]string) {
	n.c.t.Helper()
	path := filepath.Join(n.Dir, "valise.toml")
	b, err := os.ReadFile(path)
	if err != nil {
		n.c.t.Fatal(err)
	}
	found := 0
	b = raftTimeoutRE.ReplaceAllFunc(b, func(m []byte) []byte {
		found++
		sm := raftTimeoutRE.FindSubmatch(m)
		v := map[string]string{"heartbeat_timeout": t[0], "election_timeout": t[1], "leader_lease_timeout": t[2]}[string(sm[2])]
		return []byte(fmt.Sprintf("%s%s = %q", sm[1], sm[2], v))
	})
	if found != 3 {
		n.c.t.Fatalf("%s: %d Raft timeouts in %s, want 3", n.Name, found, path)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		n.c.t.Fatal(err)
	}
}

// Start runs `appliance serve` for the node, its output appended to DIR/node.log.
func (n *Node) Start() {
	n.c.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		n.c.t.Fatalf("%s: already running", n.Name)
	}
	log, err := os.OpenFile(filepath.Join(n.Dir, "node.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		n.c.t.Fatal(err)
	}
	defer log.Close()
	n.runs++
	fmt.Fprintf(log, "=== %s start %d\n", n.Name, n.runs)
	cmd := exec.Command(n.c.bin, "serve", "--data", n.Dir)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		n.c.t.Fatalf("%s: start: %v", n.Name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	n.cmd, n.done = cmd, done
}

// Running reports whether the node's process runs.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// Kill kills the node's process group with SIGKILL (kill -9) and waits for it to exit.
func (n *Node) Kill() { n.signal(syscall.SIGKILL) }

// Stop asks the node to stop (SIGTERM) and waits for it to exit.
func (n *Node) Stop() { n.signal(syscall.SIGTERM) }

func (n *Node) signal(sig syscall.Signal) {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.cmd = nil
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, sig)
	select {
	case <-done:
	case <-time.After(commandWait):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// Admin returns a client of the node's admin socket (DIR/admin.sock), for callers that poll
// faster than a command line can (the failover benchmark). The caller closes it.
func (n *Node) Admin() *adminapi.Client {
	return adminapi.NewClient(filepath.Join(n.Dir, "admin.sock"))
}

// Status returns the node's `status --json`, failing the test if it cannot.
func (n *Node) Status() adminapi.Status {
	n.c.t.Helper()
	st, err := n.TryStatus()
	if err != nil {
		n.c.t.Fatal(err)
	}
	return st
}

// TryStatus returns the node's `status --json`.
func (n *Node) TryStatus() (adminapi.Status, error) {
	var st adminapi.Status
	err := n.RunJSON(&st, "status")
	return st, err
}

// WaitStatus waits until cond accepts the node's status, failing the test with what after the
// hang guard.
func (n *Node) WaitStatus(what string, cond func(adminapi.Status) error) {
	n.c.t.Helper()
	err := waitFor(readyWait, func() error {
		st, err := n.TryStatus()
		if err != nil {
			return err
		}
		return cond(st)
	})
	if err != nil {
		n.c.t.Fatalf("%s: waiting for %s: %v", n.Name, what, err)
	}
}

// WaitReady waits until the node knows a leader and its /readyz answers 200 over HTTPS
// verified against the cluster CA.
func (n *Node) WaitReady() {
	n.c.t.Helper()
	err := waitFor(readyWait, func() error {
		if !n.Running() {
			return stop{fmt.Errorf("%s exited:\n%s", n.Name, tail(filepath.Join(n.Dir, "node.log"), 40))}
		}
		resp, err := n.Client().Get(n.URL() + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s /readyz: %s", n.Name, resp.Status)
		}
		return nil
	})
	if err != nil {
		n.c.t.Fatalf("%s not ready: %v", n.Name, err)
	}
}

// Client returns an HTTPS client trusting only the cluster CA (from the node's key folder).
func (n *Node) Client() *http.Client {
	pool := x509.NewCertPool()
	if b, err := os.ReadFile(filepath.Join(n.Dir, "keys", "ca.pem")); err == nil {
		pool.AppendCertsFromPEM(b)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, DisableKeepAlives: true}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// Leader returns the running node that says it is the leader, waiting for one.
func (c *Cluster) Leader() *Node {
	c.t.Helper()
	var leader *Node
	err := waitFor(readyWait, func() error {
		for _, n := range c.Nodes {
			if !n.Running() {
				continue
			}
			st, err := n.TryStatus()
			if err == nil && st.Raft.State == "Leader" {
				leader = n
				return nil
			}
		}
		return errors.New("no node is leader")
	})
	if err != nil {
		c.t.Fatal(err)
	}
	return leader
}

// WaitLeaderAmong waits until one of nodes says it is the leader and returns it.
func WaitLeaderAmong(t testing.TB, nodes []*Node) *Node {
	t.Helper()
	var leader *Node
	err := waitFor(readyWait, func() error {
		for _, n := range nodes {
			st, err := n.TryStatus()
			if err == nil && st.Raft.State == "Leader" {
				leader = n
				return nil
			}
		}
		return errors.New("none of the nodes is leader")
	})
	if err != nil {
		t.Fatal(err)
	}
	return leader
}

// Voters returns how many voters the membership policy gives a cluster of n nodes: every
// node up to five, in odd numbers (docs/design.md, Joining).
func Voters(n int) int {
	v := min(n, 5)
	if v%2 == 0 {
		v--
	}
	return v
}

// WaitMembers waits until every running node lists every node of the cluster as an active
// member, with as many voters as the membership policy gives the cluster: a fault test
// starts from a cluster that can lose one node.
func (c *Cluster) WaitMembers() {
	c.t.Helper()
	want := Voters(len(c.Nodes))
	err := waitFor(readyWait, func() error {
		for _, n := range c.Nodes {
			if !n.Running() {
				continue
			}
			st, err := n.TryStatus()
			if err != nil {
				return err
			}
			voters := 0
			for _, m := range st.Members {
				if m.State != "active" {
					return fmt.Errorf("%s says member %s is %s", n.Name, m.ID, m.State)
				}
				if m.Suffrage == "Voter" {
					voters++
				}
			}
			if len(st.Members) < len(c.Nodes) || voters != want {
				return fmt.Errorf("%s lists %d members of %d, %d voters of %d", n.Name, len(st.Members), len(c.Nodes), voters, want)
			}
		}
		return nil
	})
	if err != nil {
		c.t.Fatal(err)
	}
}

// Converged waits until every running node has applied the same index, then checks that they
// hold the same state: the same applied index must give the same state hash (`journal verify
// --json`), and every node's journal must verify.
func (c *Cluster) Converged() {
	c.t.Helper()
	err := waitFor(readyWait, func() error {
		var first adminapi.JournalReport
		var firstName string
		for _, n := range c.Nodes {
			if !n.Running() {
				continue
			}
			var rep adminapi.JournalReport
			if err := n.RunJSON(&rep, "journal", "verify"); err != nil {
				return err
			}
			if !rep.OK {
				return stop{fmt.Errorf("%s: the journal's chain is broken at entry %d", n.Name, rep.BrokenAt)}
			}
			if firstName == "" {
				first, firstName = rep, n.Name
				continue
			}
			if rep.AppliedIndex != first.AppliedIndex {
				return fmt.Errorf("%s applied %d, %s applied %d", n.Name, rep.AppliedIndex, firstName, first.AppliedIndex)
			}
			if rep.StateHash != first.StateHash {
				return stop{fmt.Errorf("split state: at applied index %d, %s has state %s and %s has %s",
					rep.AppliedIndex, n.Name, rep.StateHash, firstName, first.StateHash)}
			}
		}
		return nil
	})
	if err != nil {
		c.t.Fatal(err)
	}
}

// Others returns the nodes of the cluster other than n.
func (c *Cluster) Others(n *Node) []*Node {
	var out []*Node
	for _, o := range c.Nodes {
		if o != n {
			out = append(out, o)
		}
	}
	return out
}

// stop wraps an error that ends a wait at once: waiting longer cannot help.
type stop struct{ error }

// waitFor calls cond until it returns nil, returns a stop error at once, or gives up after
// timeout with cond's last error.
func waitFor(timeout time.Duration, cond func() error) error {
	var stopped error
	err := poll.Within(timeout, func() error {
		err := cond()
		var s stop
		if errors.As(err, &s) {
			stopped = s.error
			return nil
		}
		return err
	})
	if stopped != nil {
		return stopped
	}
	return err
}
