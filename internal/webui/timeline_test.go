package webui_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
)

// TestTimelinePage reads the timeline of a version: oldest first, each
// event linking to its page (the version, the drift report, the alert on
// its tab and severity, the action in the approvals), and paged.
func TestTimelinePage(t *testing.T) {
	t.Parallel()
	eachEngine(t, true, func(t *testing.T, e *env) {
		ctx := context.Background()
		s := e.seed
		v1 := fmt.Sprintf("/models/%d", s.churnV1.ID)
		reports, _, err := e.st.DriftReportList(ctx, store.DriftReportFilter{ModelID: s.churnV1.ID})
		if err != nil || len(reports) != 2 {
			t.Fatalf("seeded reports: %v, %v", reports, err)
		}
		code, body := e.get(t, v1+"/timeline")
		if code != http.StatusOK {
			t.Fatalf("GET %s/timeline: %d\n%s", v1, code, body)
		}
		drifted := fmt.Sprintf(`<a href="/drift/%d">drift report %d: drift in income, tenure</a>`, reports[0].ID, reports[0].ID)
		calm := fmt.Sprintf(`<a href="/drift/%d">drift report %d: no drift</a>`, reports[1].ID, reports[1].ID)
		activated := `<a href="` + v1 + `">version v1 activated by system</a>`
		registered := `<a href="` + v1 + `">version v1 registered by system</a>`
		contains(t, "timeline", body, "Timeline <span class=\"ver\">· churn v1</span>", drifted, calm, activated, registered,
			`<span class="badge ev-kind">drift reported</span>`, `<span class="badge ev-kind">model registered</span>`,
			`data-kind="model.activated"`, "2026-11-20 12:30:00 UTC")
		before(t, "oldest first", body, registered, activated)
		before(t, "oldest first", body, activated, calm)
		before(t, "oldest first", body, calm, drifted)
		_, body = e.get(t, v1)
		contains(t, "model page", body, `<a id="timeline-link" href="`+v1+`/timeline">`,
			fmt.Sprintf(`<a id="latest-drift" href="/drift/%d">Latest drift report (drift, 30 min ago)`, reports[0].ID))

		// A version that only was registered.
		fraud := fmt.Sprintf("/models/%d/timeline", s.fraudV1.ID)
		code, body = e.get(t, fraud)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d", fraud, code)
		}
		contains(t, "a quiet version's timeline", body, "version 2026.11 registered")
		if n := strings.Count(body, `<li class="ev `); n != 1 {
			t.Errorf("a quiet version's timeline has %d events, want 1", n)
		}

		// A rule's alert links to its tab and severity, its action to the
		// approvals.
		m := driftingModel(t, e, 40)
		cfg, err := e.st.RuleSettingsGet(ctx, m.ModelName)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Enabled = true
		if _, err := e.st.RuleSettingsPut(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		e.post(t, fmt.Sprintf("/models/%d/drift-check", m.ID), checkForm())
		rep := latestReport(t, e, m.ID)
		e.clk.Set(e.clk.Now().Add(time.Minute))
		alerts, _, err := e.st.AlertList(ctx, store.AlertFilter{Status: mlops.AlertActive, Severity: mlops.SeverityHigh})
		if err != nil {
			t.Fatal(err)
		}
		alert := alerts[0]
		if _, err := e.st.AlertAcknowledge(ctx, alert.ID, "dave"); err != nil {
			t.Fatal(err)
		}
		action, err := e.st.ActionGet(ctx, fmt.Sprintf("rule-alert-%d-retrain_model", alert.ID))
		if err != nil {
			t.Fatal(err)
		}
		_, body = e.get(t, fmt.Sprintf("/models/%d/timeline", m.ID))
		contains(t, "timeline with a rule's alert", body,
			fmt.Sprintf(`<a href="/drift/%d">drift report %d: drift in amount</a>`, rep.ID, rep.ID),
			fmt.Sprintf(`<a href="/alerts?severity=high&amp;status=acknowledged#alert-%d">alert %d raised: credit v1: drift in 1 of 2 features</a>`, alert.ID, alert.ID),
			fmt.Sprintf(`<a href="/alerts?severity=high&amp;status=acknowledged#alert-%d">alert %d acknowledged: credit v1: drift in 1 of 2 features by dave</a>`, alert.ID, alert.ID),
			fmt.Sprintf(`<a href="/approvals#action-%d">action %s (retrain_model) proposed</a>`, action.ID, action.ActionID),
			`<span class="badge ev-kind">alert acknowledged</span>`, `<span class="badge ev-kind">action proposed</span>`)

		// Paged: 60 more reports make two pages, the newest reports on the
		// second.
		var last mlops.DriftReport
		for i := 0; i < 60; i++ {
			if last, err = e.st.DriftReportCreate(ctx, mlops.NewDriftReport{ModelID: s.churnV1.ID}); err != nil {
				t.Fatal(err)
			}
		}
		newest := fmt.Sprintf(`<a href="/drift/%d">drift report %d: no drift</a>`, last.ID, last.ID)
		_, body = e.get(t, v1+"/timeline")
		if n := strings.Count(body, `<li class="ev `); n != 50 {
			t.Errorf("the first page has %d events, want 50", n)
		}
		contains(t, "the first page", body, registered, `rel="next">Newer ›</a>`)
		if strings.Contains(body, newest) {
			t.Errorf("the first page holds the newest report %d", last.ID)
		}
		i := strings.Index(body, `rel="next"`)
		if i < 0 {
			t.Fatalf("no link to the newer events:\n%s", body)
		}
		next := body[strings.LastIndex(body[:i], `href="`)+len(`href="`) : i-2]
		_, body = e.get(t, strings.ReplaceAll(next, "&amp;", "&"))
		contains(t, "the second page", body, newest, "⇤ First page")
		if strings.Contains(body, registered) || strings.Contains(body, `rel="next"`) {
			t.Errorf("the second page repeats the registration or links further:\n%s", body)
		}
		if n := strings.Count(body, `<li class="ev `); n != 14 {
			t.Errorf("the second page has %d events, want 14", n)
		}

		for path, want := range map[string]int{"/models/424242/timeline": 404, "/models/x/timeline": 404, v1 + "/timeline?cursor=nope": 400} {
			if code, body := e.get(t, path); code != want {
				t.Errorf("GET %s: %d, want %d\n%s", path, code, want, body)
			}
		}
	})
}
