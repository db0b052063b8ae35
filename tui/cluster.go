package tui

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"valise/adminapi"
)

// ClusterAPI is what the Cluster screen calls (a subset of *adminapi.Client).
type ClusterAPI interface {
	Status(ctx context.Context) (adminapi.Status, error)
	Backups(ctx context.Context) (adminapi.BackupList, error)
	Heal(ctx context.Context, progress func(adminapi.JobProgress)) (adminapi.JobProgress, error)
	Scrub(ctx context.Context, progress func(adminapi.JobProgress)) (adminapi.JobProgress, error)
	Rebalance(ctx context.Context, progress func(adminapi.JobProgress)) (adminapi.JobProgress, error)
	Drain(ctx context.Context, req adminapi.DrainRequest, progress func(adminapi.JobProgress)) (adminapi.JobProgress, error)
	ClusterToken(ctx context.Context, req adminapi.ClusterTokenRequest) (adminapi.ClusterToken, error)
	BackupNow(ctx context.Context) (adminapi.BackupRecord, error)
}

var _ ClusterAPI = (*adminapi.Client)(nil)

// The Cluster screen's panes, switched with left/right.
const (
	paneMembers = iota
	paneDisks
	paneBackups
	paneCount
)

var paneNames = [paneCount]Text{{"Nœuds", "Nodes"}, {"Disques", "Disks"}, {"Sauvegardes", "Backups"}}

// jobNames are the repair jobs in the order they are drawn, with their names.
var jobNames = []struct {
	job  string
	name Text
}{
	{adminapi.JobHeal, Text{"Réparation", "Heal"}},
	{adminapi.JobScrub, Text{"Contrôle", "Scrub"}},
	{adminapi.JobRebalance, Text{"Rééquilibrage", "Rebalance"}},
	{adminapi.JobDrain, Text{"Retrait", "Drain"}},
}

// cluster is screen 6: members, disks, layout, the repair jobs with live progress, the join
// token, removing a node, and backups.
type cluster struct {
	api     ClusterAPI
	env     Env
	width   int
	height  int
	loading bool
	loaded  bool
	status  adminapi.Status
	backups []adminapi.BackupRecord
	pane    int
	tables  [paneCount]Table

	live      map[string]adminapi.JobProgress // the jobs this console runs, as they stream
	running   map[string]bool                 // a job this console started has not ended
	backingUp bool                            // BackupNow is under way
	token     *adminapi.ClusterToken          // shown once, until esc
	confirm   *Confirm                        // the drain's confirmation, while asked
	drainNode string                          // the node the confirmation is about
}

// clusterMsg is the answer of a load.
type clusterMsg struct {
	status  adminapi.Status
	backups []adminapi.BackupRecord
	err     error
}

// jobMsg is one step of a job this console started; the last one has done set.
type jobMsg struct {
	job      string
	progress adminapi.JobProgress
	done     bool
	err      error
	next     <-chan jobMsg // where the following steps come from
}

type tokenMsg struct {
	token adminapi.ClusterToken
	err   error
}

type backupMsg struct {
	record adminapi.BackupRecord
	err    error
}

// NewCluster returns the Cluster screen over api.
func NewCluster(api ClusterAPI, env Env) Screen {
	c := &cluster{api: api, env: env, width: 80, height: 20,
		live: map[string]adminapi.JobProgress{}, running: map[string]bool{}}
	c.tables[paneMembers] = NewTable(env, memberColumns())
	c.tables[paneDisks] = NewTable(env, []Column{
		{Title: Text{"Nœud", "Node"}, Width: 10, Grow: true},
		{Title: Text{"Site", "Site"}, Width: 8},
		{Title: Text{"Disque", "Disk"}, Width: 12, Grow: true},
		{Title: Text{"Libre", "Free"}, Width: 10},
		{Title: Text{"État", "State"}, Width: 9},
	})
	c.tables[paneBackups] = NewTable(env, []Column{
		{Title: Text{"Début", "Started"}, Width: 16},
		{Title: Text{"Nœud", "Node"}, Width: 6},
		{Title: Text{"Taille", "Size"}, Width: 9},
		{Title: Text{"Index", "Index"}, Width: 7},
		{Title: Text{"Fichier", "File"}, Width: 10, Grow: true},
		{Title: Text{"État", "State"}, Width: 10},
	})
	return c
}

func (c *cluster) Init() tea.Cmd { return c.load() }

func (c *cluster) load() tea.Cmd {
	if c.loading {
		return nil
	}
	c.loading = true
	api := c.api
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st, err := api.Status(ctx)
		if err != nil {
			return clusterMsg{err: fmt.Errorf("read the cluster's status: %w", err)}
		}
		bl, err := api.Backups(ctx)
		if err != nil {
			return clusterMsg{err: fmt.Errorf("list the backups: %w", err)}
		}
		return clusterMsg{status: st, backups: bl.Backups}
	}
}

// errCmd reports err to the App.
func errCmd(err error) tea.Cmd { return func() tea.Msg { return ErrMsg{Err: err} } }

// toastCmd shows text as a toast.
func toastCmd(text string) tea.Cmd { return func() tea.Msg { return ToastMsg{Text: text} } }

// startJob runs a job in its own goroutine and returns the command that reads its first
// step. The job is not cancelled when the console stops: the node runs it to its end anyway,
// and the goroutine ends with the stream. Intermediate steps are dropped when the screen
// reads them slower than they come; the last one never is.
func startJob(job string, run func(ctx context.Context, progress func(adminapi.JobProgress)) (adminapi.JobProgress, error)) tea.Cmd {
	ch := make(chan jobMsg, 16)
	go func() {
		defer close(ch)
		final, err := run(context.Background(), func(p adminapi.JobProgress) {
			select {
			case ch <- jobMsg{job: job, progress: p}:
			default:
			}
		})
		ch <- jobMsg{job: job, progress: final, done: true, err: err}
	}()
	return nextJobStep(ch)
}

func nextJobStep(ch <-chan jobMsg) tea.Cmd {
	return func() tea.Msg {
		m, ok := <-ch
		if !ok {
			return nil
		}
		m.next = ch
		return m
	}
}

func (c *cluster) Update(msg tea.Msg) (Screen, tea.Cmd) {
	l := c.env.Lang
	switch msg := msg.(type) {
	case clusterMsg:
		c.loading = false
		if msg.err != nil {
			return c, errCmd(msg.err)
		}
		c.loaded, c.status, c.backups = true, msg.status, msg.backups
		c.fill()
	case jobMsg:
		c.live[msg.job] = msg.progress
		if !msg.done {
			return c, nextJobStep(msg.next)
		}
		delete(c.running, msg.job)
		if msg.err != nil {
			return c, tea.Batch(errCmd(fmt.Errorf("%s: %w", msg.job, msg.err)), c.load())
		}
		text := fmt.Sprintf(Text{"%s terminé : %d fichiers vérifiés, %d en échec.", "%s done: %d files checked, %d failed."}.In(l),
			jobName(msg.job).In(l), msg.progress.FilesDone, msg.progress.Failed)
		return c, tea.Batch(toastCmd(text), c.load())
	case tokenMsg:
		if msg.err != nil {
			return c, errCmd(fmt.Errorf("create a join token: %w", msg.err))
		}
		c.token = &msg.token
	case backupMsg:
		c.backingUp = false
		if msg.err != nil {
			return c, tea.Batch(errCmd(fmt.Errorf("back up: %w", msg.err)), c.load())
		}
		text := fmt.Sprintf(Text{"Sauvegarde faite : %s (%s).", "Backup done: %s (%s)."}.In(l),
			msg.record.Path, formatBytes(l, uint64(max(msg.record.Size, 0))))
		return c, tea.Batch(toastCmd(text), c.load())
	case TickMsg:
		return c, c.load()
	case BodySizeMsg:
		c.width, c.height = msg.Width, msg.Height
	case LangMsg:
		c.env.Lang = msg.Lang
		for i := range c.tables {
			c.tables[i].SetLang(msg.Lang)
		}
		c.fill()
	case tea.KeyPressMsg:
		return c, c.onKey(msg)
	}
	return c, nil
}

// fill puts the loaded state in the tables.
func (c *cluster) fill() {
	l := c.env.Lang
	c.tables[paneMembers].SetRows(memberRows(l, c.status.Members))
	disks := make([]Row, 0, len(c.status.ClusterDisks))
	for _, d := range c.status.ClusterDisks {
		tone := ""
		switch d.State {
		case "down":
			tone = "error"
		case "draining":
			tone = "warn"
		}
		disks = append(disks, Row{ID: d.Node + "/" + d.ID, Tone: tone, Cells: []string{d.Node, d.Site, d.ID, formatBytes(l, d.FreeBytes), d.State}})
	}
	c.tables[paneDisks].SetRows(disks)
	backups := make([]Row, 0, len(c.backups))
	for _, b := range c.backups {
		state, tone := Text{"faite", "done"}.In(l), "ok"
		switch {
		case b.Error != "":
			state, tone = Text{"échouée", "failed"}.In(l), "error"
		case b.Deleted:
			state, tone = Text{"supprimée", "pruned"}.In(l), "muted"
		}
		backups = append(backups, Row{ID: b.ID, Tone: tone, Cells: []string{formatTime(b.Started), b.Node,
			formatBytes(l, uint64(max(b.Size, 0))), strconv.FormatUint(b.Index, 10), b.Path, state}})
	}
	c.tables[paneBackups].SetRows(backups)
}

func jobName(job string) Text {
	for _, j := range jobNames {
		if j.job == job {
			return j.name
		}
	}
	return Text{job, job}
}

// jobRunning is true while job runs, started here or elsewhere.
func (c *cluster) jobRunning(job string) bool {
	if c.running[job] {
		return true
	}
	p := c.statusJob(job)
	return p != nil && p.Running
}

func (c *cluster) statusJob(job string) *adminapi.JobProgress {
	switch job {
	case adminapi.JobHeal:
		return c.status.Heal
	case adminapi.JobScrub:
		return c.status.Scrub
	case adminapi.JobRebalance:
		return c.status.Rebalance
	case adminapi.JobDrain:
		return c.status.Drain
	}
	return nil
}

// start starts job unless it runs already.
func (c *cluster) start(job string, run func(ctx context.Context, progress func(adminapi.JobProgress)) (adminapi.JobProgress, error)) tea.Cmd {
	l := c.env.Lang
	if c.jobRunning(job) {
		return toastCmd(fmt.Sprintf(Text{"%s est déjà en cours.", "%s is running already."}.In(l), jobName(job).In(l)))
	}
	c.running[job] = true
	c.live[job] = adminapi.JobProgress{Job: job, Running: true}
	return startJob(job, run)
}

func (c *cluster) onKey(k tea.KeyPressMsg) tea.Cmd {
	if c.confirm != nil {
		cf, _ := c.confirm.Update(k)
		c.confirm = &cf
		switch cf.State() {
		case FormSubmitted:
			node := c.drainNode
			c.confirm, c.drainNode = nil, ""
			api := c.api
			return c.start(adminapi.JobDrain, func(ctx context.Context, p func(adminapi.JobProgress)) (adminapi.JobProgress, error) {
				return api.Drain(ctx, adminapi.DrainRequest{Node: node}, p)
			})
		case FormCancelled:
			c.confirm, c.drainNode = nil, ""
		}
		return nil
	}
	t := &c.tables[c.pane]
	if t.Filtering() {
		var cmd tea.Cmd
		*t, cmd = t.Update(k)
		return cmd
	}
	api := c.api
	switch k.String() {
	case "left":
		c.pane = (c.pane + paneCount - 1) % paneCount
	case "right":
		c.pane = (c.pane + 1) % paneCount
	case "H":
		return c.start(adminapi.JobHeal, api.Heal)
	case "C":
		return c.start(adminapi.JobScrub, api.Scrub)
	case "R":
		return c.start(adminapi.JobRebalance, api.Rebalance)
	case "B":
		if c.backingUp {
			return nil
		}
		c.backingUp = true
		return func() tea.Msg {
			rec, err := api.BackupNow(context.Background())
			return backupMsg{rec, err}
		}
	case "T":
		return func() tea.Msg {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			tok, err := api.ClusterToken(ctx, adminapi.ClusterTokenRequest{})
			return tokenMsg{tok, err}
		}
	case "esc":
		if c.token != nil {
			c.token = nil
			return nil
		}
	case "d":
		if r, ok := c.tables[paneMembers].Selected(); ok && c.pane == paneMembers {
			l := c.env.Lang
			cf := NewConfirm(c.env, fmt.Sprintf(Text{
				"Retirer le nœud %s du cluster ? Ses données sont d'abord recopiées sur les autres nœuds.",
				"Remove node %s from the cluster? Its data is first copied to the other nodes."}.In(l), r.ID), true)
			c.confirm, c.drainNode = &cf, r.ID
			return nil
		}
	}
	var cmd tea.Cmd
	*t, cmd = t.Update(k)
	return cmd
}

func (c *cluster) Keys() []key.Binding {
	l := c.env.Lang
	switch {
	case c.confirm != nil:
		return []key.Binding{
			binding(l, "y", Text{"retirer", "remove"}, "y", "o"),
			binding(l, "n", Text{"garder", "keep"}, "n", "esc"),
		}
	case c.tables[c.pane].Filtering():
		return c.tables[c.pane].Keys()
	}
	ks := []key.Binding{binding(l, "←/→", Text{"volet", "pane"}, "left", "right")}
	if c.token != nil {
		ks = append(ks, binding(l, "esc", Text{"cacher le jeton", "hide token"}))
	}
	if c.pane == paneMembers {
		ks = append(ks, binding(l, "d", Text{"retirer le nœud", "remove node"}))
	}
	ks = append(ks,
		binding(l, "H", Text{"réparer", "heal"}),
		binding(l, "C", Text{"contrôler", "scrub"}),
		binding(l, "R", Text{"rééquilibrer", "rebalance"}),
		binding(l, "B", Text{"sauvegarder", "back up"}),
		binding(l, "T", Text{"jeton d'adhésion", "join token"}),
	)
	return append(ks, c.tables[c.pane].Keys()...)
}

func (c *cluster) Typing() bool { return c.confirm != nil || c.tables[c.pane].Filtering() }

func (c *cluster) View() string {
	l, st := c.env.Lang, c.env.Styles
	if !c.loaded {
		return st.Muted.Render(Text{"Chargement…", "Loading…"}.In(l))
	}
	var lines []string
	lay := c.status.Layout
	tone := "ok"
	if !lay.ReadsSurvive || !lay.WritesSurvive {
		tone = "warn"
	}
	if lay.Layout == "" {
		tone = "error"
	}
	head := fmt.Sprintf(Text{"Disposition %s%s · %d × %s · après une perte : lectures %s écritures %s",
		"Layout %s%s · %d × %s · after a loss: reads %s writes %s"}.In(l),
		lay.Layout, map[bool]string{true: " (auto)"}[lay.Auto], lay.Domains, domainName(l, lay.FailureDomain),
		mark(lay.ReadsSurvive), mark(lay.WritesSurvive))
	lines = append(lines, fitStyled(st.tone(tone).Render(head), c.width))
	if lay.Summary != "" {
		lines = append(lines, fitStyled(st.Muted.Render(lay.Summary), c.width))
	}
	for _, j := range jobNames {
		if s := c.jobLine(j.job, j.name); s != "" {
			lines = append(lines, fitStyled(s, c.width))
		}
	}
	if c.backingUp {
		lines = append(lines, st.Warn.Render(Text{"Sauvegarde en cours…", "Backup running…"}.In(l)))
	}
	if t := c.token; t != nil {
		lines = append(lines, "",
			st.Label.Render(fmt.Sprintf(Text{"Jeton d'adhésion, affiché une seule fois (expire %s, esc le cache) :",
				"Join token, shown once (expires %s, esc hides it):"}.In(l), formatTime(t.Expires))),
			"appliance join --token "+t.Token)
	}
	var tabs []string
	for i, n := range paneNames {
		if i == c.pane {
			tabs = append(tabs, st.TabOn.Render(n.In(l)))
		} else {
			tabs = append(tabs, st.Tab.Render(n.In(l)))
		}
	}
	lines = append(lines, "", strings.Join(tabs, " "))
	top := strings.Join(lines, "\n")
	rest := max(c.height-len(lines), 2)
	if c.confirm != nil {
		return top + "\n" + lipgloss.Place(c.width, rest, lipgloss.Center, lipgloss.Center, c.confirm.View())
	}
	c.tables[c.pane].SetSize(c.width, rest)
	return top + "\n" + c.tables[c.pane].View()
}

// mark is ✓ for true, ✗ for false.
func mark(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

// domainName names a failure domain in l.
func domainName(l Lang, d string) string {
	switch d {
	case "disk":
		return Text{"disque", "disk"}.In(l)
	case "node":
		return Text{"nœud", "node"}.In(l)
	}
	return d
}

// jobLine draws a job: its live progress bar while it runs, else how its last run ended;
// "" when it never ran since the node started.
func (c *cluster) jobLine(job string, name Text) string {
	l, st := c.env.Lang, c.env.Styles
	p, ok := c.live[job]
	if !ok || (!p.Running && c.statusJob(job) != nil && c.statusJob(job).Running) {
		sp := c.statusJob(job)
		if sp == nil {
			return ""
		}
		p = *sp
	}
	label := st.Label.Render(fit(name.In(l), 14)) + " "
	if p.Running || !p.Done {
		total := p.FilesTotal
		eta := ""
		if p.ETASeconds > 0 {
			eta = " · " + Text{"reste ", "left "}.In(l) + formatAge(l, time.Duration(p.ETASeconds)*time.Second)
		}
		return label + ProgressBar(c.env, p.FilesDone, total, 24) +
			fmt.Sprintf(Text{" %d/%d fichiers", " %d/%d files"}.In(l), p.FilesDone, total) + eta
	}
	when := parseTime(p.Finished)
	tone := st.OK
	text := fmt.Sprintf(Text{"terminé %s · %d fichiers, %d réparés, %d en échec", "done %s · %d files, %d repaired, %d failed"}.In(l),
		ago(l, c.env.Now(), when), p.FilesDone, p.Repaired+p.Moved, p.Failed)
	if p.Error != "" || p.Failed > 0 {
		tone = st.Error
		if p.Error != "" {
			text += " · " + p.Error
		}
	}
	return label + tone.Render(text)
}
