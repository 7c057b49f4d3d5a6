package webui_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/internal/webui"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// BenchmarkPages renders the heaviest pages against a store holding 5
// models, 200,000 predictions spread over the last 24 h, 100,000 metric
// points over 7 days, 1,000 alerts and 1,000 actions, on each engine. The
// overview and the model page chart each active version's performance over
// its predictions; the metrics page charts a line per version.
// MLOPS_BENCH_PREDICTIONS and MLOPS_BENCH_METRIC_POINTS change the volumes
// (the points then spread over 30 days):
//
//	go test -run '^$' -bench Pages -benchtime 20x ./internal/webui/
//	MLOPS_BENCH_PREDICTIONS=1000000 MLOPS_BENCH_METRIC_POINTS=1000000 go test -run '^$' -bench Pages -benchtime 20x -timeout 30m ./internal/webui/
func BenchmarkPages(b *testing.B) {
	preds, points, span := 200000, 100000, 7*24*time.Hour
	if v, err := strconv.Atoi(os.Getenv("MLOPS_BENCH_PREDICTIONS")); err == nil && v > 0 {
		preds = v
	}
	if v, err := strconv.Atoi(os.Getenv("MLOPS_BENCH_METRIC_POINTS")); err == nil && v > 0 {
		points, span = v, 30*24*time.Hour
	}
	for _, engine := range storetest.Engines {
		b.Run(string(engine), func(b *testing.B) {
			ctx := context.Background()
			clk := storetest.NewClock(time.Now().UTC().Add(-span).Truncate(time.Second))
			st := storetest.Open(b, engine, store.Options{Now: clk.Now})
			var ids []int64
			for i := 0; i < 5; i++ {
				m := must(st.ModelVersionCreate(ctx, mlops.NewModelVersion{ModelName: fmt.Sprintf("model-%d", i), Version: "v1", Algorithm: "a"}))
				must(st.ModelVersionActivate(ctx, m.ID))
				ids = append(ids, m.ID)
			}
			// Metrics: spread over the span, in batches of 1,000.
			for batch := 0; batch < points/1000; batch++ {
				clk.Set(clk.Now().Add(span / time.Duration(points/1000)))
				pts := make([]mlops.NewPerformanceMetric, 1000)
				for i := range pts {
					pts[i] = mlops.NewPerformanceMetric{MetricName: "accuracy", MetricValue: float64(i%100) / 100, ModelID: &ids[i%5]}
				}
				must(st.MetricCreateBatch(ctx, pts))
			}
			// Predictions: spread over the last 24 h, in batches of 10,000,
			// with probabilities from 0 to 1, a third of them labeled.
			start, step := time.Now().UTC().Add(-24*time.Hour), 24*time.Hour/time.Duration(preds)
			clk.Set(time.Now().UTC())
			for batch := 0; batch < preds/10000; batch++ {
				ps := make([]mlops.NewPrediction, 10000)
				for i := range ps {
					lat := float64(i%50) + float64(i%7)/8
					at := start.Add(time.Duration(batch*10000+i) * step)
					ps[i] = mlops.NewPrediction{ModelID: ids[i%5], Prediction: int64(i % 2), LatencyMS: &lat, CreatedAt: &at,
						Probability: ptrTo(float64(i%101) / 100)}
					if i%3 == 0 {
						ps[i].Actual = ptrTo(int64(i % 4 / 2))
					}
				}
				must(st.PredictionCreateBatch(ctx, ps))
			}
			for i := 0; i < 1000; i++ {
				must(st.AlertCreate(ctx, mlops.NewAlert{AlertType: "t", Severity: mlops.Severities[i%5], Title: fmt.Sprintf("alert %d", i)}))
				must(st.ActionCreate(ctx, mlops.NewAgentAction{ActionID: fmt.Sprintf("a-%d", i), ActionType: "t", RiskLevel: mlops.RiskLow}))
			}
			clk.Set(time.Now().UTC())
			// Statistics as autovacuum's analyze would leave them on a
			// database in use (the test server may run without it).
			if _, err := st.DB().ExecContext(ctx, "ANALYZE"); err != nil {
				b.Fatal(err)
			}
			h, err := webui.New(st, webui.Options{Now: clk.Now})
			if err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			m0, m1 := ids[0], ids[1]
			for _, pg := range []struct{ name, path string }{
				{"overview", "/"},
				{"approvals", "/approvals"},
				{"alerts", "/alerts"},
				{"predictions", fmt.Sprintf("/predictions?model_id=%d", m0)},
				{"predictions-wrong", fmt.Sprintf("/predictions?model_id=%d&wrong=1&class=1", m0)},
				{"predictions-probability", fmt.Sprintf("/predictions?model_id=%d&pmin=0.2&pmax=0.8", m0)},
				{"predictions-probability-rows", fmt.Sprintf("/predictions?model_id=%d&pmin=0.25&pmax=0.75", m0)},
				{"metrics-7d", "/ui/metrics?metric=accuracy&range=7d&bucket=1h"},
				{"metrics-30d", "/ui/metrics?metric=accuracy&range=30d"},
				{"audit", "/audit"},
				{"models", "/models"},
				{"compare", fmt.Sprintf("/models/compare?id=%d&id=%d", m0, m1)},
				{"model", fmt.Sprintf("/models/%d", m0)},
				{"model-7d", fmt.Sprintf("/models/%d?range=7d", m0)},
				{"model-30d", fmt.Sprintf("/models/%d?range=30d", m0)},
				{"timeline", fmt.Sprintf("/models/%d/timeline", m0)},
				{"drift", "/drift"},
			} {
				b.Run(pg.name, func(b *testing.B) {
					var took []time.Duration
					for b.Loop() {
						start := time.Now()
						resp, err := http.Get(srv.URL + pg.path)
						if err != nil {
							b.Fatal(err)
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						took = append(took, time.Since(start))
						if resp.StatusCode != http.StatusOK {
							b.Fatalf("GET %s: %d", pg.path, resp.StatusCode)
						}
					}
					slices.Sort(took)
					b.ReportMetric(float64(took[len(took)/2])/float64(time.Millisecond), "p50-ms")
				})
			}
		})
	}
}

func ptrTo[T any](v T) *T { return &v }
