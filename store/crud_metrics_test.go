package store_test

import (
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
)

// TestMetricSeries checks create/get and get_metrics_timeseries: oldest
// first, the days window (Since), Until, and the optional model filter.
func TestMetricSeries(t *testing.T) {
	t.Parallel()
	eachClock(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := t.Context()
		m1 := mustModel(t, s, "churn", "v1")
		m2 := mustModel(t, s, "churn", "v2")
		day := 24 * time.Hour
		at := func(d time.Duration, name string, v float64, model *int64) {
			t.Helper()
			c.Set(base.Add(d))
			mustMetric(t, s, name, v, model)
		}
		at(-10*day, "accuracy", 0.5, &m1.ID)
		at(-3*day, "accuracy", 0.6, &m1.ID)
		at(-2*day, "accuracy", 0.1, &m2.ID)
		at(-1*day, "accuracy", 0.2, nil)
		at(-time.Hour, "accuracy", 0.7, &m1.ID)
		at(0, "latency_ms", 5, &m1.ID)
		c.Set(base)
		meta, err := s.MetricCreate(ctx, mlops.NewPerformanceMetric{MetricName: "accuracy", MetricValue: 0.8, ModelID: &m1.ID,
			Metadata: mlops.JSON(`{"window": "1h"}`)})
		must(t, err)
		got, err := s.MetricGet(ctx, meta.ID)
		must(t, err)
		if got.MetricName != "accuracy" || got.MetricValue != 0.8 || *got.ModelID != m1.ID || !got.CreatedAt.Equal(base) ||
			normJSON(t, got.Metadata)["window"] != "1h" {
			t.Fatalf("round trip: %+v", got)
		}
		if plain := mustMetric(t, s, "cpu", 1, nil); plain.ModelID != nil || len(normJSON(t, plain.Metadata)) != 0 {
			t.Fatalf("metric without model: %+v", plain)
		}

		series := func(f store.MetricFilter) []float64 {
			t.Helper()
			pts, err := s.MetricSeries(ctx, f)
			must(t, err)
			out := []float64{}
			for i, p := range pts {
				if i > 0 && p.CreatedAt.Before(pts[i-1].CreatedAt) {
					t.Fatalf("series not oldest first at %d", i)
				}
				out = append(out, p.Value)
			}
			return out
		}
		days := func(n int) time.Time { return s.Now().Add(-time.Duration(n) * day) }
		for _, tc := range []struct {
			name string
			f    store.MetricFilter
			want []float64
		}{
			{"all", store.MetricFilter{Name: "accuracy"}, []float64{0.5, 0.6, 0.1, 0.2, 0.7, 0.8}},
			{"7 days", store.MetricFilter{Name: "accuracy", Since: days(7)}, []float64{0.6, 0.1, 0.2, 0.7, 0.8}},
			{"1 day (inclusive)", store.MetricFilter{Name: "accuracy", Since: days(1)}, []float64{0.2, 0.7, 0.8}},
			{"model 1, 7 days", store.MetricFilter{Name: "accuracy", Since: days(7), ModelID: &m1.ID}, []float64{0.6, 0.7, 0.8}},
			{"model 2", store.MetricFilter{Name: "accuracy", ModelID: &m2.ID}, []float64{0.1}},
			{"until (exclusive)", store.MetricFilter{Name: "accuracy", Since: days(7), Until: base}, []float64{0.6, 0.1, 0.2, 0.7}},
			{"other name", store.MetricFilter{Name: "latency_ms"}, []float64{5}},
			{"unknown name", store.MetricFilter{Name: "nope"}, []float64{}},
		} {
			if got := series(tc.f); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
			}
		}
		pts, err := s.MetricSeries(ctx, store.MetricFilter{Name: "accuracy", ModelID: &m1.ID})
		must(t, err)
		if !pts[0].CreatedAt.Equal(base.Add(-10 * day)) {
			t.Errorf("first point at %v, want %v", pts[0].CreatedAt, base.Add(-10*day))
		}

		// MetricSeriesEach stops at the callback's error and returns it.
		stop := errors.New("stop")
		calls := 0
		err = s.MetricSeriesEach(ctx, store.MetricFilter{Name: "accuracy"}, func(store.MetricPoint) error {
			calls++
			if calls == 2 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || calls != 2 {
			t.Fatalf("MetricSeriesEach: %v after %d calls, want stop after 2", err, calls)
		}
		_, err = s.MetricSeries(ctx, store.MetricFilter{})
		wantInvalid(t, err, "metric_name")
	})
}

// TestMetricBuckets checks count/avg/min/max per 1m, 5m, 1h and 1d bucket
// against hand-computed values, including points on and just before
// bucket edges, and the model filter.
func TestMetricBuckets(t *testing.T) {
	t.Parallel()
	eachClock(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := t.Context()
		m1 := mustModel(t, s, "churn", "v1")
		m2 := mustModel(t, s, "churn", "v2")
		us := time.Microsecond
		points := []struct {
			at time.Duration // from base, 2026-03-01 00:00:00 UTC
			v  float64
		}{
			{-us, -1},             // 2026-02-28 23:59:59.999999
			{0, 1},                // 00:00:00
			{time.Minute - us, 3}, // 00:00:59.999999
			{time.Minute, 2},      // 00:01:00
			{5*time.Minute - 500*time.Millisecond, 5}, // 00:04:59.5
			{5 * time.Minute, 7},                      // 00:05:00
			{time.Hour - us, 4},                       // 00:59:59.999999
			{time.Hour, 10},                           // 01:00:00
			{24*time.Hour - time.Second, 6},           // 23:59:59
			{24 * time.Hour, 20},                      // 2026-03-02 00:00:00
		}
		for _, p := range points {
			c.Set(base.Add(p.at))
			mustMetric(t, s, "latency_ms", p.v, &m1.ID)
		}
		c.Set(base.Add(30 * time.Second))
		mustMetric(t, s, "latency_ms", 100, &m2.ID) // another model, in the 00:00 minute
		mustMetric(t, s, "other", 1000, &m1.ID)     // another metric

		type b struct {
			start         time.Time
			n             int64
			avg, min, max float64
		}
		at := func(s string) time.Time {
			t.Helper()
			v, err := time.Parse("2006-01-02 15:04", s)
			must(t, err)
			return v
		}
		cases := []struct {
			bucket store.Bucket
			model  *int64
			want   []b
		}{
			{"1m", &m1.ID, []b{
				{at("2026-02-28 23:59"), 1, -1, -1, -1},
				{at("2026-03-01 00:00"), 2, 2, 1, 3},
				{at("2026-03-01 00:01"), 1, 2, 2, 2},
				{at("2026-03-01 00:04"), 1, 5, 5, 5},
				{at("2026-03-01 00:05"), 1, 7, 7, 7},
				{at("2026-03-01 00:59"), 1, 4, 4, 4},
				{at("2026-03-01 01:00"), 1, 10, 10, 10},
				{at("2026-03-01 23:59"), 1, 6, 6, 6},
				{at("2026-03-02 00:00"), 1, 20, 20, 20},
			}},
			{"5m", &m1.ID, []b{
				{at("2026-02-28 23:55"), 1, -1, -1, -1},
				{at("2026-03-01 00:00"), 4, 2.75, 1, 5},
				{at("2026-03-01 00:05"), 1, 7, 7, 7},
				{at("2026-03-01 00:55"), 1, 4, 4, 4},
				{at("2026-03-01 01:00"), 1, 10, 10, 10},
				{at("2026-03-01 23:55"), 1, 6, 6, 6},
				{at("2026-03-02 00:00"), 1, 20, 20, 20},
			}},
			{"1h", &m1.ID, []b{
				{at("2026-02-28 23:00"), 1, -1, -1, -1},
				{at("2026-03-01 00:00"), 6, 22.0 / 6, 1, 7},
				{at("2026-03-01 01:00"), 1, 10, 10, 10},
				{at("2026-03-01 23:00"), 1, 6, 6, 6},
				{at("2026-03-02 00:00"), 1, 20, 20, 20},
			}},
			{"1d", &m1.ID, []b{
				{at("2026-02-28 00:00"), 1, -1, -1, -1},
				{at("2026-03-01 00:00"), 8, 38.0 / 8, 1, 10},
				{at("2026-03-02 00:00"), 1, 20, 20, 20},
			}},
			{"1d", nil, []b{ // every model: the 100 of model 2 joins 2026-03-01
				{at("2026-02-28 00:00"), 1, -1, -1, -1},
				{at("2026-03-01 00:00"), 9, 138.0 / 9, 1, 100},
				{at("2026-03-02 00:00"), 1, 20, 20, 20},
			}},
			{"1m", &m2.ID, []b{{at("2026-03-01 00:00"), 1, 100, 100, 100}}},
		}
		for _, tc := range cases {
			got, err := s.MetricBuckets(ctx, store.MetricFilter{Name: "latency_ms", ModelID: tc.model}, tc.bucket)
			must(t, err)
			if len(got) != len(tc.want) {
				t.Errorf("%s (model %v): %d buckets %+v, want %d", tc.bucket, tc.model != nil, len(got), got, len(tc.want))
				continue
			}
			for i, w := range tc.want {
				g := got[i]
				if !g.BucketStart.Equal(w.start) || g.Count != w.n || math.Abs(g.Avg-w.avg) > 1e-9 || g.Min != w.min || g.Max != w.max {
					t.Errorf("%s bucket %d = {%v n=%d avg=%v min=%v max=%v}, want {%v n=%d avg=%v min=%v max=%v}",
						tc.bucket, i, g.BucketStart, g.Count, g.Avg, g.Min, g.Max, w.start, w.n, w.avg, w.min, w.max)
				}
			}
		}
		// The window applies before bucketing.
		got, err := s.MetricBuckets(ctx, store.MetricFilter{Name: "latency_ms", ModelID: &m1.ID,
			Since: base.Add(time.Minute), Until: base.Add(time.Hour)}, "1h")
		must(t, err)
		if len(got) != 1 || got[0].Count != 4 || got[0].Min != 2 || got[0].Max != 7 {
			t.Errorf("windowed 1h buckets: %+v, want one bucket of 2, 5, 7, 4", got)
		}
		_, err = s.MetricBuckets(ctx, store.MetricFilter{Name: "latency_ms"}, "2m")
		wantInvalid(t, err, "bucket")
	})
}
