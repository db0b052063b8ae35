package node

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"time"

	"valise/adminapi"
	"valise/internal/logkey"
	"valise/raftfsm"
)

// keyClusterCA holds the cluster CA's fingerprints and constraints as of the last `ca renew`
// or `ca end-transition`, so that the change is journalled and every node can see it.
const keyClusterCA = "cluster/ca"

// RenewCA implements adminapi.Service: a cluster made before issue 16 has a CA without name
// constraints; this replaces it with a constrained one (keyring.Renew), serves both CAs at
// /ca.pem and has every HTTPS certificate re-issued by the new one at once. The cluster port
// keeps its certificate until the node restarts (both CAs are trusted meanwhile).
func (s *adminService) RenewCA(ctx context.Context, req adminapi.CARenewRequest) (adminapi.CAInfo, error) {
	n := s.n
	nc, err := InitConstraints(req.Domains, req.PermitIPs, n.cfg.Network.Advertise)
	if err != nil {
		return adminapi.CAInfo{}, adminapi.Errorf(adminapi.CodeInvalidValue, "%v", err)
	}
	old := n.keys.Fingerprint()
	if err := n.keys.Renew(nc); err != nil {
		return adminapi.CAInfo{}, err
	}
	n.logger.Warn("cluster CA renewed: users must trust the new CA (its fingerprint below); the old one stays trusted until `appliance ca end-transition`",
		"fingerprint", n.keys.Fingerprint(), "replaced", old, "permitted", strings.Join(n.keys.PermittedNames(), ", "))
	info := n.caInfo()
	if n.https != nil {
		n.https.SetCAPEM(n.keys.CAPEM())
		info.Reissued, info.Refused = n.https.ReissueManaged(ctx)
		if len(info.Refused) > 0 {
			n.logger.Warn("certificates not re-issued by the new cluster CA: their names are outside its constraints, or the issue failed; the old certificates stay",
				"names", strings.Join(info.Refused, "; "))
		}
	}
	n.recordCA(ctx, "ca.renew", info)
	return info, nil
}

// EndCATransition implements adminapi.Service.
func (s *adminService) EndCATransition(ctx context.Context) (adminapi.CAInfo, error) {
	n := s.n
	if err := n.keys.EndTransition(); err != nil {
		return adminapi.CAInfo{}, err
	}
	if n.https != nil {
		n.https.SetCAPEM(n.keys.CAPEM())
	}
	info := n.caInfo()
	n.logger.Info("cluster CA transition ended: only the signing CA is trusted", "fingerprint", info.Fingerprint)
	n.recordCA(ctx, "ca.end_transition", info)
	return info, nil
}

// caInfo describes the cluster CA as the keyring holds it.
func (n *instance) caInfo() adminapi.CAInfo {
	return adminapi.CAInfo{
		Fingerprint:    n.keys.Fingerprint(),
		FingerprintHex: n.keys.FingerprintHex(),
		Trusted:        n.keys.TrustedFingerprints(),
		Permitted:      n.keys.PermittedNames(),
		CAPath:         filepath.Join(n.keys.Dir(), "ca.pem"),
	}
}

// recordCA journals a change of the cluster CA under keyClusterCA. The keys are already
// changed: a failure (no leader) is logged, not returned.
func (n *instance) recordCA(ctx context.Context, action string, info adminapi.CAInfo) {
	rec, _ := json.Marshal(map[string]any{"fingerprint": info.Fingerprint, "trusted": info.Trusted, "permitted": info.Permitted})
	details, _ := json.Marshal(map[string]any{"fingerprint": info.Fingerprint, "trusted": info.Trusted})
	_, err := n.store.Propose(ctx, raftfsm.Batch{
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: []byte(keyClusterCA), Value: rec}},
		Audit: raftfsm.Audit{Time: time.Now().UTC(), Actor: actorOf(ctx), Action: action, Target: n.cfg.Node.ID, Details: details},
	})
	if err != nil {
		n.logger.Warn("journal the cluster CA change", "action", action, logkey.Err, err)
	}
}
