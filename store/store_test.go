package store_test

import (
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// TestConflicts checks the unique constraints: (model_name, version) and
// action_id.
func TestConflicts(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		mustModel(t, s, "churn", "v1")
		_, err := s.ModelVersionCreate(t.Context(), newModel("churn", "v1"))
		wantIs(t, err, mlops.ErrConflict)
		mustModel(t, s, "fraud", "v1") // same version, other model: fine
		mustAction(t, s, "act-1")
		_, err = s.ActionCreate(t.Context(), newAction("act-1"))
		wantIs(t, err, mlops.ErrConflict)
		if n := count(t, s, "model_versions"); n != 2 {
			t.Fatalf("model_versions = %d, want 2", n)
		}
		if n := count(t, s, "agent_actions"); n != 1 {
			t.Fatalf("agent_actions = %d, want 1", n)
		}
	})
}

// TestNotFound checks that every lookup of a missing record is ErrNotFound.
func TestNotFound(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		calls := map[string]func() error{
			"ModelVersionGet":      func() error { _, err := s.ModelVersionGet(ctx, 999); return err },
			"ModelVersionActive":   func() error { _, err := s.ModelVersionActive(ctx, "churn"); return err },
			"ModelVersionActive*":  func() error { _, err := s.ModelVersionActive(ctx, ""); return err },
			"ModelVersionActivate": func() error { _, err := s.ModelVersionActivate(ctx, 999); return err },
			"PredictionGet":        func() error { _, err := s.PredictionGet(ctx, 999); return err },
			"PredictionSetActual":  func() error { _, err := s.PredictionSetActual(ctx, 999, 1); return err },
			"DriftReportGet":       func() error { _, err := s.DriftReportGet(ctx, 999); return err },
			"DriftReportLatest":    func() error { _, err := s.DriftReportLatest(ctx, 999); return err },
			"DriftReportLatest*":   func() error { _, err := s.DriftReportLatest(ctx, 0); return err },
			"ActionGet":            func() error { _, err := s.ActionGet(ctx, "nope"); return err },
			"ActionApprove":        func() error { _, err := s.ActionApprove(ctx, "nope", "alice", ""); return err },
			"ActionReject":         func() error { _, err := s.ActionReject(ctx, "nope", "alice", ""); return err },
			"ActionMarkExecuted":   func() error { _, err := s.ActionMarkExecuted(ctx, "nope", nil); return err },
			"ActionMarkFailed":     func() error { _, err := s.ActionMarkFailed(ctx, "nope", nil); return err },
			"MetricGet":            func() error { _, err := s.MetricGet(ctx, 999); return err },
			"AlertGet":             func() error { _, err := s.AlertGet(ctx, 999); return err },
			"AlertAcknowledge":     func() error { _, err := s.AlertAcknowledge(ctx, 999, "bob"); return err },
			"AlertResolve":         func() error { _, err := s.AlertResolve(ctx, 999, "bob", ""); return err },
		}
		// A model that exists but has no active version and no drift report.
		mustModel(t, s, "churn", "v1")
		for name, call := range calls {
			err := call()
			if !errors.Is(err, mlops.ErrNotFound) {
				t.Errorf("%s: error = %v, want ErrNotFound", name, err)
			}
			if errors.Is(err, mlops.ErrConflict) {
				t.Errorf("%s: ErrNotFound must not also match ErrConflict", name)
			}
		}
	})
}

// TestInTx checks the transaction helper (the seed's get_session()): commit
// when fn returns nil, roll back when it returns an error or panics, and
// writes visible inside the transaction before the commit.
func TestInTx(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		var id int64
		err := s.InTx(ctx, func(tx *store.Store) error {
			m, err := tx.ModelVersionCreate(ctx, newModel("churn", "v1"))
			if err != nil {
				return err
			}
			id = m.ID
			if _, err := tx.ModelVersionActivate(ctx, m.ID); err != nil { // nested InTx joins
				return err
			}
			if _, err := tx.PredictionCreate(ctx, mlops.NewPrediction{ModelID: m.ID, Prediction: 1}); err != nil {
				return err
			}
			got, err := tx.ModelVersionGet(ctx, m.ID) // reads see the transaction's writes
			if err != nil || !got.IsActive {
				t.Errorf("inside the transaction: %+v, %v", got, err)
			}
			return nil
		})
		must(t, err)
		if m, err := s.ModelVersionGet(ctx, id); err != nil || !m.IsActive {
			t.Fatalf("after commit: %+v, %v", m, err)
		}
		if n := count(t, s, "predictions"); n != 1 {
			t.Fatalf("predictions after commit = %d, want 1", n)
		}

		// An error rolls everything back, and InTx returns that error.
		boom := errors.New("boom")
		err = s.InTx(ctx, func(tx *store.Store) error {
			m, err := tx.ModelVersionCreate(ctx, newModel("churn", "v2"))
			if err != nil {
				return err
			}
			if _, err := tx.ModelVersionActivate(ctx, m.ID); err != nil {
				return err
			}
			mustAction(t, tx, "act-rolled-back")
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx error = %v, want the callback's error", err)
		}
		want := map[string]int64{"model_versions": 1, "predictions": 1, "drift_reports": 0, "agent_actions": 0,
			"performance_metrics": 0, "alerts": 0}
		if got := counts(t, s); !equalCounts(got, want) {
			t.Fatalf("after rollback: %v, want %v", got, want)
		}
		if m, err := s.ModelVersionActive(ctx, "churn"); err != nil || m.ID != id {
			t.Fatalf("the rolled-back activation is visible: active %+v, %v", m, err)
		}

		// A panic rolls back too and is re-raised.
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("InTx swallowed the panic")
				}
			}()
			_ = s.InTx(ctx, func(tx *store.Store) error {
				mustAlert(t, tx, "rolled back by panic")
				panic("boom")
			})
		}()
		if n := count(t, s, "alerts"); n != 0 {
			t.Fatalf("alerts after panic = %d, want 0", n)
		}
		// The store still works after a rollback (the connection was returned).
		mustAlert(t, s, "after")
	})
}

func equalCounts(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// recordTB records Fatalf and Skipf instead of stopping the test.
type recordTB struct {
	testing.TB
	fatal, skip string
}

func (r *recordTB) Fatalf(format string, args ...any) { r.fatal = fmt.Sprintf(format, args...) }
func (r *recordTB) Skipf(format string, args ...any)  { r.skip = fmt.Sprintf(format, args...) }

// TestPostgresHalfInCI checks the rule of the suite: without
// MLOPS_TEST_DATABASE_URL the PostgreSQL half skips locally but fails
// under CI=true.
func TestPostgresHalfInCI(t *testing.T) {
	t.Setenv(storetest.EnvURL, "")
	t.Setenv("CI", "")
	local := &recordTB{TB: t}
	storetest.PostgresURL(local)
	if local.fatal != "" || local.skip == "" {
		t.Fatalf("locally: fatal %q skip %q, want a skip", local.fatal, local.skip)
	}
	t.Setenv("CI", "true")
	ci := &recordTB{TB: t}
	storetest.PostgresURL(ci)
	if ci.fatal == "" || !strings.Contains(ci.fatal, storetest.EnvURL) {
		t.Fatalf("under CI=true: fatal %q, want a failure naming %s", ci.fatal, storetest.EnvURL)
	}
	t.Setenv(storetest.EnvURL, "postgres://u@localhost/db")
	set := &recordTB{TB: t}
	if got := storetest.PostgresURL(set); got != "postgres://u@localhost/db" || set.fatal != "" || set.skip != "" {
		t.Fatalf("with the variable set: %q, fatal %q, skip %q", got, set.fatal, set.skip)
	}
}

// TestTimesUTCMicroseconds checks that both engines store the clock's
// reading in UTC, truncated to microseconds, and give back the same instant.
func TestTimesUTCMicroseconds(t *testing.T) {
	t.Parallel()
	eachClock(t, func(t *testing.T, s *store.Store, c *clock) {
		at := time.Date(2026, 3, 1, 13, 0, 0, 123456789, time.FixedZone("CET", 3600))
		want := time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)
		c.Set(at)
		m := mustModel(t, s, "churn", "v1")
		act, err := s.ModelVersionActivate(t.Context(), m.ID)
		must(t, err)
		got, err := s.ModelVersionGet(t.Context(), m.ID)
		must(t, err)
		for name, v := range map[string]time.Time{"created": m.CreatedAt, "activated": *act.ActivatedAt,
			"stored created": got.CreatedAt, "stored activated": *got.ActivatedAt} {
			if !v.Equal(want) || v.Location() != time.UTC {
				t.Errorf("%s_at = %v, want %v in UTC", name, v, want)
			}
		}
	})
}

// TestEcho checks DATABASE_ECHO: each statement is logged with its
// duration, and argument values never are.
func TestEcho(t *testing.T) {
	t.Parallel()
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			var buf storetest.LogBuffer
			s := storetest.Open(t, engine, store.Options{Echo: true, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
			_, err := s.ModelVersionCreate(t.Context(), newModel("s3cr3t-model-name", "v-hidden"))
			must(t, err)
			_, _, err = s.ModelVersionList(t.Context(), store.ModelVersionFilter{ModelName: "s3cr3t-model-name"})
			must(t, err)
			out := buf.String()
			if !strings.Contains(out, "INSERT INTO model_versions") || !strings.Contains(out, "FROM model_versions") ||
				!strings.Contains(out, "duration=") {
				t.Fatalf("echo output lacks the statements or durations:\n%s", out)
			}
			if strings.Contains(out, "s3cr3t") || strings.Contains(out, "v-hidden") {
				t.Fatalf("echo output contains argument values:\n%s", out)
			}
		})
	}
}

// TestPrune checks retention: rows created before the cutoff are deleted in
// batches with progress after each, newer rows are kept, totals are right;
// only resolved alerts and only decided (rejected, executed, failed)
// actions are pruned.
func TestPrune(t *testing.T) {
	t.Parallel()
	eachClock(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := t.Context()
		old, cutoff := base.Add(-10*24*time.Hour), base.Add(-24*time.Hour)
		c.Set(old)
		m := mustModel(t, s, "churn", "v1")
		preds := func(n int) []int64 {
			in := make([]mlops.NewPrediction, n)
			for i := range in {
				in[i] = mlops.NewPrediction{ModelID: m.ID, Prediction: 1}
			}
			ids, err := s.PredictionCreateBatch(ctx, in)
			must(t, err)
			return ids
		}
		preds(23)
		for i := 0; i < 10; i++ {
			mustMetric(t, s, "accuracy", 0.5, &m.ID)
		}
		for i := 0; i < 3; i++ {
			mustDrift(t, s, m.ID)
		}
		// Alerts and actions in every state, created long ago.
		oldActive := mustAlert(t, s, "old active")
		oldAck := mustAlert(t, s, "old acknowledged")
		_, err := s.AlertAcknowledge(ctx, oldAck.ID, "ops")
		must(t, err)
		for i := 0; i < 3; i++ {
			a := mustAlert(t, s, "old resolved")
			_, err := s.AlertResolve(ctx, a.ID, "ops", "")
			must(t, err)
		}
		for _, st := range mlops.ActionStatuses {
			id := "old-" + string(st)
			if st == mlops.ActionExpired {
				expireAction(t, s, c, id)
				continue
			}
			mustAction(t, s, id)
			switch st {
			case mlops.ActionApproved, mlops.ActionExecuted, mlops.ActionFailed:
				_, err = s.ActionApprove(ctx, id, "alice", "")
				must(t, err)
				if st == mlops.ActionExecuted {
					_, err = s.ActionMarkExecuted(ctx, id, nil)
				}
				if st == mlops.ActionFailed {
					_, err = s.ActionMarkFailed(ctx, id, nil)
				}
			case mlops.ActionRejected:
				_, err = s.ActionReject(ctx, id, "alice", "")
			}
			must(t, err)
		}
		// Rows exactly at the cutoff are kept (created_at < cutoff).
		c.Set(cutoff)
		keepPreds := preds(2)
		c.Set(base)
		keepPreds = append(keepPreds, preds(3)...)
		for i := 0; i < 3; i++ {
			mustMetric(t, s, "accuracy", 0.9, &m.ID)
		}
		keepDrift := []int64{mustDrift(t, s, m.ID).ID, mustDrift(t, s, m.ID).ID}
		newResolved := mustAlert(t, s, "new resolved")
		_, err = s.AlertResolve(ctx, newResolved.ID, "ops", "")
		must(t, err)
		mustAction(t, s, "new-rejected")
		_, err = s.ActionReject(ctx, "new-rejected", "bob", "")
		must(t, err)

		for _, tc := range []struct {
			what     string
			batch    int
			total    int64
			progress []int64
		}{
			{"predictions", 5, 23, []int64{5, 10, 15, 20, 23}},
			{"metrics", 5, 10, []int64{5, 10}},  // the last, empty batch reports nothing
			{"drift_reports", 0, 3, []int64{3}}, // 0: the default batch size
			{"alerts", 2, 3, []int64{2, 3}},
			{"actions", 100, 4, []int64{4}}, // rejected, executed, failed, expired
		} {
			var got []int64
			total, err := s.Prune(ctx, tc.what, cutoff, tc.batch, func(n int64) { got = append(got, n) })
			must(t, err)
			if total != tc.total || !slices.Equal(got, tc.progress) {
				t.Errorf("prune %s: total %d progress %v, want %d and %v", tc.what, total, got, tc.total, tc.progress)
			}
			again, err := s.Prune(ctx, tc.what, cutoff, tc.batch, nil)
			if err != nil || again != 0 {
				t.Errorf("prune %s again: %d, %v; want 0", tc.what, again, err)
			}
		}

		left, _, err := s.PredictionList(ctx, store.PredictionFilter{ModelID: m.ID, Page: store.Page{Limit: -1}})
		must(t, err)
		if got := predIDs(left); !sameSet(got, keepPreds) {
			t.Errorf("predictions left %v, want %v", got, keepPreds)
		}
		pts, err := s.MetricSeries(ctx, store.MetricFilter{Name: "accuracy"})
		must(t, err)
		if len(pts) != 3 || pts[0].Value != 0.9 {
			t.Errorf("metrics left: %+v, want the 3 new points", pts)
		}
		drifts, _, err := s.DriftReportList(ctx, store.DriftReportFilter{})
		must(t, err)
		if len(drifts) != 2 || !sameSet([]int64{drifts[0].ID, drifts[1].ID}, keepDrift) {
			t.Errorf("drift reports left: %d, want %v", len(drifts), keepDrift)
		}
		alerts, _, err := s.AlertList(ctx, store.AlertFilter{})
		must(t, err)
		if got := alertIDs(alerts); !sameSet(got, []int64{oldActive.ID, oldAck.ID, newResolved.ID}) {
			t.Errorf("alerts left %v, want old active %d, old acknowledged %d, new resolved %d", got, oldActive.ID, oldAck.ID, newResolved.ID)
		}
		actions, _, err := s.ActionList(ctx, store.ActionFilter{})
		must(t, err)
		if got := actionIDs(actions); !reflect.DeepEqual(got, []string{"new-rejected", "old-approved", "old-pending"}) {
			t.Errorf("actions left %v, want the new one and the old undecided ones", got)
		}
		if n := count(t, s, "model_versions"); n != 1 {
			t.Errorf("prune touched model versions: %d left", n)
		}

		before := counts(t, s)
		if _, err := s.Prune(ctx, "model_versions", base, 10, nil); err == nil {
			t.Errorf("pruning an unknown kind succeeded")
		}
		if after := counts(t, s); !reflect.DeepEqual(before, after) {
			t.Errorf("refused prune changed rows: %v → %v", before, after)
		}
		for _, what := range store.PruneOrder {
			if _, ok := store.PruneTables[what]; !ok {
				t.Errorf("PruneOrder names %q, which PruneTables lacks", what)
			}
		}
		if len(store.PruneOrder) != len(store.PruneTables) {
			t.Errorf("PruneOrder has %d kinds, PruneTables %d", len(store.PruneOrder), len(store.PruneTables))
		}
	})
}

func predIDs(items []mlops.Prediction) []int64 {
	out := []int64{}
	for _, p := range items {
		out = append(out, p.ID)
	}
	return out
}

func sameSet(a, b []int64) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
