package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

func loopEnableRules(t *testing.T, s *store.Store, name string, edit func(*store.RuleSettings)) store.RuleSettings {
	t.Helper()
	r, err := s.RuleSettingsGet(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	r.Enabled = true
	if edit != nil {
		edit(&r)
	}
	r, err = s.RuleSettingsPut(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func loopOpenAlerts(t *testing.T, s *store.Store) []mlops.Alert {
	t.Helper()
	var out []mlops.Alert
	for _, st := range []mlops.AlertStatus{mlops.AlertActive, mlops.AlertAcknowledged} {
		items, _, err := s.AlertList(context.Background(), store.AlertFilter{Status: st, Page: store.Page{Limit: -1}})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, items...)
	}
	return out
}

func loopActions(t *testing.T, s *store.Store, status mlops.ActionStatus) []mlops.AgentAction {
	t.Helper()
	items, _, err := s.ActionList(context.Background(), store.ActionFilter{Status: status, Page: store.Page{Limit: -1}})
	if err != nil {
		t.Fatal(err)
	}
	return items
}

func TestRulesOffByDefault(t *testing.T) {
	loopEach(t, func(t *testing.T, s *store.Store, c *loopClock) {
		ctx := context.Background()
		m := loopModel(t, s, "fraud", "v1")
		r, err := s.RuleSettingsGet(ctx, "fraud")
		if err != nil || r.Enabled || r.PSIThreshold != 0.2 || r.KSThreshold != 0.1 {
			t.Fatalf("default settings = %+v, %v", r, err)
		}
		loopDriftData(t, s, c, m.ID, m.ID, 0)
		rep, err := s.DriftCheck(ctx, m.ID, loopDriftOpts())
		if err != nil || !rep.DriftDetected {
			t.Fatalf("check: %+v, %v", rep, err)
		}
		if a := loopOpenAlerts(t, s); len(a) != 0 {
			t.Errorf("rules off, yet %d alerts", len(a))
		}
		bad := store.DefaultRuleSettings("fraud")
		bad.Metric = "auc"
		bad.KSThreshold = 0
		if _, err := s.RuleSettingsPut(ctx, bad); !isField(err, "ks_threshold") {
			t.Errorf("bad settings: %v", err)
		}
	})
}

// TestDriftRuleDedup: the same drifting condition 10 times gives one active
// alert with 10 occurrences and one pending action linked to it.
func TestDriftRuleDedup(t *testing.T) {
	loopEach(t, func(t *testing.T, s *store.Store, c *loopClock) {
		ctx := context.Background()
		m := loopModel(t, s, "fraud", "v1")
		loopEnableRules(t, s, "fraud", nil)
		loopDriftData(t, s, c, m.ID, m.ID, 0)
		var first, last mlops.DriftReport
		for i := 0; i < 10; i++ {
			c.Set(loopT0.Add(3*time.Hour + time.Duration(i)*time.Minute))
			rep, err := s.DriftCheck(ctx, m.ID, loopDriftOpts())
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = rep
			}
			last = rep
		}
		alerts := loopOpenAlerts(t, s)
		if len(alerts) != 1 {
			t.Fatalf("%d open alerts, want 1", len(alerts))
		}
		a := alerts[0]
		if a.Status != mlops.AlertActive || a.Occurrences != 10 || a.AlertType != store.AlertTypeDrift ||
			a.DedupKey == nil || *a.DedupKey != fmt.Sprintf("drift/%d", m.ID) || a.ModelID == nil || *a.ModelID != m.ID {
			t.Errorf("alert = %+v", a)
		}
		if !a.CreatedAt.Equal(loopT0.Add(3*time.Hour)) || !a.LastSeenAt.Equal(loopT0.Add(3*time.Hour+9*time.Minute)) {
			t.Errorf("created %v, last seen %v", a.CreatedAt, a.LastSeenAt)
		}
		var related struct {
			DriftReportID int64 `json:"drift_report_id"`
		}
		_ = json.Unmarshal(a.RelatedData, &related)
		if related.DriftReportID != last.ID {
			t.Errorf("alert points at drift report %d, want the latest %d", related.DriftReportID, last.ID)
		}
		acts := loopActions(t, s, "")
		if len(acts) != 1 {
			t.Fatalf("%d actions, want 1", len(acts))
		}
		act := acts[0]
		var params struct {
			ModelID       int64 `json:"model_id"`
			DriftReportID int64 `json:"drift_report_id"`
			AlertID       int64 `json:"alert_id"`
		}
		_ = json.Unmarshal(act.Parameters, &params)
		if act.Status != mlops.ActionPending || act.ActionType != "retrain_model" || !act.RequiresApproval ||
			act.IssueType != "alert" || act.IssueID != strconv.FormatInt(a.ID, 10) || act.IssueSeverity != string(a.Severity) ||
			params.ModelID != m.ID || params.DriftReportID != first.ID || params.AlertID != a.ID {
			t.Errorf("action = %+v, params %+v", act, params)
		}
		// x drifts with max PSI 0.387 < 2 * 0.2, but 1 of 2 features drifted: high.
		if a.Severity != mlops.SeverityHigh || act.RiskLevel != mlops.RiskHigh {
			t.Errorf("severity %s, risk %s; want high, high", a.Severity, act.RiskLevel)
		}

		// Acknowledged still counts as open; resolved starts a new alert and action.
		if _, err := s.AlertAcknowledge(ctx, a.ID, "ann"); err != nil {
			t.Fatal(err)
		}
		must1(t)(s.DriftCheck(ctx, m.ID, loopDriftOpts()))
		if got, _ := s.AlertGet(ctx, a.ID); got.Occurrences != 11 || got.Status != mlops.AlertAcknowledged {
			t.Errorf("after ack: %+v", got)
		}
		if _, err := s.AlertResolve(ctx, a.ID, "ann", "retrained"); err != nil {
			t.Fatal(err)
		}
		must1(t)(s.DriftCheck(ctx, m.ID, loopDriftOpts()))
		alerts = loopOpenAlerts(t, s)
		if len(alerts) != 1 || alerts[0].ID == a.ID || alerts[0].Occurrences != 1 {
			t.Errorf("after resolve: %+v", alerts)
		}
		if n := len(loopActions(t, s, mlops.ActionPending)); n != 2 {
			t.Errorf("%d pending actions, want 2", n)
		}
	})
}

// TestRulesRunConcurrent runs the rules from several goroutines at once:
// runs that find the lock taken skip; the rest each count one occurrence on
// the one alert, which has exactly one action.
func TestRulesRunConcurrent(t *testing.T) {
	loopEach(t, func(t *testing.T, s *store.Store, c *loopClock) {
		ctx := context.Background()
		m := loopModel(t, s, "fraud", "v1")
		if _, err := s.ModelVersionActivate(ctx, m.ID); err != nil {
			t.Fatal(err)
		}
		loopEnableRules(t, s, "fraud", func(r *store.RuleSettings) {
			r.MinSamples, r.CurrentWindowSeconds, r.ReferenceWindowSeconds = 5, 3600, 3600
		})
		loopEnableRules(t, s, "no-active-version", nil)
		loopDriftData(t, s, c, m.ID, m.ID, 0)
		c.Set(loopT0.Add(2 * time.Hour)) // current = the second hour, reference = the first

		const runs = 6
		var wg sync.WaitGroup
		results := make([]store.RulesRunResult, runs)
		errs := make([]error, runs)
		for i := 0; i < runs; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], errs[i] = s.RulesRun(ctx)
			}()
		}
		wg.Wait()
		ran := 0
		for i := range results {
			if errs[i] != nil {
				t.Fatalf("run %d: %v", i, errs[i])
			}
			if !results[i].Skipped {
				ran++
				if results[i].Models != 2 || len(results[i].Outcomes) != 1 || len(results[i].Notes) != 1 {
					t.Errorf("run %d = %+v", i, results[i])
				}
			}
		}
		if ran == 0 {
			t.Fatal("every run skipped")
		}
		alerts := loopOpenAlerts(t, s)
		if len(alerts) != 1 || alerts[0].Occurrences != int64(ran) {
			t.Fatalf("alerts = %+v, want one with %d occurrences", alerts, ran)
		}
		if n := len(loopActions(t, s, "")); n != 1 {
			t.Errorf("%d actions, want 1", n)
		}
		// Sequential runs never skip (the lease or lock is released).
		for i := 0; i < 3; i++ {
			res, err := s.RulesRun(ctx)
			if err != nil || res.Skipped {
				t.Fatalf("sequential run %d: %+v, %v", i, res, err)
			}
		}
		if a := loopOpenAlerts(t, s); a[0].Occurrences != int64(ran)+3 {
			t.Errorf("occurrences = %d, want %d", a[0].Occurrences, ran+3)
		}
	})
}

// TestRulesRunTwoProcesses: two stores on one database (two server
// instances) run the rules at the same time without duplicating anything.
func TestRulesRunTwoProcesses(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			c := &loopClock{now: loopT0}
			url := storetest.URL(t, engine)
			a := storetest.OpenURL(t, url, store.Options{Now: c.Now})
			b := storetest.OpenURL(t, url, store.Options{Now: c.Now})
			m := loopModel(t, a, "fraud", "v1")
			must1(t)(a.ModelVersionActivate(ctx, m.ID))
			loopEnableRules(t, a, "fraud", func(r *store.RuleSettings) {
				r.MinSamples, r.CurrentWindowSeconds, r.ReferenceWindowSeconds = 5, 3600, 3600
			})
			loopDriftData(t, a, c, m.ID, m.ID, 0)
			c.Set(loopT0.Add(2 * time.Hour))
			var wg sync.WaitGroup
			var mu sync.Mutex
			ran := 0
			for _, st := range []*store.Store{a, b, a, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res, err := st.RulesRun(ctx)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					defer mu.Unlock()
					if !res.Skipped {
						ran++
					}
				}()
			}
			wg.Wait()
			alerts := loopOpenAlerts(t, a)
			if len(alerts) != 1 || alerts[0].Occurrences != int64(ran) {
				t.Fatalf("alerts = %+v, want one with %d occurrences", alerts, ran)
			}
			if n := len(loopActions(t, b, "")); n != 1 {
				t.Errorf("%d actions, want 1", n)
			}
		})
	}
}

func TestPerformanceRule(t *testing.T) {
	loopEach(t, func(t *testing.T, s *store.Store, c *loopClock) {
		ctx := context.Background()
		m := loopModel(t, s, "churn", "v1")
		must1(t)(s.ModelVersionActivate(ctx, m.ID))
		loopEnableRules(t, s, "churn", func(r *store.RuleSettings) {
			r.DriftEnabled = false
			r.MetricThreshold = loopPtr(0.8)
			r.MetricMinLabeled = 4
			r.MetricWindowSeconds = 3600
		})
		// Three labeled so far: too few to judge.
		for i, pa := range [][2]int64{{1, 1}, {1, 0}, {0, 1}} {
			c.Set(loopT0.Add(time.Duration(i+1) * time.Minute))
			loopPredict(t, s, m.ID, pa[0], &pa[1], nil, "")
		}
		res, err := s.RulesRun(ctx)
		if err != nil || len(res.Outcomes) != 0 || len(res.Notes) != 1 {
			t.Fatalf("with 3 labeled: %+v, %v", res, err)
		}
		c.Set(loopT0.Add(5 * time.Minute))
		loopPredict(t, s, m.ID, 0, loopPtr[int64](0), nil, "") // accuracy 2/4 = 0.5
		res, err = s.RulesRun(ctx)
		if err != nil || len(res.Outcomes) != 1 {
			t.Fatalf("with 4 labeled: %+v, %v", res, err)
		}
		o := res.Outcomes[0]
		if o.Rule != "performance" || !o.NewAlert || o.Alert.AlertType != store.AlertTypePerformance ||
			*o.Alert.DedupKey != fmt.Sprintf("performance/accuracy/%d", m.ID) ||
			o.Alert.Severity != mlops.SeverityCritical || o.Action == nil || o.Action.RiskLevel != mlops.RiskCritical {
			t.Errorf("outcome = %+v", o)
		}
		// An hour later the window is empty: nothing new, the alert stays.
		c.Set(loopT0.Add(2 * time.Hour))
		res, err = s.RulesRun(ctx)
		if err != nil || len(res.Outcomes) != 0 {
			t.Errorf("empty window: %+v, %v", res, err)
		}
		if a := loopOpenAlerts(t, s); len(a) != 1 || a[0].Occurrences != 1 {
			t.Errorf("alerts = %+v", a)
		}
	})
}

// TestClosingTheLoopMigration rolls migration 00002 back and forth on a
// database that holds alerts.
func TestClosingTheLoopMigration(t *testing.T) {
	loopEach(t, func(t *testing.T, s *store.Store, c *loopClock) {
		ctx := context.Background()
		a := must2[mlops.Alert](t)(s.AlertCreate(ctx, mlops.NewAlert{AlertType: "x", Severity: mlops.SeverityLow, Title: "t"}))
		if a.Occurrences != 1 || !a.LastSeenAt.Equal(a.CreatedAt) || a.DedupKey != nil || a.ModelID != nil {
			t.Errorf("hand-raised alert = %+v", a)
		}
		mig, err := s.Migrator()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := mig.Down(ctx, 1); err != nil {
			t.Fatalf("down to 1: %v", err)
		}
		if _, err := mig.Up(ctx, 0); err != nil {
			t.Fatalf("up again: %v", err)
		}
		if diff, err := mig.Check(ctx); err != nil || len(diff) != 0 {
			t.Errorf("schema after down/up differs: %v, %v", diff, err)
		}
		got, err := s.AlertGet(ctx, a.ID)
		if err != nil || got.Occurrences != 1 || !got.LastSeenAt.Equal(a.CreatedAt) {
			t.Errorf("alert after down/up = %+v, %v", got, err)
		}
	})
}

func must2[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// TestRulesRunSkipsWhenHeld: while another instance holds the PostgreSQL
// advisory lock or an unexpired SQLite lease, RulesRun does nothing.
func TestRulesRunSkipsWhenHeld(t *testing.T) {
	loopEach(t, func(t *testing.T, s *store.Store, c *loopClock) {
		ctx := context.Background()
		m := loopModel(t, s, "fraud", "v1")
		must1(t)(s.ModelVersionActivate(ctx, m.ID))
		loopEnableRules(t, s, "fraud", nil)
		conn, err := s.DB().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		release := func() {}
		if s.Engine() == store.Postgres {
			const rulesLockKey = 0x6d6c6f70732d72 // store's key for RulesRun
			if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, int64(rulesLockKey)); err != nil {
				t.Fatal(err)
			}
			release = func() { _, _ = conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, int64(rulesLockKey)) }
		} else {
			if _, err := conn.ExecContext(ctx, `INSERT INTO rule_leases (name, holder, expires_at) VALUES ('rules', 'other', $1)`,
				loopT0.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			// The lease expires a minute later; until then it holds.
			release = func() { c.Set(loopT0.Add(time.Minute)) }
		}
		res, err := s.RulesRun(ctx)
		if err != nil || !res.Skipped || res.Models != 0 {
			t.Fatalf("while held: %+v, %v; want skipped", res, err)
		}
		release()
		res, err = s.RulesRun(ctx)
		if err != nil || res.Skipped || res.Models != 1 {
			t.Fatalf("after release: %+v, %v; want a run", res, err)
		}
	})
}
