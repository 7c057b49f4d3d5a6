package webui_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/monitor"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// drifting registers the model spam, active, with rules on (one-hour
// windows) and predictions whose x drifts from the reference hour to the
// current one, both before the clock's time.
func drifting(t *testing.T, e *env) mlops.ModelVersion {
	t.Helper()
	ctx := context.Background()
	now := e.clk.Now()
	m := must(e.st.ModelVersionCreate(ctx, mlops.NewModelVersion{ModelName: "spam", Version: "v1", Algorithm: "logreg"}))
	m = must(e.st.ModelVersionActivate(ctx, m.ID))
	rules := must(e.st.RuleSettingsGet(ctx, "spam"))
	rules.Enabled, rules.MinSamples, rules.CurrentWindowSeconds, rules.ReferenceWindowSeconds = true, 5, 3600, 3600
	must(e.st.RuleSettingsPut(ctx, rules))
	for i := 1; i <= 10; i++ {
		e.clk.Set(now.Add(-2*time.Hour + time.Duration(i)*time.Minute))
		must(e.st.PredictionCreate(ctx, mlops.NewPrediction{ModelID: m.ID, Features: mlops.JSON(fmt.Sprintf(`{"x": %d}`, i))}))
		e.clk.Set(now.Add(-time.Hour + time.Duration(i)*time.Minute))
		must(e.st.PredictionCreate(ctx, mlops.NewPrediction{ModelID: m.ID, Features: mlops.JSON(fmt.Sprintf(`{"x": %d}`, 20+i))}))
	}
	e.clk.Set(now)
	return m
}

// runRules runs the rules once and returns spam's outcome.
func runRules(b *tab, e *env) monitor.RuleOutcome {
	b.t.Helper()
	res, err := monitor.New(e.st, monitor.Options{}).RulesRun(context.Background())
	if err != nil || len(res.Outcomes) != 1 {
		b.fail("run the rules", "%+v, %v; want one outcome", res, err)
	}
	return res.Outcomes[0]
}

// unlabelled lists the form fields of the page that no label names.
const unlabelled = `[...document.querySelectorAll('main input:not([type=hidden]), main select, main textarea')]
	.filter(el => el.labels.length === 0).map(el => el.name || el.id)`

// groupHeadings lists the triage groups of the page, in order.
const groupHeadings = `[...document.querySelectorAll('.alert-group h2')].map(h => h.textContent.replace(/\s+/g, ' ').trim())`

// TestAlertTriageBrowser: in Chromium, the triage page groups a rule's
// alert beside the seeded ones; its "Silence…" link prefills the silence
// form; the silence created there is listed and marks the alert; while it
// lasts, the rules raise no new alert for the drifting model; expired on
// the page, the next run raises one again.
func TestAlertTriageBrowser(t *testing.T) {
	browser := newBrowser(t)
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) { browseTriage(t, browser, newEnv(t, engine, true)) })
	}
}

func browseTriage(t *testing.T, browser context.Context, e *env) {
	b := newTab(t, browser, e.srv.URL)
	ctx := context.Background()
	drifting(t, e)
	first := runRules(b, e)
	if first.Alert == nil || !first.NewAlert {
		b.fail("the rules on the drifting model", "outcome %+v, want a new alert", first)
	}
	alert := *first.Alert

	b.do("load the triage page", chromedp.Navigate(b.base+"/alerts"), chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf("#alert-%d", alert.ID))))
	b.snap("triage")
	heads := get(b, "read the groups", chromedp.Evaluate[[]string](groupHeadings))
	want := []string{"no model · drift 1", "no model · latency 1", "spam · drift_detected 1"}
	if alert.Severity != mlops.SeverityHigh {
		b.fail("the rule's alert", "severity %s, want high", alert.Severity)
	}
	if !slices.Equal(heads, want) {
		b.fail("triage groups", "%q, want %q", heads, want)
	}
	if missing := get(b, "find unlabelled fields", chromedp.Evaluate[[]string](unlabelled)); len(missing) != 0 {
		b.fail("every field has a label", "fields without a label: %q", missing)
	}

	b.do("open the silence form from the alert",
		chromedp.Click(chromedp.CSS(fmt.Sprintf("#silence-link-%d", alert.ID))),
		chromedp.WaitVisible(chromedp.CSS("#silence-form")),
	)
	for sel, want := range map[string]string{"#silence-type": "drift_detected", "#silence-model": "spam", "#silence-severity": "high",
		"#silence-until": "2026-11-20T15:00"} {
		if got := get(b, "read "+sel, chromedp.Value(chromedp.CSS(sel))); got != want {
			b.fail("prefilled silence form", "%s = %q, want %q", sel, got, want)
		}
	}
	b.do("create the silence",
		chromedp.SetValue(chromedp.CSS("#silence-comment"), "retraining spam on fresh data"),
		chromedp.SetValue(chromedp.CSS(`#silence-form input[name="actor"]`), "frank"),
		chromedp.Click(chromedp.CSS("#create-silence")),
		chromedp.WaitVisible(chromedp.CSS("#flash")),
	)
	b.snap("silence-created")
	sils, _, err := e.st.SilenceList(ctx, true, store.Page{})
	if err != nil || len(sils) != 1 || sils[0].CreatedBy != "frank" {
		b.fail("the silence in the database", "%s (%v)", mustJSON(sils), err)
	}
	sil := sils[0]
	if msg := b.text("#flash"); !strings.Contains(msg, fmt.Sprintf("Silence %d created by frank", sil.ID)) {
		b.fail("silence message", "flash %q", msg)
	}
	if n, mark := b.text("#silence-count"), b.text(fmt.Sprintf("#silenced-%d", alert.ID)); n != "1" || mark != "silenced" {
		b.fail("the silence on the page", "%s silences, alert marked %q", n, mark)
	}

	// Resolved, the alert would come back on the next run: the
	// silence stops it, and its action.
	if _, err := e.st.AlertResolve(ctx, alert.ID, "frank", "retraining"); err != nil {
		t.Fatal(err)
	}
	if o := runRules(b, e); o.Alert != nil || o.SilenceID == nil || *o.SilenceID != sil.ID {
		b.fail("the rules while silenced", "outcome %+v, want silence %d and no alert", o, sil.ID)
	}
	b.do("reload the triage page", chromedp.Navigate(b.base+"/alerts"), chromedp.WaitVisible(chromedp.CSS("#silences")))
	heads = get(b, "read the groups", chromedp.Evaluate[[]string](groupHeadings))
	if slices.ContainsFunc(heads, func(h string) bool { return strings.HasPrefix(h, "spam") }) {
		b.fail("no new alert while silenced", "groups %q", heads)
	}
	pending, _, err := e.st.ActionList(ctx, store.ActionFilter{Status: mlops.ActionPending, Page: store.Page{Limit: 100}})
	if err != nil || len(pending) != 3 { // the seed's two and the first alert's
		b.fail("actions while silenced", "%d pending actions (%v), want 3", len(pending), err)
	}

	b.do("expire the silence",
		chromedp.SetValue(chromedp.CSS(fmt.Sprintf(`#expire-form-%d input[name="actor"]`, sil.ID)), "frank"),
		chromedp.Click(chromedp.CSS(fmt.Sprintf("#expire-%d", sil.ID))),
		chromedp.WaitVisible(chromedp.CSS("#flash")),
	)
	if msg, n := b.text("#flash"), b.text("#silence-count"); !strings.Contains(msg, fmt.Sprintf("Silence %d expired by frank", sil.ID)) || n != "0" {
		b.fail("expired on the page", "flash %q, %s silences", msg, n)
	}
	if o := runRules(b, e); o.Alert == nil || !o.NewAlert || o.SilenceID != nil {
		b.fail("the rules after the expiry", "outcome %+v, want a new alert", o)
	}
	b.do("the alert is back", chromedp.Navigate(b.base+"/alerts"), chromedp.WaitVisible(chromedp.CSS(".alert-group")))
	if heads = get(b, "read the groups", chromedp.Evaluate[[]string](groupHeadings)); !slices.Equal(heads, want) {
		b.fail("triage groups after the expiry", "%q, want %q", heads, want)
	}
	b.snap("triage-after")
}
