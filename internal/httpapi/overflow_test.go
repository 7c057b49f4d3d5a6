package httpapi_test

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/internal/httpapi"
	"github.com/mlopsdev/mlops/internal/webui"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// Valid data at the edges of what the API accepts, which once broke the
// monitoring: the largest latencies and metric values, and a prediction with
// 100,000 feature keys.

// edgeEach runs fn per engine with the API and the admin UI over a store on
// a test clock.
func edgeEach(t *testing.T, fn func(t *testing.T, c *client, clk *loopClock)) {
	t.Helper()
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			clk := storetest.NewClock(loopT0)
			st := storetest.Open(t, engine, store.Options{Now: clk.Now})
			ui, err := webui.New(st, webui.Options{Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			fn(t, serveWith(t, st, httpapi.Options{UI: ui}), clk)
		})
	}
}

// TestLargestAcceptedValues stores latencies of mlops.MaxLatencyMS and
// metric values of ±mlops.MaxMetricMagnitude beside ordinary ones: every
// report, summary, model page and metric series answers 200 on both engines
// (PostgreSQL's float avg overflowed on 1e200 and answered "value out of
// range" from then on). Just past the bounds is a 422 naming the field.
func TestLargestAcceptedValues(t *testing.T) {
	edgeEach(t, func(t *testing.T, c *client, clk *loopClock) {
		m := c.model("churn", "v1")
		c.must(200, "POST", fmt.Sprintf("/api/v1/models/%d/activate", m), nil)
		clk.Set(loopT0.Add(10 * time.Minute))
		items := make([]map[string]any, 100)
		for i := range items {
			items[i] = map[string]any{"model_id": m, "prediction": 1, "actual": i % 2, "latency_ms": mlops.MaxLatencyMS,
				"features": map[string]any{"x": i}}
		}
		c.must(201, "POST", "/api/v1/predictions/batch", map[string]any{"predictions": items})
		c.must(201, "POST", "/api/v1/predictions", map[string]any{"model_id": m, "prediction": 1, "latency_ms": mlops.MaxLatencyMS})
		c.logBatch(m, 5, 0, 1, 1) // ordinary latencies 1..5
		for _, v := range []float64{mlops.MaxMetricMagnitude, -mlops.MaxMetricMagnitude, 0.25} {
			c.must(201, "POST", "/api/v1/metrics", map[string]any{"metric_name": "loss", "metric_value": v, "model_id": m})
		}
		pts := make([]map[string]any, 100)
		for i := range pts {
			pts[i] = map[string]any{"metric_name": "loss", "metric_value": mlops.MaxMetricMagnitude}
		}
		c.must(201, "POST", "/api/v1/metrics/batch", map[string]any{"metrics": pts})
		c.must(201, "POST", "/api/v1/drift-reports", map[string]any{"model_id": m, "drift_detected": true, "drift_score": 1e300})
		clk.Set(loopT0.Add(time.Hour))

		for _, path := range []string{
			fmt.Sprintf("/api/v1/reports/models/%d/performance?bucket=1m&days=1", m),
			fmt.Sprintf("/api/v1/reports/models/%d/performance?bucket=1d&days=0", m),
			"/api/v1/reports/models/active/performance?model_name=churn",
			"/api/v1/reports/alerts?days=1",
			"/api/v1/reports/approvals?days=1",
			"/api/v1/metrics/loss?days=1",
			"/api/v1/metrics/loss?days=1&bucket=1m",
			"/api/v1/metrics/loss?days=1&bucket=1h",
			fmt.Sprintf("/api/v1/metrics/loss?days=1&bucket=1d&model_id=%d", m),
			fmt.Sprintf("/api/v1/predictions?model_id=%d", m),
			fmt.Sprintf("/api/v1/models/%d", m),
			"/api/v1/drift-reports",
			fmt.Sprintf("/api/v1/drift-reports/latest?model_id=%d", m),
			fmt.Sprintf("/api/v1/models/%d/timeline", m),
		} {
			r := c.do("GET", path, nil)
			if r.status != 200 {
				t.Errorf("GET %s: %s", path, r)
			}
		}
		perf := c.must(200, "GET", fmt.Sprintf("/api/v1/reports/models/%d/performance?bucket=1h&days=1", m), nil)
		if tot := perf["total"].(map[string]any); tot["predictions"] != 106.0 || tot["latency_p99_ms"] != float64(mlops.MaxLatencyMS) {
			t.Errorf("performance total = %v", tot)
		}
		series := c.must(200, "GET", "/api/v1/metrics/loss?days=1&bucket=1h", nil)
		for _, p := range series["points"].([]any) {
			if avg := p.(map[string]any)["avg"].(float64); math.Abs(avg) > mlops.MaxMetricMagnitude {
				t.Errorf("bucket avg %v", avg)
			}
		}
		// The admin UI's overview, model page and metric chart read the same
		// aggregates.
		for _, path := range []string{"/", fmt.Sprintf("/models/%d", m), "/ui/metrics?metric=loss&range=24h&bucket=1h",
			fmt.Sprintf("/ui/metrics?metric=loss&range=24h&bucket=1m&model_id=%d", m), "/drift", fmt.Sprintf("/predictions?model_id=%d", m)} {
			if r := c.do("GET", path, nil); r.status != 200 {
				t.Errorf("GET %s: %d %.300s", path, r.status, r.raw)
			}
		}

		problem(t, c.do("POST", "/api/v1/predictions", map[string]any{"model_id": m, "prediction": 1, "latency_ms": 1e200}), 422, "body.latency_ms")
		problem(t, c.do("POST", "/api/v1/predictions", map[string]any{"model_id": m, "prediction": 1,
			"latency_ms": math.Nextafter(mlops.MaxLatencyMS, math.Inf(1))}), 422, "body.latency_ms")
		problem(t, c.do("POST", "/api/v1/predictions/batch", map[string]any{"predictions": []any{
			map[string]any{"model_id": m, "prediction": 1}, map[string]any{"model_id": m, "prediction": 1, "latency_ms": 1e200}}}),
			422, "body.predictions[1].latency_ms")
		problem(t, c.do("POST", "/api/v1/metrics", map[string]any{"metric_name": "loss", "metric_value": 1e200}), 422, "body.metric_value")
		problem(t, c.do("POST", "/api/v1/metrics", map[string]any{"metric_name": "loss", "metric_value": -1e16}), 422, "body.metric_value")
		problem(t, c.do("POST", "/api/v1/metrics/batch", map[string]any{"metrics": []any{
			map[string]any{"metric_name": "loss", "metric_value": 1e200}}}), 422, "body.metrics[0].metric_value")
		if r := c.do("GET", "/api/v1/metrics/loss?days=1&bucket=1h", nil); r.status != 200 {
			t.Errorf("after the refusals: %s", r)
		}
	})
}

// wideFeatures is a features object with n numeric keys of three
// characters (base 62): 100,000 of them fit in a 1 MiB body.
func wideFeatures(n int) string {
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + string(digits[i/(62*62)]) + string(digits[i/62%62]) + string(digits[i%62]) + `":0`)
	}
	b.WriteByte('}')
	return b.String()
}

// TestDriftCheckWideFeatures: one accepted prediction with 100,000 feature
// keys among ordinary ones. The drift check answers 201 with its details
// well under the 1 MiB a report's details may hold, saying how many keys it
// left out, and the drift rule keeps raising its alert.
func TestDriftCheckWideFeatures(t *testing.T) {
	loopEach(t, func(t *testing.T, c *client, clk *loopClock) {
		m := c.model("fraud", "v1")
		c.must(200, "POST", fmt.Sprintf("/api/v1/models/%d/activate", m), nil)
		clk.Set(loopT0.Add(10 * time.Minute))
		c.logBatch(m, 40, 0, 0, 0)
		clk.Set(loopT0.Add(65 * time.Minute))
		wide := fmt.Sprintf(`{"model_id": %d, "prediction": 0, "features": %s}`, m, wideFeatures(100000))
		c.must(201, "POST", "/api/v1/predictions", wide)
		clk.Set(loopT0.Add(70 * time.Minute))
		c.logBatch(m, 40, 0.5, 0, 0)
		clk.Set(loopT0.Add(2 * time.Hour))

		body := map[string]any{
			"reference": map[string]any{"from": "2026-05-04T00:00:00Z", "to": "2026-05-04T01:00:00Z"},
			"current":   map[string]any{"from": "2026-05-04T01:00:00Z"},
		}
		r := c.do("POST", fmt.Sprintf("/api/v1/models/%d/drift-check", m), body)
		if r.status != 201 {
			t.Fatalf("drift check: %.500s", r)
		}
		if len(r.raw) > 1<<20/2 {
			t.Errorf("the report is %d bytes", len(r.raw))
		}
		rep := r.obj()
		d := rep["details"].(map[string]any)
		x, _ := d["features"].(map[string]any)["x"].(map[string]any)
		if rep["drift_detected"] != true || x == nil || x["current_count"] != 40.0 || d["features_left_out"] != 99800.0 ||
			!strings.Contains(d["left_out"].(string), "99800 numeric feature keys") {
			t.Errorf("report: drift %v, x %v, left out %v (%v)", rep["drift_detected"], x, d["features_left_out"], d["left_out"])
		}

		c.must(200, "PUT", "/api/v1/rules/fraud", map[string]any{"enabled": true, "min_samples": 30,
			"current_window_seconds": 3600, "reference_window_seconds": 3600})
		for run := 0; run < 2; run++ {
			res := c.must(200, "POST", "/api/v1/rules/run", nil)
			outcomes := res["outcomes"].([]any)
			if res["skipped"] != false || len(outcomes) != 1 || len(res["notes"].([]any)) != 0 {
				t.Fatalf("rules run %d = %v", run, res)
			}
			if o := outcomes[0].(map[string]any); o["rule"] != "drift" || o["new_alert"] != (run == 0) {
				t.Errorf("outcome %d = %v", run, o)
			}
		}
		alerts := c.must(200, "GET", "/api/v1/alerts?status=active", nil)["items"].([]any)
		if len(alerts) != 1 || alerts[0].(map[string]any)["occurrences"] != 2.0 {
			t.Errorf("alerts = %v", alerts)
		}
	})
}
