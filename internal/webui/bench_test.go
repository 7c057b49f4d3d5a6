package webui_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/internal/webui"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// BenchmarkPages renders the heaviest pages against a store holding 5
// models, 200,000 predictions of the last 24 h, 100,000 metric points over 7
// days, 1,000 alerts and 1,000 actions, on each engine. The overview and the
// model page chart each active version's performance over its predictions;
// the metrics page charts a line per version:
//
//	go test -run '^$' -bench Pages -benchtime 20x ./internal/webui/
func BenchmarkPages(b *testing.B) {
	for _, engine := range storetest.Engines {
		b.Run(string(engine), func(b *testing.B) {
			ctx := context.Background()
			clk := storetest.NewClock(time.Now().UTC().Add(-7 * 24 * time.Hour).Truncate(time.Second))
			st := storetest.Open(b, engine, store.Options{Now: clk.Now})
			var ids []int64
			for i := 0; i < 5; i++ {
				m := must(st.ModelVersionCreate(ctx, mlops.NewModelVersion{ModelName: fmt.Sprintf("model-%d", i), Version: "v1", Algorithm: "a"}))
				must(st.ModelVersionActivate(ctx, m.ID))
				ids = append(ids, m.ID)
			}
			// Metrics: 100k points spread over 7 days, in batches.
			for batch := 0; batch < 100; batch++ {
				clk.Set(clk.Now().Add(7 * 24 * time.Hour / 100))
				pts := make([]mlops.NewPerformanceMetric, 1000)
				for i := range pts {
					pts[i] = mlops.NewPerformanceMetric{MetricName: "accuracy", MetricValue: float64(i%100) / 100, ModelID: &ids[i%5]}
				}
				must(st.MetricCreateBatch(ctx, pts))
			}
			clk.Set(time.Now().UTC().Add(-12 * time.Hour))
			for batch := 0; batch < 20; batch++ {
				ps := make([]mlops.NewPrediction, 10000)
				for i := range ps {
					lat := float64(i % 50)
					ps[i] = mlops.NewPrediction{ModelID: ids[i%5], Prediction: int64(i % 2), LatencyMS: &lat}
				}
				must(st.PredictionCreateBatch(ctx, ps))
			}
			for i := 0; i < 1000; i++ {
				must(st.AlertCreate(ctx, mlops.NewAlert{AlertType: "t", Severity: mlops.Severities[i%5], Title: fmt.Sprintf("alert %d", i)}))
				must(st.ActionCreate(ctx, mlops.NewAgentAction{ActionID: fmt.Sprintf("a-%d", i), ActionType: "t", RiskLevel: mlops.RiskLow}))
			}
			clk.Set(time.Now().UTC())
			h, err := webui.New(st, webui.Options{Now: clk.Now})
			if err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			for _, path := range []string{"/", "/approvals", "/alerts", fmt.Sprintf("/predictions?model_id=%d", ids[0]),
				"/ui/metrics?metric=accuracy&range=7d&bucket=1h", "/audit", fmt.Sprintf("/models/%d", ids[0])} {
				name := strings.Trim(strings.SplitN(path, "?", 2)[0], "/")
				switch {
				case name == "":
					name = "overview"
				case strings.HasPrefix(name, "models/"):
					name = "model"
				}
				b.Run(name, func(b *testing.B) {
					for b.Loop() {
						resp, err := http.Get(srv.URL + path)
						if err != nil {
							b.Fatal(err)
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != http.StatusOK {
							b.Fatalf("GET %s: %d", path, resp.StatusCode)
						}
					}
				})
			}
		})
	}
}
