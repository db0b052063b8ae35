package node

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"valise/adminapi"
	"valise/keyring"
	"valise/raftfsm"
)

// The cluster's record of the admin certificates it issued (issue 20), one per administrator's
// name, at cluster/admincerts/<name>. The admin port accepts a certificate only when its name's
// record is active and holds its serial; a revocation marks the record and puts the serial on
// the certificate revocation list (revoke.go) in the same batch, so every node refuses it from
// the moment it applies the batch, at the next handshake and the next request.
const prefixAdminCerts = "cluster/admincerts/"

// adminCertRecord is an admin certificate as the cluster keeps it.
type adminCertRecord struct {
	Name    string     `json:"name"`
	Role    string     `json:"role"`
	Serial  string     `json:"serial"` // lower-case hex, as the revocation list has it
	Created time.Time  `json:"created"`
	Expires time.Time  `json:"expires"`
	Revoked *time.Time `json:"revoked,omitempty"`
}

var _ adminapi.AdminCertService = (*adminService)(nil)

// info is r as the admin API shows it at now.
func (r adminCertRecord) info(now time.Time) adminapi.AdminCert {
	c := adminapi.AdminCert{Name: r.Name, Role: r.Role, Serial: r.Serial, Created: r.Created, Expires: r.Expires, Revoked: r.Revoked, State: adminapi.AdminCertActive}
	switch {
	case r.Revoked != nil:
		c.State = adminapi.AdminCertRevoked
	case now.After(r.Expires):
		c.State = adminapi.AdminCertExpired
	}
	return c
}

// adminCertRecord reads the record of name; ok is false when there is none.
func (n *instance) adminCertRecord(name string) (rec adminCertRecord, version uint64, ok bool, err error) {
	it, err := n.store.Get([]byte(prefixAdminCerts + name))
	if errors.Is(err, raftfsm.ErrNotFound) {
		return rec, 0, false, nil
	}
	if err != nil {
		return rec, 0, false, fmt.Errorf("read the admin certificate of %s: %w", name, err)
	}
	if err := json.Unmarshal(it.Value, &rec); err != nil {
		return rec, 0, false, fmt.Errorf("decode the admin certificate of %s: %w", name, err)
	}
	return rec, it.Version, true, nil
}

// AdminCerts implements adminapi.AdminCertService.
func (s *adminService) AdminCerts(context.Context) (adminapi.AdminCertList, error) {
	out := adminapi.AdminCertList{Certs: []adminapi.AdminCert{}}
	now := time.Now()
	err := s.n.store.Scan([]byte(prefixAdminCerts), func(it raftfsm.Item) error {
		var rec adminCertRecord
		if err := json.Unmarshal(it.Value, &rec); err != nil {
			return fmt.Errorf("decode %s: %w", it.Key, err)
		}
		out.Certs = append(out.Certs, rec.info(now))
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("list the admin certificates: %w", err)
	}
	sort.Slice(out.Certs, func(i, j int) bool { return out.Certs[i].Name < out.Certs[j].Name })
	return out, nil
}

// IssueAdminCert implements adminapi.AdminCertService.
func (s *adminService) IssueAdminCert(ctx context.Context, req adminapi.AdminCertRequest) (adminapi.AdminCertIssued, error) {
	n := s.n
	if err := keyring.CheckAdminName(req.Name); err != nil {
		return adminapi.AdminCertIssued{}, adminapi.Errorf(adminapi.CodeInvalidValue, "%v", err)
	}
	if err := adminapi.ValidRole(req.Role); err != nil {
		return adminapi.AdminCertIssued{}, err
	}
	block, _ := pem.Decode([]byte(req.CSR))
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return adminapi.AdminCertIssued{}, adminapi.Errorf(adminapi.CodeInvalidValue, "the request carries no PEM certificate request")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return adminapi.AdminCertIssued{}, adminapi.Errorf(adminapi.CodeInvalidValue, "certificate request: %v", err)
	}
	old, version, exists, err := n.adminCertRecord(req.Name)
	if err != nil {
		return adminapi.AdminCertIssued{}, err
	}
	if exists && old.Revoked == nil && time.Now().Before(old.Expires) {
		return adminapi.AdminCertIssued{}, adminapi.Errorf(adminapi.CodeConflict, "an admin certificate named %s is active: choose another name, or revoke it first (appliance admin cert revoke %s)", req.Name, req.Name)
	}
	certPEM, cert, err := n.keys.SignAdminCSR(req.Name, req.Role, csr)
	if err != nil {
		return adminapi.AdminCertIssued{}, adminapi.Errorf(adminapi.CodeInvalidValue, "%v", err)
	}
	rec := adminCertRecord{Name: req.Name, Role: req.Role, Serial: cert.SerialNumber.Text(16), Created: time.Now().UTC(), Expires: cert.NotAfter.UTC()}
	value, err := json.Marshal(rec)
	if err != nil {
		return adminapi.AdminCertIssued{}, fmt.Errorf("encode the admin certificate record: %w", err)
	}
	cond := raftfsm.Cond{Kind: raftfsm.CondAbsent, Key: []byte(prefixAdminCerts + req.Name)}
	if exists {
		cond = raftfsm.Cond{Kind: raftfsm.CondVersion, Key: cond.Key, Version: version}
	}
	details, _ := json.Marshal(map[string]string{"role": rec.Role, "serial": rec.Serial, "expires": rec.Expires.Format(time.RFC3339)})
	_, err = n.store.Propose(ctx, raftfsm.Batch{
		Conds: []raftfsm.Cond{cond},
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: cond.Key, Value: value}},
		Audit: raftfsm.Audit{Time: rec.Created, Actor: actorOf(ctx), Action: "admin.cert.issue", Target: rec.Name, Details: details},
	})
	if errors.Is(err, raftfsm.ErrConflict) {
		return adminapi.AdminCertIssued{}, adminapi.Errorf(adminapi.CodeConflict, "the admin certificate %s changed meanwhile: try again", req.Name)
	}
	if err != nil {
		return adminapi.AdminCertIssued{}, translate(fmt.Errorf("record the admin certificate of %s: %w", req.Name, err))
	}
	return adminapi.AdminCertIssued{AdminCert: rec.info(time.Now()), CertPEM: string(certPEM), CAPEM: string(n.keys.CAPEM())}, nil
}

// RevokeAdminCert implements adminapi.AdminCertService.
func (s *adminService) RevokeAdminCert(ctx context.Context, name string) (adminapi.AdminCert, error) {
	n := s.n
	rec, version, exists, err := n.adminCertRecord(name)
	if err != nil {
		return adminapi.AdminCert{}, err
	}
	if !exists || rec.Revoked != nil {
		return adminapi.AdminCert{}, adminapi.Errorf(adminapi.CodeNotFound, "no active admin certificate is named %s (appliance admin cert list)", name)
	}
	now := time.Now().UTC()
	rec.Revoked = &now
	value, err := json.Marshal(rec)
	if err != nil {
		return adminapi.AdminCert{}, fmt.Errorf("encode the admin certificate record: %w", err)
	}
	revoked, err := json.Marshal(revokedSerial{Serial: rec.Serial, Reason: "admin certificate " + name + " revoked", At: now})
	if err != nil {
		return adminapi.AdminCert{}, fmt.Errorf("encode the revocation: %w", err)
	}
	details, _ := json.Marshal(map[string]string{"role": rec.Role, "serial": rec.Serial})
	key := []byte(prefixAdminCerts + name)
	_, err = n.store.Propose(ctx, raftfsm.Batch{
		Conds: []raftfsm.Cond{{Kind: raftfsm.CondVersion, Key: key, Version: version}},
		Ops: []raftfsm.Op{
			{Kind: raftfsm.OpPut, Key: key, Value: value},
			{Kind: raftfsm.OpPut, Key: []byte(prefixRevokedSerials + rec.Serial), Value: revoked},
		},
		Audit: raftfsm.Audit{Time: now, Actor: actorOf(ctx), Action: "admin.cert.revoke", Target: name, Details: details},
	})
	if errors.Is(err, raftfsm.ErrConflict) {
		return adminapi.AdminCert{}, adminapi.Errorf(adminapi.CodeConflict, "the admin certificate %s changed meanwhile: try again", name)
	}
	if err != nil {
		return adminapi.AdminCert{}, translate(fmt.Errorf("revoke the admin certificate of %s: %w", name, err))
	}
	return rec.info(now), nil
}

// AdminCaller implements adminapi.AdminCertService.
func (s *adminService) AdminCaller(cert *x509.Certificate) (adminapi.Caller, error) {
	rec, err := s.n.activeAdminCert(cert)
	if err != nil {
		s.n.logger.Warn("admin certificate refused", "reason", err.Error())
		return adminapi.Caller{}, adminapi.Errorf(adminapi.CodeForbidden, "%s", adminapi.MsgCertRefused)
	}
	return adminapi.Caller{Name: rec.Name, Role: rec.Role}, nil
}

// verifyAdminCert is the admin port's check of a client's certificate chain, in every
// handshake: issued by the cluster CA for client authentication, naming an administrator
// (not a node), and active in the cluster's record.
func (n *instance) verifyAdminCert(certs []*x509.Certificate) (adminCertRecord, error) {
	if len(certs) == 0 {
		return adminCertRecord{}, errors.New("no client certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: n.keys.CertPool(), Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return adminCertRecord{}, fmt.Errorf("verify the admin certificate: %w", err)
	}
	rec, err := n.activeAdminCert(certs[0])
	if err != nil {
		n.logger.Warn("admin certificate refused", "reason", err.Error())
	}
	return rec, err
}

// activeAdminCert returns the record of the administrator cert names, when cert is the one
// that record holds, neither revoked (the record or the revocation list) nor expired.
func (n *instance) activeAdminCert(cert *x509.Certificate) (adminCertRecord, error) {
	name, err := keyring.AdminNameFromCert(cert)
	if err != nil {
		return adminCertRecord{}, err
	}
	if err := n.revoked.check(cert); err != nil {
		return adminCertRecord{}, fmt.Errorf("admin certificate %s: %w", name, err)
	}
	rec, _, ok, err := n.adminCertRecord(name)
	switch {
	case err != nil:
		return rec, err
	case !ok:
		return rec, fmt.Errorf("admin certificate %s: the cluster has no record of it", name)
	case !strings.EqualFold(rec.Serial, cert.SerialNumber.Text(16)):
		return rec, fmt.Errorf("admin certificate %s: serial %s replaced by %s", name, cert.SerialNumber.Text(16), rec.Serial)
	case rec.Revoked != nil:
		return rec, fmt.Errorf("admin certificate %s: revoked on %s", name, rec.Revoked.Format(time.RFC3339))
	case time.Now().After(rec.Expires):
		return rec, fmt.Errorf("admin certificate %s: expired on %s", name, rec.Expires.Format(time.RFC3339))
	}
	return rec, nil
}
