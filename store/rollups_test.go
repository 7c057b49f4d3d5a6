package store_test

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// rollupPoint is a point as the test wrote it.
type rollupPoint struct {
	name  string
	model *int64
	at    time.Time
	v     float64
}

// wantBuckets aggregates points as MetricBuckets should, from the points
// themselves.
func wantBuckets(points []rollupPoint, f store.MetricFilter, width time.Duration) map[int64]store.MetricBucket {
	out := map[int64]store.MetricBucket{}
	sums := map[int64]float64{}
	for _, p := range points {
		if p.name != f.Name || f.ModelID != nil && (p.model == nil || *p.model != *f.ModelID) ||
			!f.Since.IsZero() && p.at.Before(f.Since) || !f.Until.IsZero() && !p.at.Before(f.Until) {
			continue
		}
		start := p.at.Truncate(width).Unix()
		b, ok := out[start]
		if !ok {
			b = store.MetricBucket{BucketStart: time.Unix(start, 0).UTC(), Min: p.v, Max: p.v}
		}
		b.Count++
		b.Min, b.Max = min(b.Min, p.v), max(b.Max, p.v)
		sums[start] += p.v
		out[start] = b
	}
	for k, b := range out {
		b.Avg = sums[k] / float64(b.Count)
		out[k] = b
	}
	return out
}

// checkBuckets compares MetricBuckets with the points for f at every width.
func checkBuckets(t *testing.T, s *store.Store, points []rollupPoint, f store.MetricFilter, what string) {
	t.Helper()
	for b, width := range store.Buckets {
		got, err := s.MetricBuckets(context.Background(), f, b)
		must(t, err)
		want := wantBuckets(points, f, width)
		if len(got) != len(want) {
			t.Fatalf("%s, %s buckets: %d, want %d", what, b, len(got), len(want))
		}
		for _, g := range got {
			w := want[g.BucketStart.Unix()]
			if g.Count != w.Count || g.Min != w.Min || g.Max != w.Max || math.Abs(g.Avg-w.Avg) > 1e-9*math.Max(1, math.Abs(w.Avg)) {
				t.Fatalf("%s, %s bucket %s: %+v, want %+v", what, b, g.BucketStart, g, w)
			}
		}
	}
}

// TestMetricRollups: bucketed series answered from the per-minute rollups
// equal the aggregates of the points themselves, for single points and
// batches, history, every model filter, and ranges that cut minutes; the
// rollups of points written before the migration are filled by it.
func TestMetricRollups(t *testing.T) {
	t.Parallel()
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			t.Parallel()
			t0 := time.Date(2026, 11, 20, 10, 0, 30, 500_000_000, time.UTC)
			clk := storetest.NewClock(t0)
			s := storetest.Open(t, engine, store.Options{Now: clk.Now})
			ctx := context.Background()
			m1 := mustModel(t, s, "churn", "v1").ID
			m2 := mustModel(t, s, "churn", "v2").ID
			var points []rollupPoint
			models := []*int64{nil, &m1, &m2}
			// Single points at the clock's time, over three hours.
			for i := range 60 {
				clk.Set(t0.Add(time.Duration(i*173) * time.Second))
				p := rollupPoint{name: "latency", model: models[i%3], at: clk.Now(), v: float64(i%17) - 3.5}
				got, err := s.MetricCreate(ctx, mlops.NewPerformanceMetric{MetricName: p.name, MetricValue: p.v, ModelID: p.model})
				must(t, err)
				p.at = got.CreatedAt
				points = append(points, p)
			}
			// A batch of history, with two metrics, several per minute.
			batch := make([]mlops.NewPerformanceMetric, 500)
			for i := range batch {
				at := t0.Add(-2*time.Hour + time.Duration(i*29)*time.Second + 250*time.Millisecond)
				name := []string{"latency", "accuracy"}[i%2]
				batch[i] = mlops.NewPerformanceMetric{MetricName: name, MetricValue: float64(i%11) * 1.25, ModelID: models[i%3], CreatedAt: &at}
				points = append(points, rollupPoint{name: name, model: models[i%3], at: at, v: batch[i].MetricValue})
			}
			_, err := s.MetricCreateBatch(ctx, batch)
			must(t, err)

			filters := map[string]store.MetricFilter{
				"everything":          {Name: "latency"},
				"one model":           {Name: "latency", ModelID: &m1},
				"cut minutes":         {Name: "latency", Since: t0.Add(-97*time.Minute - 13*time.Second), Until: t0.Add(71*time.Minute + 42*time.Second)},
				"within one minute":   {Name: "accuracy", Since: t0.Add(-2*time.Hour + 10*time.Second), Until: t0.Add(-2*time.Hour + 50*time.Second)},
				"since only":          {Name: "accuracy", Since: t0.Add(-time.Hour - 500*time.Millisecond), ModelID: &m2},
				"until on the minute": {Name: "latency", Until: t0.Truncate(time.Minute).Add(time.Hour)},
				"cut hours":           {Name: "latency", Since: t0.Add(-117*time.Minute - 13*time.Second), Until: t0.Add(2*time.Hour + 31*time.Minute + 7*time.Second)},
				"hour to hour":        {Name: "accuracy", Since: t0.Truncate(time.Hour).Add(-2 * time.Hour), Until: t0.Truncate(time.Hour).Add(time.Hour)},
				"a second into":       {Name: "latency", Since: t0.Truncate(time.Hour).Add(-time.Hour + 500*time.Millisecond), Until: t0.Truncate(time.Hour).Add(2*time.Hour + time.Second)},
				"since an hour":       {Name: "latency", Since: t0.Truncate(time.Hour).Add(-time.Hour), ModelID: &m1},
			}
			for what, f := range filters {
				checkBuckets(t, s, points, f, what)
			}
			var rows int
			must(t, s.DB().QueryRow(`SELECT count(*) FROM metric_rollups`).Scan(&rows))
			if rows == 0 || rows >= len(points) {
				t.Fatalf("%d rollup rows for %d points", rows, len(points))
			}

			// The migration fills the rollups of points already stored.
			m, err := s.Migrator()
			must(t, err)
			latest := m.Latest()
			_, err = m.Down(ctx, 5)
			must(t, err)
			_, err = m.Up(ctx, latest)
			must(t, err)
			for what, f := range filters {
				checkBuckets(t, s, points, f, what+", after the migration again")
			}
		})
	}
}

// TestMetricRollupsConcurrent: many writers of the same metric and minute
// (single points and batches, their rollup rows in any order) lose no
// count and never deadlock.
func TestMetricRollupsConcurrent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		m := mustModel(t, s, "churn", "v1").ID
		at := time.Now().UTC().Add(-time.Minute)
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 20 {
					if _, err := s.MetricCreate(ctx, mlops.NewPerformanceMetric{MetricName: "x", MetricValue: 1, ModelID: &m}); err != nil {
						errs <- err
						return
					}
					// A batch touching two metrics in an order that
					// differs between writers.
					names := []string{"x", "y"}
					if (w+i)%2 == 1 {
						names = []string{"y", "x"}
					}
					b := []mlops.NewPerformanceMetric{{MetricName: names[0], MetricValue: 2, CreatedAt: &at}, {MetricName: names[1], MetricValue: 2, CreatedAt: &at}}
					if _, err := s.MetricCreateBatch(ctx, b); err != nil {
						errs <- fmt.Errorf("batch: %w", err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for name, want := range map[string]int64{"x": 8 * 20 * 2, "y": 8 * 20} {
			got, err := s.MetricBuckets(ctx, store.MetricFilter{Name: name}, "1d")
			must(t, err)
			var n int64
			for _, b := range got {
				n += b.Count
			}
			if n != want {
				t.Fatalf("metric %s: %d points in the buckets, want %d", name, n, want)
			}
		}
	})
}

// TestMetricRollupsPrune: pruning metric points in small batches keeps the
// rollups equal to the points left, including the minute the cutoff cuts.
func TestMetricRollupsPrune(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Minute)
		var points []rollupPoint
		batch := make([]mlops.NewPerformanceMetric, 300)
		for i := range batch {
			// Written out of time order, so ids do not follow time.
			at := t0.Add(time.Duration((i*7919)%300) * 17 * time.Second)
			name := []string{"latency", "accuracy"}[i%2]
			batch[i] = mlops.NewPerformanceMetric{MetricName: name, MetricValue: float64(i % 13), CreatedAt: &at}
			points = append(points, rollupPoint{name: name, at: at, v: batch[i].MetricValue})
		}
		_, err := s.MetricCreateBatch(ctx, batch)
		must(t, err)
		cutoff := t0.Add(41*time.Minute + 29*time.Second)
		n, err := s.Prune(ctx, "metrics", cutoff, 7, nil)
		must(t, err)
		var left []rollupPoint
		for _, p := range points {
			if !p.at.Before(cutoff) {
				left = append(left, p)
			}
		}
		if int(n) != len(points)-len(left) {
			t.Fatalf("pruned %d points, want %d", n, len(points)-len(left))
		}
		for _, name := range []string{"latency", "accuracy"} {
			checkBuckets(t, s, left, store.MetricFilter{Name: name}, "after prune, "+name)
		}
	})
}
