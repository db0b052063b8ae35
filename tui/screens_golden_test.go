package tui

import (
	"fmt"
	"testing"

	"github.com/charmbracelet/x/exp/teatest/v2"

	"valise/adminapi"
)

func TestJournalGolden(t *testing.T) {
	goldenScreen(t, "Journal", 3, func(env Env) Screen { return NewJournal(newJournalFake(300), env) }, "2026-12-01 09:29", "n1")
}

func TestSettingsGolden(t *testing.T) {
	goldenScreen(t, "Settings", 4, func(env Env) Screen { return NewSettings(newSettingsFake(), env) }, "site.name", "n1")
}

// TestJournalSettingsActionsGolden draws what the Journal and Settings screens show after
// an action: a broken chain verified, a colour being typed with its swatch, the mail queue.
func TestJournalSettingsActionsGolden(t *testing.T) {
	broken := newJournalFake(300)
	broken.report = adminapi.JournalReport{Entries: 212, HeadSeq: 211, BrokenAt: 212}
	for _, tc := range []struct {
		name   string
		tab    int // the screen's index
		screen func(Env) Screen
		ready  string // a text the loaded screen shows; then act drives it
		act    func(t *testing.T, tm *teatest.TestModel)
	}{
		{"JournalBroken", 3, func(env Env) Screen { return NewJournal(broken, env) }, "2026-12-01 09:29",
			func(t *testing.T, tm *teatest.TestModel) {
				tm.Type("v")
				waitFor(t, tm, "212 (")
			}},
		{"SettingsColor", 4, func(env Env) Screen { return NewSettings(newSettingsFake(), env) }, "branding.color",
			func(t *testing.T, tm *teatest.TestModel) {
				tm.Type("jjjje")
				waitFor(t, tm, "#1f6feb▏")
				tm.Send(keyMsg("ctrl+u"))
				tm.Type("#2266aa")
				waitFor(t, tm, "#2266aa▏")
			}},
		{"MailQueue", 4, func(env Env) Screen { return NewSettings(newSettingsFake(), env) }, "site.name",
			func(t *testing.T, tm *teatest.TestModel) {
				tm.Type("m")
				waitFor(t, tm, "550 5.1.1")
			}},
	} {
		for _, sz := range screenGoldenSizes {
			t.Run(fmt.Sprintf("%s_%dx%d", tc.name, sz.w, sz.h), func(t *testing.T) {
				env := testEnv(sz.lang)
				tm := runApp(t, testApp(newFakeAPI(), env, tc.tab, tc.screen(env)), sz.w, sz.h)
				waitFor(t, tm, tc.ready)
				waitFor(t, tm, "n1")
				tc.act(t, tm)
				golden(t, tm)
			})
		}
	}
}
