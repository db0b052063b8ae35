package clustertest

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"valise/adminapi"
)

// This file is a user of the cluster as curl would be: an API token, tus uploads, a send, and
// the recipient's download by link, against any node's HTTPS address.

// User creates a user and returns an API token of theirs. The commands run on n, or on the
// leader when n is not (admin changes are decided on the leader, and leadership may move while
// a fresh cluster settles): the user and the token are the cluster's, usable on every node.
func (n *Node) User(email string) string {
	n.c.t.Helper()
	n.c.runOnLeader(n, "user", "add", "--email", email, "--name", "Test user", "--lang", "en")
	return n.NewToken(email)
}

// NewToken creates an API token of the user with this e-mail and returns it (the commands run
// as User's).
func (n *Node) NewToken(email string) string {
	n.c.t.Helper()
	out := strings.TrimSpace(n.c.runOnLeader(n, "token", "create", "--email", email))
	lines := strings.Split(out, "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// runOnLeader runs an admin command on first, or again on the node that leads when the one
// asked says it does not (or knows no leader yet), within commandWait; it fails the test
// otherwise.
func (c *Cluster) runOnLeader(first *Node, args ...string) string {
	c.t.Helper()
	var out string
	n := first
	err := waitFor(commandWait, func() error {
		var err error
		out, err = n.Run(args...)
		switch {
		case err == nil:
			return nil
		case strings.Contains(err.Error(), "not the leader") || strings.Contains(err.Error(), "no Raft leader"):
			n = c.Leader()
			return err
		}
		return stop{err}
	})
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// retryWait bounds how long a request refused for now is retried: a hang guard, not a
// budget.
const retryWait = 2 * time.Minute

// request sends one API request with the bearer token and returns the response and its body.
// With retry it acts as a tus client does (tus-js-client's retryDelays): while the node
// answers 503 (the cluster is electing a leader, Retry-After) or 423 (an upload's lease is
// still held by a node that was killed, until it expires), or the connection breaks while the
// node still runs (it closed the connection on a refusal it answered before reading the
// body), it asks again with a backoff, within retryWait; then it returns the last answer. A
// transport error from a node that is not running ends it at once.
func (n *Node) request(method, path, token string, hdr map[string]string, body []byte, retry bool) (*http.Response, []byte, error) {
	var resp *http.Response
	var b []byte
	var err error
	send := func() error {
		resp, b, err = n.send(method, path, token, hdr, body)
		switch {
		case !retry:
			return nil
		case err != nil && n.Running():
			return err
		case err != nil:
			return stop{err}
		case resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusLocked:
			return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
		}
		return nil
	}
	_ = waitFor(retryWait, send) // the last answer says what went wrong
	return resp, b, err
}

// Get sends one GET request to the API with the bearer token, retrying as request does.
func (n *Node) Get(path, token string) (*http.Response, []byte, error) {
	return n.request(http.MethodGet, path, token, nil, nil, true)
}

// send sends one API request with the bearer token.
func (n *Node) send(method, path, token string, hdr map[string]string, body []byte) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, n.URL()+path, rd)
	if err != nil {
		return nil, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := n.Client().Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// Upload is one tus upload in progress: its URL path (valid on every node) and offset.
type Upload struct {
	Path   string // /api/v1/uploads/…
	Size   int64
	Offset int64
}

// CreateUpload creates a tus upload of size bytes named name on n, retrying while the node
// answers for now (request).
func (n *Node) CreateUpload(token, name string, size int64) (*Upload, error) {
	return n.createUpload(token, name, size, true)
}

func (n *Node) createUpload(token, name string, size int64, retry bool) (*Upload, error) {
	resp, b, err := n.request(http.MethodPost, "/api/v1/uploads", token, map[string]string{
		"Tus-Resumable":   "1.0.0",
		"Upload-Length":   strconv.FormatInt(size, 10),
		"Upload-Metadata": "filename " + base64.StdEncoding.EncodeToString([]byte(name)),
	}, nil, retry)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("%s: tus POST: %s: %s", n.Name, resp.Status, b)
	}
	loc := resp.Header.Get("Location")
	if i := strings.Index(loc, "/api/"); i > 0 {
		loc = loc[i:]
	}
	return &Upload{Path: loc, Size: size}, nil
}

// Patch sends data[up.Offset:up.Offset+chunk] to n and advances up.Offset on success,
// retrying while the node answers for now (request).
func (n *Node) Patch(token string, up *Upload, data []byte, chunk int64) error {
	end := min(up.Offset+chunk, int64(len(data)))
	return n.patchBytes(token, up, data[up.Offset:end], true)
}

// PatchBytes sends b at up.Offset to n and advances up.Offset on success, retrying while the
// node answers for now (request).
func (n *Node) PatchBytes(token string, up *Upload, b []byte) error {
	return n.patchBytes(token, up, b, true)
}

func (n *Node) patchBytes(token string, up *Upload, b []byte, retry bool) error {
	end := up.Offset + int64(len(b))
	resp, body, err := n.request(http.MethodPatch, up.Path, token, map[string]string{
		"Tus-Resumable": "1.0.0",
		"Upload-Offset": strconv.FormatInt(up.Offset, 10),
		"Content-Type":  "application/offset+octet-stream",
	}, b, retry)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("%s: tus PATCH at %d: %s: %s", n.Name, up.Offset, resp.Status, body)
	}
	got, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if err != nil || got != end {
		return fmt.Errorf("%s: tus PATCH at %d: offset %q, want %d", n.Name, up.Offset, resp.Header.Get("Upload-Offset"), end)
	}
	up.Offset = end
	return nil
}

// Offset asks n for the upload's offset (tus HEAD) and sets up.Offset to it, retrying while
// the node answers for now (request).
func (n *Node) Offset(token string, up *Upload) error {
	resp, b, err := n.request(http.MethodHead, up.Path, token, map[string]string{"Tus-Resumable": "1.0.0"}, nil, true)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: tus HEAD: %s: %s", n.Name, resp.Status, b)
	}
	off, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if err != nil {
		return fmt.Errorf("%s: tus HEAD: %w", n.Name, err)
	}
	up.Offset = off
	return nil
}

// FileID returns the file ID of an upload: the last element of its path.
func (up *Upload) FileID() string { return up.Path[strings.LastIndexByte(up.Path, '/')+1:] }

// UploadAll uploads data to n in chunks and returns the file ID, retrying each request while
// the node answers for now (request).
func (n *Node) UploadAll(token, name string, data []byte, chunk int64) (string, error) {
	return n.uploadAll(token, name, data, chunk, true)
}

// UploadOnce is UploadAll sending each request once: for a test that expects a refusal (the
// minority of a partition answers 503 for as long as the partition lasts).
func (n *Node) UploadOnce(token, name string, data []byte, chunk int64) (string, error) {
	return n.uploadAll(token, name, data, chunk, false)
}

func (n *Node) uploadAll(token, name string, data []byte, chunk int64, retry bool) (string, error) {
	up, err := n.createUpload(token, name, int64(len(data)), retry)
	if err != nil {
		return "", err
	}
	for up.Offset < up.Size {
		end := min(up.Offset+chunk, int64(len(data)))
		if err := n.patchBytes(token, up, data[up.Offset:end], retry); err != nil {
			return "", err
		}
	}
	return up.FileID(), nil
}

// fileInfo is what GET /api/v1/files/ID says of a file.
type fileInfo struct {
	Verdict string `json:"verdict"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
}

// WaitClean waits until the file's verdict is clean and returns its SHA-256 as the node
// reports it.
func (n *Node) WaitClean(token, id string) string {
	n.c.t.Helper()
	var f fileInfo
	err := waitFor(readyWait, func() error {
		resp, b, err := n.request(http.MethodGet, "/api/v1/files/"+id, token, nil, nil, false)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("file %s: %s: %s", id, resp.Status, b)
		}
		if err := json.Unmarshal(b, &f); err != nil {
			return err
		}
		if f.Verdict != "clean" {
			return fmt.Errorf("file %s: verdict %q", id, f.Verdict)
		}
		return nil
	})
	if err != nil {
		n.c.t.Fatalf("%s: %v", n.Name, err)
	}
	return f.SHA256
}

// linkRE finds a link in a mail's text.
var linkRE = regexp.MustCompile(`https://[^\s/]+/s/([A-Za-z0-9_-]{43})`)

// Send sends the files to one recipient from n and returns the send's ID and the recipient's
// link token, read from the outbox (no relay is configured).
func (n *Node) Send(token, to string, files ...string) (sendID, link string, err error) {
	return n.SendWith(token, to, nil, files...)
}

// SendWith is Send with the send's options (the API's "options" object: "password", …).
func (n *Node) SendWith(token, to string, options map[string]any, files ...string) (sendID, link string, err error) {
	body, err := json.Marshal(map[string]any{"to": []string{to}, "subject": "clustertest", "files": files, "options": options})
	if err != nil {
		return "", "", err
	}
	resp, b, err := n.request(http.MethodPost, "/api/v1/sends", token, map[string]string{"Content-Type": "application/json"}, body, true)
	if err != nil {
		return "", "", err
	}
	if resp.StatusCode != http.StatusCreated {
		return "", "", fmt.Errorf("%s: POST /api/v1/sends: %s: %s", n.Name, resp.Status, b)
	}
	var created struct {
		Send struct {
			ID string `json:"id"`
		} `json:"send"`
	}
	if err := json.Unmarshal(b, &created); err != nil || created.Send.ID == "" {
		return "", "", fmt.Errorf("%s: POST /api/v1/sends: no send ID in %s", n.Name, b)
	}
	var ob adminapi.Outbox
	if err := n.RunJSON(&ob, "outbox"); err != nil {
		return "", "", err
	}
	for i := len(ob.Mails) - 1; i >= 0; i-- {
		m := ob.Mails[i]
		if m.Kind != "send" || len(m.To) == 0 || m.To[0] != to {
			continue
		}
		if sm := linkRE.FindStringSubmatch(m.Text); sm != nil {
			return created.Send.ID, sm[1], nil
		}
	}
	return "", "", fmt.Errorf("%s: no link for %s in the outbox", n.Name, to)
}

// Revoke revokes a send from n.
func (n *Node) Revoke(token, sendID string) error {
	resp, b, err := n.request(http.MethodPost, "/api/v1/sends/"+sendID+"/revoke", token, nil, nil, true)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: revoke %s: %s: %s", n.Name, sendID, resp.Status, b)
	}
	return nil
}

// Download fetches a file by link from n and returns its SHA-256, hex, retrying while the
// node answers 503 (an election: the link check is a linearizable read), as a browser's user
// would. Each download comes from an address of its own in 127.0.0.0/8, as recipients on a
// network do: the nodes limit link attempts per client address.
func (n *Node) Download(link, fileID string) (string, error) {
	var sum string
	var err error
	_ = waitFor(retryWait, func() error {
		var st int
		sum, st, err = n.download(link, fileID)
		if st == http.StatusServiceUnavailable {
			return err
		}
		return nil
	})
	return sum, err
}

// DownloadOnce is Download without retries: for a test that expects a refusal (the minority
// of a partition answers 503 for as long as the partition lasts).
func (n *Node) DownloadOnce(link, fileID string) (string, error) {
	sum, _, err := n.download(link, fileID)
	return sum, err
}

// DownloadWithPassword answers the link's password challenge, then fetches the file with the
// grant it gives and returns its SHA-256.
func (n *Node) DownloadWithPassword(link, password, fileID string) (string, error) {
	body, err := json.Marshal(map[string]string{"password": password})
	if err != nil {
		return "", err
	}
	hc := n.linkClient()
	resp, err := hc.Post(n.URL()+"/api/v1/links/"+link+"/password", "application/json", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return "", err
	}
	var g struct {
		Grant string `json:"grant"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &g) != nil || g.Grant == "" {
		return "", fmt.Errorf("%s: password of link %s: %s: %s", n.Name, link, resp.Status, b)
	}
	sum, _, err := n.fetch(link, fileID, g.Grant)
	return sum, err
}

// LinkStatus returns the HTTP status of the link's metadata (GET /api/v1/links/TOKEN): 200 for
// a link that works, 404 for one revoked or unknown.
func (n *Node) LinkStatus(link string) (int, error) {
	resp, _, err := n.request(http.MethodGet, "/api/v1/links/"+link, "", nil, nil, true)
	if err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

// download fetches a file by link once and returns its SHA-256 and the response's status.
func (n *Node) download(link, fileID string) (string, int, error) { return n.fetch(link, fileID, "") }

// fetch fetches a file by link once, with the link's grant when not empty, from an address
// of its own, and returns its SHA-256 and the response's status.
func (n *Node) fetch(link, fileID, grant string) (string, int, error) {
	hc := n.linkClient()
	req, err := http.NewRequest(http.MethodGet, n.URL()+"/s/"+link+"/files/"+fileID, nil)
	if err != nil {
		return "", 0, err
	}
	if grant != "" {
		req.Header.Set("X-Valise-Grant", grant)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return "", resp.StatusCode, fmt.Errorf("%s: download %s: %s: %s", n.Name, fileID, resp.Status, b)
	}
	h := sha256.New()
	if _, err := io.Copy(h, resp.Body); err != nil {
		return "", resp.StatusCode, fmt.Errorf("%s: download %s: %w", n.Name, fileID, err)
	}
	return hex.EncodeToString(h.Sum(nil)), resp.StatusCode, nil
}

// linkClient returns n's Client dialling from an address of its own in 127.0.0.0/8, as
// recipients on a network do: the nodes limit link attempts per client address.
func (n *Node) linkClient() *http.Client {
	hc := n.Client()
	tr := hc.Transport.(*http.Transport)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 1+byte(mrand.IntN(99)), byte(mrand.IntN(256)), 1+byte(mrand.IntN(254)))}}
	tr.DialContext = d.DialContext
	return hc
}

// SHA256 returns the hex SHA-256 of data.
func SHA256(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}
