package tui

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"valise/adminapi"
)

// fixedStatus is a StatusAPI whose node always answers.
type fixedStatus struct{}

func (fixedStatus) Status(context.Context) (adminapi.Status, error) { return adminapi.Status{}, nil }

// goldenSizes are the terminal sizes every screen's golden files are drawn at.
var goldenSizes = [][2]int{{80, 24}, {120, 40}}

// runScreen runs an App holding only screen at position n (1–6), shown, at w×h.
func runScreen(t *testing.T, n int, screen Screen, w, h int) *teatest.TestModel {
	t.Helper()
	var screens [6]Screen
	screens[n-1] = screen
	tm := runApp(t, NewApp(fixedStatus{}, testEnv(LangEN), screens, "data/admin.sock"), w, h)
	tm.Send(press(fmt.Sprint(n)))
	return tm
}

// TestUsersTransfersGolden draws the Users screen's list and an import's preview, and the
// Transfers screen's list and a send's detail, at every golden size.
func TestUsersTransfersGolden(t *testing.T) {
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "users.csv")
	if err := os.WriteFile(csvPath, []byte("email\ndan@example.org\nbad@\neve@example.org\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	users := func() Screen { return NewUsers(newFakeUsers(), testEnv(LangEN)) }
	transfers := func() Screen { return NewTransfers(newFakeTransfers(), testEnv(LangEN)) }
	for _, tc := range []struct {
		name   string
		n      int // the screen's number
		screen func() Screen
		loaded string   // shown once the first load is drawn
		keys   []string // pressed then, "text:…" typing its text
		want   string   // shown once the keys took effect
	}{
		{"Users", 2, users, "carol@example.org", nil, ""},
		{"UsersImport", 2, users, "carol@example.org", []string{"i", "text:" + csvPath, "ctrl+s"}, "Import preview"},
		{"Transfers", 3, transfers, "Plans du", nil, ""},
		{"TransferDetail", 3, transfers, "Plans du", []string{"enter"}, "notaire@example.fr"},
	} {
		for _, sz := range goldenSizes {
			t.Run(fmt.Sprintf("%s_%dx%d", tc.name, sz[0], sz[1]), func(t *testing.T) {
				tm := runScreen(t, tc.n, tc.screen(), sz[0], sz[1])
				waitFor(t, tm, tc.loaded)
				for _, k := range tc.keys {
					if text, ok := strings.CutPrefix(k, "text:"); ok {
						tm.Type(text)
					} else {
						tm.Send(press(k))
					}
				}
				if tc.want != "" {
					waitFor(t, tm, tc.want)
				}
				waitFor(t, tm, "connected to")
				golden(t, tm)
			})
		}
	}
}

var _ tea.Model = (*App)(nil)
