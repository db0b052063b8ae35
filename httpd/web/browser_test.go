package web

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"valise/account"
)

// findChromium returns the browser to drive, or skips the test (fails it with
// VALISE_REQUIRE_ALL=1) when none is installed. Debian's package is "chromium".
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("VALISE_REQUIRE_ALL") == "1" {
		t.Fatal("chromium not installed (apt-get install chromium) and VALISE_REQUIRE_ALL=1")
	}
	t.Skip("chromium not installed (apt-get install chromium)")
	return ""
}

// browser is a headless chromium with a fresh profile, driven by chromedp.
type browser struct {
	t   *testing.T
	ctx context.Context
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	return newBrowserFor(t, 90*time.Second)
}

// newBrowserFor is newBrowser whose steps must all end within limit.
func newBrowserFor(t *testing.T, limit time.Duration) *browser {
	t.Helper()
	path := findChromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root in the build container
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// A French browser: the journey is in French (headless chromium says en-US otherwise).
		chromedp.Flag("lang", "fr-FR"),
		chromedp.Flag("accept-lang", "fr-FR,fr"),
		// The test server's certificate is self-signed for 127.0.0.1.
		chromedp.IgnoreCertErrors,
		chromedp.UserDataDir(t.TempDir()),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, limit)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
	})
	return &browser{t: t, ctx: ctx}
}

// fail saves a screenshot of the page, then fails the test with what went wrong at step.
func (b *browser) fail(step string, err error) {
	b.t.Helper()
	name := strings.NewReplacer("/", "_", " ", "_").Replace(b.t.Name() + "-" + step)
	dir := os.Getenv("VALISE_ARTIFACTS")
	if dir == "" {
		dir = os.TempDir()
	}
	shotCtx, cancel := context.WithTimeout(context.WithoutCancel(b.ctx), 10*time.Second)
	defer cancel()
	if png, serr := chromedp.Run(shotCtx, chromedp.FullScreenshot(100)); serr == nil { // 100: PNG
		p := filepath.Join(dir, name+".png")
		if werr := os.WriteFile(p, png, 0o644); werr == nil {
			b.t.Logf("screenshot saved to %s", p)
		}
	} else {
		b.t.Logf("no screenshot: %v", serr)
	}
	if loc, lerr := chromedp.Run(shotCtx, chromedp.Location()); lerr == nil {
		b.t.Logf("page at failure: %s", loc)
	}
	b.t.Fatalf("%s: %v", step, err)
}

// shot saves a screenshot of the page as name.png in $VALISE_ARTIFACTS, when set: pages to
// look at after a run.
func (b *browser) shot(name string) {
	b.t.Helper()
	dir := os.Getenv("VALISE_ARTIFACTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("no screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
	}
}

// do runs actions for step, failing with a screenshot on error.
func (b *browser) do(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.fail(step, err)
	}
}

// eval evaluates a JavaScript expression for step and returns its value.
// signIn opens the login page, signs in as email with testPassword and waits for the
// element with ID landing.
func (b *browser) signIn(base, email, landing string) {
	b.t.Helper()
	b.do("sign in", chromedp.Navigate(base+"/login"), chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), testPassword),
		chromedp.Click(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.ID(landing)))
}

func eval[T any](b *browser, step, expr string, opts ...chromedp.EvaluateOption) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr, opts...))
	if err != nil {
		b.fail(step, err)
	}
	return v
}

// checkAccessibility injects axe-core 4.14.1 (vendored in testdata/axe from npm) into the
// page and fails on any serious or critical WCAG 2.1 A/AA violation.
func (b *browser) checkAccessibility(step string) {
	b.t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "axe", "axe.min.js"))
	if err != nil {
		b.t.Fatalf("read axe-core: %v", err)
	}
	eval[chromedp.Void](b, step+" inject axe", string(src))
	type axeResult struct {
		Serious []string `json:"serious"`
		Passes  int      `json:"passes"`
	}
	res := eval[axeResult](b, step+" run axe", `axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})
		.then(r => ({passes: r.passes.length, serious: r.violations.filter(v => v.impact === "serious" || v.impact === "critical")
		.map(v => v.id + " (" + v.impact + "): " + v.nodes.map(n => n.target.join(" ")).join(", "))}))`,
		chromedp.EvalAwaitPromise)
	if res.Passes == 0 {
		b.fail(step+" accessibility", fmt.Errorf("axe-core checked nothing"))
	}
	if len(res.Serious) > 0 {
		b.fail(step+" accessibility", fmt.Errorf("axe-core found %d serious violations:\n%s", len(res.Serious), strings.Join(res.Serious, "\n")))
	}
	b.t.Logf("%s: axe-core passed %d rules, no serious violation", step, res.Passes)
}

// TestBrowserFirstLogin drives a real chromium through the first login: sign in with the
// password an administrator issued, choose one, and land on the compose page, in French, with
// the vendored upload client loaded under the strict CSP. axe-core checks every page.
func TestBrowserFirstLogin(t *testing.T) {
	b := newBrowser(t)
	e := newEnv(t)
	_, issued := e.addUser("nouvelle@example.org", "", account.LangFR)

	b.do("open login", chromedp.Navigate(e.base+"/login"), chromedp.WaitVisible(chromedp.ID("email")))
	if lang := eval[string](b, "login lang", `document.documentElement.lang`); lang != "fr" {
		b.fail("login lang", fmt.Errorf("lang %q, want fr", lang))
	}
	b.checkAccessibility("login page")
	b.do("sign in",
		chromedp.SendKeys(chromedp.ID("email"), "nouvelle@example.org"),
		chromedp.SendKeys(chromedp.ID("password"), issued),
		chromedp.Click(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.ID("new_password")),
	)
	if loc := eval[string](b, "password page", `location.pathname`); loc != "/password" {
		b.fail("password page", fmt.Errorf("at %s, want /password", loc))
	}
	b.checkAccessibility("password page")
	const chosen = "une phrase de passe à moi"
	b.do("change password",
		chromedp.SendKeys(chromedp.ID("new_password"), chosen),
		chromedp.SendKeys(chromedp.ID("confirm_password"), chosen),
		chromedp.Click(chromedp.ID("password-submit")),
		chromedp.WaitVisible(chromedp.ID("send-form")),
	)
	if loc := eval[string](b, "compose page", `location.pathname`); loc != "/send" {
		b.fail("compose page", fmt.Errorf("at %s, want /send", loc))
	}
	if got := eval[string](b, "compose labels", `document.querySelector("label[for=to]").textContent + "|" + document.getElementById("send-submit").textContent`); got != "À|Envoyer" {
		b.fail("compose labels", fmt.Errorf("labels %q", got))
	}
	// The scripts came from /static under script-src 'self': tus-js-client and app.js ran.
	if ok := eval[bool](b, "scripts loaded", `typeof tus === "object" && tus.isSupported === true && typeof htmx === "object"`); !ok {
		b.fail("scripts loaded", fmt.Errorf("tus-js-client or htmx not loaded"))
	}
	b.do("generate a password", chromedp.Click(chromedp.ID("generate")))
	if pw := eval[string](b, "generated password", `document.getElementById("password").value`); len(pw) != 20 {
		b.fail("generated password", fmt.Errorf("generated %q", pw))
	}
	b.checkAccessibility("compose page")
	if _, err := e.accounts.CheckPassword(e.ctx, "nouvelle@example.org", chosen); err != nil {
		t.Fatalf("the chosen password does not work: %v", err)
	}
}
