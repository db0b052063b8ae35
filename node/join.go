package node

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"valise/internal/clusternet"
	"valise/keyring"
	"valise/raftfsm"
)

// ErrWrongCA is returned by Join when the node it contacts serves another cluster CA than the
// one the token names: nothing is sent to it.
var ErrWrongCA = errors.New("the node contacted serves another cluster CA than the join token names")

// JoinOptions say how to join a node to a running cluster.
type JoinOptions struct {
	// DataDir is the node's data directory; it must be missing or empty.
	DataDir string
	// Disks is how many disk directories to create under DataDir/disks when DiskPaths is empty.
	Disks int
	// DiskPaths are the disk directories (mount points) to use instead; each must be missing
	// or empty.
	DiskPaths []string
	// Site names the node's site; empty means "default".
	Site string
	// Token is the join token `appliance cluster token` printed.
	Token string
	// URL is any running node's HTTPS address, https://host:port.
	URL string
	// Listen, ClusterListen and Advertise are recorded in the configuration (see
	// NetworkConfig); the cluster port and the HTTPS port must be fixed (not 0), since the
	// cluster records them before the node starts.
	Listen, ClusterListen, Advertise string
	// AdminSocket is recorded in the configuration when not empty.
	AdminSocket string
	// Raft overrides the default Raft timeouts when not nil (tests shorten them).
	Raft *RaftConfig
	// Replace names a member whose data directory was lost: the node joins as it, with the
	// same node ID and new disks (its token must be made with `cluster token --replace`).
	Replace string
}

// JoinResult is what join prints.
type JoinResult struct {
	NodeID        string   `json:"node_id"`
	ConfigPath    string   `json:"config"`
	ClusterID     string   `json:"cluster_id"`
	CAFingerprint string   `json:"ca_fingerprint"`
	Members       []string `json:"members"`
}

// joinTimeout bounds the whole of Join.
const joinTimeout = 2 * time.Minute

// Join makes DataDir a new node of the cluster that the node at opts.URL belongs to. It checks
// that node's CA against the token's fingerprint (no trust on first use), has the cluster
// record the node as joining and sign its certificate, fetches the cluster's keys over mutual
// TLS, then writes the keys, the disk markers, an empty Raft directory and, last, the
// configuration. `serve` then runs it; the leader adds it to Raft. On failure Join removes
// what it created; once the cluster recorded the node, the error says so.
func Join(ctx context.Context, opts JoinOptions) (res JoinResult, err error) {
	ctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	if opts.DataDir == "" {
		return res, errors.New("join: no data directory")
	}
	tok, err := parseJoinToken(opts.Token)
	if err != nil {
		return res, fmt.Errorf("join: %w", err)
	}
	base, err := joinURL(opts.URL)
	if err != nil {
		return res, err
	}
	cfg, err := initConfig(InitOptions{
		DataDir: opts.DataDir, Disks: opts.Disks, DiskPaths: opts.DiskPaths, Site: opts.Site,
		Listen: opts.Listen, ClusterListen: opts.ClusterListen, Advertise: opts.Advertise,
		AdminSocket: opts.AdminSocket, Raft: opts.Raft,
	})
	if err != nil {
		return res, err
	}
	cfg.Settings = nil // cluster-wide settings are the cluster's already
	clusterAddr, err := advertiseAddr(cfg.Network.Advertise, cfg.Network.ClusterListen)
	if err != nil {
		return res, err
	}
	if err := checkJoinAddr(clusterAddr); err != nil {
		return res, fmt.Errorf("join: --cluster-listen/--advertise: %w", err)
	}
	httpsAddr, err := advertiseAddr(cfg.Network.Advertise, cfg.Network.Listen)
	if err != nil {
		return res, err
	}
	if err := checkJoinAddr(httpsAddr); err != nil {
		return res, fmt.Errorf("join: --listen/--advertise: %w", err)
	}
	disks, err := joinDisks(cfg.DiskPaths(), opts.Replace) // joinreattach.go
	if err != nil {
		return res, fmt.Errorf("join: %w", err)
	}
	if err := checkJoinDataDir(opts.DataDir, disks); err != nil {
		return res, err
	}

	// 1. The cluster CA, checked against the token before anything is sent.
	ca, err := fetchCA(ctx, base, tok)
	if err != nil {
		return res, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)

	// 2. The node's key, its certificate, its record: over TLS verified against that CA.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return res, fmt.Errorf("join: generate the node key: %w", err)
	}
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "joining node"}}, key)
	if err != nil {
		return res, fmt.Errorf("join: certificate request: %w", err)
	}
	req := joinRequest{
		Token: tok.String(), Site: cfg.Node.Site, Cluster: clusterAddr, HTTPS: httpsAddr, Replace: opts.Replace,
		CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER})),
	}
	req.Disks = disks
	var admitted joinResponse
	if err := retryJoin(ctx, func() error {
		var err error
		admitted, err = postJoin(ctx, base, pool, req)
		return err
	}); err != nil {
		return res, err
	}
	// From here on the cluster holds a record of the node: say so if anything fails.
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w (the cluster recorded node %s as joining: remove it with `appliance cluster remove %s` before joining again)", err, admitted.NodeID, admitted.NodeID)
		}
	}()
	if len(admitted.Disks) != len(req.Disks) {
		return res, fmt.Errorf("join: the cluster named %d disks for %d", len(admitted.Disks), len(req.Disks))
	}
	if opts.Replace != "" && admitted.NodeID != opts.Replace {
		return res, fmt.Errorf("join: the cluster admitted node %s, not %s", admitted.NodeID, opts.Replace)
	}
	for i, d := range req.Disks {
		if d.Reattach != "" && (admitted.Disks[i].ID != d.Reattach || admitted.ClusterID != d.ClusterID) {
			return res, fmt.Errorf("join: the cluster named disk %s %s of cluster %s, its marker says %s of %s", d.Path, admitted.Disks[i].ID, admitted.ClusterID, d.Reattach, d.ClusterID)
		}
	}
	cfg.Node.ID = admitted.NodeID
	if err := cfg.Validate(); err != nil {
		return res, fmt.Errorf("join: the cluster's answer: %w", err)
	}
	cert, err := joinCert(admitted.Certificate, key)
	if err != nil {
		return res, err
	}

	// 3. The cluster's keys, over mutual TLS on the member's cluster port.
	var bundle keyring.Bundle
	if err := retryJoin(ctx, func() error {
		var err error
		bundle, err = fetchKeys(ctx, admitted.Cluster, cert, pool)
		if err != nil {
			err = errRetry{err} // the member may have lost its leader for a moment
		}
		return err
	}); err != nil {
		return res, err
	}

	// 4. The data directory.
	if err := writeJoined(cfg, tok, admitted, bundle, req.Disks); err != nil {
		return res, err
	}
	return JoinResult{
		NodeID:        cfg.Node.ID,
		ConfigPath:    filepath.Join(opts.DataDir, ConfigFileName),
		ClusterID:     admitted.ClusterID,
		CAFingerprint: keyringFingerprint(ca),
		Members:       admitted.Members,
	}, nil
}

// joinAttempts bounds the tries of a step that failed for want of a leader; joinRetryWait is
// the pause between them.
const (
	joinAttempts  = 10
	joinRetryWait = time.Second
)

// errRetry marks an error that a new attempt may not meet.
type errRetry struct{ error }

func (e errRetry) Unwrap() error { return e.error }

// retryJoin runs step until it succeeds, fails for good, or has failed joinAttempts times
// with an errRetry; it returns the last error unwrapped of its mark.
func retryJoin(ctx context.Context, step func() error) error {
	for i := 1; ; i++ {
		err := step()
		var r errRetry
		if err == nil || !errors.As(err, &r) {
			return err
		}
		if i == joinAttempts {
			return r.error
		}
		t := time.NewTimer(joinRetryWait)
		select {
		case <-ctx.Done():
			t.Stop()
			return r.error
		case <-t.C:
		}
	}
}

// joinURL parses the URL of the node to contact: https, a host, nothing after the port.
func joinURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("join: %q: want the HTTPS address of a running node, https://host:port", s)
	}
	return &url.URL{Scheme: "https", Host: u.Host}, nil
}

// fetchCA downloads base's /ca.pem without verification, then keeps the one certificate
// whose fingerprint the token names; otherwise it refuses with ErrWrongCA.
func fetchCA(ctx context.Context, base *url.URL, tok joinToken) (*x509.Certificate, error) {
	hc := &http.Client{Transport: &http.Transport{
		// The CA is not known yet: what is fetched is checked against the token below.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12},
	}}
	defer hc.CloseIdleConnections()
	body, err := joinGet(ctx, hc, base.JoinPath("/ca.pem").String())
	if err != nil {
		return nil, fmt.Errorf("join: fetch the cluster CA from %s: %w", base, err)
	}
	var seen []string
	for rest := body; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil || block.Type != "CERTIFICATE" {
			continue
		}
		if tok.matchesCA(c) {
			return c, nil
		}
		seen = append(seen, hexFingerprint(c))
	}
	return nil, fmt.Errorf("join: %w: %s serves %s, the token names %s; it is not the cluster the token was made for, or something is in the way: nothing was sent",
		ErrWrongCA, base, strings.Join(append(seen, "no certificate")[:max(len(seen), 1)], ", "), hex.EncodeToString(tok.caSum[:]))
}

// joinGet GETs url and returns its body, at most 1 MiB.
func joinGet(ctx context.Context, hc *http.Client, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s", u, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
}

// postJoin posts req to base's JoinPath over TLS verified against pool.
func postJoin(ctx context.Context, base *url.URL, pool *x509.CertPool, req joinRequest) (joinResponse, error) {
	var out joinResponse
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	defer hc.CloseIdleConnections()
	b, _ := json.Marshal(req)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, base.JoinPath(JoinPath).String(), bytes.NewReader(b))
	if err != nil {
		return out, fmt.Errorf("join: %w", err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(hreq)
	if err != nil {
		return out, fmt.Errorf("join: ask %s to admit this node: %w", base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return out, fmt.Errorf("join: read the answer of %s: %w", base, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e joinErrorBody
		err := fmt.Errorf("join: %s answered %s", base, resp.Status)
		if json.Unmarshal(body, &e) == nil && e.Message != "" {
			err = fmt.Errorf("join: %s refused: %s", base, trimMessage([]byte(e.Message)))
		}
		if resp.StatusCode == http.StatusServiceUnavailable {
			err = errRetry{err} // no leader for a moment: nothing was decided
		}
		return out, err
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return out, fmt.Errorf("join: decode the answer of %s: %w", base, err)
	}
	return out, nil
}

// joinCert pairs the certificate chain the cluster signed with the node's key.
func joinCert(chainPEM string, key *ecdsa.PrivateKey) (tls.Certificate, error) {
	var cert tls.Certificate
	for rest := []byte(chainPEM); ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type == "CERTIFICATE" {
			cert.Certificate = append(cert.Certificate, block.Bytes)
		}
	}
	if len(cert.Certificate) == 0 {
		return cert, errors.New("join: the cluster's answer holds no certificate")
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return cert, fmt.Errorf("join: the cluster's certificate: %w", err)
	}
	if !key.PublicKey.Equal(leaf.PublicKey) {
		return cert, errors.New("join: the cluster's certificate is not for this node's key")
	}
	cert.PrivateKey, cert.Leaf = key, leaf
	return cert, nil
}

// fetchKeys asks the member at addr for the cluster's keys on ProtoJoin.
func fetchKeys(ctx context.Context, addr string, cert tls.Certificate, pool *x509.CertPool) (keyring.Bundle, error) {
	var b keyring.Bundle
	c, err := clusternet.Dial(ctx, cert, pool, clusternet.ProtoJoin, addr, "")
	if err != nil {
		return b, fmt.Errorf("join: reach the cluster port %s: %w", addr, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	kind, payload, err := readJoinFrame(c)
	if err != nil {
		return b, fmt.Errorf("join: receive the cluster's keys from %s: %w", addr, err)
	}
	if kind == joinFrameError {
		return b, fmt.Errorf("join: %s refused the keys: %s", addr, trimMessage(payload))
	}
	if err := json.Unmarshal(payload, &b); err != nil {
		return b, fmt.Errorf("join: decode the cluster's keys: %w", err)
	}
	return b, nil
}

// writeJoined writes the joined node's data directory as init does: the keys, the disk
// directories with their markers, an empty Raft directory and, last, the configuration. On
// failure it removes what it created.
func writeJoined(cfg Config, tok joinToken, admitted joinResponse, bundle keyring.Bundle, disks []joinDisk) (err error) {
	nd, err := createDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	nd.keep = func(p string) bool { return holdsReattached(p, disks) }
	defer func() {
		if err != nil {
			nd.rollback()
		}
	}()
	lock, err := lockDir(cfg.lockPath())
	if err != nil {
		return fmt.Errorf("join %s: %w", cfg.DataDir, err)
	}
	defer lock.release()

	keys, err := keyring.Import(cfg.KeyDirPath(), bundle)
	if err != nil {
		return fmt.Errorf("write the cluster keys: %w", err)
	}
	if !tok.matchesCA(keys.CACert()) {
		return fmt.Errorf("join: %w: the keys received sign with another CA", ErrWrongCA)
	}
	for i, p := range cfg.DiskPaths() {
		if i < len(disks) && disks[i].Reattach != "" {
			continue // re-attached: its marker already names it
		}
		if err := nd.mkdir(p); err != nil {
			return fmt.Errorf("create disk directory %s: %w", p, err)
		}
		m := diskMarker{ClusterID: admitted.ClusterID, NodeID: cfg.Node.ID, DiskID: admitted.Disks[i].ID}
		if err := writeDiskMarker(p, m); err != nil {
			return fmt.Errorf("mark disk %s: %w", p, err)
		}
		nd.created(filepath.Join(p, diskMarkerName))
	}
	if err := os.MkdirAll(cfg.raftDir(), 0o700); err != nil {
		return fmt.Errorf("create the raft directory: %w", err)
	}
	data, err := cfg.Encode()
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(cfg.DataDir, ConfigFileName), data, 0o600)
}

// hexFingerprint is the SHA-256 of c's DER in lower-case hex, as join tokens carry it.
func hexFingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// keyringFingerprint is c's fingerprint as init prints it (keyring.Keyring.Fingerprint).
func keyringFingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// joinWait bounds how long a joined node's start waits for the cluster to add it to Raft and
// send it the log.
const joinWait = 10 * time.Minute

// joinWaitLog is how often the wait says it is still waiting.
const joinWaitLog = 15 * time.Second

// readClusterInfo reads the cluster record into n.cluster. A node that join wrote starts with
// an empty Raft: it waits (at most joinWait, logging) until the leader has added it and the
// record has been applied. A leader without the record is an init that did not finish.
func (n *instance) readClusterInfo(ctx context.Context) error {
	cfg := &n.cfg
	start := time.Now()
	lastLog := time.Time{}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		err := getJSON(n.store, keyClusterInfo, &n.cluster)
		if err == nil {
			if !lastLog.IsZero() {
				n.logger.Info("this node holds the cluster's metadata: starting", "waited", time.Since(start).Round(time.Millisecond).String())
			}
			return nil
		}
		if !errors.Is(err, raftfsm.ErrNotFound) {
			return fmt.Errorf("read the cluster record: %w", err)
		}
		if n.store.Status().State.IsLeader() {
			return fmt.Errorf("%w: %s holds no cluster record (init did not finish: remove the directory and run init again)", ErrNotInitialised, cfg.DataDir)
		}
		if time.Since(start) > joinWait {
			return fmt.Errorf("%w: %s holds no cluster record after %s: if this node was joined, check that the leader reaches its cluster address %s and adds it", ErrNotInitialised, cfg.DataDir, joinWait, n.advertise)
		}
		if time.Since(lastLog) >= joinWaitLog {
			st := n.store.Status()
			n.logger.Info("waiting for the cluster to add this node and send it the metadata (a joined node; the leader adds it to raft)",
				"advertise", n.advertise, "leader", st.LeaderID, "applied", st.AppliedIndex)
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the cluster record: %w", ctx.Err())
		case <-t.C:
		}
	}
}
