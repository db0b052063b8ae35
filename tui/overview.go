package tui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"valise/adminapi"
)

// OverviewAPI is what the Overview screen reads (a subset of *adminapi.Client).
type OverviewAPI interface {
	Status(ctx context.Context) (adminapi.Status, error)
	Outbox(ctx context.Context) (adminapi.Outbox, error)
}

var _ OverviewAPI = (*adminapi.Client)(nil)

// overview is screen 1: the cluster's health at a glance, reloaded on every tick.
type overview struct {
	api     OverviewAPI
	env     Env
	width   int
	height  int
	loading bool // a load is under way
	loaded  bool
	status  adminapi.Status
	outbox  *adminapi.Outbox // nil when it could not be read
	members Table
}

// overviewMsg is the answer of a load.
type overviewMsg struct {
	status adminapi.Status
	outbox *adminapi.Outbox
	err    error
}

// NewOverview returns the Overview screen over api.
func NewOverview(api OverviewAPI, env Env) Screen {
	return &overview{api: api, env: env, width: 80, height: 20, members: NewTable(env, memberColumns())}
}

func memberColumns() []Column {
	return []Column{
		{Title: Text{"Nœud", "Node"}, Width: 10, Grow: true},
		{Title: Text{"Site", "Site"}, Width: 8},
		{Title: Text{"Adresse", "Address"}, Width: 16, Grow: true},
		{Title: Text{"Rôle", "Role"}, Width: 9},
		{Title: Text{"État", "State"}, Width: 9},
		{Title: Text{"Joignable", "Reachable"}, Width: 9},
	}
}

// memberRows returns the members as table rows, the leader marked with a star.
func memberRows(l Lang, ms []adminapi.Member) []Row {
	rows := make([]Row, 0, len(ms))
	for _, m := range ms {
		id, tone := m.ID, ""
		if m.Leader {
			id += " ★"
		}
		switch {
		case !m.Reachable:
			tone = "error"
		case m.State != "active":
			tone = "warn"
		}
		rows = append(rows, Row{ID: m.ID, Tone: tone, Cells: []string{id, m.Site, m.Address, m.Suffrage, m.State, yesNo(l, m.Reachable)}})
	}
	return rows
}

func (o *overview) Init() tea.Cmd { return o.load() }

func (o *overview) load() tea.Cmd {
	if o.loading {
		return nil
	}
	o.loading = true
	api := o.api
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st, err := api.Status(ctx)
		if err != nil {
			return overviewMsg{err: fmt.Errorf("read the node's status: %w", err)}
		}
		msg := overviewMsg{status: st}
		if ob, err := api.Outbox(ctx); err == nil {
			msg.outbox = &ob
		}
		return msg
	}
}

func (o *overview) Update(msg tea.Msg) (Screen, tea.Cmd) {
	switch msg := msg.(type) {
	case overviewMsg:
		o.loading = false
		if msg.err != nil {
			return o, func() tea.Msg { return ErrMsg{Err: msg.err} }
		}
		o.loaded, o.status, o.outbox = true, msg.status, msg.outbox
		o.members.SetRows(memberRows(o.env.Lang, msg.status.Members))
	case TickMsg:
		return o, o.load()
	case BodySizeMsg:
		o.width, o.height = msg.Width, msg.Height
	case LangMsg:
		o.env.Lang = msg.Lang
		o.members.SetLang(msg.Lang)
		o.members.SetRows(memberRows(o.env.Lang, o.status.Members))
	case tea.KeyPressMsg:
		var cmd tea.Cmd
		o.members, cmd = o.members.Update(msg)
		return o, cmd
	}
	return o, nil
}

func (o *overview) Keys() []key.Binding { return o.members.Keys() }

func (o *overview) Typing() bool { return o.members.Filtering() }

// overviewLine is one line of the summary: a label, a value and its tone.
type overviewLine struct {
	label Text
	value string
	tone  string
}

func (o *overview) View() string {
	l, st := o.env.Lang, o.env.Styles
	if !o.loaded {
		return st.Muted.Render(Text{"Chargement…", "Loading…"}.In(l))
	}
	lines := o.summary()
	var b strings.Builder
	for i, ln := range lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(st.Label.Render(fit(ln.label.In(l), 14)) + " " + fitStyled(st.tone(ln.tone).Render(ln.value), o.width-15))
	}
	if rest := o.height - len(lines) - 2; rest >= 3 {
		b.WriteString("\n\n" + st.Title.Render(Text{"Nœuds", "Nodes"}.In(l)) + "\n")
		o.members.SetSize(o.width, rest-1)
		b.WriteString(o.members.View())
	}
	return b.String()
}

// summary is the health of each part, worst tone first within a part.
func (o *overview) summary() []overviewLine {
	l, s, now := o.env.Lang, o.status, o.env.Now()
	var out []overviewLine
	add := func(label Text, value, tone string) { out = append(out, overviewLine{label, value, tone}) }

	add(Text{"Cluster", "Cluster"}, fmt.Sprintf("%s · %s%s · site %s", short(s.Cluster.ID, 12),
		Text{"nœud ", "node "}.In(l), s.Node.ID, s.Node.Site), "")

	reachable, sites := 0, map[string]bool{}
	for _, m := range s.Members {
		if m.Reachable {
			reachable++
		}
		sites[m.Site] = true
	}
	tone := "ok"
	if reachable < len(s.Members) {
		tone = "warn"
	}
	add(Text{"Nœuds", "Nodes"}, fmt.Sprintf(Text{"%d, %d joignables · %d sites", "%d, %d reachable · %d sites"}.In(l),
		len(s.Members), reachable, len(sites)), tone)

	var free uint64
	down := 0
	for _, d := range s.ClusterDisks {
		free += d.FreeBytes
		if d.State != "up" {
			down++
		}
	}
	tone = "ok"
	if down > 0 {
		tone = "warn"
	}
	add(Text{"Disques", "Disks"}, fmt.Sprintf(Text{"%d, %d hors service · %s libres", "%d, %d not up · %s free"}.In(l),
		len(s.ClusterDisks), down, formatBytes(l, free)), tone)

	var total, nodeFree uint64
	tone = ""
	for _, d := range s.Disks {
		total += d.TotalBytes
		nodeFree += d.FreeBytes
		if d.State != "ok" {
			tone = "error"
		}
	}
	used := total - min(nodeFree, total)
	add(Text{"Ce nœud", "This node"}, ProgressBar(o.env, int64(used), int64(total), 20)+" "+
		fmt.Sprintf(Text{"%s utilisés sur %s", "%s used of %s"}.In(l), formatBytes(l, used), formatBytes(l, total)), tone)

	if s.Raft.LeaderID == "" {
		add(Text{"Raft", "Raft"}, Text{"pas de leader : aucune modification possible", "no leader: nothing can change"}.In(l), "error")
	} else {
		add(Text{"Raft", "Raft"}, fmt.Sprintf(Text{"leader %s · mandat %d · index %d", "leader %s · term %d · index %d"}.In(l),
			s.Raft.LeaderID, s.Raft.Term, s.Raft.AppliedIndex), "ok")
	}

	switch {
	case s.Heal != nil && s.Heal.Running:
		add(Text{"Fichiers", "Files"}, fmt.Sprintf(Text{"%d dégradés · réparation ", "%d degraded · healing "}.In(l), s.DegradedFiles)+
			ProgressBar(o.env, s.Heal.FilesDone, s.Heal.FilesTotal, 16), "warn")
	case s.DegradedFiles > 0:
		add(Text{"Fichiers", "Files"}, fmt.Sprintf(Text{"%d dégradés, en attente de réparation", "%d degraded, awaiting heal"}.In(l), s.DegradedFiles), "warn")
	default:
		add(Text{"Fichiers", "Files"}, Text{"aucun fichier dégradé", "no degraded file"}.In(l), "ok")
	}

	v, tone := scannerText(l, s.Scanner)
	add(Text{"Antivirus", "Antivirus"}, v, tone)
	v, tone = mailText(l, o.outbox)
	add(Text{"Courrier", "Mail"}, v, tone)
	v, tone = certText(l, s.Certificates, o.width >= 110) // certs.go
	add(Text{"Certificats", "Certificates"}, v, tone)

	if b := s.LastBackup; b == nil {
		add(Text{"Sauvegarde", "Backup"}, Text{"aucune sauvegarde", "no backup"}.In(l), "warn")
	} else if b.Error != "" {
		add(Text{"Sauvegarde", "Backup"}, fmt.Sprintf(Text{"la dernière a échoué (%s) : %s", "the last one failed (%s): %s"}.In(l),
			formatTime(b.Started), b.Error), "error")
	} else {
		add(Text{"Sauvegarde", "Backup"}, fmt.Sprintf("%s (%s) · %s", formatTime(b.Finished), ago(l, now, b.Finished), formatBytes(l, uint64(max(b.Size, 0)))), "ok")
	}

	if s.Journal.Verified {
		add(Text{"Journal", "Journal"}, fmt.Sprintf(Text{"%d entrées · chaîne vérifiée", "%d entries · chain verified"}.In(l), s.Journal.Entries), "ok")
	} else {
		add(Text{"Journal", "Journal"}, fmt.Sprintf(Text{"%d entrées · chaîne non vérifiée", "%d entries · chain not verified"}.In(l), s.Journal.Entries), "warn")
	}
	return out
}

// scannerText says how the antivirus stands, and its tone.
func scannerText(l Lang, sc adminapi.ScannerInfo) (string, string) {
	if !sc.Running {
		return Text{"arrêté : ", "stopped: "}.In(l) + sc.Reason, "error"
	}
	age := Text{"âge des signatures inconnu", "signature age unknown"}.In(l)
	if sc.DBAgeSeconds > 0 {
		age = Text{"signatures de ", "signatures "}.In(l) + formatAge(l, time.Duration(sc.DBAgeSeconds)*time.Second)
		if l == LangEN {
			age += " old"
		}
	}
	if sc.TestSignaturesOnly {
		return Text{"signatures de test seulement : rien de réel n'est détecté", "test signatures only: nothing real is detected"}.In(l), "warn"
	}
	return fmt.Sprintf("%s · %s", short(sc.Version, 24), age), "ok"
}

// mailText says how the mail queue stands, and its tone.
func mailText(l Lang, ob *adminapi.Outbox) (string, string) {
	if ob == nil {
		return Text{"file d'attente illisible", "queue unreadable"}.In(l), "muted"
	}
	waiting, failed := 0, 0
	for _, m := range ob.Mails {
		switch m.State {
		case "failed":
			failed++
		case "pending", "outbox":
			waiting++
		}
	}
	switch {
	case failed > 0:
		return fmt.Sprintf(Text{"%d en attente, %d en échec", "%d waiting, %d failed"}.In(l), waiting, failed), "error"
	case waiting > 0:
		return fmt.Sprintf(Text{"%d en attente", "%d waiting"}.In(l), waiting), "warn"
	}
	return Text{"file vide", "queue empty"}.In(l), "ok"
}

// short cuts s to n runes with an ellipsis.
func short(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
