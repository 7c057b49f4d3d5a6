package httpapi_test

import (
	"strings"
	"testing"

	"github.com/mlopsdev/mlops/store"
)

// The fuzz targets post arbitrary bytes to every route that takes a JSON
// body. Properties: no input yields a 5xx, every refusal is a problem
// document, and a refused input changes nothing in the database. The seed
// corpus below runs in every `go test`; `go test -fuzz FuzzCreateModel
// ./internal/httpapi/` explores further. They run on SQLite (the JSON
// decoding they target is the same on both engines; the engine-specific
// refusals, such as NUL, are covered by the route tests).

// common inputs every body route must survive.
var hostile = []string{
	``, `null`, `[]`, `{}`, `"x"`, `1`, `{`, `{"a":}`, `{"a":1,}`, `{} {}`, `{"a":1}garbage`,
	`{"model_id":1e400}`, `{"model_id":9223372036854775808}`, `{"model_id":-9223372036854775809}`,
	`{"model_id":1.0000000001}`, `{"model_id":"1"}`, `{"model_id":null}`, `{"model_id":true}`,
	"{\"x\":\"\xff\xfe\"}", `{"x":"\ud800"}`, `{"x":"\u0000"}`, strings.Repeat(`[`, 10000),
	strings.Repeat(`{"a":`, 5000) + `1` + strings.Repeat(`}`, 5000), `{"MODEL_ID":1}`, `{"model_id":1,"model_id":2}`,
	`{"__proto__":{}}`, "\xef\xbb\xbf{}", `{"a":1e-400}`, `{"metrics":{"accuracy":"NaN"}}`,
}

func fuzzRoute(f *testing.F, method, path string, seeds ...string) {
	c := start(f, store.SQLite)
	mid := c.model("fz", "1")
	c.must(201, "POST", "/api/v1/predictions", map[string]any{"model_id": mid, "prediction": 1})
	c.must(201, "POST", "/api/v1/actions", map[string]any{"action_id": "fz", "action_type": "t", "risk_level": "low"})
	c.must(201, "POST", "/api/v1/actions", map[string]any{"action_id": "fz-ok", "action_type": "t", "risk_level": "low", "requires_approval": false})
	c.must(201, "POST", "/api/v1/alerts", map[string]any{"alert_type": "t", "severity": "low", "title": "t"})
	for _, s := range append(seeds, hostile...) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tc := *c
		tc.t = t
		before := tc.snapshot()
		r := tc.do(method, path, body)
		if r.status >= 500 {
			t.Fatalf("%s %s with %q: %s", method, path, body, r)
		}
		if r.status >= 300 {
			if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("%s %s with %q: refusal with Content-Type %q: %s", method, path, body, ct, r)
			}
			if after := tc.snapshot(); after != before {
				t.Fatalf("%s %s with %q was refused (%d) but changed the database:\n%s\n%s", method, path, body, r.status, before, after)
			}
		}
	})
}

// snapshot summarises every table's rows and states (SQLite).
func (c *client) snapshot() string {
	c.t.Helper()
	var s string
	err := c.st.DB().QueryRow(`SELECT
		(SELECT count(*) || ':' || coalesce(group_concat(id || is_active || status), '') FROM model_versions) || '|' ||
		(SELECT count(*) || ':' || coalesce(group_concat(id || ':' || coalesce(actual, 'n')), '') FROM predictions) || '|' ||
		(SELECT count(*) FROM drift_reports) || '|' ||
		(SELECT count(*) || ':' || coalesce(group_concat(action_id || status || coalesce(reviewed_by, '') || coalesce(execution_result, '')), '') FROM agent_actions) || '|' ||
		(SELECT count(*) FROM performance_metrics) || '|' ||
		(SELECT count(*) || ':' || coalesce(group_concat(id || status || coalesce(acknowledged_by, '') || coalesce(resolution_notes, '')), '') FROM alerts)`).Scan(&s)
	if err != nil {
		c.t.Fatalf("snapshot: %v", err)
	}
	return s
}

func FuzzCreateModel(f *testing.F) {
	fuzzRoute(f, "POST", "/api/v1/models",
		`{"model_name":"m","version":"2","algorithm":"rf","metrics":{"f1":0.5,"accuracy":0.9},"hyperparameters":{"a":[1,{"b":null}]},"feature_names":["x"],"training_samples":3}`,
		`{"model_name":"m","version":"3","algorithm":"rf","metrics":{"f1":0.5,"f1_score":0.6}}`,
		`{"model_name":"fz","version":"1","algorithm":"rf"}`,
		`{"model_name":"m","version":"4","algorithm":"rf","status":"production"}`,
		`{"model_name":"m","version":"5","algorithm":"rf","feature_names":["",1]}`,
		`{"model_name":"m\u0000","version":"6","algorithm":"rf"}`,
		`{"model_name":"m","version":"7","algorithm":"rf","hyperparameters":{"k":"\u0000"}}`)
}

func FuzzCreatePrediction(f *testing.F) {
	fuzzRoute(f, "POST", "/api/v1/predictions",
		`{"model_id":1,"features":{"age":42},"prediction":1,"probability":0.9,"latency_ms":3}`,
		`{"model_id":2,"prediction":1}`, `{"model_id":1,"prediction":1,"probability":1.01}`,
		`{"model_id":1,"prediction":1,"features":[]}`, `{"model_id":1,"prediction":1,"actual":null}`)
}

func FuzzCreatePredictionBatch(f *testing.F) {
	fuzzRoute(f, "POST", "/api/v1/predictions/batch",
		`{"predictions":[{"model_id":1,"prediction":1},{"model_id":1,"prediction":0,"probability":0.2}]}`,
		`{"predictions":[{"model_id":1,"prediction":1},{"model_id":9,"prediction":0}]}`,
		`{"predictions":[{"model_id":1,"prediction":1},{"model_id":1,"prediction":0,"probability":2}]}`,
		`{"predictions":[]}`, `{"predictions":null}`, `{"predictions":[null]}`, `{"predictions":{}}`)
}

func FuzzSetActual(f *testing.F) {
	fuzzRoute(f, "PUT", "/api/v1/predictions/1/actual", `{"actual":1}`, `{"actual":-3}`, `{"actual":"1"}`, `{"actual":1.5}`)
}

func FuzzCreateDriftReport(f *testing.F) {
	fuzzRoute(f, "POST", "/api/v1/drift-reports",
		`{"model_id":1,"drift_detected":true,"drift_score":0.3,"drifted_features":["a","b"],"n_drifted_features":2}`,
		`{"model_id":1,"drift_detected":true,"drifted_features":["a"],"n_drifted_features":5}`,
		`{"model_id":1,"drift_detected":"yes"}`, `{"model_id":1,"drift_detected":false,"reference_size":-1}`)
}

func FuzzCreateAction(f *testing.F) {
	fuzzRoute(f, "POST", "/api/v1/actions",
		`{"action_id":"a1","action_type":"retrain","risk_level":"medium","parameters":{"x":1}}`,
		`{"action_id":"fz","action_type":"retrain","risk_level":"low"}`,
		`{"action_id":"a2","action_type":"retrain","risk_level":"severe"}`,
		`{"action_id":"a3","action_type":"retrain","risk_level":"low","requires_approval":null}`)
}

func FuzzApproveAction(f *testing.F) {
	fuzzRoute(f, "POST", "/api/v1/actions/fz/approve", `{"reviewer":"admin","comment":"ok"}`, `{"reviewer":""}`, `{"comment":"x"}`)
}

func FuzzRejectAction(f *testing.F) {
	fuzzRoute(f, "POST", "/api/v1/actions/fz/reject", `{"reviewer":"admin"}`, `{"reviewer":1}`)
}

func FuzzActionExecuted(f *testing.F) {
	fuzzRoute(f, "POST", "/api/v1/actions/fz-ok/executed", `{"result":{"status":"success"}}`, `{"result":[1]}`, `{"result":null}`)
}

func FuzzActionFailed(f *testing.F) {
	fuzzRoute(f, "POST", "/api/v1/actions/fz-ok/failed", `{"result":{"error":"boom"}}`, `{"result":"boom"}`)
}

func FuzzCreateMetric(f *testing.F) {
	fuzzRoute(f, "POST", "/api/v1/metrics",
		`{"metric_name":"api_latency","metric_value":25.3,"model_id":1,"metadata":{"endpoint":"/predict"}}`,
		`{"metric_name":"x","metric_value":1,"model_id":0}`, `{"metric_name":"x","metric_value":1e308}`)
}

func FuzzCreateMetricBatch(f *testing.F) {
	fuzzRoute(f, "POST", "/api/v1/metrics/batch",
		`{"metrics":[{"metric_name":"a","metric_value":1},{"metric_name":"b","metric_value":2,"model_id":1}]}`,
		`{"metrics":[{"metric_name":"a","metric_value":1},{"metric_name":"","metric_value":2}]}`)
}

func FuzzCreateAlert(f *testing.F) {
	fuzzRoute(f, "POST", "/api/v1/alerts",
		`{"alert_type":"drift","severity":"high","title":"t","message":"m","related_data":{"model_id":1}}`,
		`{"alert_type":"drift","severity":"urgent","title":"t"}`)
}

func FuzzAcknowledgeAlert(f *testing.F) {
	fuzzRoute(f, "POST", "/api/v1/alerts/1/acknowledge", `{"user":"admin"}`, `{"user":"   "}`)
}

func FuzzResolveAlert(f *testing.F) {
	fuzzRoute(f, "POST", "/api/v1/alerts/1/resolve", `{"user":"admin","notes":"fixed"}`, `{"notes":"x"}`)
}
