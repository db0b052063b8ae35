package node

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"valise/account"
	"valise/adminapi"
	"valise/backup"
	"valise/keyring"
	"valise/raftfsm"
	"valise/raftfsm/rafttest"
	"valise/transfer"
	"valise/userid"
)

// writeTestBackup writes a backup of n to path, encrypted with passphrase, as the backup
// service does, and returns its manifest.
func writeTestBackup(t *testing.T, n *instance, path, passphrase string) backup.Manifest {
	t.Helper()
	ob, err := n.openBackup(time.Now())
	must(t, err)
	defer ob.close()
	f, err := os.Create(path)
	must(t, err)
	defer f.Close()
	// A low scrypt work factor: age's default costs a second per write and per read, many
	// more under -race, and this test reads the backup some ten times.
	_, _, err = ob.write(f, backup.Protection{Passphrase: []byte(passphrase), ScryptWorkFactor: 10})
	must(t, err)
	must(t, f.Sync())
	return ob.man
}

// restoreOpts are the options of a restore into dir from file, on loopback ports.
func restoreOpts(t *testing.T, file, dir, passphrase, key string) RestoreOptions {
	return RestoreOptions{
		From: file, DataDir: dir, ExpectKey: key, Unlock: Unlock{Passphrase: []byte(passphrase)}, Disks: 2,
		Listen: "127.0.0.1:0", ClusterListen: "127.0.0.1:0", AdminSocket: filepath.Join(shortDir(t), "r.sock"), Raft: &fastRaft,
	}
}

// TestRestore backs up a one-node cluster, changes it, then restores it: refusals first
// (each leaves nothing behind), then onto the node's own disks (same node, disks re-attached)
// and as a new node with --suspend-links. The restored node serves the backup's users,
// settings and files, no session or token, a journal that verifies, and keeps writes across
// a restart at indexes above the backup's.
func TestRestore(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "data")
	sock := filepath.Join(shortDir(t), "a.sock")
	if _, err := Init(ctx, InitOptions{
		DataDir: dir, Disks: 3, AdminEmail: "root@example.org",
		Listen: "127.0.0.1:0", ClusterListen: "127.0.0.1:0", AdminSocket: sock, Raft: &fastRaft,
		Settings: map[string]string{"clamd.address": "tcp:127.0.0.1:1", "branding.name": "Before"},
	}); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(filepath.Join(dir, ConfigFileName), dir)
	must(t, err)
	c := adminapi.NewClient(sock)
	defer c.Close()
	n, stop := serveLeader(t, cfg, c)

	bob, err := c.AddUser(ctx, adminapi.UserAddRequest{Email: "bob@example.org", Role: "user", Lang: "en"})
	must(t, err)
	tok, err := c.CreateToken(ctx, adminapi.TokenCreateRequest{Email: "bob@example.org"})
	must(t, err)
	session, _, err := n.accounts.CreateSession(ctx, userid.ID(bob.ID))
	must(t, err)
	kept, err := c.Selftest(ctx, adminapi.SelftestRequest{Size: 1 << 20, Keep: true}, nil)
	if err != nil || !kept.OK {
		t.Fatalf("selftest = %+v, %v", kept, err)
	}

	work := t.TempDir()
	file := filepath.Join(work, "valise.backup")
	pass := "correct horse battery"
	m := writeTestBackup(t, n, file, pass)
	key := n.keys.SigningFingerprint()
	nodeID, clusterID := n.cfg.Node.ID, n.cluster.ID

	// After the backup: what the restore must not hold.
	_, err = c.AddUser(ctx, adminapi.UserAddRequest{Email: "carol@example.org", Role: "user", Lang: "en"})
	must(t, err)
	_, err = c.SetSetting(ctx, "branding.name", "After")
	must(t, err)
	orphan, err := c.Selftest(ctx, adminapi.SelftestRequest{Size: 100 << 10, Keep: true}, nil)
	if err != nil || !orphan.OK {
		t.Fatalf("selftest = %+v, %v", orphan, err)
	}
	stop()

	t.Run("refusals leave nothing", func(t *testing.T) {
		raw, err := os.ReadFile(file)
		must(t, err)
		variant := func(name string, b []byte) string {
			p := filepath.Join(t.TempDir(), name)
			must(t, os.WriteFile(p, b, 0o600))
			return p
		}
		flipped := slices.Clone(raw)
		flipped[len(flipped)/2] ^= 0x10
		otherKey := keyring.KeyFingerprint(ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey))
		foreign := filepath.Join(t.TempDir(), "foreign")
		must(t, os.MkdirAll(foreign, 0o700))
		must(t, writeDiskMarker(foreign, diskMarker{ClusterID: "c-other", NodeID: "n-other", DiskID: "n-other-d1"}))
		full := t.TempDir()
		must(t, os.WriteFile(filepath.Join(full, "x"), nil, 0o600))

		for _, tc := range []struct {
			name   string
			edit   func(o *RestoreOptions)
			want   error // nil: any error
			exists bool  // the data directory exists (empty) before
		}{
			{"wrong passphrase", func(o *RestoreOptions) { o.Unlock.Passphrase = []byte("Correct horse battery") }, backup.ErrWrongSecret, false},
			{"wrong key", func(o *RestoreOptions) { o.ExpectKey = otherKey }, ErrWrongBackupKey, true},
			{"flipped bit", func(o *RestoreOptions) { o.From = variant("flipped", flipped) }, nil, false},
			{"truncated", func(o *RestoreOptions) { o.From = variant("truncated", raw[:len(raw)*2/3]) }, nil, true},
			{"cut at the end", func(o *RestoreOptions) { o.From = variant("cut", raw[:len(raw)-1]) }, nil, false},
			{"non-empty directory", func(o *RestoreOptions) { o.DataDir = full }, ErrNotEmpty, false},
			{"disk of another cluster", func(o *RestoreOptions) { o.DiskPaths = append(o.DiskPaths, foreign) }, nil, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				target := filepath.Join(t.TempDir(), "restored")
				if tc.exists {
					must(t, os.Mkdir(target, 0o700))
				}
				empty := filepath.Join(t.TempDir(), "disk")
				o := restoreOpts(t, file, target, pass, key)
				o.DiskPaths = []string{empty}
				tc.edit(&o)
				_, err := Restore(ctx, o)
				if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
					t.Fatalf("Restore = %v, want %v", err, tc.want)
				}
				t.Logf("refused: %v", err)
				if got := contentsOf(target); len(got) > 0 {
					t.Errorf("a refused restore left %v", got)
				}
				if _, err := os.Stat(target); tc.exists == errors.Is(err, os.ErrNotExist) {
					t.Errorf("a refused restore changed whether %s exists: %v", target, err)
				}
				if _, err := os.Stat(empty); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("a refused restore created the disk %s: %v", empty, err)
				}
			})
		}
		if got := contentsOf(full); len(got) != 1 {
			t.Errorf("the non-empty directory holds %v", got)
		}
		if m, err := readDiskMarker(foreign); err != nil || m.ClusterID != "c-other" {
			t.Errorf("the other cluster's disk marker = %+v, %v", m, err)
		}
	})

	// Onto the node's own disks: the markers name the node, its disks are re-attached.
	rdir := filepath.Join(t.TempDir(), "restored")
	o := restoreOpts(t, file, rdir, pass, key)
	o.DiskPaths = cfg.DiskPaths()
	res, err := Restore(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.NodeID != nodeID || res.ClusterID != clusterID || res.NewNode || len(res.Reattached) != 3 || len(res.NewDisks) != 0 || len(res.Retired) != 0 {
		t.Fatalf("restore result %+v", res)
	}
	rep := res.Report
	if rep.SessionsRevoked != 1 || rep.TokensRevoked != 1 || rep.BackupIndex != m.Index || rep.Node != nodeID || rep.LinksSuspended {
		t.Fatalf("restore report %+v", rep)
	}
	// The file of the backup is there; the one written after it is an orphan.
	if res.CountsError != "" || rep.Complete != 1 || rep.Healable+rep.Waiting+rep.Lost != 0 || len(rep.Orphans) != 1 || rep.Orphans[0].FileID != orphan.ID {
		t.Fatalf("restore counts %+v (%s): want 1 complete, the later file an orphan", rep, res.CountsError)
	}

	rcfg, err := LoadConfig(res.ConfigPath, rdir)
	must(t, err)
	rc := adminapi.NewClient(rcfg.AdminSocketPath())
	defer rc.Close()
	rn, rstop := serveLeader(t, rcfg, rc)
	st, err := rc.Status(ctx)
	must(t, err)
	if !st.Journal.Verified || st.Raft.AppliedIndex <= m.Index || st.Node.ID != nodeID {
		t.Fatalf("restored node's status: journal %+v, applied %d (backup %d), node %s", st.Journal, st.Raft.AppliedIndex, m.Index, st.Node.ID)
	}
	users, err := rn.accounts.List(ctx)
	must(t, err)
	var emails []string
	for _, u := range users {
		emails = append(emails, u.Email)
	}
	if slices.Sort(emails); !slices.Equal(emails, []string{"bob@example.org", "root@example.org"}) {
		t.Fatalf("restored users %v: want bob and root (carol came after the backup)", emails)
	}
	if s, err := rc.Setting(ctx, "branding.name"); err != nil || s.Value != "Before" {
		t.Fatalf("branding.name = %+v, %v: want the backup's", s, err)
	}
	if _, _, err := rn.accounts.Session(ctx, session); err == nil {
		t.Fatal("a session of the backup still opens")
	}
	if _, _, err := rn.accounts.AuthenticateToken(ctx, tok.Token); err == nil {
		t.Fatal("a token of the backup still authenticates")
	}
	if r, err := rc.Selftest(ctx, adminapi.SelftestRequest{VerifyID: kept.ID, Keep: true}, nil); err != nil || !r.OK {
		t.Fatalf("the backup's file reads back = %+v, %v", r, err)
	}
	var stored adminapi.RestoreReport
	must(t, getJSON(rn.store, keyRestoreReport, &stored))
	if stored.BackupIndex != m.Index || stored.SessionsRevoked != 1 || stored.Node != nodeID {
		t.Fatalf("restore/report %+v", stored)
	}
	actions := journalActions(t, rn.store)
	for _, a := range []string{"restore.node", "restore.revoke", "cluster.restore"} {
		if !slices.Contains(actions, a) {
			t.Errorf("the journal holds no %s: %v", a, actions)
		}
	}
	if _, err := rn.store.Get([]byte(transfer.SuspendKey)); !errors.Is(err, raftfsm.ErrNotFound) {
		t.Errorf("links suspended without --suspend-links: %v", err)
	}

	// A write after the restore survives a restart.
	_, err = rc.AddUser(ctx, adminapi.UserAddRequest{Email: "dave@example.org", Role: "user", Lang: "en"})
	must(t, err)
	applied := rn.store.AppliedIndex()
	rstop()
	rn, rstop = serveLeader(t, rcfg, rc)
	users, err = rn.accounts.List(ctx)
	must(t, err)
	if !slices.ContainsFunc(users, func(u account.User) bool { return u.Email == "dave@example.org" }) {
		t.Fatal("a user added after the restore is gone after a restart")
	}
	if got := rn.store.AppliedIndex(); got < applied {
		t.Fatalf("applied index %d after the restart, %d before", got, applied)
	}
	if jr, err := rc.VerifyJournal(ctx); err != nil || !jr.OK {
		t.Fatalf("journal verify after the restart = %+v, %v", jr, err)
	}
	rstop()

	t.Run("as a new node with links suspended", func(t *testing.T) {
		o := restoreOpts(t, file, filepath.Join(t.TempDir(), "new"), pass, key)
		o.SuspendLinks = true
		res, err := Restore(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		if res.NodeID == nodeID || !res.NewNode || len(res.NewDisks) != 2 || !slices.Equal(res.Others, []string{nodeID}) || !res.Report.LinksSuspended {
			t.Fatalf("restore result %+v", res)
		}
		if rep := res.Report; res.CountsError != "" || rep.Waiting != 1 || !slices.Equal(rep.WaitingNodes, []string{nodeID}) || rep.Complete+rep.Lost != 0 {
			t.Fatalf("restore counts %+v (%s): the file waits for node %s", rep, res.CountsError, nodeID)
		}
		ncfg, err := LoadConfig(res.ConfigPath, o.DataDir)
		must(t, err)
		nc := adminapi.NewClient(ncfg.AdminSocketPath())
		defer nc.Close()
		nn, nstop := serveLeader(t, ncfg, nc)
		defer nstop()
		it, err := nn.store.Get([]byte(transfer.SuspendKey))
		must(t, err)
		if at, err := time.Parse(time.RFC3339, string(it.Value)); err != nil || !at.Equal(m.Created) {
			t.Fatalf("%s = %q (%v), want the backup's time %s", transfer.SuspendKey, it.Value, err, m.Created)
		}
		var old nodeRecord
		must(t, getJSON(nn.store, prefixNodes+nodeID, &old))
		if old.state() != nodeActive {
			t.Fatalf("the backup's node record %+v: it stays until it rejoins", old)
		}
	})
}

// TestPickRestoreNode covers how restore chooses the node it restores as.
func TestPickRestoreNode(t *testing.T) {
	m := backup.Manifest{ClusterID: "c-1", Nodes: []backup.Node{{ID: "n-a", State: nodeActive}, {ID: "n-b", State: nodeActive}, {ID: "n-gone", State: nodeRemoved}}}
	marked := func(cluster, node string) restoreDisk {
		return restoreDisk{path: "/d/" + node, marked: true, marker: diskMarker{ClusterID: cluster, NodeID: node, DiskID: node + "-d1"}}
	}
	empty := restoreDisk{path: "/d/empty"}
	for _, tc := range []struct {
		name  string
		want  string
		disks []restoreDisk
		id    string // "" for a new node
		fails bool
	}{
		{"new node", "", []restoreDisk{empty}, "", false},
		{"node named", "n-b", []restoreDisk{empty}, "n-b", false},
		{"node of the markers", "", []restoreDisk{marked("c-1", "n-a"), empty, marked("c-1", "n-a")}, "n-a", false},
		{"markers and node agree", "n-a", []restoreDisk{marked("c-1", "n-a")}, "n-a", false},
		{"markers and node differ", "n-b", []restoreDisk{marked("c-1", "n-a")}, "", true},
		{"markers of two nodes", "", []restoreDisk{marked("c-1", "n-a"), marked("c-1", "n-b")}, "", true},
		{"marker of another cluster", "", []restoreDisk{marked("c-2", "n-a")}, "", true},
		{"node not in the backup", "n-z", nil, "", true},
		{"marker of a node not in the backup", "", []restoreDisk{marked("c-1", "n-z")}, "", true},
		{"node removed", "n-gone", nil, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := pickRestoreNode(tc.want, m, tc.disks)
			if (err != nil) != tc.fails || id != tc.id {
				t.Fatalf("pickRestoreNode = %q, %v; want %q, fails %v", id, err, tc.id, tc.fails)
			}
		})
	}
}

// TestRevokeInBatches deletes more sessions than one batch holds: every one goes, in
// journalled batches of at most raftfsm.MaxOps, and nothing else under account/.
func TestRevokeInBatches(t *testing.T) {
	c := rafttest.NewCluster(t, 1)
	store := c.Store(c.Leader(t))
	ctx := revokeCtx(t)
	const sessions = raftfsm.MaxOps + 10
	for i := 0; i < sessions; i += raftfsm.MaxOps {
		var ops []raftfsm.Op
		for j := i; j < min(i+raftfsm.MaxOps, sessions); j++ {
			ops = append(ops, raftfsm.Op{Kind: raftfsm.OpPut, Key: fmt.Appendf(nil, "%s%064x", accountSessions, j), Value: []byte("{}")})
		}
		_, err := store.Propose(ctx, raftfsm.Batch{Ops: ops, Audit: raftfsm.Audit{Time: time.Now(), Actor: "test", Action: "test.sessions"}})
		must(t, err)
	}
	_, err := store.Propose(ctx, raftfsm.Batch{
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: []byte(accountTokens + "t1"), Value: []byte("{}")}, {Kind: raftfsm.OpPut, Key: []byte(accountTokenIndex + "h1"), Value: []byte("t1")}},
		Audit: raftfsm.Audit{Time: time.Now(), Actor: "test", Action: "test.token"},
	})
	must(t, err)
	n, err := deleteAll(ctx, store, accountSessions, time.Now())
	if err != nil || n != sessions {
		t.Fatalf("deleteAll(sessions) = %d, %v; want %d", n, err, sessions)
	}
	if n, err := deleteAll(ctx, store, accountTokens, time.Now()); err != nil || n != 1 {
		t.Fatalf("deleteAll(tokens) = %d, %v; want 1 (the token index is not a token)", n, err)
	}
	if _, err := store.Get([]byte(accountTokenIndex + "h1")); err != nil {
		t.Fatalf("the token index went with the tokens: %v", err)
	}
	revokes := 0
	for _, a := range journalActions(t, store) {
		if a == "restore.revoke" {
			revokes++
		}
	}
	if revokes != 3 {
		t.Fatalf("%d restore.revoke entries, want 3 (two batches of sessions, one of tokens)", revokes)
	}
}
