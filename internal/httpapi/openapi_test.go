package httpapi_test

import (
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mlopsdev/mlops/store"
)

// TestOpenAPI holds docs/api.md, the API reference, against the live
// /openapi.json of a real server (checkAPIDoc says how), and the document
// against the routes the server really serves.
func TestOpenAPI(t *testing.T) {
	c := start(t, store.SQLite)
	s := decodeSpec(t, openAPI(t, c))
	if v, _ := s["openapi"].(string); !strings.HasPrefix(v, "3.1") {
		t.Fatalf("openapi = %q, want 3.1.x", v)
	}
	d, err := readAPIDoc()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("docs/api.md: %d routes, %d not served yet, %d records", len(d.routes), len(d.notServed), len(d.records))
	for _, p := range checkAPIDoc(d, s) {
		t.Error(p)
	}

	// Every operation of the document reaches a handler (not the mux's 404
	// or 405), and the request metrics name only documented patterns.
	param := regexp.MustCompile(`\{[^}]*\}`)
	for _, key := range sortedKeys(s.operations()) {
		method, path, _ := strings.Cut(key, " ")
		res := c.do(method, param.ReplaceAllString(path, "1"), nil)
		if res.status == 405 || res.status == 404 && strings.Contains(string(res.raw), "no route") {
			t.Errorf("%s is in /openapi.json but not served: %s", key, res)
		}
	}
	ops := s.operations()
	for _, line := range strings.Split(string(c.do("GET", "/metrics", nil).raw), "\n") {
		if !strings.HasPrefix(line, "mlops_http_requests_total{") {
			continue
		}
		route := line[strings.Index(line, `route="`)+7:]
		route = route[:strings.IndexByte(route, '"')]
		if _, ok := ops[route]; !ok {
			t.Errorf("served route %q is not in /openapi.json", route)
		}
	}
}

// TestAPIDocCheckFails breaks the live document, one way at a time, as a
// change to a handler could, and checks that checkAPIDoc names each break:
// a status, a field, a route, a query parameter or a permission that the
// reference and the server no longer agree on.
func TestAPIDocCheckFails(t *testing.T) {
	raw := openAPI(t, start(t, store.SQLite))
	d, err := readAPIDoc()
	if err != nil {
		t.Fatal(err)
	}
	before := map[string]bool{}
	for _, p := range checkAPIDoc(d, decodeSpec(t, raw)) {
		before[p] = true
	}
	op := func(s spec, key string) map[string]any {
		o := s.operations()[key]
		if o == nil {
			t.Fatalf("%s is not in /openapi.json", key)
		}
		return o
	}
	for _, tc := range []struct {
		name   string
		mutate func(s spec)
		want   string
	}{
		{"a status one route declares (409)", func(s spec) {
			delete(dig(op(s, "POST /api/v1/models"), "responses"), "409")
		}, "POST /api/v1/models names status 409, but /openapi.json does not declare it"},
		{"a status every route declares, named by one row (503)", func(s spec) {
			delete(dig(op(s, "POST /api/v1/predictions"), "responses"), "503")
		}, "POST /api/v1/predictions names status 503"},
		{"a status no row names", func(s spec) {
			dig(op(s, "GET /api/v1/models/{id}"), "responses")["409"] = map[string]any{"description": "Conflict"}
		}, "GET /api/v1/models/{id} declares status 409, which its row"},
		{"a field of a request schema", func(s spec) {
			delete(dig(s.schema("NewModelVersion"), "properties"), "algorithm")
		}, "POST /api/v1/models names field `algorithm`, but its request schema has no such property"},
		{"a nested field of a request schema", func(s spec) {
			delete(dig(s.schema("ModelMetrics"), "properties"), "roc_auc")
		}, "POST /api/v1/models names field `roc_auc`"},
		{"a request field no row names", func(s spec) {
			dig(s.schema("NewAlert"), "properties")["colour"] = map[string]any{"type": "string"}
		}, "has property `colour`, which its row"},
		{"a field of a record", func(s spec) {
			delete(dig(s.schema("Prediction"), "properties"), "latency_ms")
		}, "reads as `latency_ms`, but the response schema has no such property"},
		{"a record field that may be absent", func(s spec) {
			sc := s.schema("ModelVersion")
			sc["required"] = slices.DeleteFunc(asSlice(sc["required"]), func(v any) bool { return v == "activated_at" })
		}, "`activated_at` of ModelVersion (returned by"},
		{"a record field the reference does not list", func(s spec) {
			dig(s.schema("Alert"), "properties")["colour"] = map[string]any{"type": "string"}
		}, "has property `colour`, which docs/api.md does not list"},
		{"a route", func(s spec) {
			delete(dig(s, "paths", "/api/v1/models/{id}"), "get")
		}, "GET /api/v1/models/{id} is not in /openapi.json"},
		{"an undocumented route", func(s spec) {
			dig(s, "paths")["/api/v1/undocumented"] = map[string]any{"get": map[string]any{}}
		}, "/openapi.json has GET /api/v1/undocumented, which docs/api.md does not document"},
		{"a query parameter", func(s spec) {
			o := op(s, "GET /api/v1/models")
			o["parameters"] = slices.DeleteFunc(asSlice(o["parameters"]), func(v any) bool { return asMap(v)["name"] == "status" })
		}, "GET /api/v1/models names query parameter `status`"},
		{"an undocumented query parameter", func(s spec) {
			o := op(s, "GET /api/v1/models")
			o["parameters"] = append(asSlice(o["parameters"]), map[string]any{"name": "colour", "in": "query"})
		}, "GET /api/v1/models takes query parameter `colour`"},
		{"a permission", func(s spec) {
			op(s, "POST /api/v1/models/{id}/activate")["x-permission"] = "admin"
		}, "POST /api/v1/models/{id}/activate needs permission `activate`, but /openapi.json says x-permission `admin`"},
	} {
		s := decodeSpec(t, raw)
		tc.mutate(s)
		found := false
		for _, p := range checkAPIDoc(d, s) {
			found = found || !before[p] && strings.Contains(p, tc.want)
		}
		if !found {
			t.Errorf("%s: checkAPIDoc does not say %q", tc.name, tc.want)
		}
	}
}

// openAPI fetches the server's /openapi.json.
func openAPI(t *testing.T, c *client) []byte {
	t.Helper()
	r := c.do("GET", "/openapi.json", nil)
	if r.status != 200 {
		t.Fatalf("GET /openapi.json: %s", r)
	}
	return r.raw
}

// decodeSpec decodes an OpenAPI document (a fresh copy each call).
func decodeSpec(t *testing.T, raw []byte) spec {
	t.Helper()
	var s spec
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("the document does not parse: %v", err)
	}
	return s
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
