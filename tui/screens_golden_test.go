package tui

import (
	"context"
	"fmt"
	"testing"

	"github.com/charmbracelet/x/exp/teatest/v2"

	"valise/adminapi"
)

// goldenStatus is the App's StatusAPI in the golden tests of the journal and settings
// screens: a node always up.
type goldenStatus struct{}

func (goldenStatus) Status(context.Context) (adminapi.Status, error) {
	return adminapi.Status{}, nil
}

// TestJournalSettingsGolden draws the Journal and Settings screens through the App, at
// 80×24 and 120×40, once the App says it is connected (so that its status line does not
// depend on timing).
func TestJournalSettingsGolden(t *testing.T) {
	broken := newJournalFake(300)
	broken.report = adminapi.JournalReport{Entries: 212, HeadSeq: 211, BrokenAt: 212}
	for _, tc := range []struct {
		name   string
		lang   Lang
		tab    int // the screen's index
		screen func(Env) Screen
		// shown is a text the loaded screen shows; then act drives it.
		shown string
		act   func(t *testing.T, tm *teatest.TestModel)
	}{
		{"Journal", LangEN, 3, func(env Env) Screen { return NewJournal(newJournalFake(300), env) }, "2026-12-01 09:29", nil},
		{"JournalBroken", LangEN, 3, func(env Env) Screen { return NewJournal(broken, env) }, "2026-12-01 09:29",
			func(t *testing.T, tm *teatest.TestModel) {
				tm.Type("v")
				waitFor(t, tm, "chain broken at entry 212")
			}},
		{"Settings", LangEN, 4, func(env Env) Screen { return NewSettings(newSettingsFake(), env) }, "The name shown on every page.", nil},
		{"SettingsColor", LangFR, 4, func(env Env) Screen { return NewSettings(newSettingsFake(), env) }, "Le nom affiché sur chaque page.",
			func(t *testing.T, tm *teatest.TestModel) {
				tm.Type("jjjje")
				waitFor(t, tm, "Modifier branding.color")
				tm.Send(keyMsg("ctrl+u"))
				tm.Type("#2266aa")
				waitFor(t, tm, "#2266aa▏")
			}},
	} {
		for _, sz := range [][2]int{{80, 24}, {120, 40}} {
			t.Run(fmt.Sprintf("%s_%dx%d", tc.name, sz[0], sz[1]), func(t *testing.T) {
				env := testEnv(tc.lang)
				var screens [6]Screen
				screens[tc.tab] = tc.screen(env)
				tm := runApp(t, NewApp(goldenStatus{}, env, screens, "data/admin.sock"), sz[0], sz[1])
				tm.Type(fmt.Sprint(tc.tab + 1))
				waitFor(t, tm, tc.shown)
				waitFor(t, tm, Text{"connecté à", "connected to"}.In(tc.lang))
				if tc.act != nil {
					tc.act(t, tm)
				}
				golden(t, tm)
			})
		}
	}
}
