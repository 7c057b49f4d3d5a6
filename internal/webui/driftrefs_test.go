package webui_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
)

// TestDriftReportRefs: the report page lists every alert and action that
// names the report, by number or by string, however many unrelated ones
// came after it; past 100 it lists the newest 100 and says so.
func TestDriftReportRefs(t *testing.T) {
	t.Parallel()
	eachEngine(t, false, func(t *testing.T, e *env) {
		ctx := context.Background()
		m, err := e.st.ModelVersionCreate(ctx, mlops.NewModelVersion{ModelName: "credit", Version: "v1", Algorithm: "gbm"})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := e.st.DriftReportCreate(ctx, mlops.NewDriftReport{ModelID: m.ID, DriftDetected: true, DriftedFeatures: []string{"amount"}})
		if err != nil {
			t.Fatal(err)
		}
		alert := func(related string) mlops.Alert {
			t.Helper()
			e.clk.Advance(time.Second)
			a, err := e.st.AlertCreate(ctx, mlops.NewAlert{AlertType: "drift", Severity: mlops.SeverityMedium,
				Title: "drift on credit", RelatedData: mlops.JSON(related)})
			if err != nil {
				t.Fatal(err)
			}
			return a
		}
		n := 0
		action := func(params, issueType, issueID string) mlops.AgentAction {
			t.Helper()
			e.clk.Advance(time.Second)
			n++
			a, err := e.st.ActionCreate(ctx, mlops.NewAgentAction{ActionID: fmt.Sprintf("retrain-%d", n), ActionType: "retrain",
				RiskLevel: mlops.RiskLow, IssueType: issueType, IssueID: issueID, Parameters: mlops.JSON(params)})
			if err != nil {
				t.Fatal(err)
			}
			return a
		}
		byNumber := alert(fmt.Sprintf(`{"drift_report_id": %d}`, rep.ID))
		byString := alert(fmt.Sprintf(`{"drift_report_id": "%d"}`, rep.ID))
		actNumber := action(fmt.Sprintf(`{"drift_report_id": %d}`, rep.ID), "", "")
		actString := action(fmt.Sprintf(`{"drift_report_id": "%d"}`, rep.ID), "", "")
		actIssue := action(`{}`, "drift_report", fmt.Sprint(rep.ID))
		for range 250 {
			alert(`{"drift_report_id": 424242}`)
			action(`{"model_id": 1}`, "alert", fmt.Sprint(rep.ID))
		}
		page := fmt.Sprintf("/drift/%d", rep.ID)
		_, body := e.get(t, page)
		var wants []string
		for _, a := range []mlops.Alert{byNumber, byString} {
			wants = append(wants, fmt.Sprintf(`<a id="ref-alert-%d" href="/alerts?status=active&amp;severity=medium#alert-%d">Alert %d: drift on credit</a>`, a.ID, a.ID, a.ID))
		}
		for _, a := range []mlops.AgentAction{actNumber, actString, actIssue} {
			wants = append(wants, fmt.Sprintf(`<a id="ref-action-%d" href="/approvals#action-%d">Action <code>%s</code></a>`, a.ID, a.ID, a.ActionID))
		}
		contains(t, "a report named by 2 alerts and 3 actions, 250 of each after them", body, wants...)
		lacks(t, "a report named by 2 alerts and 3 actions", body, `id="refs-more"`, `id="ref-alert-3"`, `id="ref-action-4"`)
		before(t, "newest first", body, fmt.Sprintf(`id="ref-alert-%d"`, byString.ID), fmt.Sprintf(`id="ref-alert-%d"`, byNumber.ID))

		for range 100 {
			alert(fmt.Sprintf(`{"drift_report_id": %d}`, rep.ID))
		}
		_, body = e.get(t, page)
		contains(t, "a report named by 102 alerts", body, `id="refs-more"`,
			"More than 100 alerts name this report: the newest 100 of each are listed.")
		lacks(t, "a report named by 102 alerts", body, fmt.Sprintf(`id="ref-alert-%d"`, byNumber.ID))
		contains(t, "a report named by 102 alerts", body, fmt.Sprintf(`id="ref-action-%d"`, actIssue.ID))
	})
}
