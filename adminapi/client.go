package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
)

// MaxSocketPath is the longest Unix socket path the kernel accepts (sun_path, less its NUL).
const MaxSocketPath = 107

// Client calls a node's admin API over its Unix socket. It is safe for concurrent use.
type Client struct {
	socket string       // the socket's path; "" for a client over mutual TLS (tlsclient.go)
	base   string       // "http://admin" over the socket, else the node's https:// URL
	hc     *http.Client // dials socket whatever the URL says; never nil
}

// NewClient returns a client of the node listening on the Unix socket at socketPath. It does
// not connect until the first call.
func NewClient(socketPath string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socketPath)
		},
		DisableCompression: true,
		MaxIdleConns:       2,
	}
	return &Client{socket: socketPath, base: "http://admin", hc: &http.Client{Transport: tr}}
}

// Close releases the client's idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Status returns the node's state.
func (c *Client) Status(ctx context.Context) (Status, error) {
	return call[Status](ctx, c, http.MethodGet, PathStatus, nil)
}

// Selftest runs a selftest on the node, calling step (if not nil) as each step finishes, and
// returns the result. A failed step is in the result (OK false), not an error.
func (c *Client) Selftest(ctx context.Context, req SelftestRequest, step func(SelftestStep)) (SelftestResult, error) {
	return callStream(ctx, c, PathSelftest, req, "selftest", func(ev SelftestEvent) *SelftestResult {
		if ev.Step != nil && step != nil {
			step(*ev.Step)
		}
		return ev.Result
	}, errors.New("the node closed the selftest stream before its result: it stopped or crashed"))
}

// VerifyJournal walks the journal's hash chain on the node.
func (c *Client) VerifyJournal(ctx context.Context) (JournalReport, error) {
	return call[JournalReport](ctx, c, http.MethodPost, PathJournalVerify, struct{}{})
}

// Settings lists every known setting.
func (c *Client) Settings(ctx context.Context) ([]Setting, error) {
	list, err := call[SettingList](ctx, c, http.MethodGet, PathSettings, nil)
	return list.Settings, err
}

// Setting returns one setting.
func (c *Client) Setting(ctx context.Context, key string) (Setting, error) {
	return call[Setting](ctx, c, http.MethodGet, PathSettings+"/"+url.PathEscape(key), nil)
}

// SetSetting stores one setting and returns it as stored.
func (c *Client) SetSetting(ctx context.Context, key, value string) (Setting, error) {
	return call[Setting](ctx, c, http.MethodPut, PathSettings+"/"+url.PathEscape(key), Setting{Key: key, Value: value})
}

// AddUser creates a user and returns its first password.
func (c *Client) AddUser(ctx context.Context, req UserAddRequest) (UserAddResponse, error) {
	return call[UserAddResponse](ctx, c, http.MethodPost, PathUsers, req)
}

// CheckPassword says whether password is the user's password.
func (c *Client) CheckPassword(ctx context.Context, email, password string) (bool, error) {
	resp, err := call[PasswordCheckResponse](ctx, c, http.MethodPost, PathPasswordCheck, PasswordCheckRequest{Email: email, Password: password})
	return resp.OK, err
}

// SetUserDisabled disables (or enables) the user with this e-mail address.
func (c *Client) SetUserDisabled(ctx context.Context, email string, disabled bool) (UserInfo, error) {
	path := PathUserEnable
	if disabled {
		path = PathUserDisable
	}
	return call[UserInfo](ctx, c, http.MethodPost, path, UserRef{Email: email})
}

// CreateToken creates a personal access token and returns it with its secret (shown once).
func (c *Client) CreateToken(ctx context.Context, req TokenCreateRequest) (TokenCreateResponse, error) {
	return call[TokenCreateResponse](ctx, c, http.MethodPost, PathTokens, req)
}

// RevokeToken revokes the token with this ID.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	_, err := call[struct{}](ctx, c, http.MethodDelete, PathTokens+"/"+url.PathEscape(id), nil)
	return err
}

// Outbox returns the mails kept or waiting, with their bodies.
func (c *Client) Outbox(ctx context.Context) (Outbox, error) {
	return call[Outbox](ctx, c, http.MethodGet, PathOutbox, nil)
}

// RenewCA replaces the cluster CA with a new constrained one (`appliance ca renew`).
func (c *Client) RenewCA(ctx context.Context, req CARenewRequest) (CAInfo, error) {
	return call[CAInfo](ctx, c, http.MethodPost, PathCARenew, req)
}

// EndCATransition stops trusting the CAs RenewCA replaced (`appliance ca end-transition`).
func (c *Client) EndCATransition(ctx context.Context) (CAInfo, error) {
	return call[CAInfo](ctx, c, http.MethodPost, PathCAEndTransition, struct{}{})
}

// ClusterToken creates a single-use join token (`appliance cluster token`).
func (c *Client) ClusterToken(ctx context.Context, req ClusterTokenRequest) (ClusterToken, error) {
	return call[ClusterToken](ctx, c, http.MethodPost, PathClusterToken, req)
}

// call sends in (if not nil) as JSON to the node c talks to and decodes its reply, a T: the
// one shape of every request but the selftest's stream.
func call[T any](ctx context.Context, c *Client, method, path string, in any) (T, error) {
	var out T
	resp, err := c.do(ctx, method, path, in)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return out, fmt.Errorf("decode %s reply: %w", path, err)
	}
	return out, nil
}

// do sends a request and returns a 2xx response, or the Error the node answered.
func (c *Client) do(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("encode %s request: %w", path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("build %s request: %w", path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil && c.socket == "" {
		return nil, c.tlsError(method, path, err)
	}
	if err != nil {
		if len(c.socket) > MaxSocketPath {
			return nil, fmt.Errorf("admin socket path %q is longer than %d bytes: use a shorter --admin-socket", c.socket, MaxSocketPath)
		}
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, ErrNotRunning
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
			return nil, fmt.Errorf("the node closed the connection before answering %s %s: it stopped or crashed", method, path)
		}
		return nil, fmt.Errorf("call the node on %s: %w", c.socket, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	var e Error
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxRequestBody)).Decode(&e); err != nil || e.Message == "" {
		return nil, fmt.Errorf("the node answered %s to %s %s", resp.Status, method, path)
	}
	return nil, &e
}
