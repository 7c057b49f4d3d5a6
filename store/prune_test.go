package store_test

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
)

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
