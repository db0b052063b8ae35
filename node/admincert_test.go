package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"valise/adminapi"
	"valise/internal/clusternet"
	"valise/internal/poll"
	"valise/raftfsm"
)

// journalHas reports whether the journal holds an entry of action made by actor.
func journalHas(t *testing.T, n *instance, action, actor string) bool {
	t.Helper()
	found := false
	if err := n.store.Journal(1, func(e raftfsm.Entry) error {
		found = found || e.Action == action && e.Actor == actor
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return found
}

// issueAdminCert has the node certify a fresh key through c and returns the directory holding
// it, as `appliance admin cert --out` writes it.
func issueAdminCert(t *testing.T, c *adminapi.Client, name, role string) string {
	t.Helper()
	req, keyPEM, err := adminapi.NewAdminCertRequest(name, role)
	if err != nil {
		t.Fatal(err)
	}
	issued, err := c.IssueAdminCert(context.Background(), req)
	if err != nil {
		t.Fatalf("issue %s: %v", name, err)
	}
	dir := filepath.Join(t.TempDir(), name)
	if err := adminapi.WriteAdminCertDir(dir, keyPEM, issued); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, adminapi.KeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want mode 0600", fi, err)
	}
	return dir
}

// tlsClient is a client of n's admin port with the certificate of dir.
func tlsClient(t *testing.T, n *instance, dir string) *adminapi.Client {
	t.Helper()
	c, err := adminapi.NewTLSClient("https://"+n.adminTLSAddr(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// TestAdminPort drives the admin API over the Unix socket and over mutual TLS (issue 20):
// the socket's caller journalled by uid; admin certificates issued, used with their role,
// revoked (refused at once, its open connections closed); a node certificate refused on
// the admin port and an admin certificate on the cluster port.
func TestAdminPort(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	sock := filepath.Join(shortDir(t), "a.sock")
	ctx := context.Background()
	if _, err := Init(ctx, InitOptions{
		DataDir: dir, Disks: 1, AdminEmail: "root@example.org",
		Listen: "127.0.0.1:0", ClusterListen: "127.0.0.1:0", AdminSocket: sock, Raft: &fastRaft,
	}); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(filepath.Join(dir, ConfigFileName), dir)
	if err != nil {
		t.Fatal(err)
	}
	c := adminapi.NewClient(sock)
	defer c.Close()
	n, stop := serveLeader(t, cfg, c)
	defer stop()

	st, err := c.Status(ctx)
	if err != nil || st.Node.Addresses.Admin == "" || st.Node.Addresses.Admin != n.adminTLSAddr() {
		t.Fatalf("status admin address %q (%v), want the bound %s", st.Node.Addresses.Admin, err, n.adminTLSAddr())
	}
	checkStatusCertificates(t, c) // certstatus_test.go

	// The socket's caller is the peer's uid.
	if _, err := c.SetSetting(ctx, "branding.name", "Socket"); err != nil {
		t.Fatal(err)
	}
	if local := fmt.Sprintf("local administrator (uid %d)", os.Getuid()); !journalHas(t, n, "settings.set", local) {
		t.Fatalf("no settings.set journalled by %q", local)
	}

	alice := issueAdminCert(t, c, "alice", adminapi.RoleManager)
	bob := issueAdminCert(t, c, "bob", adminapi.RoleSupervisor)
	if req, _, _ := adminapi.NewAdminCertRequest("alice", adminapi.RoleManager); true {
		var e *adminapi.Error
		if _, err := c.IssueAdminCert(ctx, req); !errors.As(err, &e) || e.Code != adminapi.CodeConflict {
			t.Fatalf("second active alice: %v, want a conflict", err)
		}
	}

	t.Run("manager reads, acts on users, and is refused a setting", func(t *testing.T) {
		ac := tlsClient(t, n, alice)
		if _, err := ac.Settings(ctx); err != nil {
			t.Fatalf("manager lists settings: %v", err)
		}
		var e *adminapi.Error
		if _, err := ac.SetSetting(ctx, "branding.name", "Manager"); !errors.As(err, &e) || e.Code != adminapi.CodeForbidden {
			t.Fatalf("manager sets a setting: %v, want forbidden", err)
		}
		if _, err := ac.AddUser(ctx, adminapi.UserAddRequest{Email: "u@example.org"}); err != nil {
			t.Fatalf("manager adds a user: %v", err)
		}
		if _, err := ac.SetUserDisabled(ctx, "u@example.org", true); err != nil {
			t.Fatalf("manager disables a user: %v", err)
		}
		if !journalHas(t, n, "user.disable", "admin certificate alice (manager)") {
			t.Fatal(`no user.disable journalled by "admin certificate alice (manager)"`)
		}
	})

	t.Run("manager cannot become a supervisor", func(t *testing.T) {
		if _, err := c.AddUser(ctx, adminapi.UserAddRequest{Email: "sup@example.org", Role: "supervisor"}); err != nil {
			t.Fatal(err)
		}
		ac := tlsClient(t, n, alice)
		sup := "supervisor"
		for name, call := range map[string]func() error{
			"add a supervisor": func() error {
				_, err := ac.AddUser(ctx, adminapi.UserAddRequest{Email: "sup2@example.org", Role: "supervisor"})
				return err
			},
			"promote a user": func() error {
				_, err := ac.EditUser(ctx, "u@example.org", adminapi.UserEdit{Role: &sup})
				return err
			},
			"reset a supervisor's password": func() error {
				_, err := ac.ResetPassword(ctx, "sup@example.org")
				return err
			},
			"a supervisor's token": func() error {
				_, err := ac.CreateToken(ctx, adminapi.TokenCreateRequest{Email: "sup@example.org"})
				return err
			},
			"disable a supervisor": func() error {
				_, err := ac.SetUserDisabled(ctx, "sup@example.org", true)
				return err
			},
		} {
			var e *adminapi.Error
			if err := call(); !errors.As(err, &e) || e.Code != adminapi.CodeForbidden {
				t.Errorf("manager: %s: %v, want forbidden", name, err)
			}
		}
		rep, err := ac.ImportUsers(ctx, adminapi.UserImportRequest{CSV: "email,role\nboss@example.org,supervisor\nstaff@example.org,user\n"})
		if err != nil || rep.Created != 1 || len(rep.Failed) != 1 || rep.Failed[0].Line != 2 {
			t.Errorf("manager imports a supervisor: %+v, %v; want line 2 refused, the other created", rep, err)
		}
	})

	t.Run("supervisor sets a setting", func(t *testing.T) {
		if _, err := tlsClient(t, n, bob).SetSetting(ctx, "branding.name", "Supervisor"); err != nil {
			t.Fatal(err)
		}
		if !journalHas(t, n, "settings.set", "admin certificate bob (supervisor)") {
			t.Fatal(`no settings.set journalled by "admin certificate bob (supervisor)"`)
		}
	})

	t.Run("revoked certificate refused at once", func(t *testing.T) {
		ac := tlsClient(t, n, alice)
		if _, err := ac.Status(ctx); err != nil { // a kept-alive connection
			t.Fatal(err)
		}
		if _, err := c.RevokeAdminCert(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		if !journalHas(t, n, "admin.cert.revoke", fmt.Sprintf("local administrator (uid %d)", os.Getuid())) {
			t.Fatal("the revocation is not journalled with its caller")
		}
		// Its open connection is closed (a stream on it would otherwise go on).
		poll.UntilNil(t, "the revoked certificate's connection closed", func() error {
			n.adminConns.mu.Lock()
			defer n.adminConns.mu.Unlock()
			for c := range n.adminConns.conns {
				if cs := c.ConnectionState(); len(cs.PeerCertificates) > 0 && cs.PeerCertificates[0].Subject.CommonName == "alice" {
					return errors.New("still open")
				}
			}
			return nil
		})
		if _, err := ac.Status(ctx); !errors.Is(err, adminapi.ErrCertRefused) {
			t.Fatalf("revoked certificate after its connection was closed: %v, want ErrCertRefused", err)
		}
		// A request on a connection made before is refused too (the handler asks every time).
		leaf, err := tls.LoadX509KeyPair(filepath.Join(alice, adminapi.CertFile), filepath.Join(alice, adminapi.KeyFile))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := (&adminService{n: n}).AdminCaller(leaf.Leaf); !errors.Is(err, adminapi.ErrCertRefused) {
			t.Fatalf("AdminCaller of a revoked certificate: %v, want ErrCertRefused", err)
		}
		_, err = tlsClient(t, n, alice).Status(ctx)
		if !errors.Is(err, adminapi.ErrCertRefused) {
			t.Fatalf("revoked certificate on a new connection: %v, want ErrCertRefused", err)
		}
		list, err := c.AdminCerts(ctx)
		if err != nil || len(list.Certs) != 2 || list.Certs[0].State != adminapi.AdminCertRevoked || list.Certs[1].State != adminapi.AdminCertActive {
			t.Fatalf("admin certificates %+v (%v): want alice revoked, bob active", list, err)
		}
	})

	t.Run("node certificate refused on the admin port", func(t *testing.T) {
		nodeCert, err := n.keys.IssueNodeCert("intruder", nil, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		d := certDir(t, n, nodeCert)
		if _, err := tlsClient(t, n, d).Status(ctx); !errors.Is(err, adminapi.ErrCertRefused) {
			t.Fatalf("node certificate on the admin port: %v, want ErrCertRefused", err)
		}
	})

	t.Run("unrecorded admin certificate refused", func(t *testing.T) {
		req, keyPEM, err := adminapi.NewAdminCertRequest("carol", adminapi.RoleSupervisor)
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode([]byte(req.CSR))
		csr, err := x509.ParseCertificateRequest(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		certPEM, _, err := n.keys.SignAdminCSR("carol", adminapi.RoleSupervisor, csr)
		if err != nil {
			t.Fatal(err)
		}
		d := filepath.Join(t.TempDir(), "carol")
		if err := adminapi.WriteAdminCertDir(d, keyPEM, adminapi.AdminCertIssued{CertPEM: string(certPEM), CAPEM: string(n.keys.CAPEM())}); err != nil {
			t.Fatal(err)
		}
		if _, err := tlsClient(t, n, d).Status(ctx); !errors.Is(err, adminapi.ErrCertRefused) {
			t.Fatalf("a certificate the cluster has no record of: %v, want ErrCertRefused", err)
		}
	})

	t.Run("admin certificate refused on the cluster port", func(t *testing.T) {
		cert, err := tls.LoadX509KeyPair(filepath.Join(bob, adminapi.CertFile), filepath.Join(bob, adminapi.KeyFile))
		if err != nil {
			t.Fatal(err)
		}
		conn, err := clusternet.Dial(ctx, cert, n.keys.CertPool(), clusternet.ProtoCall, n.mux.Addr().String(), "")
		if err == nil {
			conn.Close()
			t.Fatal("the cluster port accepted an admin certificate")
		}
	})
}

// certDir writes cert (a node's) as an admin certificate directory.
func certDir(t *testing.T, n *instance, cert tls.Certificate) string {
	t.Helper()
	kder, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	d := filepath.Join(t.TempDir(), "node")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	if err := adminapi.WriteAdminCertDir(d, keyPEM, adminapi.AdminCertIssued{CertPEM: string(certPEM), CAPEM: string(n.keys.CAPEM())}); err != nil {
		t.Fatal(err)
	}
	return d
}
