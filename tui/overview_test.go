package tui

import (
	"fmt"
	"testing"
)

func TestOverviewGolden(t *testing.T) {
	for _, tc := range []struct {
		w, h int
		lang Lang
	}{{80, 24, LangFR}, {120, 40, LangEN}} {
		t.Run(fmt.Sprintf("Overview_%dx%d", tc.w, tc.h), func(t *testing.T) {
			env := testEnv(tc.lang)
			tm := runApp(t, testApp(newFakeAPI(), env, 0, NewOverview(newFakeAPI(), env)), tc.w, tc.h)
			waitFor(t, tm, "5821")
			waitFor(t, tm, "n1")
			golden(t, tm)
		})
	}
}

func TestOverviewShowsState(t *testing.T) {
	env := testEnv(LangEN)
	api := newFakeAPI()
	s := NewOverview(api, env)
	s, _ = s.Update(BodySizeMsg{Width: 100, Height: 30})
	msg := s.Init()()
	s, _ = s.Update(msg)
	v := stripView(s.View())
	for _, want := range []string{
		"3, 2 reachable · 2 sites",
		"4, 1 not up",
		"12 degraded · healing",
		"test signatures only",
		"2 waiting",
		"leader n1 · term 7",
		"5821 entries · chain verified",
		"30 h ago",
	} {
		if !contains(v, want) {
			t.Errorf("the overview lacks %q:\n%s", want, v)
		}
	}
}
