package tui

import (
	"fmt"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
)

// drive runs cmd and every command that follows from it through s, as the App would, and
// returns the messages meant for the App (toasts and errors).
func drive(s Screen, cmd tea.Cmd) (Screen, []tea.Msg) {
	var out []tea.Msg
	queue := []tea.Cmd{cmd}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if c == nil {
			continue
		}
		switch msg := c().(type) {
		case nil:
		case tea.BatchMsg:
			queue = append(queue, msg...)
		case ToastMsg, ErrMsg:
			out = append(out, msg)
		default:
			var next tea.Cmd
			s, next = s.Update(msg)
			queue = append(queue, next)
		}
	}
	return s, out
}

// keys sends each key to s and drives what follows.
func keys(s Screen, ks ...string) (Screen, []tea.Msg) {
	var out []tea.Msg
	for _, k := range ks {
		var cmd tea.Cmd
		s, cmd = s.Update(press(k))
		var msgs []tea.Msg
		s, msgs = drive(s, cmd)
		out = append(out, msgs...)
	}
	return s, out
}

func loadedCluster(t *testing.T, api *fakeAPI, lang Lang) Screen {
	t.Helper()
	s := NewCluster(api, testEnv(lang))
	s, _ = s.Update(BodySizeMsg{Width: 100, Height: 30})
	s, msgs := drive(s, s.Init())
	if len(msgs) > 0 {
		t.Fatalf("load: %v", msgs)
	}
	return s
}

func TestClusterGolden(t *testing.T) {
	goldenScreen(t, "Cluster", 5, func(env Env) Screen { return NewCluster(newFakeAPI(), env) }, "10.0.1.3")
}

func TestClusterJobProgress(t *testing.T) {
	api := newFakeAPI()
	api.release = make(chan struct{})
	env := testEnv(LangEN)
	tm := runApp(t, testApp(api, env, 5, NewCluster(api, env)), 120, 40)
	waitFor(t, tm, "10.0.1.3")
	tm.Type("C")
	waitFor(t, tm, "50/100 files")
	tm.Type("C")
	waitFor(t, tm, "Scrub is running already.")
	close(api.release)
	waitFor(t, tm, "Scrub done: 100 files checked, 0 failed.")
	if !api.called("scrub") {
		t.Error("scrub not called")
	}
}

func TestClusterDrainAsksFirst(t *testing.T) {
	api := newFakeAPI()
	s := loadedCluster(t, api, LangEN)
	s, _ = keys(s, "down", "down", "d")
	if !s.Typing() || !strings.Contains(stripView(s.View()), "Remove node n3 from the cluster?") {
		t.Fatalf("no confirmation:\n%s", stripView(s.View()))
	}
	s, _ = keys(s, "enter") // "no" has the focus
	if s.Typing() || api.called("drain n3") {
		t.Fatal("enter alone drained the node")
	}
	s, msgs := keys(s, "d", "y")
	if !api.called("drain n3") {
		t.Fatal("y did not drain the node")
	}
	if len(msgs) != 1 || !strings.Contains(fmt.Sprint(msgs[0]), "Drain done") {
		t.Errorf("messages %v, want the drain's end", msgs)
	}
	_ = s
}

func TestClusterTokenAndBackup(t *testing.T) {
	api := newFakeAPI()
	s := loadedCluster(t, api, LangFR)
	s, _ = keys(s, "T")
	if v := stripView(s.View()); !strings.Contains(v, "appliance join --token vjt1.SECRET-TOKEN") || !strings.Contains(v, "affiché une seule fois") {
		t.Fatalf("token not shown:\n%s", v)
	}
	s, _ = keys(s, "esc")
	if strings.Contains(stripView(s.View()), "SECRET") {
		t.Fatal("esc did not hide the token")
	}
	s, msgs := keys(s, "B")
	if !api.called("backup") || len(msgs) != 1 || !strings.Contains(fmt.Sprint(msgs[0]), "Sauvegarde faite : /srv/valise/backups/b-2.vbk (50,0 Mo).") {
		t.Fatalf("backup: called %v, messages %v", api.called("backup"), msgs)
	}
	s, _ = keys(s, "right", "right")
	if v := stripView(s.View()); !strings.Contains(v, "échouée") || !strings.Contains(v, "supprimée") {
		t.Errorf("backups pane:\n%s", v)
	}
}
