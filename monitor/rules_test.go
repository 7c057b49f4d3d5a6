package monitor_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/monitor"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// TestRulesOffByDefault: a drift check of a model whose rules are off
// stores its report and raises nothing.
func TestRulesOffByDefault(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store, mon *monitor.Monitor, c *clock) {
		m := model(t, s, "fraud", "v1")
		driftData(t, s, c, m.ID, m.ID, 0)
		rep, err := mon.DriftCheck(context.Background(), m.ID, driftOpts())
		if err != nil || !rep.DriftDetected {
			t.Fatalf("check: %+v, %v", rep, err)
		}
		if a := openAlerts(t, s); len(a) != 0 {
			t.Errorf("rules off, yet %d alerts", len(a))
		}
		if res, err := mon.RulesRun(context.Background()); err != nil || res.Models != 0 || res.Skipped {
			t.Errorf("rules run with every rule off: %+v, %v", res, err)
		}
	})
}

// TestDriftRuleDedup: the same drifting condition 10 times gives one active
// alert with 10 occurrences and one pending action linked to it.
func TestDriftRuleDedup(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store, mon *monitor.Monitor, c *clock) {
		ctx := context.Background()
		m := model(t, s, "fraud", "v1")
		enableRules(t, s, "fraud", nil)
		driftData(t, s, c, m.ID, m.ID, 0)
		var first, last mlops.DriftReport
		for i := 0; i < 10; i++ {
			c.Set(t0.Add(3*time.Hour + time.Duration(i)*time.Minute))
			rep, err := mon.DriftCheck(ctx, m.ID, driftOpts())
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = rep
			}
			last = rep
		}
		alerts := openAlerts(t, s)
		if len(alerts) != 1 {
			t.Fatalf("%d open alerts, want 1", len(alerts))
		}
		a := alerts[0]
		if a.Status != mlops.AlertActive || a.Occurrences != 10 || a.AlertType != monitor.AlertTypeDrift ||
			a.DedupKey == nil || *a.DedupKey != fmt.Sprintf("drift/%d", m.ID) || a.ModelID == nil || *a.ModelID != m.ID {
			t.Errorf("alert = %+v", a)
		}
		if !a.CreatedAt.Equal(t0.Add(3*time.Hour)) || !a.LastSeenAt.Equal(t0.Add(3*time.Hour+9*time.Minute)) {
			t.Errorf("created %v, last seen %v", a.CreatedAt, a.LastSeenAt)
		}
		var related struct {
			DriftReportID int64 `json:"drift_report_id"`
		}
		_ = json.Unmarshal(a.RelatedData, &related)
		if related.DriftReportID != last.ID {
			t.Errorf("alert points at drift report %d, want the latest %d", related.DriftReportID, last.ID)
		}
		acts := actions(t, s, "")
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
		must[mlops.DriftReport](t)(mon.DriftCheck(ctx, m.ID, driftOpts()))
		if got, _ := s.AlertGet(ctx, a.ID); got.Occurrences != 11 || got.Status != mlops.AlertAcknowledged {
			t.Errorf("after ack: %+v", got)
		}
		if _, err := s.AlertResolve(ctx, a.ID, "ann", "retrained"); err != nil {
			t.Fatal(err)
		}
		must[mlops.DriftReport](t)(mon.DriftCheck(ctx, m.ID, driftOpts()))
		alerts = openAlerts(t, s)
		if len(alerts) != 1 || alerts[0].ID == a.ID || alerts[0].Occurrences != 1 {
			t.Errorf("after resolve: %+v", alerts)
		}
		if n := len(actions(t, s, mlops.ActionPending)); n != 2 {
			t.Errorf("%d pending actions, want 2", n)
		}
	})
}

func TestPerformanceRule(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store, mon *monitor.Monitor, c *clock) {
		ctx := context.Background()
		m := model(t, s, "churn", "v1")
		must[mlops.ModelVersion](t)(s.ModelVersionActivate(ctx, m.ID))
		enableRules(t, s, "churn", func(r *store.RuleSettings) {
			r.DriftEnabled = false
			r.MetricThreshold = ptr(0.8)
			r.MetricMinLabeled = 4
			r.MetricWindowSeconds = 3600
		})
		// Three labeled so far: too few to judge.
		for i, pa := range [][2]int64{{1, 1}, {1, 0}, {0, 1}} {
			c.Set(t0.Add(time.Duration(i+1) * time.Minute))
			predict(t, s, m.ID, pa[0], &pa[1], "")
		}
		res, err := mon.RulesRun(ctx)
		if err != nil || len(res.Outcomes) != 0 || len(res.Notes) != 1 {
			t.Fatalf("with 3 labeled: %+v, %v", res, err)
		}
		c.Set(t0.Add(5 * time.Minute))
		predict(t, s, m.ID, 0, ptr[int64](0), "") // accuracy 2/4 = 0.5
		res, err = mon.RulesRun(ctx)
		if err != nil || len(res.Outcomes) != 1 {
			t.Fatalf("with 4 labeled: %+v, %v", res, err)
		}
		o := res.Outcomes[0]
		if o.Rule != "performance" || !o.NewAlert || o.Alert.AlertType != monitor.AlertTypePerformance ||
			*o.Alert.DedupKey != fmt.Sprintf("performance/accuracy/%d", m.ID) ||
			o.Alert.Severity != mlops.SeverityCritical || o.Action == nil || o.Action.RiskLevel != mlops.RiskCritical {
			t.Errorf("outcome = %+v", o)
		}
		// An hour later the window is empty: nothing new, the alert stays.
		c.Set(t0.Add(2 * time.Hour))
		res, err = mon.RulesRun(ctx)
		if err != nil || len(res.Outcomes) != 0 {
			t.Errorf("empty window: %+v, %v", res, err)
		}
		if a := openAlerts(t, s); len(a) != 1 || a[0].Occurrences != 1 {
			t.Errorf("alerts = %+v", a)
		}
	})
}

// evaluated reports whether a run evaluated model name: it was not skipped.
func evaluated(res monitor.RulesRunResult, name string) bool {
	for _, n := range res.Notes {
		if strings.HasPrefix(n, name+": skipped") {
			return false
		}
	}
	return true
}

// TestRulesRunConcurrent runs the rules from several goroutines of one
// monitor at once: a model another run is evaluating is skipped, with a
// note; every evaluation of the drifting model counts one occurrence on its
// one alert, which has exactly one action.
func TestRulesRunConcurrent(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store, mon *monitor.Monitor, c *clock) {
		ctx := context.Background()
		m := model(t, s, "fraud", "v1")
		must[mlops.ModelVersion](t)(s.ModelVersionActivate(ctx, m.ID))
		enableRules(t, s, "fraud", hourWindows)
		enableRules(t, s, "no-active-version", nil)
		driftData(t, s, c, m.ID, m.ID, 0)
		c.Set(t0.Add(2 * time.Hour)) // current = the second hour, reference = the first

		const runs = 6
		var wg sync.WaitGroup
		results := make([]monitor.RulesRunResult, runs)
		errs := make([]error, runs)
		for i := 0; i < runs; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], errs[i] = mon.RulesRun(ctx)
			}()
		}
		wg.Wait()
		ran := 0
		for i, res := range results {
			if errs[i] != nil {
				t.Fatalf("run %d: %v", i, errs[i])
			}
			// A note on no-active-version (evaluated or skipped), and one on
			// fraud when skipped.
			notes := 1
			if !evaluated(res, "fraud") {
				notes++
			}
			if res.Models != 2 || len(res.Notes) != notes {
				t.Errorf("run %d = %+v, want 2 models and %d notes", i, res, notes)
			}
			if evaluated(res, "fraud") {
				ran++
				if len(res.Outcomes) != 1 || res.Outcomes[0].ModelID != m.ID {
					t.Errorf("run %d evaluated fraud: %+v", i, res)
				}
			} else if len(res.Outcomes) != 0 {
				t.Errorf("run %d skipped fraud, yet %+v", i, res.Outcomes)
			}
		}
		if ran == 0 {
			t.Fatal("every run skipped fraud")
		}
		alerts := openAlerts(t, s)
		if len(alerts) != 1 || alerts[0].Occurrences != int64(ran) {
			t.Fatalf("alerts = %+v, want one with %d occurrences", alerts, ran)
		}
		if n := len(actions(t, s, "")); n != 1 {
			t.Errorf("%d actions, want 1", n)
		}
		// Sequential runs never skip: each releases its leases.
		for i := 0; i < 3; i++ {
			res, err := mon.RulesRun(ctx)
			if err != nil || res.Skipped || !evaluated(res, "fraud") || len(res.Outcomes) != 1 {
				t.Fatalf("sequential run %d: %+v, %v", i, res, err)
			}
		}
		if a := openAlerts(t, s); a[0].Occurrences != int64(ran)+3 {
			t.Errorf("occurrences = %d, want %d", a[0].Occurrences, ran+3)
		}
	})
}

// TestRulesRunConcurrentHolders: six monitors (holders) over two stores on
// one database (two servers) run the rules of three drifting models at
// once. Each model's alert is raised once, with one action; every
// evaluation of a model stored one drift report and counted one occurrence.
func TestRulesRunConcurrentHolders(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			c := storetest.NewClock(t0)
			url := storetest.URL(t, engine)
			stores := []*store.Store{storetest.OpenURL(t, url, store.Options{Now: c.Now}), storetest.OpenURL(t, url, store.Options{Now: c.Now})}
			s := stores[0]
			names := []string{"churn", "fraud", "spam"}
			ids := map[string]int64{}
			for _, name := range names {
				m := model(t, s, name, "v1")
				must[mlops.ModelVersion](t)(s.ModelVersionActivate(ctx, m.ID))
				enableRules(t, s, name, hourWindows)
				driftData(t, s, c, m.ID, m.ID, 0)
				ids[name] = m.ID
			}
			c.Set(t0.Add(2 * time.Hour))

			const runners = 6
			var wg sync.WaitGroup
			results := make([]monitor.RulesRunResult, runners)
			for i := 0; i < runners; i++ {
				mon := monitor.New(stores[i%2], monitor.Options{Holder: fmt.Sprintf("server-%d", i)})
				wg.Add(1)
				go func() {
					defer wg.Done()
					var err error
					if results[i], err = mon.RulesRun(ctx); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			evaluations := map[string]int64{}
			for _, res := range results {
				if res.Models != len(names) {
					t.Errorf("run = %+v", res)
				}
				for _, o := range res.Outcomes {
					evaluations[o.ModelName]++
				}
			}
			alerts := openAlerts(t, s)
			if len(alerts) != len(names) {
				t.Fatalf("%d open alerts, want %d: %+v", len(alerts), len(names), alerts)
			}
			for _, a := range alerts {
				name := strings.SplitN(a.Title, " ", 2)[0]
				if n := evaluations[name]; n == 0 || a.Occurrences != n {
					t.Errorf("%s: alert with %d occurrences, %d evaluations", name, a.Occurrences, n)
				}
				reps, _, err := s.DriftReportList(ctx, store.DriftReportFilter{ModelID: ids[name], Page: store.Page{Limit: -1}})
				if err != nil || int64(len(reps)) != evaluations[name] {
					t.Errorf("%s: %d drift reports, %d evaluations (%v)", name, len(reps), evaluations[name], err)
				}
			}
			if n := len(actions(t, stores[1], "")); n != len(names) {
				t.Errorf("%d actions, want %d", n, len(names))
			}
			for _, name := range names {
				if _, _, err := s.LeaseHolder(ctx, "rules/"+name); !errors.Is(err, mlops.ErrNotFound) {
					t.Errorf("lease of %s still held after the runs: %v", name, err)
				}
			}
		})
	}
}

// TestRulesLeaseExpires: a model whose lease another holder has (a server
// that died mid-run) is skipped until the lease expires, then taken over.
func TestRulesLeaseExpires(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store, mon *monitor.Monitor, c *clock) {
		ctx := context.Background()
		m := model(t, s, "fraud", "v1")
		must[mlops.ModelVersion](t)(s.ModelVersionActivate(ctx, m.ID))
		enableRules(t, s, "fraud", hourWindows)
		driftData(t, s, c, m.ID, m.ID, 0)
		c.Set(t0.Add(2 * time.Hour))
		if ok, err := s.LeaseAcquire(ctx, "rules/fraud", "dead-server", time.Minute); !ok || err != nil {
			t.Fatalf("take the lease: %v, %v", ok, err)
		}
		res, err := mon.RulesRun(ctx)
		if err != nil || !res.Skipped || res.Models != 1 || len(res.Outcomes) != 0 || evaluated(res, "fraud") {
			t.Fatalf("while held: %+v, %v; want fraud skipped", res, err)
		}
		c.Set(t0.Add(2*time.Hour + time.Minute)) // the lease expires
		res, err = mon.RulesRun(ctx)
		if err != nil || res.Skipped || len(res.Outcomes) != 1 || !res.Outcomes[0].NewAlert {
			t.Fatalf("after expiry: %+v, %v; want a run", res, err)
		}
		if _, _, err := s.LeaseHolder(ctx, "rules/fraud"); !errors.Is(err, mlops.ErrNotFound) {
			t.Errorf("lease after the run: %v, want released", err)
		}
	})
}

// TestRulesLeaseRenewed: a run that takes long keeps its lease: while it
// works, the clock passes the lease's first expiry, the holder renews it,
// and another server (another store, another holder) still skips the model.
func TestRulesLeaseRenewed(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			c := storetest.NewClock(t0)
			url := storetest.URL(t, engine)
			s := storetest.OpenURL(t, url, store.Options{Now: c.Now})
			other := monitor.New(storetest.OpenURL(t, url, store.Options{Now: c.Now}), monitor.Options{Holder: "other"})
			m := model(t, s, "fraud", "v1")
			must[mlops.ModelVersion](t)(s.ModelVersionActivate(ctx, m.ID))
			enableRules(t, s, "fraud", hourWindows)
			driftData(t, s, c, m.ID, m.ID, 0)
			start := t0.Add(2 * time.Hour)
			c.Set(start)

			const ttl = 30 * time.Millisecond // renewed every 10 ms of wall time
			mon := monitor.New(s, monitor.Options{Holder: "slow", LeaseTTL: ttl})
			monitor.SetBeforeFile(mon, func(string) {
				later := start.Add(time.Hour) // far past the first expiry
				c.Set(later)
				for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
					h, exp, err := s.LeaseHolder(ctx, "rules/fraud")
					if err == nil && h == "slow" && exp.After(later) {
						break // renewed on the clock's new reading
					}
					if time.Now().After(deadline) {
						t.Errorf("lease not renewed: %q until %v, %v", h, exp, err)
						return
					}
				}
				res, err := other.RulesRun(ctx)
				if err != nil || !res.Skipped || evaluated(res, "fraud") {
					t.Errorf("other server during the run: %+v, %v; want fraud skipped", res, err)
				}
			})
			res, err := mon.RulesRun(ctx)
			if err != nil || res.Skipped || len(res.Outcomes) != 1 || !res.Outcomes[0].NewAlert {
				t.Fatalf("slow run: %+v, %v", res, err)
			}
			if _, _, err := s.LeaseHolder(ctx, "rules/fraud"); !errors.Is(err, mlops.ErrNotFound) {
				t.Errorf("lease after the run: %v, want released", err)
			}
		})
	}
}

// TestRulesLeaseLostBeforeWrite: a holder whose lease expired and passed
// to another holder while it read writes nothing: the writing transaction
// takes the lease first and finds it gone. It does not release the new
// holder's lease either.
func TestRulesLeaseLostBeforeWrite(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store, mon *monitor.Monitor, c *clock) {
		ctx := context.Background()
		m := model(t, s, "fraud", "v1")
		must[mlops.ModelVersion](t)(s.ModelVersionActivate(ctx, m.ID))
		enableRules(t, s, "fraud", hourWindows)
		driftData(t, s, c, m.ID, m.ID, 0)
		c.Set(t0.Add(2 * time.Hour))
		monitor.SetBeforeFile(mon, func(string) {
			c.Set(t0.Add(2*time.Hour + 2*monitor.DefaultLeaseTTL)) // expired; no renewal has run yet
			if ok, err := s.LeaseAcquire(ctx, "rules/fraud", "thief", time.Hour); !ok || err != nil {
				t.Errorf("the other holder could not take the expired lease: %v, %v", ok, err)
			}
		})
		res, err := mon.RulesRun(ctx)
		if err != nil || !res.Skipped || len(res.Outcomes) != 0 || evaluated(res, "fraud") {
			t.Fatalf("run that lost its lease: %+v, %v", res, err)
		}
		if reps, _, _ := s.DriftReportList(ctx, store.DriftReportFilter{Page: store.Page{Limit: -1}}); len(reps) != 0 {
			t.Errorf("%d drift reports written without the lease", len(reps))
		}
		if h, _, err := s.LeaseHolder(ctx, "rules/fraud"); err != nil || h != "thief" {
			t.Errorf("lease holder %q, %v; want thief", h, err)
		}
	})
}

// TestRulesRunWideFeatures: a prediction with 100,000 feature keys in the
// current window does not stop the drift rule: the run stores its report,
// raises the alert and proposes the action.
func TestRulesRunWideFeatures(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store, mon *monitor.Monitor, c *clock) {
		ctx := context.Background()
		m := model(t, s, "fraud", "v1", "x")
		must[mlops.ModelVersion](t)(s.ModelVersionActivate(ctx, m.ID))
		enableRules(t, s, "fraud", func(r *store.RuleSettings) {
			r.MinSamples, r.CurrentWindowSeconds, r.ReferenceWindowSeconds = 30, 3600, 3600
		})
		ordinaryRows(t, s, c, m.ID, t0, 40, 0)
		ordinaryRows(t, s, c, m.ID, t0.Add(time.Hour), 20, 0.5)
		c.Set(t0.Add(time.Hour + 30*time.Minute))
		predict(t, s, m.ID, 0, nil, wideFeatures(100000))
		ordinaryRows(t, s, c, m.ID, t0.Add(time.Hour+31*time.Minute), 20, 0.5)
		c.Set(t0.Add(2 * time.Hour))
		for run := 0; run < 2; run++ {
			res, err := mon.RulesRun(ctx)
			if err != nil || len(res.Notes) != 0 || len(res.Outcomes) != 1 || res.Outcomes[0].Rule != "drift" ||
				res.Outcomes[0].NewAlert != (run == 0) {
				t.Fatalf("run %d: %+v, %v", run, res, err)
			}
			rep, err := s.DriftReportGet(ctx, *res.Outcomes[0].DriftReportID)
			if err != nil || !rep.DriftDetected || len(rep.Details) > 1<<20/2 {
				t.Fatalf("report: %d bytes of details, %v", len(rep.Details), err)
			}
		}
		if n := len(actions(t, s, mlops.ActionPending)); n != 1 {
			t.Errorf("%d pending actions, want 1", n)
		}
	})
}
