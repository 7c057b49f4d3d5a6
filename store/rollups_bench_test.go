package store_test

import (
	"context"
	"database/sql"
	"slices"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// BenchmarkMetricBuckets1M reads the 1 h buckets of 1,000,000 metric points
// spread over 30 days (one metric, five model versions), from the rollups
// (MetricBuckets: hourly rows and the minutes at the edges) and, as the
// same-run baselines, from the minute rollups alone (how the series read
// before the hourly level) and with the query that aggregated the points
// themselves. p50-ms is the median of the runs.
//
//	go test -run '^$' -bench MetricBuckets1M -benchtime 20x ./store/
func BenchmarkMetricBuckets1M(b *testing.B) {
	for _, engine := range storetest.Engines {
		b.Run(string(engine), func(b *testing.B) {
			ctx := context.Background()
			now := time.Now().UTC()
			s := storetest.Open(b, engine, store.Options{})
			ids := make([]int64, 5)
			for i := range ids {
				ids[i] = storetest.Model(b, s, "bench", string(rune('a'+i))).ID
			}
			const total, per = 1_000_000, 10_000
			step := 30 * 24 * time.Hour / total
			for start := 0; start < total; start += per {
				batch := make([]mlops.NewPerformanceMetric, per)
				for i := range batch {
					at := now.Add(-30*24*time.Hour + time.Duration(start+i)*step)
					batch[i] = mlops.NewPerformanceMetric{MetricName: "accuracy", MetricValue: float64(i%100) / 100, ModelID: &ids[i%5], CreatedAt: &at}
				}
				if _, err := s.MetricCreateBatch(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			f := store.MetricFilter{Name: "accuracy", Since: now.Add(-30 * 24 * time.Hour)}
			epoch := `floor(extract(epoch from created_at))::bigint`
			if engine == store.SQLite {
				epoch = `unixepoch(created_at)`
			}
			points := `SELECT (` + epoch + ` / 3600) * 3600 AS bucket, count(*), avg(metric_value), min(metric_value), max(metric_value)
				FROM performance_metrics WHERE metric_name = $1 AND created_at >= $2 GROUP BY bucket ORDER BY bucket`
			// What the series read before the hourly level: every minute row.
			minutes := `SELECT (minute / 3600) * 3600 AS bucket, sum(n), sum(total), min(lo), max(hi)
				FROM metric_rollups WHERE metric_name = $1 AND minute >= $2 GROUP BY bucket ORDER BY bucket`
			for name, read := range map[string]func() (int, error){
				"rollups": func() (int, error) {
					got, err := s.MetricBuckets(ctx, f, "1h")
					return len(got), err
				},
				"minutes": func() (int, error) {
					return countRows(s.DB().QueryContext(ctx, minutes, f.Name, f.Since.Unix()))
				},
				"points": func() (int, error) {
					rows, err := s.DB().QueryContext(ctx, points, f.Name, f.Since)
					if err != nil {
						return 0, err
					}
					defer rows.Close()
					n := 0
					for rows.Next() {
						n++
					}
					return n, rows.Err()
				},
			} {
				b.Run(name, func(b *testing.B) {
					var took []time.Duration
					for b.Loop() {
						t0 := time.Now()
						n, err := read()
						took = append(took, time.Since(t0))
						if err != nil || n < 719 {
							b.Fatalf("%d buckets, %v", n, err)
						}
					}
					slices.Sort(took)
					b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
				})
			}
		})
	}
}

// BenchmarkMetricIngestRollups writes batches of 10,000 metric points (five
// model versions, one metric, one minute each batch), and single points,
// with the rollups and, as the same-run baseline, without them.
//
//	go test -run '^$' -bench MetricIngestRollups -benchtime 30x ./store/
func BenchmarkMetricIngestRollups(b *testing.B) {
	for _, engine := range storetest.Engines {
		b.Run(string(engine), func(b *testing.B) {
			ctx := context.Background()
			s := storetest.Open(b, engine, store.Options{})
			ids := make([]int64, 5)
			for i := range ids {
				ids[i] = storetest.Model(b, s, "bench", string(rune('a'+i))).ID
			}
			batch := make([]mlops.NewPerformanceMetric, 10_000)
			for i := range batch {
				batch[i] = mlops.NewPerformanceMetric{MetricName: "latency", MetricValue: float64(i % 100), ModelID: &ids[i%5]}
			}
			for name, st := range map[string]*store.Store{"rollups": s, "without": store.WithoutRollups(s)} {
				b.Run(name, func(b *testing.B) {
					for b.Loop() {
						if _, err := st.MetricCreateBatch(ctx, batch); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "points/s")
				})
				b.Run(name+"/single", func(b *testing.B) {
					for b.Loop() {
						if _, err := st.MetricCreate(ctx, batch[0]); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "points/s")
				})
			}
		})
	}
}

// countRows counts the rows of a query's answer.
func countRows(rows *sql.Rows, err error) (int, error) {
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	return n, rows.Err()
}
