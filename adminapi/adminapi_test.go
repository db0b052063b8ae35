package adminapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"valise/fault"
)

// stubService answers the admin calls with fixed values, to test the wire layer alone.
type stubService struct{}

func (stubService) Status(context.Context) (Status, error) {
	return Status{Node: NodeInfo{ID: "n1", Site: "s1"}, Raft: RaftInfo{State: "Leader", Term: 2},
		Disks: []Disk{{Path: "/d1", State: "ok"}}, Journal: JournalInfo{Entries: 3, Verified: true}}, nil
}

func (stubService) Selftest(_ context.Context, req SelftestRequest, step func(SelftestStep)) (SelftestResult, error) {
	s := SelftestStep{Name: "write", OK: true, Bytes: req.Size}
	step(s)
	return SelftestResult{ID: "x", Size: req.Size, Steps: []SelftestStep{s}, OK: true}, nil
}

func (stubService) VerifyJournal(context.Context) (JournalReport, error) {
	return JournalReport{Entries: 3, OK: true}, nil
}

func (stubService) Settings(context.Context) ([]Setting, error) {
	return []Setting{{Key: "public_url", Value: "https://x"}}, nil
}

func (stubService) Setting(_ context.Context, key string) (Setting, error) {
	if key != "public_url" {
		return Setting{}, Errorf(CodeUnknownSetting, "unknown setting %q", key)
	}
	return Setting{Key: key, Value: "https://x", Set: true}, nil
}

func (stubService) SetSetting(_ context.Context, key, value string) (Setting, error) {
	return Setting{Key: key, Value: value, Set: true}, nil
}

func (stubService) AddUser(_ context.Context, req UserAddRequest) (UserAddResponse, error) {
	if req.Email == "taken@example.org" {
		return UserAddResponse{}, Errorf(CodeConflict, "a user with e-mail %s exists", req.Email)
	}
	return UserAddResponse{ID: "u1", Email: req.Email, Role: "user", Lang: "fr", Password: "pw"}, nil
}

func (stubService) CheckPassword(_ context.Context, req PasswordCheckRequest) (PasswordCheckResponse, error) {
	return PasswordCheckResponse{OK: req.Password == "pw"}, nil
}

func (stubService) SetUserDisabled(_ context.Context, email string, disabled bool) (UserInfo, error) {
	if email != "a@example.org" {
		return UserInfo{}, Errorf(CodeNotFound, "no user %s", email)
	}
	return UserInfo{ID: "u1", Email: email, Role: "user", Lang: "fr", Disabled: disabled}, nil
}

func (stubService) CreateToken(_ context.Context, req TokenCreateRequest) (TokenCreateResponse, error) {
	return TokenCreateResponse{ID: "t1", UserID: "u1", Email: req.Email, Name: req.Name, Token: "vls_secret"}, nil
}

func (stubService) RevokeToken(_ context.Context, id string) error {
	if id != "t1" {
		return Errorf(CodeNotFound, "no token %s", id)
	}
	return nil
}

func (stubService) RenewCA(_ context.Context, req CARenewRequest) (CAInfo, error) {
	if len(req.Domains) == 1 && req.Domains[0] == "bad" {
		return CAInfo{}, Errorf(CodeInvalidValue, "bad domain")
	}
	return CAInfo{Fingerprint: "SHA256:new", Trusted: []string{"SHA256:new", "SHA256:old"}, Permitted: append([]string{"localhost"}, req.Domains...)}, nil
}

func (stubService) EndCATransition(context.Context) (CAInfo, error) {
	return CAInfo{Fingerprint: "SHA256:new", Trusted: []string{"SHA256:new"}}, nil
}

func (stubService) Outbox(context.Context) (Outbox, error) {
	return Outbox{Mails: []OutboxMail{{ID: "m1", State: "outbox", Kind: "send", To: []string{"b@example.org"}, Text: "https://x/s/tok"}}}, nil
}

func serve(t *testing.T) *Client { t.Helper(); return serveService(t, stubService{}) }

// serveService serves svc's admin API on a socket and returns a client of it.
func serveService(t *testing.T, svc Service) *Client {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "a.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: NewHandler(svc, slog.New(slog.DiscardHandler)), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
	c := NewClient(sock)
	t.Cleanup(c.Close)
	return c
}

func TestClientServer(t *testing.T) {
	c := serve(t)
	ctx := context.Background()
	t.Run("status", func(t *testing.T) {
		st, err := c.Status(ctx)
		if err != nil || st.Raft.State != "Leader" || len(st.Disks) != 1 || !st.Journal.Verified {
			t.Fatalf("status = %+v, %v", st, err)
		}
	})
	t.Run("selftest streams steps", func(t *testing.T) {
		var steps []SelftestStep
		res, err := c.Selftest(ctx, SelftestRequest{Size: 42}, func(s SelftestStep) { steps = append(steps, s) })
		if err != nil || !res.OK || res.Size != 42 || len(steps) != 1 || steps[0].Bytes != 42 {
			t.Fatalf("selftest = %+v, steps %+v, %v", res, steps, err)
		}
	})
	t.Run("selftest bad size", func(t *testing.T) {
		_, err := c.Selftest(ctx, SelftestRequest{}, nil)
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeBadRequest {
			t.Fatalf("err = %v, want bad_request", err)
		}
	})
	t.Run("unknown setting", func(t *testing.T) {
		_, err := c.Setting(ctx, "nope")
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeUnknownSetting {
			t.Fatalf("err = %v, want unknown_setting", err)
		}
	})
	t.Run("set setting", func(t *testing.T) {
		s, err := c.SetSetting(ctx, "public_url", "https://y")
		if err != nil || s.Value != "https://y" {
			t.Fatalf("set = %+v, %v", s, err)
		}
	})
	t.Run("user add conflict", func(t *testing.T) {
		_, err := c.AddUser(ctx, UserAddRequest{Email: "taken@example.org"})
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeConflict {
			t.Fatalf("err = %v, want conflict", err)
		}
	})
	t.Run("password check", func(t *testing.T) {
		ok, err := c.CheckPassword(ctx, "a@example.org", "pw")
		if err != nil || !ok {
			t.Fatalf("check = %v, %v", ok, err)
		}
		ok, err = c.CheckPassword(ctx, "a@example.org", "wrong")
		if err != nil || ok {
			t.Fatalf("check wrong = %v, %v", ok, err)
		}
	})
}

func TestUsersTokensOutbox(t *testing.T) {
	c := serve(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		call     func() error
		wantCode string
	}{
		{"disable", func() error {
			u, err := c.SetUserDisabled(ctx, "a@example.org", true)
			if err == nil && !u.Disabled {
				return errors.New("not disabled")
			}
			return err
		}, ""},
		{"enable", func() error {
			u, err := c.SetUserDisabled(ctx, "a@example.org", false)
			if err == nil && u.Disabled {
				return errors.New("still disabled")
			}
			return err
		}, ""},
		{"disable unknown", func() error { _, err := c.SetUserDisabled(ctx, "x@example.org", true); return err }, CodeNotFound},
		{"token create", func() error {
			tk, err := c.CreateToken(ctx, TokenCreateRequest{Email: "a@example.org", Name: "cli"})
			if err == nil && (tk.Token != "vls_secret" || tk.ID != "t1") {
				return errors.New("wrong token")
			}
			return err
		}, ""},
		{"token revoke", func() error { return c.RevokeToken(ctx, "t1") }, ""},
		{"token revoke unknown", func() error { return c.RevokeToken(ctx, "t2") }, CodeNotFound},
		{"ca renew", func() error {
			info, err := c.RenewCA(ctx, CARenewRequest{Domains: []string{"example.org"}})
			if err == nil && (info.Fingerprint != "SHA256:new" || len(info.Trusted) != 2 || info.Permitted[1] != "example.org") {
				return fmt.Errorf("wrong CA info %+v", info)
			}
			return err
		}, ""},
		{"ca renew bad domain", func() error { _, err := c.RenewCA(ctx, CARenewRequest{Domains: []string{"bad"}}); return err }, CodeInvalidValue},
		{"ca end transition", func() error {
			info, err := c.EndCATransition(ctx)
			if err == nil && len(info.Trusted) != 1 {
				return fmt.Errorf("wrong CA info %+v", info)
			}
			return err
		}, ""},
		{"outbox", func() error {
			o, err := c.Outbox(ctx)
			if err == nil && (len(o.Mails) != 1 || o.Mails[0].Text != "https://x/s/tok") {
				return errors.New("wrong outbox")
			}
			return err
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if tc.wantCode == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != tc.wantCode {
				t.Fatalf("err = %v, want %s", err, tc.wantCode)
			}
		})
	}
}

func TestClientNotRunning(t *testing.T) {
	c := NewClient(filepath.Join(t.TempDir(), "missing.sock"))
	defer c.Close()
	if _, err := c.Status(context.Background()); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("err = %v, want ErrNotRunning", err)
	}
}

// TestCodeOfEveryKind checks that every fault kind has an admin code, and that only Internal
// answers "internal" (issue 17 item 2).
func TestCodeOfEveryKind(t *testing.T) {
	valid := map[string]bool{CodeBadRequest: true, CodeNotFound: true, CodeConflict: true,
		CodeInvalidValue: true, CodeUnavailable: true, CodeInternal: true}
	for _, k := range fault.Kinds() {
		t.Run(k.String(), func(t *testing.T) {
			c := CodeOf(k)
			if !valid[c] {
				t.Fatalf("CodeOf(%v) = %q, not an admin code", k, c)
			}
			if (c == CodeInternal) != (k == fault.Internal) {
				t.Fatalf("CodeOf(%v) = %q", k, c)
			}
		})
	}
}
