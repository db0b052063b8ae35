package tui

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"valise/internal/poll"
)

// updating is true with -update (go test ./tui/ -run TestX -update), which rewrites the
// golden files; the flag itself is defined by teatest's golden package.
func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// testNow is the fixed clock of every test: golden files never depend on the day.
var testNow = time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)

// testEnv returns an Env in lang with a fixed Now and the dark styles, refreshing every
// second (the tests send their own TickMsg; the App's ticks only add frames).
func testEnv(lang Lang) Env {
	return Env{Lang: lang, Styles: NewStyles(true), Now: func() time.Time { return testNow }, Refresh: time.Hour}
}

// recorder wraps the model under test and keeps its last view, so that waitFor and golden
// read what the model draws rather than the terminal's byte stream (whose cursor moves and
// partial redraws depend on timing).
type recorder struct {
	model tea.Model
	mu    *sync.Mutex // guards view
	view  *string
}

func (r recorder) Init() tea.Cmd { return r.model.Init() }

func (r recorder) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	m, cmd := r.model.Update(msg)
	r.model = m
	v := m.View().Content
	r.mu.Lock()
	*r.view = v
	r.mu.Unlock()
	return r, cmd
}

func (r recorder) View() tea.View { return r.model.View() }

// recorders maps each running TestModel to its recorder; only tests touch it.
var recorders sync.Map // *teatest.TestModel → recorder

// runApp runs model in a w×h terminal with the ANSI (16 colours) profile and stops it when
// the test ends. Use waitFor to wait for a text, golden to compare the final view.
func runApp(t *testing.T, model tea.Model, w, h int) *teatest.TestModel {
	t.Helper()
	rec := recorder{model: model, mu: new(sync.Mutex), view: new(string)}
	tm := teatest.NewTestModel(t, rec,
		teatest.WithInitialTermSize(w, h),
		teatest.WithProgramOptions(
			tea.WithColorProfile(colorprofile.ANSI),
			tea.WithEnvironment([]string{"TERM=xterm", "LANG=C"}),
		))
	recorders.Store(tm, rec)
	t.Cleanup(func() {
		_ = tm.Quit()
		tm.WaitFinished(t, teatest.WithFinalTimeout(poll.HangGuard))
		recorders.Delete(tm)
	})
	return tm
}

// lastView is the model's last drawn view, without its colours.
func lastView(tm *teatest.TestModel) string {
	v, ok := recorders.Load(tm)
	if !ok {
		return ""
	}
	r := v.(recorder)
	r.mu.Lock()
	defer r.mu.Unlock()
	return ansi.Strip(*r.view)
}

// waitFor waits until the model's view shows text.
func waitFor(t *testing.T, tm *teatest.TestModel, text string) {
	t.Helper()
	poll.UntilNil(t, "the view to show "+text, func() error {
		if v := lastView(tm); !strings.Contains(v, text) {
			return &viewError{v}
		}
		return nil
	})
}

type viewError struct{ view string }

func (e *viewError) Error() string { return "the view is:\n" + e.view }

// golden stops the program and compares its final view, colours stripped and trailing
// spaces trimmed, with testdata/NAME.golden, where NAME is the subtest's name (the test's
// name without a subtest; slashes become underscores), e.g. t.Run("Overview_80x24", …).
// With -update it writes the file instead.
func golden(t *testing.T, tm *teatest.TestModel) {
	t.Helper()
	_ = tm.Quit()
	final := tm.FinalModel(t, teatest.WithFinalTimeout(poll.HangGuard))
	if r, ok := final.(recorder); ok {
		final = r.model
	}
	got := ansi.Strip(final.View().Content)
	lines := strings.Split(got, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	got = strings.Join(lines, "\n") + "\n"

	name := t.Name()
	if i := strings.Index(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	path := filepath.Join("testdata", strings.ReplaceAll(name, "/", "_")+".golden")
	if updating() {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s (run with -update to write it): %v", path, err)
	}
	if string(want) != got {
		t.Errorf("%s differs (run with -update to accept):\n--- want\n%s\n--- got\n%s", path, want, got)
	}
}

// stripView returns a view without its colours.
func stripView(v string) string { return ansi.Strip(v) }

// contains is strings.Contains, for tests that read views.
func contains(s, sub string) bool { return strings.Contains(s, sub) }

// screenGoldenSizes are the sizes every screen's golden files are drawn at: the smallest terminal
// the console supports, in French, and a roomy one, in English.
var screenGoldenSizes = []struct {
	w, h int
	lang Lang
}{{80, 24, LangFR}, {120, 40, LangEN}}

// goldenScreen runs the screen that build returns, at position i (0 for Overview … 5 for
// Cluster) in an App over a fake node, at each of screenGoldenSizes; once the view shows every
// text of ready it compares it with testdata/<name>_<w>x<h>.golden.
func goldenScreen(t *testing.T, name string, i int, build func(Env) Screen, ready ...string) {
	t.Helper()
	for _, sz := range screenGoldenSizes {
		t.Run(fmt.Sprintf("%s_%dx%d", name, sz.w, sz.h), func(t *testing.T) {
			env := testEnv(sz.lang)
			tm := runApp(t, testApp(newFakeAPI(), env, i, build(env)), sz.w, sz.h)
			// The status line first: the App asks for it beside the screen's own load.
			waitFor(t, tm, Text{"connecté à ", "connected to "}.In(sz.lang))
			for _, text := range ready {
				waitFor(t, tm, text)
			}
			golden(t, tm)
		})
	}
}
