package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// rollupsMatch fails the test when the prediction rollups differ from the
// rows they summarise.
func rollupsMatch(t *testing.T, s *store.Store, after string) {
	t.Helper()
	diff, err := store.PredictionRollupsMismatch(context.Background(), s)
	must(t, err)
	if diff != "" {
		t.Fatalf("after %s, the prediction rollups differ from the rows: %s", after, diff)
	}
}

// TestPredictionRollupsFollowRows writes predictions every way the store
// can (the group commit, the bulk path, history far in the past and on an
// hour's bound, rows refused), records and changes ground truth, and prunes
// through the middle of an hour, checking after each step that the rollups
// equal what the rows sum to, and that an hourly report read from them
// counts what the same report read from the rows counts.
func TestPredictionRollupsFollowRows(t *testing.T) {
	loopEach(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := context.Background()
		a := storetest.Model(t, s, "a", "v1")
		b := storetest.Model(t, s, "b", "v1")
		rng := rand.New(rand.NewPCG(3, 4))
		pick := func() mlops.NewPrediction {
			p := mlops.NewPrediction{ModelID: a.ID, Prediction: rng.Int64N(3)}
			if rng.IntN(2) == 0 {
				p.ModelID = b.ID
			}
			if rng.IntN(3) > 0 {
				p.LatencyMS = ptr([]float64{0, 1, 1.5, 2.25, 40, 40.5, 1000}[rng.IntN(7)])
			}
			if rng.IntN(3) == 0 {
				p.Actual = ptr(rng.Int64N(3))
			}
			if rng.IntN(4) > 0 {
				p.Probability = ptr([]float64{0, 0.1, 0.3, 0.45, 0.7, 0.9999, 1}[rng.IntN(7)])
			}
			return p
		}
		var ids []int64
		for i := range 60 {
			c.Set(loopT0.Add(time.Duration(i) * 7 * time.Minute))
			p, err := s.PredictionCreate(ctx, pick())
			must(t, err)
			ids = append(ids, p.ID)
		}
		// History: far in the past, exactly on an hour, a second before one.
		for _, at := range []time.Time{time.Date(2001, 2, 3, 4, 5, 6, 7000, time.UTC), loopT0.Add(2 * time.Hour), loopT0.Add(3*time.Hour - time.Second)} {
			p := pick()
			p.CreatedAt = &at
			got, err := s.PredictionCreate(ctx, p)
			must(t, err)
			ids = append(ids, got.ID)
		}
		if _, err := s.PredictionCreate(ctx, mlops.NewPrediction{ModelID: b.ID + 100, LatencyMS: ptr(1.0)}); err == nil {
			t.Fatal("a prediction of a model version that does not exist was stored")
		}
		rollupsMatch(t, s, "single predictions")

		batch := make([]mlops.NewPrediction, 500)
		for i := range batch {
			batch[i] = pick()
			at := loopT0.Add(time.Duration(rng.IntN(6*3600)) * time.Second)
			batch[i].CreatedAt = &at
		}
		more, err := s.PredictionCreateBatch(ctx, batch)
		must(t, err)
		ids = append(ids, more...)
		rollupsMatch(t, s, "a batch")

		c.Set(loopT0.Add(7 * time.Hour))
		for i, id := range ids[:200] {
			_, err := s.PredictionSetActual(ctx, id, int64(i%3))
			must(t, err)
		}
		for i, id := range ids[:100] { // changed, and recorded again unchanged
			_, err := s.PredictionSetActual(ctx, id, int64((i+1)%3))
			must(t, err)
			_, err = s.PredictionSetActual(ctx, id, int64((i+1)%3))
			must(t, err)
		}
		rollupsMatch(t, s, "recording ground truth")

		// Hourly reports over ranges that cut hours early and late, within
		// one hour, and up to now, against the same reports from the rows.
		c.Set(loopT0.Add(5*time.Hour + 30*time.Minute))
		for i, rg := range [][2]time.Duration{{17 * time.Minute, 5*time.Hour + 3*time.Minute}, {45 * time.Minute, 4*time.Hour + 50*time.Minute},
			{time.Hour, 2 * time.Hour}, {70 * time.Minute, 80 * time.Minute}, {-time.Hour, 0}} {
			m := []int64{a.ID, b.ID}[i%2]
			o := store.PerformanceOptions{Since: loopT0.Add(rg[0]), Until: loopT0.Add(rg[1])}
			if rg[1] == 0 {
				o.Until = time.Time{} // up to now
			}
			hourly, err := s.PerformanceReport(ctx, m, o)
			must(t, err)
			o.Bucket = "5m"
			rows, err := s.PerformanceReport(ctx, m, o)
			must(t, err)
			h, r := hourly.Total, rows.Total
			if h.Predictions != r.Predictions || h.Labeled != r.Labeled || h.Correct != r.Correct || h.TruePositives != r.TruePositives ||
				h.FalsePositives != r.FalsePositives || h.FalseNegatives != r.FalseNegatives || h.Predictions == 0 {
				t.Fatalf("model %d: hourly report from the rollups %+v, from the rows %+v", m, h, r)
			}
			var n int64
			for _, b := range hourly.Buckets {
				n += b.Predictions
			}
			if n != h.Predictions {
				t.Fatalf("model %d: hourly buckets sum to %d, want %d", m, n, h.Predictions)
			}
			// The predictions page's summary, from the rollups (bounds on
			// tenths, included, and values on them) and from the rows.
			for _, pr := range [][2]*float64{{nil, nil}, {ptr(0.0), ptr(1.0)}, {ptr(0.3), ptr(0.7)}, {ptr(0.1), nil}, {nil, ptr(0.3)}, {ptr(0.7), ptr(0.7)}} {
				for _, sel := range []store.PredictionSearch{{}, {WrongOnly: true}, {LabelledOnly: true, Class: ptr(int64(1))}} {
					sel.PredictionFilter = store.PredictionFilter{ModelID: m, Since: o.Since}
					sel.Until, sel.MinProbability, sel.MaxProbability = o.Until, pr[0], pr[1]
					fromRollups, err := s.PredictionSearchSummary(ctx, sel)
					must(t, err)
					fromRows, err := store.PredictionSearchSummaryFromRows(ctx, s, sel)
					must(t, err)
					if fmt.Sprint(fromRollups) != fmt.Sprint(fromRows) {
						t.Fatalf("model %d, %+v: summary from the rollups %+v, from the rows %+v", m, sel, fromRollups, fromRows)
					}
				}
			}
			for _, since := range []time.Time{o.Since, {}} {
				stats, err := s.PredictionStatsFor(ctx, m, since)
				must(t, err)
				var want int64
				must(t, s.DB().QueryRowContext(ctx, `SELECT count(*) FROM predictions WHERE model_id = $1 AND created_at >= $2`, m, since).Scan(&want))
				if stats.Count != want {
					t.Fatalf("model %d since %v: stats count %d, rows %d", m, since, stats.Count, want)
				}
			}
		}
		c.Set(loopT0.Add(7 * time.Hour))

		// Prune through the middle of an hour, in small batches.
		cut := loopT0.Add(2*time.Hour + 31*time.Minute)
		_, err = s.Prune(ctx, "predictions", cut, 7, nil)
		must(t, err)
		rollupsMatch(t, s, "a prune")
		left, err := s.PruneCount(ctx, "predictions", cut)
		must(t, err)
		if left != 0 {
			t.Fatalf("%d predictions before the cutoff are left", left)
		}
	})
}

// TestPredictionRollupsConcurrent logs predictions from many goroutines
// through the group commit and the bulk path while others record ground
// truth, on both engines, and checks the rollups against the rows.
func TestPredictionRollupsConcurrent(t *testing.T) {
	loopEach(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := context.Background()
		m := storetest.Model(t, s, "a", "v1")
		g := store.NewIngester(s, store.IngesterOptions{})
		ids := make(chan int64, 4000)
		errs := make(chan error, 64)
		var writers, labellers sync.WaitGroup
		for w := range 12 {
			writers.Go(func() {
				for i := range 40 {
					lat := float64(i % 17)
					p := mlops.NewPrediction{ModelID: m.ID, Prediction: int64(i % 2), LatencyMS: &lat}
					var got []int64
					if w%4 == 0 {
						var err error
						if got, err = s.PredictionCreateBatch(ctx, []mlops.NewPrediction{p, p, p}); err != nil {
							errs <- err
							return
						}
					} else {
						one, err := g.Log(ctx, p)
						if err != nil {
							errs <- err
							return
						}
						got = []int64{one.ID}
					}
					for _, id := range got {
						ids <- id
					}
				}
			})
		}
		for range 4 {
			labellers.Go(func() {
				for id := range ids {
					if _, err := s.PredictionSetActual(ctx, id, id%2); err != nil {
						errs <- fmt.Errorf("actual of %d: %w", id, err)
						return // ids has room for every id: the writers never wait on it
					}
				}
			})
		}
		writers.Wait()
		close(ids)
		labellers.Wait()
		must(t, g.Close(ctx))
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if n := count(t, s, "predictions"); n != 3*40*3+9*40 {
			t.Fatalf("%d predictions stored, want %d", n, 3*40*3+9*40)
		}
		rollupsMatch(t, s, "concurrent writes")
	})
}
