package adminapi

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// The admin certificates' routes (issue 20): certificates the cluster CA issues to
// administrators' workstations for the admin port (serve --admin-listen, mutual TLS).
const (
	// PathAdminCerts answers GET with an AdminCertList and POST AdminCertRequest with an
	// AdminCertIssued; DELETE PathAdminCerts+"/"+name revokes that name's certificate, at
	// once on every node, and answers the AdminCert as revoked.
	PathAdminCerts = "/v1/admin-certs"
)

// Files of an admin certificate directory, as `appliance admin cert --out DIR` writes them and
// NewTLSClient reads them.
const (
	CertFile = "cert.pem" // the administrator's certificate
	KeyFile  = "key.pem"  // its private key, mode 0600
	CAFile   = "ca.pem"   // the cluster CA, to verify the node
)

// States of an admin certificate in AdminCert.State.
const (
	AdminCertActive  = "active"
	AdminCertRevoked = "revoked"
	AdminCertExpired = "expired"
)

// AdminCertRequest asks the node to certify the public key of CSR (a PEM "CERTIFICATE
// REQUEST"; only its key is used) for the administrator Name with Role. The private key stays
// with the caller.
type AdminCertRequest struct {
	Name string `json:"name"`
	Role string `json:"role"` // RoleSupervisor or RoleManager
	CSR  string `json:"csr"`
}

// AdminCert is the cluster's record of an admin certificate.
type AdminCert struct {
	Name    string    `json:"name"`
	Role    string    `json:"role"`
	Serial  string    `json:"serial"` // lower-case hex
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	// Revoked is when it was revoked; nil while it is not.
	Revoked *time.Time `json:"revoked,omitempty"`
	State   string     `json:"state"` // AdminCertActive, AdminCertRevoked or AdminCertExpired
}

// AdminCertIssued is a new admin certificate with the cluster CA that verifies the node.
type AdminCertIssued struct {
	AdminCert
	CertPEM string `json:"cert_pem"`
	CAPEM   string `json:"ca_pem"`
}

// AdminCertList is every admin certificate the cluster issued, sorted by name.
type AdminCertList struct {
	Certs []AdminCert `json:"certs"`
}

// AdminCertService is what the node implements for admin certificates; NewHandler serves its
// routes when the Service implements it, and asks AdminCaller about every request over TLS.
type AdminCertService interface {
	// AdminCerts lists the admin certificates the cluster issued.
	AdminCerts(ctx context.Context) (AdminCertList, error)
	// IssueAdminCert certifies req's key, records it in the replicated metadata and journals
	// it; CodeInvalidValue for a bad name, role or CSR, CodeConflict when an active
	// certificate has the name.
	IssueAdminCert(ctx context.Context, req AdminCertRequest) (AdminCertIssued, error)
	// RevokeAdminCert revokes the active certificate of name, at once on every node;
	// CodeNotFound when there is none.
	RevokeAdminCert(ctx context.Context, name string) (AdminCert, error)
	// AdminCaller returns the caller of a TLS request made with cert, whose chain the TLS
	// server verified: CodeForbidden (MsgCertRefused) when it is not an active admin
	// certificate of the cluster. It runs on every request, so it must be a local read.
	AdminCaller(cert *x509.Certificate) (Caller, error)
}

// handleAdminCerts registers the admin certificates' routes when h.svc implements them.
func (h *handler) handleAdminCerts(mux *http.ServeMux) {
	svc, ok := h.svc.(AdminCertService)
	if !ok {
		return
	}
	mux.HandleFunc("GET "+PathAdminCerts, func(w http.ResponseWriter, r *http.Request) {
		list, err := svc.AdminCerts(r.Context())
		h.reply(w, r, list, err)
	})
	mux.HandleFunc("POST "+PathAdminCerts, func(w http.ResponseWriter, r *http.Request) {
		var req AdminCertRequest
		if !h.decode(w, r, &req) {
			return
		}
		issued, err := svc.IssueAdminCert(r.Context(), req)
		h.reply(w, r, issued, err)
	})
	mux.HandleFunc("DELETE "+PathAdminCerts+"/{name}", func(w http.ResponseWriter, r *http.Request) {
		c, err := svc.RevokeAdminCert(r.Context(), r.PathValue("name"))
		h.reply(w, r, c, err)
	})
}

// AdminCerts lists the admin certificates the cluster issued.
func (c *Client) AdminCerts(ctx context.Context) (AdminCertList, error) {
	return call[AdminCertList](ctx, c, http.MethodGet, PathAdminCerts, nil)
}

// IssueAdminCert asks the node to certify req's key.
func (c *Client) IssueAdminCert(ctx context.Context, req AdminCertRequest) (AdminCertIssued, error) {
	return call[AdminCertIssued](ctx, c, http.MethodPost, PathAdminCerts, req)
}

// RevokeAdminCert revokes the certificate of the administrator name.
func (c *Client) RevokeAdminCert(ctx context.Context, name string) (AdminCert, error) {
	return call[AdminCert](ctx, c, http.MethodDelete, PathAdminCerts+"/"+url.PathEscape(name), nil)
}

// NewAdminCertRequest generates a fresh key (ECDSA P-256) and the request that has the node
// certify it for name with role; keyPEM is the private key, for WriteAdminCertDir.
func NewAdminCertRequest(name, role string) (req AdminCertRequest, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return req, nil, fmt.Errorf("generate the admin key: %w", err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}}, key)
	if err != nil {
		return req, nil, fmt.Errorf("make the certificate request: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return req, nil, fmt.Errorf("encode the admin key: %w", err)
	}
	req = AdminCertRequest{Name: name, Role: role, CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))}
	return req, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

// WriteAdminCertDir writes an issued certificate to dir (created 0700 if missing): CertFile,
// KeyFile (mode 0600) and CAFile. It refuses to overwrite an existing key.
func WriteAdminCertDir(dir string, keyPEM []byte, issued AdminCertIssued) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("admin certificate directory: %w", err)
	}
	kf, err := os.OpenFile(filepath.Join(dir, KeyFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s exists already: choose another --out directory", filepath.Join(dir, KeyFile))
	}
	if err != nil {
		return fmt.Errorf("write the admin key: %w", err)
	}
	_, err = kf.Write(keyPEM)
	if cerr := kf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write the admin key: %w", err)
	}
	for _, f := range []struct{ name, body string }{{CertFile, issued.CertPEM}, {CAFile, issued.CAPEM}} {
		if err := os.WriteFile(filepath.Join(dir, f.name), []byte(f.body), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", f.name, err)
		}
	}
	return nil
}
