package httpapi_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// loopClock is a settable clock for the closing-the-loop tests.
type loopClock = storetest.Clock

var loopT0 = time.Date(2026, 5, 4, 0, 0, 0, 0, time.UTC)

// loopEach runs fn per engine with a server over a store on a test clock.
func loopEach(t *testing.T, fn func(t *testing.T, c *client, clk *loopClock)) {
	t.Helper()
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			clk := storetest.NewClock(loopT0)
			fn(t, serve(t, storetest.Open(t, engine, store.Options{Now: clk.Now})), clk)
		})
	}
}

// logBatch logs n predictions of model with feature x = offset + i/n and
// the given prediction and actual, and returns their ids.
func (c *client) logBatch(model int64, n int, offset float64, pred, actual int) []int64 {
	c.t.Helper()
	items := make([]map[string]any, n)
	for i := range items {
		items[i] = map[string]any{"model_id": model, "prediction": pred, "actual": actual, "latency_ms": float64(i + 1),
			"features": map[string]any{"x": offset + float64(i)/float64(n), "segment": "retail"}}
	}
	res := c.must(201, "POST", "/api/v1/predictions/batch", map[string]any{"predictions": items})
	var ids []int64
	for _, v := range res["ids"].([]any) {
		ids = append(ids, int64(v.(float64)))
	}
	return ids
}

func TestReportRoutes(t *testing.T) {
	loopEach(t, func(t *testing.T, c *client, clk *loopClock) {
		m := c.model("churn", "v1")
		clk.Set(loopT0.Add(10 * time.Minute))
		c.logBatch(m, 4, 0, 1, 1) // 4 correct positives, latencies 1..4
		clk.Set(loopT0.Add(70 * time.Minute))
		c.logBatch(m, 2, 0, 1, 0) // 2 false positives, latencies 1..2
		clk.Set(loopT0.Add(2 * time.Hour))

		rep := c.must(200, "GET", fmt.Sprintf("/api/v1/reports/models/%d/performance?bucket=1h&days=1", m), nil)
		buckets := rep["buckets"].([]any)
		total := rep["total"].(map[string]any)
		if len(buckets) != 2 || total["predictions"] != 6.0 || total["labeled"] != 6.0 {
			t.Fatalf("report = %v", rep)
		}
		b0 := buckets[0].(map[string]any)
		if b0["bucket_start"] != "2026-05-04T00:00:00Z" || b0["accuracy"] != 1.0 || b0["latency_p50_ms"] != 2.0 || b0["latency_p99_ms"] != 4.0 {
			t.Errorf("bucket 0 = %v", b0)
		}
		// Total: TP 4, FP 2: precision 4/6, recall 1, accuracy 4/6; latencies 1,1,2,2,3,4: p50 rank 3 = 2.
		if total["recall"] != 1.0 || total["precision"] != 4.0/6 || total["f1"] != 0.8 || total["latency_p50_ms"] != 2.0 {
			t.Errorf("total = %v", total)
		}
		for _, k := range []string{"bucket_start", "predictions", "labeled", "accuracy", "precision", "recall", "f1",
			"latency_p50_ms", "latency_p95_ms", "latency_p99_ms"} {
			if _, ok := b0[k]; !ok {
				t.Errorf("bucket lacks %q", k)
			}
		}
		problem(t, c.do("GET", fmt.Sprintf("/api/v1/reports/models/%d/performance?bucket=7m", m), nil), 422, "query.bucket")
		problem(t, c.do("GET", fmt.Sprintf("/api/v1/reports/models/%d/performance?days=-1", m), nil), 422, "query.days")
		problem(t, c.do("GET", "/api/v1/reports/models/99999/performance", nil), 404)
		problem(t, c.do("GET", "/api/v1/reports/models/active/performance?model_name=churn", nil), 404)
		c.must(200, "POST", fmt.Sprintf("/api/v1/models/%d/activate", m), nil)
		life := c.must(200, "GET", "/api/v1/reports/models/active/performance?model_name=churn", nil)
		if life["model_id"] != float64(m) || life["bucket"] != "1d" || life["total"].(map[string]any)["predictions"] != 6.0 {
			t.Errorf("active lifetime report = %v", life)
		}

		c.must(201, "POST", "/api/v1/alerts", map[string]any{"alert_type": "drift", "severity": "high", "title": "t"})
		ar := c.must(200, "GET", "/api/v1/reports/alerts?days=30", nil)
		if ar["total"] != 1.0 || ar["by_severity"].(map[string]any)["high"] != 1.0 {
			t.Errorf("alerts report = %v", ar)
		}
		c.must(201, "POST", "/api/v1/actions", map[string]any{"action_id": "a1", "action_type": "rollback", "risk_level": "low"})
		ap := c.must(200, "GET", "/api/v1/reports/approvals?days=30", nil)
		if ap["pending"] != 1.0 || len(ap["by_action_type"].([]any)) != 1 {
			t.Errorf("approvals report = %v", ap)
		}
		problem(t, c.do("GET", "/api/v1/reports/approvals?days=x", nil), 422, "query.days")
	})
}

func TestDriftCheckRoute(t *testing.T) {
	loopEach(t, func(t *testing.T, c *client, clk *loopClock) {
		m := c.model("fraud", "v1")
		clk.Set(loopT0.Add(10 * time.Minute))
		c.logBatch(m, 40, 0, 0, 0)
		clk.Set(loopT0.Add(70 * time.Minute))
		c.logBatch(m, 40, 0.5, 0, 0)
		clk.Set(loopT0.Add(2 * time.Hour))
		path := fmt.Sprintf("/api/v1/models/%d/drift-check", m)

		// No body: the last 24 h hold all 80, the 7 days before none.
		p := problem(t, c.do("POST", path, nil), 422, "body.reference")
		if d := p["detail"].(string); !strings.Contains(d, "has 0 predictions") || !strings.Contains(d, "at least 30") {
			t.Errorf("detail = %q", d)
		}
		body := map[string]any{
			"reference": map[string]any{"from": "2026-05-04T00:00:00Z", "to": "2026-05-04T01:00:00Z"},
			"current":   map[string]any{"from": "2026-05-04T01:00:00Z"},
		}
		rep := c.must(201, "POST", path, body)
		x := rep["details"].(map[string]any)["features"].(map[string]any)["x"].(map[string]any)
		if rep["drift_detected"] != true || x["ks"] != 0.5 || x["drifted"] != true || rep["reference_size"] != 40.0 || rep["current_size"] != 40.0 {
			t.Errorf("report = %v", rep)
		}
		for _, k := range []string{"psi", "ks", "p_value", "drifted"} {
			if _, ok := x[k]; !ok {
				t.Errorf("details.features.x lacks %q", k)
			}
		}
		body["psi_threshold"], body["ks_threshold"] = 100.0, 0.9
		if rep := c.must(201, "POST", path, body); rep["drift_detected"] != false {
			t.Errorf("high thresholds: %v", rep)
		}
		body["ks_threshold"] = 2
		problem(t, c.do("POST", path, body), 422, "body.ks_threshold")
		problem(t, c.do("POST", path, `{"bogus": 1}`), 422)
		problem(t, c.do("POST", "/api/v1/models/99999/drift-check", nil), 404)
	})
}

// TestClosingTheLoop is the whole loop through the HTTP API: register and
// activate a model, log predictions from one distribution then a shifted
// one, record ground truth, run the rules, and follow drift report → alert
// → pending action → approve → executed on the timeline.
func TestClosingTheLoop(t *testing.T) {
	loopEach(t, func(t *testing.T, c *client, clk *loopClock) {
		m := c.model("fraud", "v1")
		c.must(200, "POST", fmt.Sprintf("/api/v1/models/%d/activate", m), nil)
		rules := c.must(200, "GET", "/api/v1/rules/fraud", nil)
		if rules["enabled"] != false {
			t.Fatalf("rules on by default: %v", rules)
		}
		c.must(200, "PUT", "/api/v1/rules/fraud", map[string]any{"enabled": true, "min_samples": 20,
			"current_window_seconds": 3600, "reference_window_seconds": 3600,
			"metric": "accuracy", "metric_threshold": 0.9, "metric_window_seconds": 3600, "metric_min_labeled": 20})

		clk.Set(loopT0.Add(10 * time.Minute))
		c.logBatch(m, 40, 0, 1, 1) // reference: x uniform on [0, 1), all correct
		clk.Set(loopT0.Add(70 * time.Minute))
		ids := c.logBatch(m, 40, 0.5, 1, 1) // current: shifted by 0.5
		for _, id := range ids[:20] {       // ground truth: half of them were negatives
			c.must(200, "PUT", fmt.Sprintf("/api/v1/predictions/%d/actual", id), map[string]any{"actual": 0})
		}
		clk.Set(loopT0.Add(2 * time.Hour))

		run := c.must(200, "POST", "/api/v1/rules/run", nil)
		outcomes := run["outcomes"].([]any)
		if run["skipped"] != false || len(outcomes) != 2 {
			t.Fatalf("rules run = %v", run)
		}
		// Running again counts occurrences on the same alerts.
		c.must(200, "POST", "/api/v1/rules/run", nil)

		latest := c.must(200, "GET", fmt.Sprintf("/api/v1/drift-reports/latest?model_id=%d", m), nil)
		if latest["drift_detected"] != true {
			t.Fatalf("latest drift report = %v", latest)
		}
		alerts := c.must(200, "GET", "/api/v1/alerts?status=active", nil)["items"].([]any)
		if len(alerts) != 2 {
			t.Fatalf("active alerts = %v", alerts)
		}
		var driftAlert map[string]any
		for _, a := range alerts {
			a := a.(map[string]any)
			if a["occurrences"] != 2.0 || a["model_id"] != float64(m) {
				t.Errorf("alert = %v", a)
			}
			if a["alert_type"] == "drift_detected" {
				driftAlert = a
			}
		}
		if driftAlert == nil {
			t.Fatalf("no drift alert in %v", alerts)
		}
		pending := c.must(200, "GET", "/api/v1/actions?status=pending", nil)["items"].([]any)
		if len(pending) != 2 {
			t.Fatalf("pending actions = %v", pending)
		}
		var action map[string]any
		for _, a := range pending {
			a := a.(map[string]any)
			if a["issue_id"] == fmt.Sprint(id(driftAlert)) {
				action = a
			}
		}
		if action == nil || action["action_type"] != "retrain_model" || action["issue_type"] != "alert" ||
			action["parameters"].(map[string]any)["drift_report_id"] == nil {
			t.Fatalf("drift action = %v (pending %v)", action, pending)
		}
		aid := action["action_id"].(string)
		clk.Set(loopT0.Add(3 * time.Hour))
		c.must(200, "POST", "/api/v1/actions/"+aid+"/approve", map[string]any{"reviewer": "ann", "comment": "retrain"})
		clk.Set(loopT0.Add(4 * time.Hour))
		c.must(200, "POST", "/api/v1/actions/"+aid+"/executed", map[string]any{"result": map[string]any{"job": 7}})

		perf := c.must(200, "GET", fmt.Sprintf("/api/v1/reports/models/%d/performance?bucket=1h&days=1", m), nil)
		if tot := perf["total"].(map[string]any); tot["labeled"] != 80.0 || tot["accuracy"] != 60.0/80 {
			t.Errorf("performance total = %v", tot)
		}

		tl := c.must(200, "GET", fmt.Sprintf("/api/v1/models/%d/timeline", m), nil)
		var kinds []string
		for _, e := range tl["items"].([]any) {
			kinds = append(kinds, e.(map[string]any)["kind"].(string))
		}
		got := strings.Join(kinds, " ")
		for _, want := range []string{"model.registered model.activated", "drift.reported", "alert.raised", "action.proposed",
			"action.approved action.executed"} {
			if !strings.Contains(got, want) {
				t.Errorf("timeline %q lacks %q", got, want)
			}
		}
		if !strings.HasPrefix(got, "model.registered model.activated") || !strings.HasSuffix(got, "action.approved action.executed") {
			t.Errorf("timeline is not oldest first: %q", got)
		}
		// Paging through the timeline two at a time gives the same stream.
		var paged []string
		cursor := ""
		for i := 0; i < 20; i++ {
			page := c.must(200, "GET", fmt.Sprintf("/api/v1/models/%d/timeline?limit=2&cursor=%s", m, cursor), nil)
			for _, e := range page["items"].([]any) {
				paged = append(paged, e.(map[string]any)["kind"].(string))
			}
			next, _ := page["next_cursor"].(string)
			if next == "" {
				break
			}
			cursor = next
		}
		if strings.Join(paged, " ") != got {
			t.Errorf("paged timeline %q, want %q", strings.Join(paged, " "), got)
		}
		problem(t, c.do("GET", fmt.Sprintf("/api/v1/models/%d/timeline?cursor=nope", m), nil), 422)
	})
}
