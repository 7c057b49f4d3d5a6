package httpapi_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

func TestModels(t *testing.T) {
	each(t, func(t *testing.T, c *client) {
		// The seed's training pipeline: register with metrics (f1 is the
		// seed's name for f1_score), then activate.
		m := c.must(201, "POST", "/api/v1/models", map[string]any{
			"model_name": "churn", "version": "run-1", "algorithm": "RandomForest",
			"metrics":         map[string]any{"accuracy": 0.9, "f1": 0.85},
			"hyperparameters": map[string]any{"n_estimators": 100, "seed": 12345678901234567},
			"feature_names":   []string{"age", "plan"}, "model_path": "/m/1", "metadata_path": "/m/1.json",
			"training_samples": 1000,
		})
		v1 := id(m)
		for k, want := range map[string]any{"f1_score": 0.85, "accuracy": 0.9, "status": "training", "is_active": false,
			"precision": nil, "activated_at": nil, "training_samples": float64(1000)} {
			if got, present := m[k]; !present || got != want {
				t.Errorf("%s = %v (present %v), want %v", k, got, present, want)
			}
		}
		if !strings.Contains(c.do("GET", fmt.Sprintf("/api/v1/models/%d", v1), nil).String(), `"seed":12345678901234567`) {
			t.Errorf("hyperparameters not kept verbatim")
		}
		problem(t, c.do("GET", "/api/v1/models/active", nil), 404)
		a := c.must(200, "POST", fmt.Sprintf("/api/v1/models/%d/activate", v1), nil)
		if a["is_active"] != true || a["status"] != "production" || a["activated_at"] == nil {
			t.Fatalf("activate: %v", a)
		}
		// Activating the active version succeeds and changes nothing.
		again := c.must(200, "POST", fmt.Sprintf("/api/v1/models/%d/activate", v1), nil)
		if again["activated_at"] != a["activated_at"] {
			t.Errorf("re-activation changed activated_at: %v -> %v", a["activated_at"], again["activated_at"])
		}
		v2 := c.model("churn", "run-2")
		c.must(200, "POST", fmt.Sprintf("/api/v1/models/%d/activate", v2), nil)
		old := c.must(200, "GET", fmt.Sprintf("/api/v1/models/%d", v1), nil)
		if old["is_active"] != false || old["status"] != "archived" {
			t.Errorf("previous version: %v, want inactive and archived", old)
		}
		// "active" is the literal route, not {id}.
		if got := id(c.must(200, "GET", "/api/v1/models/active?model_name=churn", nil)); got != v2 {
			t.Errorf("active = %d, want %d", got, v2)
		}
		if got := id(c.must(200, "GET", "/api/v1/models/active", nil)); got != v2 {
			t.Errorf("active of any model = %d, want %d", got, v2)
		}
		problem(t, c.do("GET", "/api/v1/models/active?model_name=nope", nil), 404)

		// Lists and filters.
		c.model("other", "1")
		l := c.must(200, "GET", "/api/v1/models?model_name=churn", nil)
		if items := l["items"].([]any); len(items) != 2 || id(items[0].(map[string]any)) != v2 || l["next_cursor"] != nil {
			t.Errorf("list model_name=churn: %v", l)
		}
		if items := c.must(200, "GET", "/api/v1/models?status=archived", nil)["items"].([]any); len(items) != 1 {
			t.Errorf("status=archived: %d items, want 1", len(items))
		}
		problem(t, c.do("GET", "/api/v1/models?status=retired", nil), 422, "query.status")

		// Errors.
		problem(t, c.do("POST", "/api/v1/models", map[string]any{"model_name": "churn", "version": "run-1", "algorithm": "x"}), 409)
		problem(t, c.do("GET", "/api/v1/models/999999", nil), 404)
		problem(t, c.do("POST", "/api/v1/models/999999/activate", nil), 404)
		problem(t, c.do("GET", "/api/v1/models/abc", nil), 422, "path.id")
		problem(t, c.do("POST", "/api/v1/models", `{"model_name": "x",`), 400)
		problem(t, c.do("POST", "/api/v1/models", map[string]any{"model_name": "x", "version": "1", "algorithm": "a", "colour": "red"}), 422, "body.colour")
		problem(t, c.do("POST", "/api/v1/models", map[string]any{"model_name": "x", "version": "1", "algorithm": "a",
			"metrics": map[string]any{"accuracy": 1.5, "f1_score": -0.1}}), 422, "body.metrics.accuracy", "body.metrics.f1_score")
		problem(t, c.do("POST", "/api/v1/models", map[string]any{"model_name": "x", "version": "1", "algorithm": "a",
			"metrics": map[string]any{"f1": 0.5, "f1_score": 0.6}}), 422, "body.metrics.f1")
		problem(t, c.do("POST", "/api/v1/models", map[string]any{"version": "1", "algorithm": "a"}), 422, "body.model_name")
		problem(t, c.do("POST", "/api/v1/models", map[string]any{"model_name": "  ", "version": "1", "algorithm": "a"}), 422, "body.model_name")
		problem(t, c.do("POST", "/api/v1/models", map[string]any{"model_name": "x", "version": "1", "algorithm": "a", "training_samples": -1}), 422, "body.training_samples")
		problem(t, c.do("POST", "/api/v1/models", map[string]any{"model_name": "x\u0000y", "version": "1", "algorithm": "a"}), 422, "body.model_name")
		problem(t, c.do("POST", "/api/v1/models", map[string]any{"model_name": "x", "version": "1", "algorithm": "a", "status": "gone"}), 422, "body.status")
		problem(t, c.do("POST", "/api/v1/models", map[string]any{"model_name": "x", "version": "1", "algorithm": "a", "hyperparameters": []int{1}}), 422, "body.hyperparameters")
		problem(t, c.do("POST", "/api/v1/models", `[]`), 422)
		problem(t, c.do("POST", "/api/v1/models", ""), 400)
		problem(t, c.do("POST", "/api/v1/models", `{"model_name":"`+strings.Repeat("x", 1<<20)+`"}`), 413)
		problem(t, c.do("DELETE", "/api/v1/models", nil), 405)
		problem(t, c.do("GET", "/api/v1/modelz", nil), 404)
		if n := c.count("model_versions"); n != 3 {
			t.Errorf("%d model versions stored, want 3: a rejected request stored something", n)
		}
		// Unicode is stored verbatim.
		u := c.must(201, "POST", "/api/v1/models", map[string]any{"model_name": "模型 🚀", "version": "ü\u00a0", "algorithm": "a"})
		if u["model_name"] != "模型 🚀" || u["version"] != "ü\u00a0" {
			t.Errorf("unicode not verbatim: %v", u)
		}
	})
}

func TestPredictions(t *testing.T) {
	each(t, func(t *testing.T, c *client) {
		mid := c.model("churn", "1")
		// The seed's /predict: log every prediction with its features.
		p := c.must(201, "POST", "/api/v1/predictions", map[string]any{
			"model_id": mid, "features": map[string]any{"age": 42, "plan": "pro"}, "prediction": 1,
			"probability": 0.87, "latency_ms": 12.5})
		pid := id(p)
		if p["actual"] != nil || p["created_at"] == nil {
			t.Errorf("new prediction: %v", p)
		}
		if _, present := p["actual"]; !present {
			t.Errorf("actual is absent, want null")
		}
		got := c.must(200, "GET", fmt.Sprintf("/api/v1/predictions/%d", pid), nil)
		if got["features"].(map[string]any)["plan"] != "pro" {
			t.Errorf("features: %v", got["features"])
		}
		a := c.must(200, "PUT", fmt.Sprintf("/api/v1/predictions/%d/actual", pid), map[string]any{"actual": 0})
		if a["actual"] != float64(0) {
			t.Errorf("actual = %v, want 0", a["actual"])
		}
		problem(t, c.do("PUT", "/api/v1/predictions/999999/actual", map[string]any{"actual": 1}), 404)
		problem(t, c.do("PUT", fmt.Sprintf("/api/v1/predictions/%d/actual", pid), map[string]any{"actual": "yes"}), 422, "body.actual")
		problem(t, c.do("GET", "/api/v1/predictions/999999", nil), 404)
		problem(t, c.do("POST", "/api/v1/predictions", map[string]any{"model_id": 999999, "prediction": 1}), 422, "body.model_id")
		problem(t, c.do("POST", "/api/v1/predictions", map[string]any{"model_id": mid, "prediction": 1, "probability": 1.5}), 422, "body.probability")
		problem(t, c.do("POST", "/api/v1/predictions", map[string]any{"model_id": mid, "prediction": 1.5}), 422, "body.prediction")
		problem(t, c.do("POST", "/api/v1/predictions", map[string]any{"model_id": mid, "prediction": 1, "latency_ms": -1}), 422, "body.latency_ms")
		problem(t, c.do("POST", "/api/v1/predictions", map[string]any{"model_id": mid, "prediction": 1, "features": "x"}), 422, "body.features")
		problem(t, c.do("POST", "/api/v1/predictions", map[string]any{"model_id": mid, "prediction": 1, "feature": map[string]any{}}), 422, "body.feature")

		// Batch: all or nothing, 201 {count, ids}.
		items := make([]map[string]any, 500)
		for i := range items {
			items[i] = map[string]any{"model_id": mid, "features": map[string]any{"i": i}, "prediction": i % 2, "probability": 0.5}
		}
		b := c.must(201, "POST", "/api/v1/predictions/batch", map[string]any{"predictions": items})
		if b["count"] != float64(500) || len(b["ids"].([]any)) != 500 {
			t.Fatalf("batch: count %v, %d ids", b["count"], len(b["ids"].([]any)))
		}
		last := int64(b["ids"].([]any)[499].(float64))
		if f := c.must(200, "GET", fmt.Sprintf("/api/v1/predictions/%d", last), nil)["features"].(map[string]any); f["i"] != float64(499) {
			t.Errorf("ids not in input order: %v", f)
		}
		before := c.count("predictions")
		items[3]["probability"] = 7
		problem(t, c.do("POST", "/api/v1/predictions/batch", map[string]any{"predictions": items}), 422, "body.predictions[3].probability")
		items[3]["probability"] = 0.5
		items[7]["model_id"] = 999999
		problem(t, c.do("POST", "/api/v1/predictions/batch", map[string]any{"predictions": items}), 422, "body.predictions[7].model_id")
		items[7]["model_id"] = mid
		big := make([]map[string]any, 10001)
		for i := range big {
			big[i] = map[string]any{"model_id": mid, "prediction": 1}
		}
		problem(t, c.do("POST", "/api/v1/predictions/batch", map[string]any{"predictions": big}), 422, "body.predictions")
		problem(t, c.do("POST", "/api/v1/predictions/batch", `{"predictions":[`+strings.Repeat(`{"model_id":1,"prediction":1,"features":{"pad":"`+strings.Repeat("x", 4000)+`"}},`, 4300)+`]}`), 413)
		if after := c.count("predictions"); after != before {
			t.Errorf("rejected batches stored %d rows", after-before)
		}
		// The largest batch passes.
		b = c.must(201, "POST", "/api/v1/predictions/batch", map[string]any{"predictions": big[:10000]})
		if b["count"] != float64(10000) {
			t.Errorf("10,000 batch: count %v", b["count"])
		}

		// Recent predictions of a model.
		l := c.must(200, "GET", fmt.Sprintf("/api/v1/predictions?model_id=%d&hours=1&limit=10", mid), nil)
		if len(l["items"].([]any)) != 10 || l["next_cursor"] == nil {
			t.Errorf("recent: %d items, next %v", len(l["items"].([]any)), l["next_cursor"])
		}
		if items := c.must(200, "GET", fmt.Sprintf("/api/v1/predictions?model_id=%d&hours=0", mid), nil)["items"].([]any); len(items) != 0 {
			t.Errorf("hours=0: %d items, want 0", len(items))
		}
		problem(t, c.do("GET", "/api/v1/predictions", nil), 422, "query.model_id")
		problem(t, c.do("GET", fmt.Sprintf("/api/v1/predictions?model_id=%d&hours=-1", mid), nil), 422, "query.hours")
		problem(t, c.do("GET", fmt.Sprintf("/api/v1/predictions?model_id=%d&hours=soon", mid), nil), 422, "query.hours")
		problem(t, c.do("GET", fmt.Sprintf("/api/v1/predictions?model_id=%d&limit=1001", mid), nil), 422, "query.limit")
		problem(t, c.do("GET", fmt.Sprintf("/api/v1/predictions?model_id=%d&limit=-5", mid), nil), 422, "query.limit")
		problem(t, c.do("GET", fmt.Sprintf("/api/v1/predictions?model_id=%d&modelid=3", mid), nil), 422, "query.modelid")
	})
}

func TestDriftReports(t *testing.T) {
	each(t, func(t *testing.T, c *client) {
		mid := c.model("churn", "1")
		problem(t, c.do("GET", "/api/v1/drift-reports/latest", nil), 404)
		d := c.must(201, "POST", "/api/v1/drift-reports", map[string]any{
			"model_id": mid, "drift_detected": true, "drift_score": 0.4, "drifted_features": []string{"age", "plan"},
			"report_path": "/r/1.html", "reference_size": 1000, "current_size": 500})
		if d["n_drifted_features"] != float64(2) {
			t.Errorf("n_drifted_features = %v, want 2", d["n_drifted_features"])
		}
		c.must(201, "POST", "/api/v1/drift-reports", map[string]any{"model_id": mid, "drift_detected": false, "n_drifted_features": 0})
		latest := c.must(200, "GET", fmt.Sprintf("/api/v1/drift-reports/latest?model_id=%d", mid), nil)
		if latest["drift_detected"] != false {
			t.Errorf("latest: %v", latest)
		}
		if items := c.must(200, "GET", fmt.Sprintf("/api/v1/drift-reports?model_id=%d&days=30", mid), nil)["items"].([]any); len(items) != 2 {
			t.Errorf("history: %d items, want 2", len(items))
		}
		problem(t, c.do("POST", "/api/v1/drift-reports", map[string]any{"model_id": mid, "drift_detected": true,
			"drifted_features": []string{"a"}, "n_drifted_features": 3}), 422, "body.n_drifted_features")
		problem(t, c.do("POST", "/api/v1/drift-reports", map[string]any{"model_id": 999999, "drift_detected": true}), 422, "body.model_id")
		problem(t, c.do("POST", "/api/v1/drift-reports", map[string]any{"model_id": mid}), 422, "body.drift_detected")
		problem(t, c.do("GET", "/api/v1/drift-reports?days=-3", nil), 422, "query.days")
		problem(t, c.do("GET", "/api/v1/drift-reports/latest?model_id=999999", nil), 404)
	})
}

func TestActions(t *testing.T) {
	each(t, func(t *testing.T, c *client) {
		// The seed's agent: file an action for approval; a reviewer approves;
		// the executor marks it executed.
		a := c.must(201, "POST", "/api/v1/actions", map[string]any{
			"action_id": "act_123", "action_type": "retrain_model", "description": "Retrain due to drift",
			"risk_level": "medium", "issue_id": "issue_456", "parameters": map[string]any{"model": "churn"}})
		if a["status"] != "pending" || a["requires_approval"] != true || a["reviewed_by"] != nil || a["execution_result"] != nil {
			t.Fatalf("new action: %v", a)
		}
		for _, k := range []string{"reviewed_by", "reviewed_at", "review_comment", "executed_at", "execution_result"} {
			if _, present := a[k]; !present {
				t.Errorf("%s absent, want null", k)
			}
		}
		queue := c.must(200, "GET", "/api/v1/actions?status=pending", nil)["items"].([]any)
		if len(queue) != 1 || queue[0].(map[string]any)["action_id"] != "act_123" {
			t.Errorf("approval queue: %v", queue)
		}
		ap := c.must(200, "POST", "/api/v1/actions/act_123/approve", map[string]any{"reviewer": "admin", "comment": "Approved"})
		if ap["status"] != "approved" || ap["reviewed_by"] != "admin" || ap["review_comment"] != "Approved" || ap["reviewed_at"] == nil {
			t.Errorf("approved: %v", ap)
		}
		rej := problem(t, c.do("POST", "/api/v1/actions/act_123/reject", map[string]any{"reviewer": "bob"}), 409)
		if d := rej["detail"].(string); !strings.Contains(d, "approved") || !strings.Contains(d, "admin") {
			t.Errorf("409 detail does not say why: %q", d)
		}
		ex := c.must(200, "POST", "/api/v1/actions/act_123/executed", map[string]any{"result": map[string]any{"status": "success"}})
		if ex["status"] != "executed" || ex["executed_at"] == nil || ex["execution_result"].(map[string]any)["status"] != "success" {
			t.Errorf("executed: %v", ex)
		}
		problem(t, c.do("POST", "/api/v1/actions/act_123/failed", nil), 409)
		if got := c.must(200, "GET", "/api/v1/actions/act_123", nil); got["status"] != "executed" {
			t.Errorf("a refused transition changed the action: %v", got)
		}

		// Without approval it starts approved and can fail (with a body-less call).
		c.must(201, "POST", "/api/v1/actions", map[string]any{"action_id": "act_2", "action_type": "scale", "risk_level": "low", "requires_approval": false})
		f := c.must(200, "POST", "/api/v1/actions/act_2/failed", nil)
		if f["status"] != "failed" || f["executed_at"] == nil {
			t.Errorf("failed: %v", f)
		}
		c.must(201, "POST", "/api/v1/actions", map[string]any{"action_id": "act_3", "action_type": "scale", "risk_level": "high"})
		c.must(200, "POST", "/api/v1/actions/act_3/reject", map[string]any{"reviewer": "carol"})
		problem(t, c.do("POST", "/api/v1/actions/act_3/executed", map[string]any{"result": map[string]any{}}), 409)

		problem(t, c.do("POST", "/api/v1/actions", map[string]any{"action_id": "act_123", "action_type": "x", "risk_level": "low"}), 409)
		problem(t, c.do("POST", "/api/v1/actions", map[string]any{"action_id": "act_9", "action_type": "x", "risk_level": "extreme"}), 422, "body.risk_level")
		problem(t, c.do("POST", "/api/v1/actions/act_9/approve", map[string]any{"reviewer": "x"}), 404)
		problem(t, c.do("GET", "/api/v1/actions/act_9", nil), 404)
		c.must(201, "POST", "/api/v1/actions", map[string]any{"action_id": "act_4", "action_type": "x", "risk_level": "low"})
		problem(t, c.do("POST", "/api/v1/actions/act_4/approve", map[string]any{"reviewer": ""}), 422, "body.reviewer")
		problem(t, c.do("POST", "/api/v1/actions/act_4/approve", map[string]any{}), 422, "body.reviewer")
		problem(t, c.do("POST", "/api/v1/actions/act_4/approve", nil), 422, "body.reviewer")
		problem(t, c.do("POST", "/api/v1/actions/act_4/executed", map[string]any{"result": 3}), 422, "body.result")
		problem(t, c.do("GET", "/api/v1/actions?status=waiting", nil), 422, "query.status")
		if got := c.must(200, "GET", "/api/v1/actions/act_4", nil); got["status"] != "pending" {
			t.Errorf("rejected requests changed act_4: %v", got)
		}
	})
}

func TestMetrics(t *testing.T) {
	each(t, func(t *testing.T, c *client) {
		mid := c.model("churn", "1")
		m := c.must(201, "POST", "/api/v1/metrics", map[string]any{"metric_name": "api_latency", "metric_value": 25.3,
			"model_id": mid, "metadata": map[string]any{"endpoint": "/predict"}})
		if m["metric_value"] != 25.3 || id(m) == 0 {
			t.Errorf("metric: %v", m)
		}
		batch := make([]map[string]any, 100)
		for i := range batch {
			batch[i] = map[string]any{"metric_name": "api_latency", "metric_value": float64(i)}
		}
		if b := c.must(201, "POST", "/api/v1/metrics/batch", map[string]any{"metrics": batch}); b["count"] != float64(100) {
			t.Errorf("batch: %v", b)
		}
		batch[2]["metric_value"] = "fast"
		problem(t, c.do("POST", "/api/v1/metrics/batch", map[string]any{"metrics": batch}), 422, "body.metrics[2].metric_value")
		batch[2]["metric_value"] = 1
		batch[5]["model_id"] = 999999
		problem(t, c.do("POST", "/api/v1/metrics/batch", map[string]any{"metrics": batch}), 422, "body.metrics[5].model_id")
		if n := c.count("performance_metrics"); n != 101 {
			t.Errorf("%d points stored, want 101", n)
		}

		s := c.must(200, "GET", "/api/v1/metrics/api_latency?days=7", nil)
		pts := s["points"].([]any)
		if s["metric_name"] != "api_latency" || len(pts) != 101 || s["bucket"] != nil {
			t.Fatalf("series: name %v, %d points, bucket %v", s["metric_name"], len(pts), s["bucket"])
		}
		first, lastPt := pts[0].(map[string]any), pts[100].(map[string]any)
		if first["value"] != 25.3 || lastPt["value"] != float64(99) || first["created_at"] == nil {
			t.Errorf("series not oldest first: first %v, last %v", first, lastPt)
		}
		if pts := c.must(200, "GET", fmt.Sprintf("/api/v1/metrics/api_latency?model_id=%d", mid), nil)["points"].([]any); len(pts) != 1 {
			t.Errorf("model_id filter: %d points, want 1", len(pts))
		}
		if pts := c.must(200, "GET", "/api/v1/metrics/unknown_metric", nil)["points"].([]any); len(pts) != 0 {
			t.Errorf("unknown metric: %d points", len(pts))
		}
		bk := c.must(200, "GET", "/api/v1/metrics/api_latency?bucket=1d", nil)
		bp := bk["points"].([]any)
		var total float64
		for _, p := range bp {
			total += p.(map[string]any)["count"].(float64)
		}
		if bk["bucket"] != "1d" || total != 101 || bp[0].(map[string]any)["bucket_start"] == nil || bp[0].(map[string]any)["max"] == nil {
			t.Errorf("buckets: %v", bk)
		}
		problem(t, c.do("GET", "/api/v1/metrics/api_latency?bucket=2h", nil), 422, "query.bucket")
		problem(t, c.do("GET", "/api/v1/metrics/api_latency?days=-1", nil), 422, "query.days")
		problem(t, c.do("GET", "/api/v1/metrics/api_latency?days=x", nil), 422, "query.days")
		problem(t, c.do("POST", "/api/v1/metrics", map[string]any{"metric_name": "", "metric_value": 1}), 422, "body.metric_name")
		problem(t, c.do("POST", "/api/v1/metrics", map[string]any{"metric_name": "x", "metric_value": 1, "model_id": 999999}), 422, "body.model_id")
		problem(t, c.do("POST", "/api/v1/metrics", `{"metric_name":"x","metric_value":NaN}`), 400)
	})
}

func TestAlerts(t *testing.T) {
	each(t, func(t *testing.T, c *client) {
		a := c.must(201, "POST", "/api/v1/alerts", map[string]any{"alert_type": "performance_degradation", "severity": "high",
			"title": "Model F1 Score Dropped", "message": "F1 score dropped from 0.85 to 0.72", "related_data": map[string]any{"model_id": 1}})
		aid := id(a)
		if a["status"] != "active" || a["acknowledged_by"] != nil || a["resolution_notes"] != nil {
			t.Errorf("new alert: %v", a)
		}
		c.must(201, "POST", "/api/v1/alerts", map[string]any{"alert_type": "x", "severity": "info", "title": "t"})
		if items := c.must(200, "GET", "/api/v1/alerts?status=active", nil)["items"].([]any); len(items) != 2 {
			t.Errorf("active alerts: %d", len(items))
		}
		if items := c.must(200, "GET", "/api/v1/alerts?severity=high", nil)["items"].([]any); len(items) != 1 {
			t.Errorf("high alerts: %d", len(items))
		}
		ack := c.must(200, "POST", fmt.Sprintf("/api/v1/alerts/%d/acknowledge", aid), map[string]any{"user": "admin"})
		if ack["status"] != "acknowledged" || ack["acknowledged_by"] != "admin" || ack["acknowledged_at"] == nil {
			t.Errorf("acknowledged: %v", ack)
		}
		problem(t, c.do("POST", fmt.Sprintf("/api/v1/alerts/%d/acknowledge", aid), map[string]any{"user": "admin"}), 409)
		res := c.must(200, "POST", fmt.Sprintf("/api/v1/alerts/%d/resolve", aid), map[string]any{"user": "admin", "notes": "Retrained model"})
		if res["status"] != "resolved" || res["resolution_notes"] != "Retrained model" || res["resolved_at"] == nil {
			t.Errorf("resolved: %v", res)
		}
		problem(t, c.do("POST", fmt.Sprintf("/api/v1/alerts/%d/resolve", aid), map[string]any{"user": "admin"}), 409)
		problem(t, c.do("POST", fmt.Sprintf("/api/v1/alerts/%d/acknowledge", aid), map[string]any{"user": "admin"}), 409)
		if got := c.must(200, "GET", fmt.Sprintf("/api/v1/alerts/%d", aid), nil); got["status"] != "resolved" {
			t.Errorf("get: %v", got)
		}
		problem(t, c.do("GET", "/api/v1/alerts/999999", nil), 404)
		problem(t, c.do("POST", "/api/v1/alerts/999999/resolve", map[string]any{"user": "x"}), 404)
		problem(t, c.do("POST", "/api/v1/alerts", map[string]any{"alert_type": "x", "severity": "dire", "title": "t"}), 422, "body.severity")
		problem(t, c.do("POST", "/api/v1/alerts", map[string]any{"alert_type": "x", "severity": "low"}), 422, "body.title")
		problem(t, c.do("POST", "/api/v1/alerts/1/acknowledge", map[string]any{"user": "x", "when": "now"}), 422, "body.when")
		problem(t, c.do("GET", "/api/v1/alerts?status=open", nil), 422, "query.status")
	})
}

func TestOperations(t *testing.T) {
	each(t, func(t *testing.T, c *client) {
		c.must(200, "GET", "/healthz", nil)
		if r := c.must(200, "GET", "/readyz", nil); r["status"] != "ready" {
			t.Errorf("readyz: %v", r)
		}
		c.model("churn", "1")
		c.must(201, "POST", "/api/v1/predictions/batch", map[string]any{"predictions": []any{
			map[string]any{"model_id": 1, "prediction": 1}, map[string]any{"model_id": 1, "prediction": 0}}})
		c.do("GET", "/api/v1/models/424242", nil)
		r := c.do("GET", "/metrics", nil)
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
			t.Fatalf("/metrics: %d %s", r.status, r.header.Get("Content-Type"))
		}
		for _, want := range []string{
			`mlops_http_requests_total{code="201",route="POST /api/v1/models"} 1`,
			`mlops_http_requests_total{code="404",route="GET /api/v1/models/{id}"} 1`,
			`mlops_http_request_duration_seconds_bucket{route="GET /readyz",le="+Inf"} 1`,
			`mlops_rows_ingested_total{table="predictions"} 2`,
			`mlops_rows_ingested_total{table="model_versions"} 1`,
			`mlops_db_connections_open{pool=`,
			`mlops_db_connections_max{pool=`,
			`mlops_ingest_batches_total `,
		} {
			if !strings.Contains(string(r.raw), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		// X-Request-ID in and out, and one log line per request with it.
		req := c.do("GET", "/healthz", nil)
		if len(req.header.Get("X-Request-ID")) < 8 {
			t.Errorf("no X-Request-ID in the answer")
		}
		logs := c.logs.String()
		if !strings.Contains(logs, `route="GET /api/v1/models/{id}" path=/api/v1/models/424242 status=404`) ||
			!strings.Contains(logs, "request_id="+req.header.Get("X-Request-ID")) {
			t.Errorf("request log lines missing:\n%s", logs)
		}
	})
}

// TestInternalErrorHidesInternals: an error the mapper does not know (here:
// the store closed under the server) is a 500 whose answer carries the
// request id but no internals, and whose log line has both.
func TestInternalErrorHidesInternals(t *testing.T) {
	st := storetest.Open(t, store.SQLite, store.Options{})
	c := serve(t, st)
	st.Close()
	r := c.do("GET", "/api/v1/alerts/1", nil)
	p := problem(t, r, 500)
	rid := r.header.Get("X-Request-ID")
	if d := p["detail"].(string); !strings.Contains(d, rid) || strings.Contains(d, "closed") || strings.Contains(d, "sql") {
		t.Errorf("500 detail %q: want the request id %s and no internals", d, rid)
	}
	if logs := c.logs.String(); !strings.Contains(logs, `msg="internal error" request_id=`+rid) || !strings.Contains(logs, "closed") {
		t.Errorf("the 500 is not logged with its cause and request id:\n%s", logs)
	}
}

// TestLargeSeriesStreams: a series larger than any buffer arrives whole,
// oldest first, as one valid document.
func TestLargeSeriesStreams(t *testing.T) {
	each(t, func(t *testing.T, c *client) {
		const batches, per = 3, 10000
		for b := 0; b < batches; b++ {
			pts := make([]map[string]any, per)
			for i := range pts {
				pts[i] = map[string]any{"metric_name": "big", "metric_value": float64(b*per + i)}
			}
			c.must(201, "POST", "/api/v1/metrics/batch", map[string]any{"metrics": pts})
		}
		s := c.must(200, "GET", "/api/v1/metrics/big", nil)
		pts := s["points"].([]any)
		if len(pts) != batches*per {
			t.Fatalf("%d points, want %d", len(pts), batches*per)
		}
		for i, p := range pts {
			if v := p.(map[string]any)["value"].(float64); v != float64(i) {
				t.Fatalf("point %d has value %v: not oldest first", i, v)
			}
		}
	})
}
