package webui_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
)

// driftingModel registers credit v1 (features amount and age) with n
// predictions two days before the clock's time, amount spread over 0..1 and
// age 40, and n in the last hour with amount shifted by 0.5: amount
// drifts, age does not.
func driftingModel(t *testing.T, e *env, n int) mlops.ModelVersion {
	t.Helper()
	ctx := context.Background()
	m, err := e.st.ModelVersionCreate(ctx, mlops.NewModelVersion{ModelName: "credit", Version: "v1", Algorithm: "gbm",
		FeatureNames: []string{"amount", "age"}})
	if err != nil {
		t.Fatal(err)
	}
	now := e.clk.Now()
	for _, w := range []struct {
		at    time.Duration
		shift float64
	}{{-48 * time.Hour, 0}, {-time.Hour, 0.5}} {
		batch := make([]mlops.NewPrediction, n)
		for i := range batch {
			batch[i] = mlops.NewPrediction{ModelID: m.ID,
				Features: mlops.JSON(fmt.Sprintf(`{"amount": %v, "age": 40}`, w.shift+float64(i)/float64(n)))}
		}
		e.clk.Set(now.Add(w.at))
		if _, err := e.st.PredictionCreateBatch(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	e.clk.Set(now)
	return m
}

// checkForm is the drift check form as the model page fills it.
func checkForm() url.Values {
	return url.Values{"current_hours": {"24"}, "reference_days": {"7"}, "psi_threshold": {"0.2"}, "ks_threshold": {"0.1"}, "min_samples": {"30"}}
}

// latestReport is the newest drift report of a model version.
func latestReport(t *testing.T, e *env, modelID int64) mlops.DriftReport {
	t.Helper()
	r, err := e.st.DriftReportLatest(context.Background(), modelID)
	if err != nil {
		t.Fatalf("the latest drift report of model version %d: %v", modelID, err)
	}
	return r
}

// before fails unless a comes before b in body, both present.
func before(t *testing.T, what, body, a, b string) {
	t.Helper()
	i, j := strings.Index(body, a), strings.Index(body, b)
	if i < 0 || j < 0 || i > j {
		t.Errorf("%s: %q (at %d) should come before %q (at %d)", what, a, i, b, j)
	}
}

// TestDriftReportPage runs a drift check through the model page's form and
// reads the report it lands on: every feature, drifted first, with its
// figures, histogram and table, the windows and thresholds; then, with the
// model's rules enabled, the alert and the action that name the report.
func TestDriftReportPage(t *testing.T) {
	t.Parallel()
	eachEngine(t, true, func(t *testing.T, e *env) {
		ctx := context.Background()
		m := driftingModel(t, e, 40)
		model := fmt.Sprintf("/models/%d", m.ID)
		_, body := e.get(t, model)
		contains(t, "model page", body, `id="drift-check-form"`, `action="`+model+`/drift-check"`, `name="current_hours"`,
			`href="`+model+`/timeline"`)
		lacks(t, "model page without a report", body, `id="latest-drift"`)

		code, path, body := e.post(t, model+"/drift-check", checkForm())
		rep := latestReport(t, e, m.ID)
		if code != http.StatusOK || path != fmt.Sprintf("/drift/%d", rep.ID) {
			t.Fatalf("the drift check landed on %s (%d), want /drift/%d\n%s", path, code, rep.ID, body)
		}
		if !rep.DriftDetected || len(rep.DriftedFeatures) != 1 || rep.DriftedFeatures[0] != "amount" {
			t.Fatalf("stored report %s, want drift in amount only", mustJSON(rep))
		}
		contains(t, "report page", body, fmt.Sprintf("Drift check stored as report %d: drift in amount.", rep.ID),
			`<span class="badge drift-yes" id="result">drift</span>`,
			`<a id="model-link" href="`+model+`">`, `<a id="timeline-link" href="`+model+`/timeline">`,
			"40 reference / 40 current", "2026-11-12 13:00:00 UTC", "2026-11-19 13:00:00 UTC", "2026-11-20 13:00:00 UTC",
			"<dt>PSI threshold</dt><dd>0.200</dd>", "<dt>KS threshold</dt><dd>0.100</dd>", "10 reference quantile bins",
			// amount: KS D = 0.5, every value of the current window above
			// the reference median; p-value tiny.
			`<td class="n">0.5</td>`, `<span class="badge drift-yes">drifted</span>`, `<span class="badge drift-no">stable</span>`,
			`<figure class="hist" id="feature-1" data-feature="amount">`, `<figure class="hist" id="feature-2" data-feature="age">`,
			`<rect class="ref"`, `<rect class="cur"`, "<th scope=\"col\">Values</th>", "≤ 0.0975", "&gt; 0.8775",
			"No alert or action names this report.", "PUT /api/v1/rules/credit")
		features := body[strings.Index(body, `id="features"`):]
		before(t, "drifted features first", features, "<code>amount</code>", "<code>age</code>")
		// Each histogram has one pair of bars per bin: amount 10, age
		// (constant) 2.
		hist := body[strings.Index(body, `id="feature-1"`):strings.Index(body, `id="feature-2"`)]
		if n := strings.Count(hist, "<rect "); n != 20 {
			t.Errorf("amount's histogram has %d bars, want 20", n)
		}
		// Half the current values are above the reference's range: the
		// last bin goes from 10 % to 60 %.
		contains(t, "amount's table", hist, `<td class="n">10.0 %</td><td class="n">60.0 %</td><td class="n up">&#43;50.0 pp</td>`)

		// The list links each report to its page, the model page to the
		// latest.
		_, body = e.get(t, "/drift")
		contains(t, "drift list", body, fmt.Sprintf(`<a href="/drift/%d" id="report-%d">Report %d</a>`, rep.ID, rep.ID, rep.ID))
		_, body = e.get(t, model)
		contains(t, "model page", body, fmt.Sprintf(`<a id="latest-drift" href="/drift/%d">Latest drift report (drift, just now)`, rep.ID))

		// With rules on, the next check raises an alert and proposes an
		// action, both naming the report.
		cfg, err := e.st.RuleSettingsGet(ctx, "credit")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Enabled = true
		if _, err := e.st.RuleSettingsPut(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		_, path, body = e.post(t, model+"/drift-check", checkForm())
		rep2 := latestReport(t, e, m.ID)
		alerts, _, _ := e.st.AlertList(ctx, store.AlertFilter{Status: mlops.AlertActive, Severity: mlops.SeverityHigh})
		actions, _, _ := e.st.ActionList(ctx, store.ActionFilter{Status: mlops.ActionPending})
		var alert mlops.Alert
		for _, a := range alerts {
			if a.ModelID != nil && *a.ModelID == m.ID {
				alert = a
			}
		}
		if alert.ID == 0 || path != fmt.Sprintf("/drift/%d", rep2.ID) {
			t.Fatalf("after a check with rules on: at %s, alerts %s", path, mustJSON(alerts))
		}
		var action mlops.AgentAction
		for _, a := range actions {
			if a.IssueID == fmt.Sprint(alert.ID) {
				action = a
			}
		}
		contains(t, "report with an alert", body,
			fmt.Sprintf(`<a id="ref-alert-%d" href="/alerts?status=active&amp;severity=high#alert-%d">Alert %d: credit v1: drift in 1 of 2 features</a>`, alert.ID, alert.ID, alert.ID),
			fmt.Sprintf(`<a id="ref-action-%d" href="/approvals#action-%d">Action <code>%s</code></a>`, action.ID, action.ID, action.ActionID))
		// The first report is named by neither.
		_, body = e.get(t, fmt.Sprintf("/drift/%d", rep.ID))
		contains(t, "the first report", body, "No alert or action names this report.")
	})
}

// TestDriftReportOfClient shows what reports posted by clients carry: no
// details, details of another shape, a histogram of their own.
func TestDriftReportOfClient(t *testing.T) {
	t.Parallel()
	eachEngine(t, true, func(t *testing.T, e *env) {
		ctx := context.Background()
		m := e.seed.churnV1
		// The seed's reports have no details.
		reports, _, err := e.st.DriftReportList(ctx, store.DriftReportFilter{ModelID: m.ID})
		if err != nil || len(reports) != 2 {
			t.Fatalf("seeded reports: %v, %v", reports, err)
		}
		code, body := e.get(t, fmt.Sprintf("/drift/%d", reports[0].ID))
		if code != http.StatusOK {
			t.Fatalf("GET /drift/%d: %d\n%s", reports[0].ID, code, body)
		}
		contains(t, "a report without details", body, "Drift report", "churn v1", "<mark>income</mark>", "0.410",
			"1,000 reference / 900 current", "/reports/drift-churn.html", "<code>income</code>", "<code>tenure</code>",
			"carry no statistics per feature", fmt.Sprintf("mlops drift check %d", m.ID), "not recorded")
		lacks(t, "a report without details", body, `<figure class="hist"`, `id="h-other"`)
		_, body = e.get(t, fmt.Sprintf("/drift/%d", reports[1].ID))
		contains(t, "a report without drift", body, `id="result">no drift</span>`, "This report names no feature.")

		for _, c := range []struct {
			name, details string
			wants         []string
			unwanted      []string
		}{
			{"another shape", `{"features": ["income"], "tool": "evidently", "psi_threshold": "high"}`,
				[]string{`<th scope="row"><code>features</code></th><td><code>[&#34;income&#34;]</code>`, "<code>tool</code>",
					"<code>evidently</code>", "<code>psi_threshold</code>", "<code>high</code>"},
				[]string{`<figure class="hist"`}},
			{"a feature with a field of its own", `{"features": {"income": {"psi": "large", "ks": 0.4, "drifted": true}}}`,
				[]string{`<td class="n">—</td><td class="n">0.4</td>`, `<span class="badge drift-yes">drifted</span>`},
				[]string{`id="h-other"`}},
			{"a histogram of its own", `{"features": {"income": {"psi": 0.31, "drifted": true, "histogram": {"edges": [100], "reference": [0.5, 0.5], "current": [0.9, 0.1]}},
				"age": {"psi": 0.01, "histogram": {"edges": [1, 2], "reference": [1], "current": [1]}}}}`,
				[]string{`data-feature="income"`, "≤ 100", "&gt; 100", `<td class="n">50.0 %</td><td class="n">90.0 %</td><td class="n up">&#43;40.0 pp</td>`,
					"<td class=\"n\">0.31</td>", "<code>age</code>"},
				[]string{`data-feature="age"`}},
		} {
			r, err := e.st.DriftReportCreate(ctx, mlops.NewDriftReport{ModelID: m.ID, DriftDetected: true,
				DriftedFeatures: []string{"income"}, Details: mlops.JSON(c.details)})
			if err != nil {
				t.Fatal(err)
			}
			code, body := e.get(t, fmt.Sprintf("/drift/%d", r.ID))
			if code != http.StatusOK {
				t.Errorf("%s: %d\n%s", c.name, code, body)
				continue
			}
			contains(t, c.name, body, c.wants...)
			lacks(t, c.name, body, c.unwanted...)
		}

		for path, want := range map[string]int{"/drift/424242": 404, "/drift/x": 404, "/drift/0": 404} {
			if code, body := e.get(t, path); code != want {
				t.Errorf("GET %s: %d, want %d\n%s", path, code, want, body)
			}
		}
	})
}

// TestDriftCheckForm: a form the check refuses comes back to the model
// page with the reason and stores nothing; so does a form from another
// site.
func TestDriftCheckForm(t *testing.T) {
	t.Parallel()
	eachEngine(t, true, func(t *testing.T, e *env) {
		m := e.seed.fraudV1
		model := fmt.Sprintf("/models/%d", m.ID)
		form := checkForm()
		form.Set("current_hours", "soon")
		form.Set("min_samples", "2.5")
		_, path, body := e.post(t, model+"/drift-check", form)
		contains(t, "a form with bad numbers", body, "The drift check did not run: current_hours: must be a number greater than 0",
			`got &#34;soon&#34;`, "min_samples: must be a whole number")
		if path != model {
			t.Errorf("a refused check went to %s, want %s", path, model)
		}
		_, _, body = e.post(t, model+"/drift-check", checkForm())
		contains(t, "a model without predictions", body, "The drift check did not run: current: has 0 predictions",
			"at least 30 are needed (widen the window or lower min_samples)")
		code, _, _ := e.post(t, "/models/424242/drift-check", checkForm())
		if code != http.StatusNotFound {
			t.Errorf("a check of an unknown version: %d, want 404", code)
		}

		d := driftingModel(t, e, 40)
		code, _, body = e.post(t, fmt.Sprintf("/models/%d/drift-check", d.ID), checkForm(), "Sec-Fetch-Site", "cross-site")
		if code != http.StatusForbidden || !strings.Contains(body, "submitted from another site") {
			t.Errorf("a cross-site drift check: %d\n%s", code, body)
		}
		if r, err := e.st.DriftReportLatest(context.Background(), d.ID); err == nil {
			t.Errorf("a refused check stored report %d", r.ID)
		}
	})
}

// TestDriftCheckPermission: the form needs the ingest permission, as the
// API's drift check does: a viewer sees no form and is refused, a
// pipeline runs the check as itself.
func TestDriftCheckPermission(t *testing.T) {
	t.Parallel()
	eachEngineAuth(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		m := driftingModel(t, e, 40)
		model := fmt.Sprintf("/models/%d", m.ID)
		viewer := e.signIn(t, "victor", e.addUser(t, "victor", mlops.RoleViewer))
		_, body := viewer.get(t, model)
		contains(t, "the viewer's model page", body, `<p id="no-drift-check">Running a drift check needs the ingest permission (role pipeline, agent or admin); you are signed in as viewer.</p>`,
			`id="timeline-link"`)
		lacks(t, "the viewer's model page", body, `id="drift-check-form"`, `name="current_hours"`)
		resp, body := viewer.post(t, model+"/drift-check", checkForm())
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("the viewer's drift check: %d, want 403", resp.StatusCode)
		}
		contains(t, "the viewer's drift check", body, "user victor has role viewer", "Nothing was changed.")
		if r, err := e.st.DriftReportLatest(ctx, m.ID); err == nil {
			t.Fatalf("the viewer's refused check stored report %d", r.ID)
		}
		for _, page := range []string{fmt.Sprintf("/drift?model_id=%d", m.ID), model + "/timeline"} {
			if resp, body := viewer.get(t, page); resp.StatusCode != http.StatusOK {
				t.Errorf("the viewer's %s: %d\n%s", page, resp.StatusCode, body)
			}
		}

		pipeline := e.signIn(t, "pia", e.addUser(t, "pia", mlops.RolePipeline))
		_, body = pipeline.get(t, model)
		contains(t, "the pipeline's model page", body, `id="drift-check-form"`)
		lacks(t, "the pipeline's model page", body, `name="actor"`)
		resp, _ = pipeline.post(t, model+"/drift-check", checkForm())
		rep := latestReport(t, e, m.ID)
		wantRedirect(t, "the pipeline's drift check", resp, fmt.Sprintf("/drift/%d", rep.ID))
		events, err := e.st.AuditEventsOf(ctx, "drift_report", fmt.Sprint(rep.ID))
		if err != nil || len(events) != 1 || events[0].Actor != "pia" {
			t.Errorf("the audit of report %d: %s (%v), want created by pia", rep.ID, mustJSON(events), err)
		}
	})
}
