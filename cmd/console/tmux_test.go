package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"valise/internal/poll"
)

// This file drives the real console binary in a real terminal: a tmux server of the test's
// own (its socket in a temporary directory), one window of a fixed size, keys sent with
// send-keys and the screen read back with capture-pane, as an administrator would see it.

// screenWait bounds the wait for a text to appear on the screen: a hang guard for a slow
// machine, never a budget.
const screenWait = 2 * time.Minute

var consoleBuild struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// consoleBinary builds cmd/console once per test binary; TestMain removes it.
func consoleBinary(t testing.TB) string {
	t.Helper()
	consoleBuild.once.Do(func() {
		consoleBuild.dir, consoleBuild.err = os.MkdirTemp("", "vconsole-bin")
		if consoleBuild.err != nil {
			return
		}
		consoleBuild.bin = filepath.Join(consoleBuild.dir, "console")
		cmd := exec.Command("go", "build", "-o", consoleBuild.bin, "valise/cmd/console")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			consoleBuild.err = fmt.Errorf("build console: %w\n%s", err, out.String())
		}
	})
	if consoleBuild.err != nil {
		t.Fatal(consoleBuild.err)
	}
	return consoleBuild.bin
}

// findTmux returns tmux's path, or skips the test (fails it with VALISE_REQUIRE_ALL=1) when
// it is not installed. Debian's package is "tmux".
func findTmux(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("tmux"); err == nil {
		return p
	}
	if os.Getenv("VALISE_REQUIRE_ALL") == "1" {
		t.Fatal("tmux not installed (apt-get install tmux) and VALISE_REQUIRE_ALL=1")
	}
	t.Skip("tmux not installed (apt-get install tmux)")
	return ""
}

// term is one tmux window running a command.
type term struct {
	t      *testing.T
	tmux   string
	socket string
}

// startTerm runs argv in a new tmux server of its own, in a window of cols×rows cells, with
// env added to the environment. The server is killed by t.Cleanup, which logs the last
// screen when the test failed.
func startTerm(t *testing.T, cols, rows int, env []string, argv ...string) *term {
	t.Helper()
	tm := &term{t: t, tmux: findTmux(t), socket: filepath.Join(t.TempDir(), "tmux.sock")}
	args := []string{"new-session", "-d", "-x", fmt.Sprint(cols), "-y", fmt.Sprint(rows)}
	for _, e := range env {
		args = append(args, "-e", e)
	}
	args = append(args, strings.Join(quoteAll(argv), " "))
	// remain-on-exit keeps the window, and what the program printed last, when it quits;
	// escape-time 0 makes Escape a key, not the start of a sequence tmux waits 500 ms for.
	conf := filepath.Join(filepath.Dir(tm.socket), "tmux.conf")
	if err := os.WriteFile(conf, []byte("set -g remain-on-exit on\nset -s escape-time 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tm.run(conf, args...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last screen:\n%s", tm.screen())
		}
		_ = exec.Command(tm.tmux, "-S", tm.socket, "kill-server").Run()
	})
	return tm
}

func quoteAll(argv []string) []string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return q
}

// run runs one tmux command against the term's server, failing the test on error.
func (tm *term) run(config string, args ...string) string {
	tm.t.Helper()
	full := []string{"-S", tm.socket}
	if config != "" {
		full = append(full, "-f", config)
	}
	out, err := exec.Command(tm.tmux, append(full, args...)...).CombinedOutput()
	if err != nil {
		tm.t.Fatalf("tmux %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// keys sends keys as tmux names them ("Enter", "Escape", "Tab", "C-s", "Down", or literal
// text with literal=true).
func (tm *term) keys(keys ...string) {
	tm.t.Helper()
	tm.run("", append([]string{"send-keys", "-t", "0"}, keys...)...)
}

// text types s literally.
func (tm *term) text(s string) {
	tm.t.Helper()
	tm.run("", "send-keys", "-t", "0", "-l", s)
}

// screen returns what the window shows now, without colours.
func (tm *term) screen() string {
	out, err := exec.Command(tm.tmux, "-S", tm.socket, "capture-pane", "-p", "-t", "0").CombinedOutput()
	if err != nil {
		return fmt.Sprintf("capture-pane: %v: %s", err, out)
	}
	return string(out)
}

// waitFor waits until every text is on the screen and returns the screen.
func (tm *term) waitFor(texts ...string) string {
	tm.t.Helper()
	var s string
	err := poll.Within(screenWait, func() error {
		s = tm.screen()
		for _, x := range texts {
			if !strings.Contains(s, x) {
				return fmt.Errorf("%q not on the screen", x)
			}
		}
		return nil
	})
	if err != nil {
		tm.t.Fatalf("%v; screen:\n%s", err, s)
	}
	return s
}

// escape sends Escape and waits until gone is no longer on the screen: a key sent before the
// console took the Escape could reach it in the same read and be taken for alt+key, as in any
// terminal.
func (tm *term) escape(gone string) {
	tm.t.Helper()
	tm.keys("Escape")
	var s string
	err := poll.Within(screenWait, func() error {
		if s = tm.screen(); strings.Contains(s, gone) {
			return fmt.Errorf("%q still on the screen after Escape", gone)
		}
		return nil
	})
	if err != nil {
		tm.t.Fatalf("%v; screen:\n%s", err, s)
	}
}
