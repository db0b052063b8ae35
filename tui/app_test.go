package tui

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"valise/adminapi"
)

// stubScreen is a screen that draws its name and the last key it got, and records what it
// was sent.
type stubScreen struct {
	name   string
	typing bool
	inits  int
	keys   []string
	lang   Lang
	ticks  int
	size   BodySizeMsg
}

func (s *stubScreen) Init() tea.Cmd { s.inits++; return nil }

func (s *stubScreen) Update(msg tea.Msg) (Screen, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		s.keys = append(s.keys, msg.String())
	case LangMsg:
		s.lang = msg.Lang
	case TickMsg:
		s.ticks++
	case BodySizeMsg:
		s.size = msg
	}
	return s, nil
}

func (s *stubScreen) View() string { return "screen " + s.name + " keys " + strings.Join(s.keys, ",") }

func (s *stubScreen) Keys() []key.Binding {
	return []key.Binding{key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "act "+s.name))}
}

func (s *stubScreen) Typing() bool { return s.typing }

func stubApp(api StatusAPI) (*App, [6]*stubScreen) {
	var stubs [6]*stubScreen
	var screens [6]Screen
	for i := range stubs {
		stubs[i] = &stubScreen{name: fmt.Sprint(i + 1)}
		screens[i] = stubs[i]
	}
	return NewApp(api, testEnv(LangFR), screens, "test.sock"), stubs
}

// quits is true when cmd (or a command of its batch) quits the program.
func quits(cmd tea.Cmd) bool {
	if cmd == nil {
		return false
	}
	switch msg := cmd().(type) {
	case tea.QuitMsg:
		return true
	case tea.BatchMsg:
		for _, c := range msg {
			if quits(c) {
				return true
			}
		}
	}
	return false
}

func TestAppGlobalKeys(t *testing.T) {
	a, stubs := stubApp(newFakeAPI())
	a.Init()
	a.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	if stubs[0].inits != 1 || stubs[1].inits != 0 {
		t.Fatalf("inits %d %d, want only the first screen's", stubs[0].inits, stubs[1].inits)
	}
	if stubs[3].size != (BodySizeMsg{80, 20}) {
		t.Errorf("body size %+v, want 80×20 to every screen", stubs[3].size)
	}
	key := func(k string) tea.Cmd { _, cmd := a.Update(press(k)); return cmd }

	for _, tc := range []struct {
		key  string
		want int
	}{{"3", 2}, {"tab", 3}, {"shift+tab", 2}, {"6", 5}, {"tab", 0}, {"shift+tab", 5}} {
		key(tc.key)
		if a.impl.current != tc.want {
			t.Errorf("after %s: screen %d, want %d", tc.key, a.impl.current+1, tc.want+1)
		}
	}
	if stubs[2].inits != 1 {
		t.Errorf("screen 3 initialised %d times, want once", stubs[2].inits)
	}
	key("x")
	if got := strings.Join(stubs[5].keys, ","); got != "x" {
		t.Errorf("screen 6 got keys %q, want x", got)
	}
	if !strings.Contains(stripView(a.View().Content), "x act 6") {
		t.Errorf("help bar lacks the screen's key:\n%s", stripView(a.View().Content))
	}

	key("?")
	v := stripView(a.View().Content)
	for _, want := range []string{"Aide — Cluster", "act 6", "quitter", "English"} {
		if !strings.Contains(v, want) {
			t.Errorf("help overlay lacks %q:\n%s", want, v)
		}
	}
	key("1")
	if a.impl.current != 5 || !a.impl.help {
		t.Error("a key switched screens under the help overlay")
	}
	key("esc")
	if a.impl.help {
		t.Error("esc did not close the help")
	}

	key("L")
	for i, s := range stubs {
		if s.lang != LangEN {
			t.Errorf("screen %d did not get LangMsg", i+1)
		}
	}
	if v := stripView(a.View().Content); !strings.Contains(v, "1 Overview") || !strings.Contains(v, "connecting to test.sock") {
		t.Errorf("not in English:\n%s", v)
	}
	key("L")
	if a.impl.env.Lang != LangFR || stubs[0].lang != LangFR {
		t.Error("L did not switch back to French")
	}

	stubs[5].typing = true
	for _, k := range []string{"q", "1", "?", "tab", "L"} {
		if quits(key(k)) {
			t.Errorf("%s quit while typing", k)
		}
	}
	if a.impl.current != 5 || a.impl.help || a.impl.env.Lang != LangFR {
		t.Error("a global key acted while the screen was typing")
	}
	if got := strings.Join(stubs[5].keys, ","); got != "x,q,1,?,tab,L" {
		t.Errorf("typing screen got %q", got)
	}
	if !quits(key("ctrl+c")) {
		t.Error("ctrl+c did not quit while typing")
	}
	stubs[5].typing = false
	if !quits(key("q")) {
		t.Error("q did not quit")
	}
}

func TestAppToasts(t *testing.T) {
	a, _ := stubApp(newFakeAPI())
	a.Update(ToastMsg{Text: "Utilisateur créé."})
	if !strings.Contains(stripView(a.View().Content), "Utilisateur créé.") {
		t.Fatal("toast not shown")
	}
	a.Update(TickMsg{Time: testNow.Add(time.Second)})
	if !strings.Contains(stripView(a.View().Content), "Utilisateur créé.") {
		t.Fatal("toast gone after a second")
	}
	a.Update(TickMsg{Time: testNow.Add(toastLife)})
	if strings.Contains(stripView(a.View().Content), "Utilisateur créé.") {
		t.Fatal("toast still shown after its life")
	}
	a.Update(ErrMsg{Err: fmt.Errorf("edit user: %w", &adminapi.Error{Code: adminapi.CodeConflict, Message: "This address is taken."})})
	if v := stripView(a.View().Content); !strings.Contains(v, "This address is taken.") || strings.Contains(v, "edit user") {
		t.Errorf("the node's refusal is not shown alone:\n%s", v)
	}
	if a.impl.lost {
		t.Error("a refusal was taken for a lost connection")
	}
	a.Update(ErrMsg{Err: fmt.Errorf("list users: %w", adminapi.ErrNotRunning)})
	if !a.impl.lost {
		t.Error("ErrNotRunning not taken for a lost connection")
	}
}

func TestAppConnectionLostThenRestored(t *testing.T) {
	api := newFakeAPI()
	api.setErr(adminapi.ErrNotRunning)
	a, _ := stubApp(api)
	tm := runApp(t, a, 80, 24)
	waitFor(t, tm, "connexion perdue, nouvel essai…")
	waitFor(t, tm, "screen 1")

	api.setErr(nil)
	tm.Send(TickMsg{Time: testNow})
	waitFor(t, tm, "connecté à test.sock · nœud n1")
	waitFor(t, tm, "Connexion rétablie.")

	api.setErr(errors.New("dial unix test.sock: connection refused"))
	tm.Send(ErrMsg{Err: fmt.Errorf("list: %w", adminapi.ErrNotRunning)})
	waitFor(t, tm, "connexion perdue")
}
