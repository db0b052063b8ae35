package node

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"valise/fault"
	"valise/httpd/status"
	"valise/internal/clientaddr"
	"valise/internal/clusternet"
	"valise/internal/keyrate"
	"valise/internal/logkey"
	"valise/keyring"
	"valise/raftfsm"
)

// The member's side of `appliance join` (issue 18): the HTTPS endpoint that spends a join
// token and records the new node, and the cluster-port protocol (clusternet.ProtoJoin) that
// hands the cluster's keys to a node whose record is joining or active.
const (
	// JoinPath is the HTTPS endpoint a joining node posts its joinRequest to.
	JoinPath = "/cluster/join"
	// maxJoinBody bounds a joinRequest: a CSR and a few paths.
	maxJoinBody = 64 << 10
	// maxJoinFrame bounds the key bundle (or an error) sent on ProtoJoin.
	maxJoinFrame = 1 << 20
	// joinCertValidity is the life of the certificate a joining node gets for its own key:
	// long enough to fetch the keys; once it serves, the node issues its own at each start.
	joinCertValidity = time.Hour
	// joinCallTimeout bounds one join request or key fetch on the member.
	joinCallTimeout = 30 * time.Second
	// joinPerMinute and joinBurst limit join attempts per client address: each costs a
	// linearizable read and maybe a Raft write.
	joinPerMinute, joinBurst = 10, 10
)

// Frame kinds on ProtoJoin: one frame, then the member closes the connection.
const (
	joinFrameKeys  byte = 'K' // a keyring.Bundle, JSON
	joinFrameError byte = 'E' // a sentence saying why not
)

// Errors of the join endpoint, answered with their sentence.
var (
	// ErrJoinRequest is returned for a join request that is malformed or names bad
	// addresses, site or disks; the message says which.
	ErrJoinRequest = fault.New(fault.Invalid, "bad_join_request", "the join request is malformed")
	// ErrJoinAddressTaken is returned when another node's record already holds the cluster
	// address the joining node gives.
	ErrJoinAddressTaken = fault.New(fault.Conflict, "join_address_taken", "another node of the cluster already uses this cluster address")
)

// joinRequest is what a joining node posts to JoinPath.
type joinRequest struct {
	Token string `json:"token"`
	Site  string `json:"site"`
	// CSR is the node's certificate request in PEM: only its key is used.
	CSR string `json:"csr"`
	// Cluster and HTTPS are the node's advertised addresses, host:port.
	Cluster string     `json:"cluster"`
	HTTPS   string     `json:"https"`
	Disks   []joinDisk `json:"disks"`
	// Replace names the node this one replaces (join --replace); its token must be for it.
	Replace string `json:"replace,omitempty"`
}

// joinDisk is one of the joining node's disks: its path in the request, with the ID the
// cluster gave it in the answer.
type joinDisk struct {
	ID   string `json:"id,omitempty"`
	Path string `json:"path"`
	// Reattach and ClusterID are set for a disk whose marker names the node replaced (join
	// --replace): its disk ID and cluster, which it keeps (joinreattach.go).
	Reattach  string `json:"reattach,omitempty"`
	ClusterID string `json:"cluster_id,omitempty"`
}

// joinResponse is the member's answer to a joinRequest.
type joinResponse struct {
	NodeID string `json:"node_id"`
	// Certificate is the node's certificate for its own key, PEM chain: for the key fetch.
	Certificate string `json:"certificate"`
	// CA is the cluster CA certificates, PEM, as /ca.pem serves them.
	CA        string     `json:"ca"`
	ClusterID string     `json:"cluster_id"`
	Disks     []joinDisk `json:"disks"`
	// Cluster is the answering member's cluster address: where to fetch the keys.
	Cluster string `json:"cluster"`
	// Members are the Raft members' addresses.
	Members []string `json:"members"`
}

// joinErrorBody is the body of a refused join request.
type joinErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// joinServer is a member's side of join. Its methods are safe for concurrent use.
type joinServer struct {
	n     *instance        // never nil
	limit *keyrate.Limiter // join attempts per client address
	keys  *clusternet.ConnServer
}

// startJoin serves ProtoJoin on the cluster port and prepares the HTTPS endpoint (mounted by
// httpDeps).
func (n *instance) startJoin() error {
	ln, err := n.mux.Listener(clusternet.ProtoJoin)
	if err != nil {
		return fmt.Errorf("join key server: %w", err)
	}
	j := &joinServer{n: n, limit: keyrate.New(joinPerMinute, joinBurst, 4096)}
	j.keys = clusternet.Serve(ln, 8, j.serveKeys, nil)
	n.joins = j
	n.onStop("join key server", func(context.Context) error { return j.keys.Close() })
	return nil
}

// Handle implements httpd.Mount: POST JoinPath.
func (j *joinServer) Handle(ctx *fasthttp.RequestCtx) bool {
	if string(ctx.Path()) != JoinPath {
		return false
	}
	if !ctx.IsPost() {
		ctx.Response.Header.Set("Allow", "POST")
		ctx.SetStatusCode(fasthttp.StatusMethodNotAllowed)
		return true
	}
	client := clientaddr.Key(ctx.RemoteIP().String())
	if !j.limit.Allow(client, time.Now()) {
		ctx.SetConnectionClose()
		joinFail(ctx, status.ErrRateLimited, "too many join attempts from this address; wait a minute")
		return true
	}
	var req joinRequest
	if err := readJoinRequest(ctx, &req); err != nil {
		joinFail(ctx, err, "")
		return true
	}
	cctx, cancel := context.WithTimeout(j.n.bgCtx, joinCallTimeout)
	defer cancel()
	resp, err := j.admit(cctx, req)
	if err != nil {
		if fault.KindOf(err) == fault.Internal {
			j.n.logger.Error("join request", "client", client, logkey.Err, err)
		} else {
			j.n.logger.Warn("join refused", "client", client, logkey.Err, err)
		}
		joinFail(ctx, err, "")
		return true
	}
	j.n.logger.Info("node joining", logNodeID, resp.NodeID, "site", req.Site, "cluster", req.Cluster, "client", client)
	ctx.SetContentType("application/json")
	b, _ := json.Marshal(resp)
	ctx.SetBody(b)
	return true
}

// readJoinRequest reads a bounded JSON body into req.
func readJoinRequest(ctx *fasthttp.RequestCtx, req *joinRequest) error {
	if cl := ctx.Request.Header.ContentLength(); cl > maxJoinBody {
		ctx.SetConnectionClose()
		return status.ErrBodyTooLarge
	}
	if mt, _, err := mime.ParseMediaType(string(ctx.Request.Header.ContentType())); err != nil || mt != "application/json" {
		ctx.SetConnectionClose()
		return status.ErrUnsupportedMediaType
	}
	var body []byte
	if stream := ctx.RequestBodyStream(); stream != nil {
		var err error
		if body, err = io.ReadAll(io.LimitReader(stream, maxJoinBody+1)); err != nil {
			return status.ErrBadRequest
		}
	} else {
		body = ctx.PostBody()
	}
	if len(body) > maxJoinBody {
		ctx.SetConnectionClose()
		return status.ErrBodyTooLarge
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(req); err != nil || dec.More() {
		return fmt.Errorf("%w: the body is not a join request", ErrJoinRequest)
	}
	return nil
}

// joinFail answers err as a joinErrorBody with its status; message, when not empty, replaces
// the error's own sentence. An internal error shows no detail: the member's log has it.
func joinFail(ctx *fasthttp.RequestCtx, err error, message string) {
	code, kind := fault.CodeOf(err), fault.KindOf(err)
	if message == "" {
		message = err.Error()
		if kind == fault.Internal {
			message = "the node could not admit the join; its log says why"
		} else if kind == fault.Unavailable {
			message = "the cluster cannot decide now (no leader, or stopping); retry in a moment"
		}
	}
	ctx.SetStatusCode(status.Of(kind))
	ctx.SetContentType("application/json")
	b, _ := json.Marshal(joinErrorBody{Code: code, Message: message})
	ctx.SetBody(b)
}

// badJoin returns an ErrJoinRequest saying what is wrong.
func badJoin(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrJoinRequest, fmt.Sprintf(format, args...))
}

// admit checks req, spends its token and records the new node as joining, all in one
// conditional batch, and returns what the node needs to fetch its keys.
func (j *joinServer) admit(ctx context.Context, req joinRequest) (joinResponse, error) {
	n := j.n
	var resp joinResponse
	tok, err := parseJoinToken(req.Token)
	if err != nil {
		return resp, err
	}
	if !tok.matchesCA(n.keys.CACert()) {
		return resp, ErrJoinTokenUnknown
	}
	if err := validName(req.Site); err != nil {
		return resp, badJoin("site: %v", err)
	}
	if err := checkJoinAddr(req.Cluster); err != nil {
		return resp, badJoin("cluster address: %v", err)
	}
	if err := checkJoinAddr(req.HTTPS); err != nil {
		return resp, badJoin("https address: %v", err)
	}
	if len(req.Disks) < 1 || len(req.Disks) > 64 {
		return resp, badJoin("%d disks: want 1 to 64", len(req.Disks))
	}
	for _, d := range req.Disks {
		if !filepath.IsAbs(d.Path) || len(d.Path) > 4096 {
			return resp, badJoin("disk path %q is not absolute", d.Path)
		}
	}
	block, _ := pem.Decode([]byte(req.CSR))
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return resp, badJoin("csr: no PEM certificate request")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return resp, badJoin("csr: %v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return resp, badJoin("csr: %v", err)
	}

	// The token may have been made or spent on another node a moment ago.
	if err := n.store.LinearizableRead(ctx); err != nil {
		return resp, fmt.Errorf("read the join token: %w", err)
	}
	it, err := n.store.Get([]byte(tok.key()))
	if errors.Is(err, raftfsm.ErrNotFound) {
		return resp, ErrJoinTokenUnknown
	}
	if err != nil {
		return resp, fmt.Errorf("read the join token: %w", err)
	}
	var rec joinTokenRecord
	if err := json.Unmarshal(it.Value, &rec); err != nil {
		return resp, fmt.Errorf("decode the join token: %w", err)
	}
	now := time.Now().UTC()
	if !now.Before(rec.Expires) {
		j.sweep(ctx, tok.key(), it.Version, now)
		return resp, fmt.Errorf("%w (it expired at %s)", ErrJoinTokenExpired, rec.Expires.Format(time.RFC3339))
	}
	replaced, ok := strings.CutPrefix(rec.Purpose, purposeReplace)
	if !ok {
		replaced = ""
	}
	switch {
	case ok && req.Replace != replaced:
		return resp, fmt.Errorf("%w: this token admits only the replacement of node %s (join --replace %s)", ErrJoinRequest, replaced, replaced)
	case !ok && rec.Purpose != purposeJoin:
		return resp, ErrJoinTokenUnknown
	case !ok && req.Replace != "":
		return resp, fmt.Errorf("%w: this token admits a new node; to replace %s, make one with `appliance cluster token --replace %s`", ErrJoinRequest, req.Replace, req.Replace)
	}
	nodes, err := nodeRecords(n.store)
	if err != nil {
		return resp, fmt.Errorf("read the node records: %w", err)
	}
	for _, o := range nodes {
		if o.Cluster == req.Cluster && o.state() != nodeRemoved && o.ID != replaced {
			return resp, fmt.Errorf("%w: node %s is recorded at %s", ErrJoinAddressTaken, o.ID, req.Cluster)
		}
	}

	nodeID := "n-" + randomHex(6)
	nr := nodeRecord{Site: req.Site, Cluster: req.Cluster, HTTPS: req.HTTPS, State: nodeJoining}
	nodeCond := raftfsm.Cond{Kind: raftfsm.CondAbsent}
	if replaced != "" {
		// Same node ID; the old disks are retired (their shards count as lost, heal rebuilds
		// them), the new ones numbered after them.
		nodeID = replaced
		oi, err := n.store.Get([]byte(prefixNodes + nodeID))
		if err != nil {
			return resp, fmt.Errorf("read the record of node %s: %w", nodeID, err)
		}
		var old nodeRecord
		if err := json.Unmarshal(oi.Value, &old); err != nil {
			return resp, fmt.Errorf("decode the record of node %s: %w", nodeID, err)
		}
		if old.state() == nodeRemoved {
			return resp, fmt.Errorf("%w: node %s was removed from the cluster", ErrJoinRequest, nodeID)
		}
		kept, err := j.reattached(req.Disks, old)
		if err != nil {
			return resp, err
		}
		for _, d := range old.Disks {
			if p, ok := kept[d.ID]; ok {
				d.Path, d.State = p, "" // re-attached: its shards read as they are
			} else {
				d.State = diskRetired
			}
			nr.Disks = append(nr.Disks, d)
		}
		nodeCond = raftfsm.Cond{Kind: raftfsm.CondVersion, Version: oi.Version}
	} else if _, err := j.reattached(req.Disks, nodeRecord{}); err != nil {
		return resp, err
	}
	nr.ID = nodeID
	nodeCond.Key = []byte(prefixNodes + nodeID)
	chain, err := n.keys.SignNodeCSR(nodeID, csr, joinCertValidity)
	if err != nil {
		return resp, err
	}
	if replaced != "" {
		// The lost node's certificates are revoked before its replacement is admitted: every
		// one issued before the new one (node certificates are issued afresh at each start).
		blk, _ := pem.Decode(chain)
		if blk == nil {
			return resp, errors.New("sign node certificate request: no certificate in the chain")
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return resp, fmt.Errorf("read the new certificate of %s: %w", nodeID, err)
		}
		if err := revokeNode(ctx, n.store, nodeID, keyring.IssuedAt(cert), "replaced by join --replace"); err != nil {
			return resp, fmt.Errorf("revoke the certificates of the node replaced: %w", err)
		}
	}
	used := map[string]bool{}
	for _, o := range nodes {
		for _, d := range o.Disks {
			used[d.ID] = true
		}
	}
	next := len(nr.Disks)
	for _, d := range req.Disks {
		if d.Reattach != "" {
			resp.Disks = append(resp.Disks, joinDisk{ID: d.Reattach, Path: d.Path})
			continue
		}
		id := diskID(nodeID, next)
		for used[id] {
			next++
			id = diskID(nodeID, next)
		}
		used[id] = true
		nr.Disks = append(nr.Disks, diskRecord{ID: id, Path: d.Path})
		resp.Disks = append(resp.Disks, joinDisk{ID: id, Path: d.Path})
	}
	nb, _ := json.Marshal(nr)
	action := "node.join"
	if replaced != "" {
		action = "node.replace"
	}
	if _, err := n.store.Propose(ctx, raftfsm.Batch{
		Conds: []raftfsm.Cond{
			{Kind: raftfsm.CondVersion, Key: []byte(tok.key()), Version: it.Version},
			nodeCond,
		},
		Ops: []raftfsm.Op{
			{Kind: raftfsm.OpDelete, Key: []byte(tok.key())},
			{Kind: raftfsm.OpPut, Key: []byte(prefixNodes + nodeID), Value: nb},
		},
		Audit: raftfsm.Audit{Time: now, Actor: "join", Action: action, Target: nodeID,
			Details: mustJSON(map[string]any{"site": nr.Site, "cluster": nr.Cluster, "https": nr.HTTPS, "disks": len(nr.Disks), "token_by": rec.CreatedBy})},
	}); err != nil {
		if errors.Is(err, raftfsm.ErrConflict) {
			return resp, ErrJoinTokenUnknown // spent by a concurrent join
		}
		if !errors.Is(err, raftfsm.ErrOutcomeUnknown) || !j.recorded(ctx, nodeID, nb) {
			return resp, fmt.Errorf("record the joining node: %w", err)
		}
	}
	resp.NodeID = nodeID
	resp.Certificate = string(chain)
	resp.CA = string(n.keys.CAPEM())
	resp.ClusterID = n.cluster.ID
	resp.Cluster = n.advertise
	for _, m := range n.store.Status().Members {
		resp.Members = append(resp.Members, m.Address)
	}
	return resp, nil
}

// recorded says, after a proposal whose outcome is unknown, whether the record of nodeID
// committed: then the join went through and its answer must reach the node.
func (j *joinServer) recorded(ctx context.Context, nodeID string, record []byte) bool {
	if j.n.store.LinearizableRead(ctx) != nil {
		return false
	}
	it, err := j.n.store.Get([]byte(prefixNodes + nodeID))
	return err == nil && bytes.Equal(it.Value, record)
}

// sweep deletes an expired token, unless it changed meanwhile; a failure is only logged (the
// next `cluster token` sweeps it too).
func (j *joinServer) sweep(ctx context.Context, key string, version uint64, now time.Time) {
	if _, err := j.n.store.Propose(ctx, raftfsm.Batch{
		Conds: []raftfsm.Cond{{Kind: raftfsm.CondVersion, Key: []byte(key), Version: version}},
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpDelete, Key: []byte(key)}},
		Audit: raftfsm.Audit{Time: now, Actor: "join", Action: "cluster.token.expire", Target: purposeJoin},
	}); err != nil && !errors.Is(err, raftfsm.ErrConflict) {
		j.n.logger.Warn("delete an expired join token", logkey.Err, err)
	}
}

// checkJoinAddr checks an address a joining node advertises: host:port with a real host and
// a fixed port, since the cluster records it before the node starts.
func checkJoinAddr(addr string) error {
	if err := validHostPort(addr); err != nil {
		return err
	}
	host, port, _ := net.SplitHostPort(addr)
	if port == "0" {
		return fmt.Errorf("%q: the port must be fixed, not 0", addr)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		return fmt.Errorf("%q: name the host other nodes reach (--advertise)", addr)
	}
	return nil
}

// serveKeys answers one ProtoJoin connection: the key bundle for a peer whose node record is
// joining or active, a sentence otherwise.
func (j *joinServer) serveKeys(ctx context.Context, c net.Conn) {
	n := j.n
	ctx, cancel := context.WithTimeout(ctx, joinCallTimeout)
	defer cancel()
	_ = c.SetDeadline(time.Now().Add(joinCallTimeout))
	peer, _ := clusternet.PeerID(c)
	bundle, err := j.keysFor(ctx, peer)
	if err != nil {
		n.logger.Warn("join keys refused", logNodeID, peer, logkey.Err, err)
		_ = writeJoinFrame(c, joinFrameError, []byte(err.Error()))
		return
	}
	b, err := json.Marshal(bundle)
	if err != nil {
		return
	}
	if err := writeJoinFrame(c, joinFrameKeys, b); err != nil {
		n.logger.Warn("send the keys to a joining node", logNodeID, peer, logkey.Err, err)
		return
	}
	n.logger.Info("keys sent to a joining node", logNodeID, peer)
}

// keysFor returns the key bundle if peer's record is joining or active.
func (j *joinServer) keysFor(ctx context.Context, peer string) (keyring.Bundle, error) {
	n := j.n
	var rec nodeRecord
	err := getJSON(n.store, prefixNodes+peer, &rec)
	if err != nil || !keysAllowed(rec) {
		// Not yet applied here, or changed: ask the leader where the cluster stands.
		if err := n.store.LinearizableRead(ctx); err != nil {
			return keyring.Bundle{}, fmt.Errorf("read the node record of %s: %w", peer, err)
		}
		err = getJSON(n.store, prefixNodes+peer, &rec)
	}
	if err != nil {
		if errors.Is(err, raftfsm.ErrNotFound) {
			return keyring.Bundle{}, fmt.Errorf("node %s is not recorded in this cluster", peer)
		}
		return keyring.Bundle{}, fmt.Errorf("read the node record of %s: %w", peer, err)
	}
	if !keysAllowed(rec) {
		return keyring.Bundle{}, fmt.Errorf("node %s is %s: only a joining or active node receives the keys", peer, rec.state())
	}
	return n.keys.Export()
}

// keysAllowed says whether the node of rec may receive the cluster's keys.
func keysAllowed(rec nodeRecord) bool { return rec.state() == nodeJoining || rec.state() == nodeActive }

// writeJoinFrame writes one frame: its kind, the payload's length (4 bytes, big-endian), the
// payload.
func writeJoinFrame(w io.Writer, kind byte, payload []byte) error {
	hdr := [5]byte{kind}
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(payload)))
	if _, err := w.Write(append(hdr[:], payload...)); err != nil {
		return err
	}
	return nil
}

// readJoinFrame reads one frame of at most maxJoinFrame bytes.
func readJoinFrame(r io.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	size := binary.BigEndian.Uint32(hdr[1:])
	if size > maxJoinFrame {
		return 0, nil, fmt.Errorf("frame of %d bytes, more than %d", size, maxJoinFrame)
	}
	if hdr[0] != joinFrameKeys && hdr[0] != joinFrameError {
		return 0, nil, fmt.Errorf("unknown frame kind %#x", hdr[0])
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return 0, nil, err
	}
	return hdr[0], b, nil
}

// trimMessage bounds a peer's sentence before it is shown.
func trimMessage(b []byte) string {
	s := strings.ToValidUTF8(string(b), "?")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
