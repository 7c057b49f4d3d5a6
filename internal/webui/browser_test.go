package webui_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/internal/auth"
	"github.com/mlopsdev/mlops/store/storetest"
)

// chromiumPath is where Debian's chromium package installs the browser.
const chromiumPath = "/usr/bin/chromium"

// newBrowser starts headless Chromium with a fresh profile and returns the
// context of its first tab. Without chromium the test skips, except under
// CI=true, where it fails: the browser tests must run in CI.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing; CI must run the browser tests (install the Debian package chromium, as .ci/run does)", chromiumPath)
		}
		t.Skipf("%s is missing; install it with `apt-get install -y chromium` to run the browser tests", chromiumPath)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	// The first Run starts the browser; it must not run under a timeout
	// context, or the browser would stop when that context ends.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	return ctx
}

// tab runs steps in one browser tab. It saves a screenshot of each page a
// scenario looks at, and of the page a failing step left (logging its path),
// as <step>.png in screenshotDir: files that outlive the test, for looking at
// the UI and at what went wrong.
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string
}

// newTab opens a tab of browser on the UI at base and empties t's
// screenshot folder, so it holds this run's screenshots only.
func newTab(t *testing.T, browser context.Context, base string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	// Open the tab now, under its own context: a tab opened by a step's
	// timeout context would close when that step ends.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	if err := os.RemoveAll(screenshotDir(t)); err != nil {
		t.Fatal(err)
	}
	return &tab{t: t, ctx: ctx, base: base}
}

// do runs steps under a per-step timeout (a derived context: its end does
// not close the tab, so the failure screenshot can still be taken).
func (b *tab) do(step string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.fail(step, "%v", err)
	}
}

// get runs one action that returns a value.
func get[T any](b *tab, step string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.fail(step, "%v", err)
	}
	return v
}

func (b *tab) text(sel string) string {
	b.t.Helper()
	return get(b, "read "+sel, chromedp.Text(chromedp.CSS(sel)))
}

// fail saves a screenshot of the page, logs where, and fails the test.
func (b *tab) fail(step, format string, args ...any) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err == nil {
		var path string
		if path, err = b.save(step, png); err == nil {
			b.t.Logf("screenshot of %s after the failure: %s", loc, path)
		}
	}
	if err != nil {
		b.t.Logf("no screenshot after the failure: %v", err)
	}
	b.t.Fatalf("%s: %s", step, fmt.Sprintf(format, args...))
}

// snap saves a screenshot of the current page and returns its path.
func (b *tab) snap(name string) string {
	b.t.Helper()
	png := get(b, "screenshot "+name, chromedp.FullScreenshot(100))
	path, err := b.save(name, png)
	if err != nil {
		b.t.Fatal(err)
	}
	return path
}

// save writes png as <step>.png in the screenshot folder of the running
// (sub)test and returns the file's path.
func (b *tab) save(step string, png []byte) (string, error) {
	dir := screenshotDir(b.t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// "load /models" -> load-models.png
	name := strings.Join(strings.FieldsFunc(step, func(r rune) bool {
		return !(r == '.' || r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}), "-")
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		return "", fmt.Errorf("save the screenshot: %w", err)
	}
	return path, nil
}

// pngMagic starts every PNG file.
var pngMagic = []byte("\x89PNG\r\n\x1a\n")

func TestBrowser(t *testing.T) {
	browser := newBrowser(t)
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			e := newEnv(t, engine, true)
			b := newTab(t, browser, e.srv.URL)
			scenarios := []struct {
				name string
				fn   func(*tab, *env)
			}{
				{"overview", browseOverview},
				{"approve", browseApprove},
				{"alert", browseAlert},
				{"activate", browseActivate},
			}
			for _, sc := range scenarios {
				// A broken tab would make every later scenario wait for
				// its timeout: stop at the first failure.
				if !t.Run(sc.name, func(t *testing.T) { b.t = t; sc.fn(b, e) }) {
					return
				}
			}
		})
	}
}

func browseOverview(b *tab, _ *env) {
	b.do("load the overview",
		chromedp.Navigate(b.base+"/"),
		chromedp.WaitVisible(chromedp.CSS("main h1")),
	)
	h1, pending, alerts := b.text("main h1"), b.text("#pending-count"), b.text("#active-alerts")
	if h1 != "Overview" || pending != "2" || alerts != "2" {
		b.fail("overview content", "h1 %q, pending %q, active alerts %q; want Overview, 2, 2", h1, pending, alerts)
	}
	// The screenshots are what a failed run leaves to look at: check that
	// one reached the disk as a PNG.
	shot := b.snap("overview")
	if data, err := os.ReadFile(shot); err != nil || len(data) <= len(pngMagic) || !bytes.HasPrefix(data, pngMagic) {
		b.t.Fatalf("screenshot %s: want a non-empty PNG file, got %d bytes starting %q (err %v)", shot, len(data), data[:min(len(data), len(pngMagic))], err)
	}
	// The other read-only pages.
	for name, path := range map[string]string{"models": "/models", "drift": "/drift", "predictions": "/predictions",
		"model": "/models/1", "resolved": "/alerts?status=resolved", "audit": "/audit"} {
		b.do("load "+path, chromedp.Navigate(b.base+path), chromedp.WaitVisible(chromedp.CSS("main h1")))
		b.snap(name)
	}
	// The layout from a phone to a wide screen.
	for _, w := range []int64{420, 1920} {
		b.do(fmt.Sprintf("overview at %d px", w), chromedp.EmulateViewport(w, 900), chromedp.Navigate(b.base+"/"),
			chromedp.WaitVisible(chromedp.CSS("main h1")))
		b.snap(fmt.Sprintf("overview-%d", w))
	}
	b.do("reset the viewport", chromedp.ResetViewport())
}

// browseApprove presses Enter in the fields of a decision form (which must
// submit nothing: a decision is never one keystroke), then approves a
// high-risk action through its confirmation page.
func browseApprove(b *tab, e *env) {
	ctx := context.Background()
	low := fmt.Sprintf("#action-%d", e.seed.pending2.ID)
	b.do("press Enter in the fields of a low-risk action",
		chromedp.Navigate(b.base+"/approvals"),
		chromedp.WaitVisible(chromedp.CSS(low)),
		chromedp.SetValue(chromedp.CSS(low+` input[name="reviewer"]`), "alice"),
		chromedp.Focus(chromedp.CSS(low+` textarea[name="comment"]`)),
		chromedp.KeyEvent("two replicas\rare enough"),
		chromedp.Focus(chromedp.CSS(low+` input[name="reviewer"]`)),
		chromedp.KeyEvent("\r"),
		// A submission, had there been one, would have left the page by now.
		chromedp.Sleep(time.Second),
	)
	if a, err := e.st.ActionGet(ctx, e.seed.pending2.ActionID); err != nil || a.Status != mlops.ActionPending || len(a.Approvals) != 0 {
		b.fail("Enter decided nothing", "action reads %s (err %v)", mustJSON(a), err)
	}
	// A submission would have come back to /approvals with a message, and
	// without the typed comment.
	loc := get(b, "read the location", chromedp.Location())
	flash := get(b, "look for a message", chromedp.Evaluate[bool](`document.getElementById("flash") !== null`))
	if loc != b.base+"/approvals" || flash {
		b.fail("Enter submitted nothing", "the tab is at %s, with a message: %v", loc, flash)
	}
	comment := get(b, "read the comment", chromedp.Evaluate[string](
		`(document.querySelector('`+low+` textarea[name="comment"]') || {value: "(no comment field)"}).value`))
	if comment != "two replicas\nare enough" {
		b.fail("Enter in the comment is a line break", "the comment reads %q", comment)
	}

	sel := fmt.Sprintf("#action-%d", e.seed.pending1.ID)
	b.do("fill the approval form",
		chromedp.SetValue(chromedp.CSS(sel+` input[name="reviewer"]`), "alice"),
		chromedp.SetValue(chromedp.CSS(sel+` textarea[name="comment"]`), "drift is confirmed"),
	)
	b.snap("approvals")
	b.do("ask to approve the high-risk action",
		chromedp.Click(chromedp.CSS(sel+` button[value="approve"]`)),
		chromedp.WaitVisible(chromedp.CSS("#confirm-approve")),
	)
	if risk, comment := b.text("#confirm-risk"), b.text("#confirm-comment"); risk != "high" || comment != "drift is confirmed" {
		b.fail("the confirmation repeats the action", "risk %q, comment %q", risk, comment)
	}
	if a, err := e.st.ActionGet(ctx, e.seed.pending1.ActionID); err != nil || a.Status != mlops.ActionPending {
		b.fail("nothing recorded before the confirmation", "action reads %s (err %v)", mustJSON(a), err)
	}
	b.snap("confirm")
	b.do("confirm the approval",
		chromedp.Click(chromedp.CSS("#confirm-approve")),
		chromedp.WaitVisible(chromedp.CSS("#flash")),
	)
	if msg := b.text("#flash"); !strings.Contains(msg, "approved by alice") {
		b.fail("approval message", "flash %q", msg)
	}
	a, err := e.st.ActionGet(ctx, e.seed.pending1.ActionID)
	if err != nil || a.Status != mlops.ActionApproved || a.ReviewedBy == nil || *a.ReviewedBy != "alice" ||
		a.ReviewComment == nil || *a.ReviewComment != "drift is confirmed" {
		b.fail("approval in the database", "action reads %s (err %v)", mustJSON(a), err)
	}
}

func browseAlert(b *tab, e *env) {
	id := e.seed.alertCritical.ID
	form := fmt.Sprintf(`#alert-form-%d`, id)
	b.do("fill the acknowledgement",
		chromedp.Navigate(b.base+"/alerts"),
		chromedp.WaitVisible(chromedp.CSS(form)),
		chromedp.SetValue(chromedp.CSS(form+` input[name="actor"]`), "frank"),
	)
	b.snap("alerts")
	b.do("submit the acknowledgement",
		chromedp.Click(chromedp.CSS(fmt.Sprintf("#ack-%d", id))),
		chromedp.WaitVisible(chromedp.CSS("#flash")),
	)
	if msg := b.text("#flash"); !strings.Contains(msg, "acknowledged by frank") {
		b.fail("acknowledgement message", "flash %q", msg)
	}
	ctx := context.Background()
	if a, err := e.st.AlertGet(ctx, id); err != nil || a.Status != mlops.AlertAcknowledged || *a.AcknowledgedBy != "frank" {
		b.fail("acknowledgement in the database", "alert reads %s (err %v)", mustJSON(a), err)
	}
	b.do("resolve the alert",
		chromedp.Navigate(b.base+"/alerts?status=acknowledged"),
		chromedp.WaitVisible(chromedp.CSS(form)),
		chromedp.SetValue(chromedp.CSS(form+` input[name="actor"]`), "frank"),
		chromedp.SetValue(chromedp.CSS(form+` input[name="notes"]`), "rolled back the feature pipeline"),
		chromedp.Click(chromedp.CSS(fmt.Sprintf("#resolve-%d", id))),
		chromedp.WaitVisible(chromedp.CSS("#flash")),
	)
	if msg := b.text("#flash"); !strings.Contains(msg, "resolved by frank") {
		b.fail("resolution message", "flash %q", msg)
	}
	a, err := e.st.AlertGet(ctx, id)
	if err != nil || a.Status != mlops.AlertResolved || *a.ResolvedBy != "frank" || a.ResolutionNotes == nil ||
		*a.ResolutionNotes != "rolled back the feature pipeline" {
		b.fail("resolution in the database", "alert reads %s (err %v)", mustJSON(a), err)
	}
}

func browseActivate(b *tab, e *env) {
	v1, v2 := e.seed.churnV1, e.seed.churnV2
	b.do("open the activation confirmation",
		chromedp.Navigate(fmt.Sprintf("%s/models/%d", b.base, v2.ID)),
		chromedp.Click(chromedp.CSS("details.confirm > summary")),
		chromedp.WaitVisible(chromedp.CSS("#confirm-activate")),
	)
	if w := b.text("#activate-warning"); !strings.Contains(w, "replaces the active version v1") {
		b.fail("confirmation names the replaced version", "confirmation reads %q", w)
	}
	b.snap("activate")
	b.do("confirm the activation",
		chromedp.Click(chromedp.CSS("#confirm-activate")),
		chromedp.WaitVisible(chromedp.CSS("#flash")),
	)
	if msg := b.text("#flash"); !strings.Contains(msg, "Activated churn v2. v1 was archived.") {
		b.fail("activation message", "flash %q", msg)
	}
	ctx := context.Background()
	m1, err1 := e.st.ModelVersionGet(ctx, v1.ID)
	m2, err2 := e.st.ModelVersionGet(ctx, v2.ID)
	if err1 != nil || err2 != nil || m1.IsActive || m1.Status != mlops.ModelArchived || !m2.IsActive || m2.Status != mlops.ModelProduction {
		b.fail("activation in the database", "v1 %s active=%v, v2 %s active=%v (%v, %v)", m1.Status, m1.IsActive, m2.Status, m2.IsActive, err1, err2)
	}
}

// TestBrowserSignIn signs in through the form as a reviewer, approves an
// action by clicking and signs out; then signs in as a viewer, who sees no
// approve button.
func TestBrowserSignIn(t *testing.T) {
	browser := newBrowser(t)
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			e := newEnvAuth(t, engine, true, auth.ModeRequired)
			ritaPW := e.addUser(t, "rita", mlops.RoleReviewer)
			victorPW := e.addUser(t, "victor", mlops.RoleViewer)
			b := newTab(t, browser, e.srv.URL)

			b.do("open the approvals without a sign-in",
				chromedp.Navigate(b.base+"/approvals"),
				chromedp.WaitVisible(chromedp.CSS(`form.login input[name="name"]`)),
			)
			if loc := get(b, "read the location", chromedp.Location()); loc != b.base+"/login?next=%2Fapprovals" {
				b.fail("sent to the sign-in page", "at %s", loc)
			}
			b.snap("login")
			b.signIn("rita", ritaPW)
			b.do("back on the approvals", chromedp.WaitVisible(chromedp.CSS("#whoami")))
			if who, h1 := b.text("#whoami"), b.text("main h1"); who != "rita · reviewer" || h1 != "Approvals" {
				b.fail("signed in", "header %q, page %q; want rita · reviewer on Approvals", who, h1)
			}
			sel := fmt.Sprintf("#action-%d", e.seed.pending1.ID)
			if n := get(b, "count name fields", chromedp.Evaluate[int](`document.querySelectorAll('input[name="reviewer"]').length`)); n != 0 {
				b.fail("no name field when signed in", "%d reviewer fields", n)
			}
			b.snap("approvals-reviewer")
			b.do("ask to approve, then cancel",
				chromedp.Navigate(b.base+"/approvals"),
				chromedp.WaitVisible(chromedp.CSS(sel)),
				chromedp.Click(chromedp.CSS(sel+` button[value="approve"]`)),
				chromedp.WaitVisible(chromedp.CSS("#cancel-approve")),
				chromedp.Click(chromedp.CSS("#cancel-approve")),
				chromedp.WaitVisible(chromedp.CSS(sel)),
			)
			if a, _ := e.st.ActionGet(context.Background(), e.seed.pending1.ActionID); a.Status != mlops.ActionPending {
				b.fail("a cancelled approval", "the action is %s", a.Status)
			}
			b.do("approve by clicking",
				// Reload first: the page still shows the sign-in's flash,
				// which would satisfy the wait for the approval's.
				chromedp.Navigate(b.base+"/approvals"),
				chromedp.WaitVisible(chromedp.CSS(sel)),
				chromedp.SetValue(chromedp.CSS(sel+` textarea[name="comment"]`), "checked the drift"),
				chromedp.Click(chromedp.CSS(sel+` button[value="approve"]`)),
				chromedp.WaitVisible(chromedp.CSS("#confirm-approve")),
				chromedp.Click(chromedp.CSS("#confirm-approve")),
				chromedp.WaitVisible(chromedp.CSS("#flash")),
			)
			if msg := b.text("#flash"); !strings.Contains(msg, "approved by rita") {
				b.fail("approval message", "flash %q", msg)
			}
			a, err := e.st.ActionGet(context.Background(), e.seed.pending1.ActionID)
			if err != nil || a.Status != mlops.ActionApproved || a.ReviewedBy == nil || *a.ReviewedBy != "rita" {
				b.fail("approval in the database", "action reads %s (err %v)", mustJSON(a), err)
			}
			b.do("sign out",
				chromedp.Click(chromedp.CSS("#sign-out")),
				chromedp.WaitVisible(chromedp.CSS(`form.login input[name="name"]`)),
			)
			if loc := get(b, "read the location", chromedp.Location()); loc != b.base+"/login" {
				b.fail("signed out", "at %s, want the sign-in page", loc)
			}
			if msg := b.text("#flash"); !strings.Contains(msg, "You are signed out") {
				b.fail("sign-out message", "flash %q", msg)
			}

			b.signIn("victor", victorPW)
			b.do("the viewer's approvals",
				chromedp.WaitVisible(chromedp.CSS("#whoami")),
				chromedp.Navigate(b.base+"/approvals"),
				chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf("#action-%d", e.seed.pending2.ID))),
			)
			if who := b.text("#whoami"); who != "victor · viewer" {
				b.fail("signed in as the viewer", "header %q", who)
			}
			if n := get(b, "count approve buttons", chromedp.Evaluate[int](`document.querySelectorAll('button[value="approve"], form[action="/approvals/decide"]').length`)); n != 0 {
				b.fail("no approve button for a viewer", "%d approve buttons or forms", n)
			}
			b.snap("approvals-viewer")
		})
	}
}

// signIn fills the sign-in form the tab shows (or opens it) and submits it.
func (b *tab) signIn(name, pw string) {
	b.t.Helper()
	b.do("sign in as "+name,
		chromedp.WaitVisible(chromedp.CSS(`form.login input[name="name"]`)),
		chromedp.SetValue(chromedp.CSS(`form.login input[name="name"]`), name),
		chromedp.SetValue(chromedp.CSS(`form.login input[name="password"]`), pw),
		chromedp.Click(chromedp.CSS("#sign-in")),
	)
}
