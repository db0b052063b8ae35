package tui

import "testing"

func TestOverviewGolden(t *testing.T) {
	goldenScreen(t, "Overview", 0, func(env Env) Screen { return NewOverview(newFakeAPI(), env) }, "5821", "n1")
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
