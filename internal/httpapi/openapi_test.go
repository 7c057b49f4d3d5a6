package httpapi_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/mlopsdev/mlops/store"
)

// contract lists every route of API.md with the statuses it must document
// besides its success status.
var contract = []struct {
	method, path string
	success      string
	statuses     []string
}{
	{"POST", "/api/v1/models", "201", []string{"400", "409", "413", "422", "503"}},
	{"GET", "/api/v1/models", "200", []string{"422", "503"}},
	{"GET", "/api/v1/models/{id}", "200", []string{"404", "503"}},
	{"GET", "/api/v1/models/active", "200", []string{"404", "503"}},
	{"POST", "/api/v1/models/{id}/activate", "200", []string{"404", "503"}},
	{"POST", "/api/v1/predictions", "201", []string{"400", "413", "422", "503"}},
	{"POST", "/api/v1/predictions/batch", "201", []string{"400", "413", "422", "503"}},
	{"GET", "/api/v1/predictions", "200", []string{"422", "503"}},
	{"GET", "/api/v1/predictions/{id}", "200", []string{"404", "503"}},
	{"PUT", "/api/v1/predictions/{id}/actual", "200", []string{"400", "404", "422", "503"}},
	{"POST", "/api/v1/drift-reports", "201", []string{"400", "413", "422", "503"}},
	{"GET", "/api/v1/drift-reports", "200", []string{"422", "503"}},
	{"GET", "/api/v1/drift-reports/latest", "200", []string{"404", "503"}},
	{"POST", "/api/v1/actions", "201", []string{"400", "409", "413", "422", "503"}},
	{"GET", "/api/v1/actions", "200", []string{"422", "503"}},
	{"GET", "/api/v1/actions/{action_id}", "200", []string{"404", "503"}},
	{"POST", "/api/v1/actions/{action_id}/approve", "200", []string{"400", "404", "409", "422", "503"}},
	{"POST", "/api/v1/actions/{action_id}/reject", "200", []string{"400", "404", "409", "422", "503"}},
	{"POST", "/api/v1/actions/{action_id}/executed", "200", []string{"400", "404", "409", "422", "503"}},
	{"POST", "/api/v1/actions/{action_id}/failed", "200", []string{"400", "404", "409", "422", "503"}},
	{"POST", "/api/v1/metrics", "201", []string{"400", "413", "422", "503"}},
	{"POST", "/api/v1/metrics/batch", "201", []string{"400", "413", "422", "503"}},
	{"GET", "/api/v1/metrics/{metric_name}", "200", []string{"422", "503"}},
	{"POST", "/api/v1/alerts", "201", []string{"400", "413", "422", "503"}},
	{"GET", "/api/v1/alerts", "200", []string{"422", "503"}},
	{"GET", "/api/v1/alerts/{id}", "200", []string{"404", "503"}},
	{"POST", "/api/v1/alerts/{id}/acknowledge", "200", []string{"400", "404", "409", "422", "503"}},
	{"POST", "/api/v1/alerts/{id}/resolve", "200", []string{"400", "404", "409", "422", "503"}},
	{"GET", "/healthz", "200", nil},
	{"GET", "/readyz", "200", []string{"503"}},
	{"GET", "/metrics", "200", nil},
	{"GET", "/openapi.json", "200", nil},
}

// fields lists, per response schema, the fields API.md says a record reads
// as; every one must be documented (and required: nulls are present).
var fields = map[string][]string{
	"ModelVersion": {"id", "model_name", "version", "algorithm", "accuracy", "f1_score", "precision", "recall", "roc_auc",
		"hyperparameters", "feature_names", "status", "is_active", "model_path", "metadata_path", "training_samples",
		"created_at", "activated_at"},
	"Prediction": {"id", "model_id", "features", "prediction", "probability", "latency_ms", "actual", "created_at"},
	"DriftReport": {"id", "model_id", "drift_detected", "drift_score", "drifted_features", "n_drifted_features",
		"report_path", "reference_size", "current_size", "created_at"},
	"AgentAction": {"id", "action_id", "action_type", "description", "risk_level", "requires_approval", "issue_id",
		"issue_type", "issue_severity", "status", "reviewed_by", "reviewed_at", "review_comment", "executed_at",
		"execution_result", "parameters", "created_at"},
	"PerformanceMetric": {"id", "metric_name", "metric_value", "model_id", "metadata", "created_at"},
	"Alert": {"id", "alert_type", "severity", "title", "message", "status", "acknowledged_by", "acknowledged_at",
		"resolved_by", "resolved_at", "resolution_notes", "related_data", "created_at"},
	"MetricPoint":  {"created_at", "value"},
	"MetricBucket": {"bucket_start", "count", "avg", "min", "max"},
}

func TestOpenAPI(t *testing.T) {
	c := start(t, store.SQLite)
	r := c.do("GET", "/openapi.json", nil)
	if r.status != 200 {
		t.Fatalf("GET /openapi.json: %s", r)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
		Comp    struct {
			Schemas map[string]struct {
				Properties map[string]any `json:"properties"`
				Required   []string       `json:"required"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(r.raw, &doc); err != nil {
		t.Fatalf("the document does not parse: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Fatalf("openapi = %q, want 3.1.x", doc.OpenAPI)
	}
	documented := 0
	for _, p := range doc.Paths {
		documented += len(p)
	}
	for _, route := range contract {
		raw, ok := doc.Paths[route.path][strings.ToLower(route.method)]
		if !ok {
			t.Errorf("%s %s is not in /openapi.json", route.method, route.path)
			continue
		}
		var op struct {
			Responses map[string]any `json:"responses"`
		}
		if err := json.Unmarshal(raw, &op); err != nil {
			t.Fatal(err)
		}
		for _, st := range append([]string{route.success}, route.statuses...) {
			if _, ok := op.Responses[st]; !ok {
				t.Errorf("%s %s does not document status %s", route.method, route.path, st)
			}
		}
	}
	if documented < len(contract) {
		t.Errorf("/openapi.json documents %d operations, API.md has %d", documented, len(contract))
	}
	for name, want := range fields {
		s, ok := doc.Comp.Schemas[name]
		if !ok {
			t.Errorf("schema %s missing", name)
			continue
		}
		req := map[string]bool{}
		for _, r := range s.Required {
			req[r] = true
		}
		for _, f := range want {
			if _, ok := s.Properties[f]; !ok || !req[f] {
				t.Errorf("%s.%s is not documented as a present field", name, f)
			}
		}
	}
	// Every route the mux serves is an operation of the document: probing
	// each documented path with its method reaches a handler (not 404/405),
	// and the request metrics name exactly the documented patterns.
	for _, route := range contract {
		path := strings.NewReplacer("{id}", "1", "{action_id}", "a", "{metric_name}", "m").Replace(route.path)
		res := c.do(route.method, path, nil)
		if res.status == 404 && !strings.Contains(string(res.raw), "not found") || res.status == 405 {
			t.Errorf("%s %s is documented but not served: %s", route.method, path, res)
		}
	}
	metrics := string(c.do("GET", "/metrics", nil).raw)
	for _, line := range strings.Split(metrics, "\n") {
		if !strings.HasPrefix(line, "mlops_http_requests_total{") {
			continue
		}
		route := line[strings.Index(line, `route="`)+7:]
		route = route[:strings.IndexByte(route, '"')]
		method, path, _ := strings.Cut(route, " ")
		if _, ok := doc.Paths[path][strings.ToLower(method)]; !ok {
			t.Errorf("served route %q is not in /openapi.json", route)
		}
	}
}

// TestUnknownFieldsRejected checks, for every request body type, that huma
// refuses a field it does not know, naming it.
func TestUnknownFieldsRejected(t *testing.T) {
	c := start(t, store.SQLite)
	mid := c.model("m", "1")
	c.must(201, "POST", "/api/v1/actions", map[string]any{"action_id": "a", "action_type": "t", "risk_level": "low"})
	aid := id(c.must(201, "POST", "/api/v1/alerts", map[string]any{"alert_type": "t", "severity": "low", "title": "t"}))
	pid := id(c.must(201, "POST", "/api/v1/predictions", map[string]any{"model_id": mid, "prediction": 1}))
	for path, loc := range map[string]string{
		"POST /api/v1/models":                               "body.bogus",
		"POST /api/v1/predictions":                          "body.bogus",
		"POST /api/v1/predictions/batch":                    "body.bogus",
		"POST /api/v1/drift-reports":                        "body.bogus",
		"POST /api/v1/actions":                              "body.bogus",
		"POST /api/v1/actions/a/approve":                    "body.bogus",
		"POST /api/v1/actions/a/reject":                     "body.bogus",
		"POST /api/v1/actions/a/executed":                   "body.bogus",
		"POST /api/v1/actions/a/failed":                     "body.bogus",
		"POST /api/v1/metrics":                              "body.bogus",
		"POST /api/v1/metrics/batch":                        "body.bogus",
		"POST /api/v1/alerts":                               "body.bogus",
		"POST /api/v1/alerts/" + itoa(aid) + "/acknowledge": "body.bogus",
		"POST /api/v1/alerts/" + itoa(aid) + "/resolve":     "body.bogus",
		"PUT /api/v1/predictions/" + itoa(pid) + "/actual":  "body.bogus",
	} {
		method, p, _ := strings.Cut(path, " ")
		res := problem(t, c.do(method, p, `{"bogus": 1}`), 422)
		found := false
		for _, e := range res["errors"].([]any) {
			if e.(map[string]any)["location"] == loc && strings.Contains(e.(map[string]any)["message"].(string), "bogus") {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: unknown field not named: %v", path, res)
		}
	}
	// Nested objects of the contract are strict too; free-form ones are not.
	problem(t, c.do("POST", "/api/v1/models", map[string]any{"model_name": "m", "version": "2", "algorithm": "a",
		"metrics": map[string]any{"auc": 0.5}}), 422, "body.metrics.auc")
	problem(t, c.do("POST", "/api/v1/predictions/batch", map[string]any{"predictions": []any{
		map[string]any{"model_id": mid, "prediction": 1}, map[string]any{"model_id": mid, "prediction": 1, "extra": true}}}),
		422, "body.predictions[1].extra")
	c.must(201, "POST", "/api/v1/predictions", map[string]any{"model_id": mid, "prediction": 1, "features": map[string]any{"anything": []int{1}}})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
