package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/monitor"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// TestLoopScale runs the reports, the drift check and the timeline over a
// week of predictions whose last day drifts, checking their totals and that
// the drift is found, and logs how long each took. Every go test runs it
// over 5,000 predictions; MLOPS_LOOP_BENCH=N measures it at scale, as in:
//
//	MLOPS_LOOP_BENCH=1000000 go test ./store/ -run TestLoopScale -v -timeout 30m
func TestLoopScale(t *testing.T) {
	n := 5000
	if v := os.Getenv("MLOPS_LOOP_BENCH"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			t.Fatalf("MLOPS_LOOP_BENCH=%q: want a positive number of predictions", v)
		}
	}
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			now := loopT0
			s := storetest.Open(t, engine, store.Options{Now: func() time.Time { return now }, PoolSize: 4})
			m := loopModel(t, s, "scale", "v1")
			rng := rand.New(rand.NewPCG(1, 2))
			chunk := max(1, min(10000, n/50))
			span := 7 * 24 * time.Hour
			start := time.Now()
			for done := 0; done < n; done += chunk {
				now = loopT0.Add(time.Duration(float64(span) * (float64(done) + float64(chunk)/2) / float64(n)))
				shift := 0.0
				if now.After(loopT0.Add(6 * 24 * time.Hour)) {
					shift = 0.5 // the last day drifts
				}
				batch := make([]mlops.NewPrediction, 0, chunk)
				for i := 0; i < chunk && done+i < n; i++ {
					pred := int64(rng.IntN(2))
					var actual *int64
					if rng.IntN(2) == 0 {
						a := pred
						if rng.IntN(5) == 0 {
							a = 1 - pred
						}
						actual = &a
					}
					lat := rng.ExpFloat64() * 20
					batch = append(batch, mlops.NewPrediction{ModelID: m.ID, Prediction: pred, Actual: actual, LatencyMS: &lat,
						Features: mlops.JSON(fmt.Sprintf(`{"x": %.6f, "y": %.6f, "segment": "s%d"}`, rng.NormFloat64()+shift, rng.Float64(), i%7))})
				}
				if _, err := s.PredictionCreateBatch(ctx, batch); err != nil {
					t.Fatal(err)
				}
			}
			t.Logf("%s: loaded %d predictions in %v", engine, n, time.Since(start).Round(time.Millisecond))
			now = loopT0.Add(span)

			timed := func(name string, fn func() error) {
				t.Helper()
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				peak := before.HeapInuse
				stop := make(chan struct{})
				done := make(chan struct{})
				go func() { // sample the heap while fn runs
					defer close(done)
					var ms runtime.MemStats
					for {
						select {
						case <-stop:
							return
						case <-time.After(20 * time.Millisecond):
							runtime.ReadMemStats(&ms)
							peak = max(peak, ms.HeapInuse)
						}
					}
				}()
				st := time.Now()
				err := fn()
				el := time.Since(st)
				close(stop)
				<-done
				runtime.ReadMemStats(&after)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				t.Logf("%s: %s: %v, heap in use peak +%.1f MiB", engine, name, el.Round(time.Millisecond),
					float64(peak-min(peak, before.HeapInuse))/(1<<20))
			}
			timed("performance report, 7 days in 1h buckets", func() error {
				rep, err := s.PerformanceReport(ctx, m.ID, store.PerformanceOptions{Bucket: "1h", Since: loopT0})
				if err == nil && rep.Total.Predictions != int64(n) {
					err = fmt.Errorf("total %d, want %d", rep.Total.Predictions, n)
				}
				return err
			})
			timed("performance report, last 24 h in 1h buckets", func() error {
				_, err := s.PerformanceReport(ctx, m.ID, store.PerformanceOptions{Bucket: "1h", Since: now.Add(-24 * time.Hour)})
				return err
			})
			timed("drift check, last 24 h against the 6 days before", func() error {
				rep, err := loopMonitor(s).DriftCheck(ctx, m.ID, monitor.DriftCheckOptions{Reference: monitor.Window{From: loopT0}})
				if err == nil && !rep.DriftDetected {
					err = fmt.Errorf("no drift detected in a shifted day")
				}
				return err
			})
			timed("alerts report, 30 days", func() error { _, err := s.AlertReport(ctx, now.Add(-30*24*time.Hour), time.Time{}); return err })
			timed("timeline, first page", func() error { _, _, err := s.Timeline(ctx, m.ID, store.Page{}); return err })
		})
	}
}
