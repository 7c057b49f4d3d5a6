package store_test

import (
	"context"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// The figures of docs/partitions.md. Benchmarks never run in a plain go
// test; the 10 M-row one takes about ten minutes:
//
//	go test -run '^$' -bench 'PartitionsIngest' -count 3 ./store/
//	go test -run '^$' -bench 'Partitions10M' -benchtime 1x -timeout 2h ./store/

// openLayout opens a fresh PostgreSQL store, partitioned (by day) or not,
// with one model version.
func openLayout(b *testing.B, partitioned bool) (*store.Store, int64) {
	b.Helper()
	s := storetest.Open(b, store.Postgres, store.Options{PoolSize: 20})
	if partitioned {
		if err := s.PartitionsMigrate(b.Context(), store.PartitionsMigrateOptions{Past: 10}); err != nil {
			b.Fatal(err)
		}
	}
	m, err := s.ModelVersionCreate(b.Context(), mlops.NewModelVersion{ModelName: "churn", Version: "v1", Algorithm: "logreg"})
	if err != nil {
		b.Fatal(err)
	}
	return s, m.ID
}

func layoutName(partitioned bool) string {
	if partitioned {
		return "partitioned"
	}
	return "unpartitioned"
}

// BenchmarkPartitionsIngest: rows/s into predictions through the group
// commit (16 concurrent callers of the Ingester) and through COPY (batches
// of 1,000), unpartitioned and partitioned in the same run.
func BenchmarkPartitionsIngest(b *testing.B) {
	features := mlops.JSON(`{"age": 42, "plan": "pro", "tenure": 17}`)
	for _, partitioned := range layoutOrder {
		b.Run("group/"+layoutName(partitioned), func(b *testing.B) {
			s, model := openLayout(b, partitioned)
			g := store.NewIngester(s, store.IngesterOptions{})
			defer g.Close(context.Background())
			b.SetParallelism(8) // 16 callers on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := g.Log(context.Background(), mlops.NewPrediction{ModelID: model, Features: features, Prediction: 1}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
	for _, partitioned := range layoutOrder {
		b.Run("copy/"+layoutName(partitioned), func(b *testing.B) {
			s, model := openLayout(b, partitioned)
			batch := make([]mlops.NewPrediction, 1000)
			for i := range batch {
				batch[i] = mlops.NewPrediction{ModelID: model, Features: features, Prediction: int64(i % 2)}
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := s.PredictionCreateBatch(b.Context(), batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// seed10M writes n predictions spread evenly over the days before end,
// straight in SQL (a million a statement), as history loaded before
// partitioning.
func seed10M(b *testing.B, s *store.Store, model int64, n int64, days int, end time.Time) {
	b.Helper()
	start := end.Add(-time.Duration(days) * 24 * time.Hour)
	step := float64(days*24*3600) / float64(n)
	began := time.Now()
	for lo := int64(0); lo < n; lo += 1_000_000 {
		hi := min(lo+1_000_000, n) - 1
		if _, err := s.DB().ExecContext(b.Context(), `INSERT INTO predictions (model_id, features, prediction, probability, latency_ms, created_at)
			SELECT $1, '{"age": 42, "plan": "pro"}', i % 2, 0.5, 12.5, $2::timestamptz + (i * $3::float8) * interval '1 second'
			FROM generate_series($4::bigint, $5::bigint) i`, model, start, step, lo, hi); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := s.DB().ExecContext(b.Context(), `VACUUM ANALYZE predictions`); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d predictions over %d days in %s", n, days, time.Since(began).Round(time.Second))
}

// lookups times PredictionGet of each id and returns the p50 and p99.
func lookups(b *testing.B, s *store.Store, ids []int64) (p50, p99 time.Duration) {
	b.Helper()
	took := make([]time.Duration, 0, len(ids))
	for _, id := range ids {
		t0 := time.Now()
		if _, err := s.PredictionGet(b.Context(), id); err != nil {
			b.Fatalf("get %d: %v", id, err)
		}
		took = append(took, time.Since(t0))
	}
	slices.Sort(took)
	return took[len(took)/2], took[len(took)*99/100]
}

// BenchmarkPartitions10M: 10 M predictions, twice in each case: one
// database stays unpartitioned, the other is converted by
// PartitionsMigrate (timed).
//
// 400days: the rows span 400 days (418 daily partitions): lookups by id
// (p50, p99) on both, and the prune of the oldest 30 days (750 k rows).
// 30days: the rows span 30 days, all older than the cutoff: prune of all
// 10 M by partition drops against row deletes.
func BenchmarkPartitions10M(b *testing.B) {
	b.Run("400days", func(b *testing.B) { bench10M(b, 400, false) })
	b.Run("30days", func(b *testing.B) { bench10M(b, 30, true) })
}

func bench10M(b *testing.B, days int, pruneAll bool) {
	const rows = 10_000_000
	ctx := b.Context()
	now := time.Now().UTC()
	end := now
	if pruneAll {
		end = now.Truncate(24 * time.Hour)
	}
	plain, pm := openLayout(b, false)
	parted, qm := openLayout(b, false)
	seed10M(b, plain, pm, rows, days, end)
	seed10M(b, parted, qm, rows, days, end)

	t0 := time.Now()
	if err := parted.PartitionsMigrate(ctx, store.PartitionsMigrateOptions{Past: days + 1}); err != nil {
		b.Fatal(err)
	}
	migrate := time.Since(t0)
	b.ReportMetric(migrate.Seconds(), "migrate-s")
	b.Logf("partitions migrate of %d rows: %s (%.0f rows/s)", rows, migrate.Round(time.Second), rows/migrate.Seconds())
	list, err := parted.PartitionList(ctx, false)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%d partitions", len(list))

	if !pruneAll {
		// Ids of rows older than the migration, and of new rows over
		// the same days.
		r := rand.New(rand.NewPCG(1, 2))
		legacy := make([]int64, 2000)
		for i := range legacy {
			legacy[i] = 1 + r.Int64N(rows)
		}
		in := make([]mlops.NewPrediction, 2000)
		for i := range in {
			at := now.Add(-time.Duration(r.Int64N(int64(days) * 24 * int64(time.Hour))))
			in[i] = mlops.NewPrediction{ModelID: qm, Prediction: 1, CreatedAt: &at}
		}
		fresh, err := parted.PredictionCreateBatch(ctx, in)
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range []struct {
			name string
			s    *store.Store
			ids  []int64
		}{{"unpartitioned", plain, legacy}, {"partitioned-legacy-ids", parted, legacy}, {"partitioned-new-ids", parted, fresh}} {
			lookups(b, c.s, c.ids[:200]) // warm the caches
			p50, p99 := lookups(b, c.s, c.ids)
			b.ReportMetric(float64(p50.Microseconds()), c.name+"-p50-µs")
			b.Logf("by-id lookup, %s: p50 %s, p99 %s", c.name, p50, p99)
		}
	}

	// On a day boundary: the days pruned are whole partitions.
	cutoff := end
	if !pruneAll {
		cutoff = now.Add(-time.Duration(days-30) * 24 * time.Hour).Truncate(24 * time.Hour)
	}
	for _, c := range []struct {
		name string
		s    *store.Store
	}{{"row-delete", plain}, {"partition-drop", parted}} {
		t0 := time.Now()
		n, err := c.s.Prune(ctx, "predictions", cutoff, 5000, nil)
		if err != nil {
			b.Fatal(err)
		}
		took := time.Since(t0)
		b.ReportMetric(took.Seconds(), "prune-"+c.name+"-s")
		b.Logf("prune before %s by %s: %d rows in %s", cutoff.Format(time.DateOnly), c.name, n, took.Round(time.Millisecond))
	}
}

// layoutOrder is the order the layouts are measured in; MLOPS_BENCH_ORDER=pu
// measures the partitioned one first, to see that the order does not make
// the difference.
var layoutOrder = func() []bool {
	if os.Getenv("MLOPS_BENCH_ORDER") == "pu" {
		return []bool{true, false}
	}
	return []bool{false, true}
}()
