package tui

import (
	"context"
	"sync"
	"time"

	"valise/adminapi"
)

// fakeStatus is the fixed state of a three-node cluster on two sites, one disk down, a heal
// under way, test signatures only: every tone of the Overview shows.
func fakeStatus() adminapi.Status {
	ago := func(d time.Duration) string { return testNow.Add(-d).Format(time.RFC3339) }
	return adminapi.Status{
		Node:    adminapi.NodeInfo{ID: "n1", Site: "paris"},
		Cluster: adminapi.ClusterInfo{ID: "c-7f3a9b2e41d0c6a5"},
		Raft:    adminapi.RaftInfo{State: "Leader", Term: 7, CommitIndex: 1204, AppliedIndex: 1204, LeaderID: "n1"},
		Members: []adminapi.Member{
			{ID: "n1", Site: "paris", Address: "10.0.0.1:7443", Suffrage: "Voter", Reachable: true, State: "active", Leader: true, LastContact: ago(time.Second), AppliedIndex: 1204},
			{ID: "n2", Site: "paris", Address: "10.0.0.2:7443", Suffrage: "Voter", Reachable: true, State: "active", LastContact: ago(time.Second), AppliedIndex: 1204},
			{ID: "n3", Site: "lyon", Address: "10.0.1.3:7443", Suffrage: "Voter", Reachable: false, State: "active", LastContact: ago(time.Hour), AppliedIndex: 1100},
		},
		Disks: []adminapi.Disk{
			{Path: "/srv/valise/d1", TotalBytes: 2_000_000_000_000, FreeBytes: 800_000_000_000, State: "ok"},
			{Path: "/srv/valise/d2", TotalBytes: 2_000_000_000_000, FreeBytes: 700_000_000_000, State: "ok"},
		},
		ClusterDisks: []adminapi.ClusterDisk{
			{Node: "n1", Site: "paris", ID: "n1-d1", FreeBytes: 800_000_000_000, State: "up"},
			{Node: "n1", Site: "paris", ID: "n1-d2", FreeBytes: 700_000_000_000, State: "up"},
			{Node: "n2", Site: "paris", ID: "n2-d1", FreeBytes: 900_000_000_000, State: "up"},
			{Node: "n3", Site: "lyon", ID: "n3-d1", FreeBytes: 0, State: "down"},
		},
		DegradedFiles: 12,
		Journal:       adminapi.JournalInfo{Entries: 5821, Verified: true},
		Scanner:       adminapi.ScannerInfo{Running: true, Private: true, Version: "ClamAV 1.4.1", TestSignaturesOnly: true, DBAgeSeconds: 3 * 86400},
		Heal: &adminapi.JobProgress{Job: adminapi.JobHeal, Trigger: "disk failed", Running: true, Started: ago(10 * time.Minute),
			FilesDone: 30, FilesTotal: 120, BytesDone: 3_000_000_000, BytesTotal: 12_000_000_000, ETASeconds: 1800, Repaired: 30},
		Scrub: &adminapi.JobProgress{Job: adminapi.JobScrub, Done: true, Started: ago(26 * time.Hour), Finished: ago(25 * time.Hour),
			FilesDone: 4000, FilesTotal: 4000, BytesDone: 900_000_000_000, BytesTotal: 900_000_000_000},
		Layout: adminapi.LayoutInfo{Layout: "2+1", Auto: true, FailureDomain: "node", Domains: 3, PerDomain: 1, ReadsSurvive: true, WritesSurvive: true,
			Summary: "2+1 over 3 nodes: the loss of one node keeps every file readable and uploads going"},
		LastBackup: &adminapi.BackupRecord{ID: "b-1", Node: "n1", Path: "/srv/valise/backups/b-1.vbk", Scheduled: true,
			Started: testNow.Add(-31 * time.Hour), Finished: testNow.Add(-30*time.Hour - 58*time.Minute), Index: 1100, Size: 48_200_000},
		Certificates: []adminapi.CertInfo{
			adminapi.NewCertInfo("cluster CA", "Valise cluster CA", testNow.Add(3000*24*time.Hour), testNow),
			adminapi.NewCertInfo("node certificate", "n1", testNow.Add(300*24*time.Hour), testNow),
			adminapi.NewCertInfo("HTTPS files.example.org", "files.example.org", testNow.Add(21*24*time.Hour+time.Hour), testNow),
		},
	}
}

// fakeAPI is the node every screen test talks to: fixed data, errors on demand, and the
// calls it received. It is safe for concurrent use (commands run in goroutines).
type fakeAPI struct {
	mu     sync.Mutex // guards the fields below
	status adminapi.Status
	err    error // returned by every call while set
	calls  []string
	// jobs receives the progress steps each job streams before its result; a job blocks on
	// release when it is not nil, so a test sees it running.
	release chan struct{}
}

func newFakeAPI() *fakeAPI { return &fakeAPI{status: fakeStatus()} }

func (f *fakeAPI) record(call string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
	return f.err
}

func (f *fakeAPI) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakeAPI) called(call string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.calls {
		if c == call {
			return true
		}
	}
	return false
}

func (f *fakeAPI) Status(ctx context.Context) (adminapi.Status, error) {
	if err := f.record("status"); err != nil {
		return adminapi.Status{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status, nil
}

func (f *fakeAPI) Outbox(ctx context.Context) (adminapi.Outbox, error) {
	if err := f.record("outbox"); err != nil {
		return adminapi.Outbox{}, err
	}
	return adminapi.Outbox{Mails: []adminapi.OutboxMail{
		{ID: "m1", State: "pending"}, {ID: "m2", State: "pending"}, {ID: "m3", State: "sent"},
	}}, nil
}

// testApp returns an App over api showing screen s at position i, the others missing.
func testApp(api StatusAPI, env Env, i int, s Screen) *App {
	var screens [6]Screen
	screens[i] = s
	a := NewApp(api, env, screens, "test.sock")
	a.impl.current = i
	return a
}

func (f *fakeAPI) Backups(ctx context.Context) (adminapi.BackupList, error) {
	if err := f.record("backups"); err != nil {
		return adminapi.BackupList{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	list := adminapi.BackupList{}
	if f.status.LastBackup != nil {
		list.Backups = append(list.Backups, *f.status.LastBackup)
	}
	list.Backups = append(list.Backups,
		adminapi.BackupRecord{ID: "b-0", Node: "n2", Path: "/srv/valise/backups/b-0.vbk", Scheduled: true,
			Started: testNow.Add(-55 * time.Hour), Error: "disk full: 2 GB needed, 1 GB free"},
		adminapi.BackupRecord{ID: "b-00", Node: "n1", Path: "/srv/valise/backups/b-00.vbk", Scheduled: true,
			Started: testNow.Add(-79 * time.Hour), Finished: testNow.Add(-79 * time.Hour), Index: 900, Size: 40_100_000, Deleted: true},
	)
	return list, nil
}

// job streams two steps of job, waits for release when set, and ends.
func (f *fakeAPI) job(job string, progress func(adminapi.JobProgress)) (adminapi.JobProgress, error) {
	if err := f.record(job); err != nil {
		return adminapi.JobProgress{}, err
	}
	progress(adminapi.JobProgress{Job: job, Running: true, FilesDone: 10, FilesTotal: 100, ETASeconds: -1})
	progress(adminapi.JobProgress{Job: job, Running: true, FilesDone: 50, FilesTotal: 100, ETASeconds: 90})
	f.mu.Lock()
	release := f.release
	f.mu.Unlock()
	if release != nil {
		<-release
	}
	return adminapi.JobProgress{Job: job, Done: true, FilesDone: 100, FilesTotal: 100, Repaired: 2,
		Finished: testNow.Format(time.RFC3339)}, nil
}

func (f *fakeAPI) Heal(ctx context.Context, p func(adminapi.JobProgress)) (adminapi.JobProgress, error) {
	return f.job(adminapi.JobHeal, p)
}

func (f *fakeAPI) Scrub(ctx context.Context, p func(adminapi.JobProgress)) (adminapi.JobProgress, error) {
	return f.job(adminapi.JobScrub, p)
}

func (f *fakeAPI) Rebalance(ctx context.Context, p func(adminapi.JobProgress)) (adminapi.JobProgress, error) {
	return f.job(adminapi.JobRebalance, p)
}

func (f *fakeAPI) Drain(ctx context.Context, req adminapi.DrainRequest, p func(adminapi.JobProgress)) (adminapi.JobProgress, error) {
	return f.job(adminapi.JobDrain+" "+req.Node, p)
}

func (f *fakeAPI) ClusterToken(ctx context.Context, req adminapi.ClusterTokenRequest) (adminapi.ClusterToken, error) {
	if err := f.record("token"); err != nil {
		return adminapi.ClusterToken{}, err
	}
	return adminapi.ClusterToken{Token: "vjt1.SECRET-TOKEN", Expires: testNow.Add(time.Hour), Purpose: "join"}, nil
}

func (f *fakeAPI) BackupNow(ctx context.Context) (adminapi.BackupRecord, error) {
	if err := f.record("backup"); err != nil {
		return adminapi.BackupRecord{}, err
	}
	return adminapi.BackupRecord{ID: "b-2", Node: "n1", Path: "/srv/valise/backups/b-2.vbk", Started: testNow, Finished: testNow, Size: 50_000_000}, nil
}
