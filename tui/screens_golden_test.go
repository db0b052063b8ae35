package tui

import (
	"context"
	"fmt"
	"testing"

	"valise/adminapi"
)

// goldenStatus is the App's StatusAPI in the golden tests of the journal and settings
// screens: a node always up.
type goldenStatus struct{}

func (goldenStatus) Status(context.Context) (adminapi.Status, error) {
	return adminapi.Status{}, nil
}

func TestJournalGolden(t *testing.T) {
	for _, sz := range [][2]int{{80, 24}, {120, 40}} {
		t.Run(fmt.Sprintf("Journal_%dx%d", sz[0], sz[1]), func(t *testing.T) {
			env := testEnv(LangEN)
			app := NewApp(goldenStatus{}, env, [6]Screen{3: NewJournal(newJournalFake(300), env)}, "data/admin.sock")
			tm := runApp(t, app, sz[0], sz[1])
			tm.Type("4")
			waitFor(t, tm, "2026-12-01 09:29")
			waitFor(t, tm, "connected to")
			golden(t, tm)
		})
		t.Run(fmt.Sprintf("JournalBroken_%dx%d", sz[0], sz[1]), func(t *testing.T) {
			env := testEnv(LangEN)
			f := newJournalFake(300)
			f.report = adminapi.JournalReport{Entries: 212, HeadSeq: 211, BrokenAt: 212}
			app := NewApp(goldenStatus{}, env, [6]Screen{3: NewJournal(f, env)}, "data/admin.sock")
			tm := runApp(t, app, sz[0], sz[1])
			tm.Type("4")
			waitFor(t, tm, "2026-12-01 09:29")
			waitFor(t, tm, "connected to")
			tm.Type("v")
			waitFor(t, tm, "chain broken at entry 212")
			golden(t, tm)
		})
	}
}

func TestSettingsGolden(t *testing.T) {
	for _, sz := range [][2]int{{80, 24}, {120, 40}} {
		t.Run(fmt.Sprintf("Settings_%dx%d", sz[0], sz[1]), func(t *testing.T) {
			env := testEnv(LangEN)
			app := NewApp(goldenStatus{}, env, [6]Screen{4: NewSettings(newSettingsFake(), env)}, "data/admin.sock")
			tm := runApp(t, app, sz[0], sz[1])
			tm.Type("5")
			waitFor(t, tm, "The name shown on every page.")
			waitFor(t, tm, "connected to")
			golden(t, tm)
		})
		t.Run(fmt.Sprintf("SettingsColor_%dx%d", sz[0], sz[1]), func(t *testing.T) {
			env := testEnv(LangFR)
			app := NewApp(goldenStatus{}, env, [6]Screen{4: NewSettings(newSettingsFake(), env)}, "data/admin.sock")
			tm := runApp(t, app, sz[0], sz[1])
			tm.Type("5")
			waitFor(t, tm, "Le nom affiché sur chaque page.")
			waitFor(t, tm, "connecté à")
			tm.Type("jjjje")
			waitFor(t, tm, "Modifier branding.color")
			tm.Send(keyMsg("ctrl+u"))
			tm.Type("#2266aa")
			waitFor(t, tm, "#2266aa▏")
			golden(t, tm)
		})
	}
}
