package monitor_test

import (
	"context"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/monitor"
	"github.com/mlopsdev/mlops/store"
)

// runOnce runs the rules and returns the one outcome the test expects.
func runOnce(t *testing.T, mon *monitor.Monitor) monitor.RuleOutcome {
	t.Helper()
	res, err := mon.RulesRun(context.Background())
	if err != nil || len(res.Outcomes) != 1 {
		t.Fatalf("rules run: %+v, %v; want one outcome", res, err)
	}
	return res.Outcomes[0]
}

// TestRulesRespectSilences: while a silence matches the drift alert, a
// rules run (and a drift check) stores its report but raises no alert and
// proposes no action, naming the silence; a silence of another model or
// severity changes nothing; an open alert is left as it is while silenced;
// once the silence is expired, or its until passes, the rule raises again.
func TestRulesRespectSilences(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store, mon *monitor.Monitor, c *clock) {
		ctx := context.Background()
		enableRules(t, s, "fraud", hourWindows)
		m := must[mlops.ModelVersion](t)(s.ModelVersionActivate(ctx, model(t, s, "fraud", "v1").ID))
		driftData(t, s, c, m.ID, m.ID, 0)
		c.Set(t0.Add(2 * time.Hour))
		silence := func(mt mlops.SilenceMatchers, d time.Duration) mlops.Silence {
			t.Helper()
			return must[mlops.Silence](t)(s.SilenceCreate(ctx, mlops.NewSilence{Matchers: mt, Until: c.Now().Add(d), Comment: "retraining fraud"}))
		}
		run := func() monitor.RuleOutcome { return runOnce(t, mon) }
		drift := ptr(monitor.AlertTypeDrift)
		silence(mlops.SilenceMatchers{ModelName: ptr("churn")}, time.Hour)
		silence(mlops.SilenceMatchers{AlertType: drift, Severity: ptr(mlops.SeverityMedium)}, time.Hour)
		sil := silence(mlops.SilenceMatchers{AlertType: drift, ModelName: ptr("fraud")}, time.Hour)

		reports := func() int {
			t.Helper()
			items, _, err := s.DriftReportList(ctx, store.DriftReportFilter{ModelID: m.ID, Page: store.Page{Limit: -1}})
			if err != nil {
				t.Fatal(err)
			}
			return len(items)
		}
		o := run()
		if o.Alert != nil || o.NewAlert || o.Action != nil || o.SilenceID == nil || *o.SilenceID != sil.ID || o.DriftReportID == nil {
			t.Errorf("silenced run: %+v, want silence %d, a drift report, no alert, no action", o, sil.ID)
		}
		rep := must[mlops.DriftReport](t)(mon.DriftCheck(ctx, m.ID, driftOpts()))
		if !rep.DriftDetected {
			t.Fatal("the drift check detected no drift")
		}
		if n := reports(); n != 2 {
			t.Errorf("%d drift reports after a silenced run and a check, want 2", n)
		}
		if a, acts := openAlerts(t, s), actions(t, s, ""); len(a) != 0 || len(acts) != 0 {
			t.Fatalf("while silenced: %d alerts, %d actions; want none", len(a), len(acts))
		}

		// Expired: the next run raises the alert and proposes its action.
		must[mlops.Silence](t)(s.SilenceExpire(ctx, sil.ID))
		o = run()
		if o.Alert == nil || !o.NewAlert || o.Action == nil || o.SilenceID != nil {
			t.Fatalf("after the silence was expired: %+v, want a new alert and an action", o)
		}
		alert := *o.Alert

		// Silenced again, the open alert is left as it is.
		// (The clock moves by seconds: the rule's windows follow it.)
		c.Set(c.Now().Add(time.Second))
		again := silence(mlops.SilenceMatchers{ModelName: ptr("fraud"), Severity: ptr(alert.Severity)}, 10*time.Second)
		o = run()
		if o.SilenceID == nil || *o.SilenceID != again.ID || o.Alert != nil {
			t.Errorf("run with an open alert silenced: %+v, want silence %d", o, again.ID)
		}
		if got := must[mlops.Alert](t)(s.AlertGet(ctx, alert.ID)); got.Occurrences != 1 || !got.LastSeenAt.Equal(alert.LastSeenAt) {
			t.Errorf("the silenced open alert changed: occurrences %d, last seen %v", got.Occurrences, got.LastSeenAt)
		}

		// Its until passes: the condition counts on the open alert again.
		c.Set(c.Now().Add(10 * time.Second))
		o = run()
		if o.SilenceID != nil || o.Alert == nil || o.Alert.ID != alert.ID || o.Alert.Occurrences != 2 || o.NewAlert {
			t.Errorf("after the until: %+v, want the open alert with 2 occurrences", o)
		}
		if n := len(actions(t, s, "")); n != 1 {
			t.Errorf("%d actions, want the one of the alert", n)
		}
	})
}
