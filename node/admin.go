package node

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"valise/account"
	"valise/adminapi"
	"valise/fault"
	"valise/keyring"
	"valise/notify"
	"valise/raftfsm"
)

// adminActor is the actor journalled for changes made for the administrators without an
// admin caller in the context (actorOf, caller.go): a job the node runs for them, a test.
const adminActor = "admin-socket"

// adminService implements the admin API over a running node.
type adminService struct {
	n *instance // never nil; started
}

var _ adminapi.Service = (*adminService)(nil)

// Status implements adminapi.Service.
func (s *adminService) Status(ctx context.Context) (adminapi.Status, error) {
	n := s.n
	rs := n.store.Status()
	out := adminapi.Status{
		Node: adminapi.NodeInfo{
			ID:   n.cfg.Node.ID,
			Site: n.cfg.Node.Site,
			Addresses: adminapi.Addresses{
				HTTPS:   n.https.Addr().String(),
				Cluster: n.mux.Addr().String(),
				Admin:   n.adminTLSAddr(), // adminlisten.go
			},
		},
		Raft: adminapi.RaftInfo{
			State:        rs.State.String(),
			Term:         rs.Term,
			CommitIndex:  rs.CommitIndex,
			AppliedIndex: rs.AppliedIndex,
			LeaderID:     rs.LeaderID, LeaderAddress: rs.LeaderAddr,
		},
		Disks: []adminapi.Disk{},
	}
	out.Members = n.memberStatus(ctx, rs)
	for _, d := range n.disks {
		od := adminapi.Disk{Path: d.path, State: d.state}
		if d.disk != nil {
			total, free, err := d.disk.Usage(ctx)
			if err != nil {
				od.State = "unreadable"
			} else {
				od.TotalBytes, od.FreeBytes = total, free
			}
		}
		if st := n.diskStateFor(d); st != d.state {
			od.State = st // failed while serving (disks.go)
		}
		out.Disks = append(out.Disks, od)
	}
	staged, err := n.blobs.ListStaged(ctx)
	if err != nil {
		return out, fmt.Errorf("list staged uploads: %w", err)
	}
	out.StagedUploads = int64(liveStaged(staged))
	head, err := n.store.JournalHead()
	if err != nil {
		return out, fmt.Errorf("read the journal head: %w", err)
	}
	out.Journal.Entries = head.Seq
	n.journalMu.Lock()
	out.Journal.Verified = n.journalOK
	n.journalMu.Unlock()
	out.Scanner = n.scannerInfo(ctx)
	out.Certificates = n.certificates(time.Now()) // certstatus.go
	n.repair.statusInto(&out)
	out.Layout, out.ClusterDisks = n.placement.status()
	n.backupStatusInto(&out)        // backup.go
	out.Restore = n.restoreStatus() // restorereport.go
	return out, nil
}

// Selftest implements adminapi.Service.
func (s *adminService) Selftest(ctx context.Context, req adminapi.SelftestRequest, step func(adminapi.SelftestStep)) (adminapi.SelftestResult, error) {
	if err := s.leader(); err != nil {
		return adminapi.SelftestResult{}, err
	}
	return s.n.selftest(ctx, req, step)
}

// VerifyJournal implements adminapi.Service.
func (s *adminService) VerifyJournal(ctx context.Context) (adminapi.JournalReport, error) {
	rep, err := s.n.store.VerifyJournal(ctx)
	if err != nil && !errors.Is(err, raftfsm.ErrJournalBroken) {
		return adminapi.JournalReport{}, fmt.Errorf("verify the journal: %w", err)
	}
	ok := err == nil
	s.n.journalMu.Lock()
	s.n.journalOK = ok
	s.n.journalMu.Unlock()
	if !ok {
		s.n.logger.Error("the journal's hash chain does not hold: an operator must investigate", "broken_at", rep.BrokenAt)
	}
	applied, hash, err := s.n.store.StateHash()
	if err != nil {
		return adminapi.JournalReport{}, fmt.Errorf("fingerprint the state: %w", err)
	}
	return adminapi.JournalReport{
		Entries:      rep.Entries,
		HeadSeq:      rep.Head.Seq,
		HeadHash:     hex.EncodeToString(rep.Head.Hash[:]),
		OK:           ok,
		BrokenAt:     rep.BrokenAt,
		AppliedIndex: applied,
		StateHash:    hex.EncodeToString(hash[:]),
	}, nil
}

// Settings implements adminapi.Service.
func (s *adminService) Settings(ctx context.Context) ([]adminapi.Setting, error) {
	out := make([]adminapi.Setting, 0, len(knownSettings))
	for _, k := range settingKeys() {
		st, err := s.Setting(ctx, k)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// Setting implements adminapi.Service.
func (s *adminService) Setting(_ context.Context, key string) (adminapi.Setting, error) {
	spec, ok := knownSettings[key]
	if !ok {
		return adminapi.Setting{}, adminapi.Errorf(adminapi.CodeUnknownSetting, "%v", validateSetting(key, ""))
	}
	out := adminapi.Setting{Key: key, Value: spec.def, Scope: settingScope(key)}
	spec.describe(&out)
	if v, ok := s.n.localSetting(key); ok {
		out.Value, out.Set = v, true
		return out, nil
	}
	it, err := s.n.store.Get([]byte(settingsPrefix + key))
	switch {
	case errors.Is(err, raftfsm.ErrNotFound):
	case err != nil:
		return out, fmt.Errorf("read setting %s: %w", key, err)
	case spec.secret:
		// Never opened here: an operator sees whether it is set, not the secret.
		out.Value, out.Set = maskSecret(string(it.Value)), true
	default:
		out.Value, out.Set = string(it.Value), true
	}
	return out, nil
}

// SetSetting implements adminapi.Service.
func (s *adminService) SetSetting(ctx context.Context, key, value string) (adminapi.Setting, error) {
	if err := s.checkValue(key, value); err != nil { // adminmail.go
		return adminapi.Setting{}, err
	}
	if knownSettings[key].node {
		return s.setNodeSetting(ctx, key, value) // localsettings.go: this node's file
	}
	if err := s.leader(); err != nil {
		return adminapi.Setting{}, err
	}
	b, err := settingBatch(s.n.keys, actorOf(ctx), time.Now(), key, value)
	if err != nil {
		return adminapi.Setting{}, err
	}
	if _, err := s.n.store.Propose(ctx, b); err != nil {
		return adminapi.Setting{}, translate(fmt.Errorf("store setting %s: %w", key, err))
	}
	s.n.applySettings()
	return s.Setting(ctx, key)
}

// settingBatch is the batch that sets one setting, with its audit entry (secrets masked); a
// secret value is stored sealed with the cluster key (sealSetting).
func settingBatch(keys *keyring.Keyring, actor string, now time.Time, key, value string) (raftfsm.Batch, error) {
	shown := value
	if knownSettings[key].secret {
		shown = maskSecret(value)
	}
	stored, err := sealSetting(keys, key, value)
	if err != nil {
		return raftfsm.Batch{}, err
	}
	details, _ := json.Marshal(map[string]string{"key": key, "value": shown})
	return raftfsm.Batch{
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: []byte(settingsPrefix + key), Value: stored}},
		Audit: raftfsm.Audit{Time: now.UTC(), Actor: actor, Action: "settings.set", Target: key, Details: details},
	}, nil
}

// AddUser implements adminapi.Service.
func (s *adminService) AddUser(ctx context.Context, req adminapi.UserAddRequest) (adminapi.UserAddResponse, error) {
	role := account.RoleUser
	if req.Role != "" {
		r, err := account.ParseRole(req.Role)
		if err != nil {
			return adminapi.UserAddResponse{}, adminapi.Errorf(adminapi.CodeInvalidValue, "role %q: want supervisor, manager or user", req.Role)
		}
		role = r
	}
	lang, err := account.ParseLanguage(req.Lang)
	if err != nil {
		return adminapi.UserAddResponse{}, adminapi.Errorf(adminapi.CodeInvalidValue, "language %q: want fr or en", req.Lang)
	}
	if err := managerMay(ctx, 0, &role); err != nil {
		return adminapi.UserAddResponse{}, err
	}
	if err := s.leader(); err != nil {
		return adminapi.UserAddResponse{}, err
	}
	u, pw, err := s.n.accounts.Add(account.WithActor(ctx, actorOf(ctx)), account.NewUser{
		Email: req.Email, Name: req.Name, Language: lang, Role: role,
	})
	if err != nil {
		return adminapi.UserAddResponse{}, translate(err)
	}
	return adminapi.UserAddResponse{ID: string(u.ID), Email: u.Email, Role: u.Role.String(), Lang: string(u.Language), Password: pw}, nil
}

// CheckPassword implements adminapi.Service.
func (s *adminService) CheckPassword(ctx context.Context, req adminapi.PasswordCheckRequest) (adminapi.PasswordCheckResponse, error) {
	_, err := s.n.accounts.CheckPassword(account.WithActor(ctx, actorOf(ctx)), req.Email, req.Password)
	switch {
	case err == nil:
		return adminapi.PasswordCheckResponse{OK: true}, nil
	case errors.Is(err, account.ErrBadCredentials), errors.Is(err, account.ErrDisabled):
		return adminapi.PasswordCheckResponse{OK: false}, nil
	}
	return adminapi.PasswordCheckResponse{}, translate(err)
}

// SetUserDisabled implements adminapi.Service.
func (s *adminService) SetUserDisabled(ctx context.Context, email string, disabled bool) (adminapi.UserInfo, error) {
	if err := s.leader(); err != nil {
		return adminapi.UserInfo{}, err
	}
	if err := s.managerMayEmail(ctx, email, nil); err != nil {
		return adminapi.UserInfo{}, err
	}
	ctx = account.WithActor(ctx, actorOf(ctx))
	var (
		u   account.User
		err error
	)
	if disabled {
		u, err = s.n.accounts.Disable(ctx, email)
	} else {
		u, err = s.n.accounts.Enable(ctx, email)
	}
	if errors.Is(err, account.ErrNotFound) {
		return adminapi.UserInfo{}, adminapi.Errorf(adminapi.CodeNotFound, "no user has the e-mail address %s", email)
	}
	if err != nil {
		return adminapi.UserInfo{}, userError(err, email)
	}
	return s.fullUserInfo(ctx, u) // adminusers.go
}

// CreateToken implements adminapi.Service.
func (s *adminService) CreateToken(ctx context.Context, req adminapi.TokenCreateRequest) (adminapi.TokenCreateResponse, error) {
	if err := s.leader(); err != nil {
		return adminapi.TokenCreateResponse{}, err
	}
	u, err := s.n.accounts.ByEmail(ctx, req.Email)
	if errors.Is(err, account.ErrNotFound) {
		return adminapi.TokenCreateResponse{}, adminapi.Errorf(adminapi.CodeNotFound, "no user has the e-mail address %s", req.Email)
	}
	if err != nil {
		return adminapi.TokenCreateResponse{}, translate(err)
	}
	if err := managerMay(ctx, u.Role, nil); err != nil {
		return adminapi.TokenCreateResponse{}, err
	}
	name := req.Name
	if name == "" {
		name = "cli"
	}
	tok, secret, err := s.n.accounts.CreateToken(account.WithActor(ctx, actorOf(ctx)), u.ID, name)
	if err != nil {
		return adminapi.TokenCreateResponse{}, translate(err)
	}
	return adminapi.TokenCreateResponse{ID: tok.ID, UserID: string(u.ID), Email: u.Email, Name: tok.Name, Token: secret}, nil
}

// RevokeToken implements adminapi.Service.
func (s *adminService) RevokeToken(ctx context.Context, id string) error {
	if err := s.leader(); err != nil {
		return err
	}
	err := s.n.accounts.RevokeToken(account.WithActor(ctx, actorOf(ctx)), id)
	if errors.Is(err, account.ErrNotFound) {
		return adminapi.Errorf(adminapi.CodeNotFound, "no token has the ID %s (revoked already?)", id)
	}
	return translate(err)
}

// Outbox implements adminapi.Service.
func (s *adminService) Outbox(ctx context.Context) (adminapi.Outbox, error) {
	out := adminapi.Outbox{Mails: []adminapi.OutboxMail{}}
	kept, err := s.n.mail.Outbox(ctx)
	if err != nil {
		return out, fmt.Errorf("read the outbox: %w", err)
	}
	for _, m := range kept {
		out.Mails = append(out.Mails, outboxMail(m, "outbox"))
	}
	queue, err := s.n.mail.Queue(ctx)
	if err != nil {
		return out, fmt.Errorf("read the mail queue: %w", err)
	}
	for _, r := range queue {
		om := outboxMail(r.Message, string(r.State))
		om.Attempts, om.Error = r.Attempts, r.LastError
		out.Mails = append(out.Mails, om)
	}
	at := func(i int) time.Time { t, _ := time.Parse(time.RFC3339Nano, out.Mails[i].Created); return t }
	sort.SliceStable(out.Mails, func(i, j int) bool { return at(i).Before(at(j)) })
	return out, nil
}

func outboxMail(m notify.Message, state string) adminapi.OutboxMail {
	return adminapi.OutboxMail{
		ID: m.ID, State: state, Kind: string(m.Kind), Lang: m.Lang, From: m.FromName,
		To: m.To, Cc: m.Cc, Bcc: m.Bcc, Subject: m.Subject, Text: m.Text, HTML: m.HTML,
		Created: m.Created.UTC().Format(time.RFC3339Nano),
	}
}

func userInfo(u account.User) adminapi.UserInfo {
	return adminapi.UserInfo{ID: string(u.ID), Email: u.Email, Role: u.Role.String(), Lang: string(u.Language), Disabled: u.Disabled}
}

// leader answers CodeNotLeader unless this node leads: changes are decided on the leader.
func (s *adminService) leader() error {
	st := s.n.store.Status()
	if st.State.IsLeader() {
		return nil
	}
	if st.LeaderID == "" {
		return adminapi.Errorf(adminapi.CodeUnavailable, "no Raft leader is known yet: try again in a moment")
	}
	return adminapi.Errorf(adminapi.CodeNotLeader, "this node is not the leader: run the command on %s (%s)", st.LeaderID, st.LeaderAddr)
}

// translate turns a domain or store error into what the operator sees: first the store's
// own errors, which the node meets itself (settings) and which say where to retry, then the
// kind of a domain error through adminapi.CodeOf, with a *account.UserError's message.
func translate(err error) error {
	switch {
	case errors.Is(err, raftfsm.ErrNotLeader):
		return adminapi.Errorf(adminapi.CodeNotLeader, "this node is not the leader")
	case errors.Is(err, raftfsm.ErrNoLeader):
		return adminapi.Errorf(adminapi.CodeUnavailable, "no Raft leader is known yet: try again in a moment")
	case errors.Is(err, raftfsm.ErrClosed):
		return adminapi.Errorf(adminapi.CodeUnavailable, "the node is stopping")
	case errors.Is(err, raftfsm.ErrConflict) && fault.KindOf(err) == fault.Internal:
		return adminapi.Errorf(adminapi.CodeConflict, "%v", err) // a setting changed meanwhile
	}
	var ue *account.UserError
	if errors.As(err, &ue) {
		return adminapi.Errorf(adminapi.CodeOf(fault.KindOf(err)), "%s", ue.Message(account.LangEN))
	}
	if k := fault.KindOf(err); k != fault.Internal {
		return adminapi.Errorf(adminapi.CodeOf(k), "%v", err)
	}
	return err
}
