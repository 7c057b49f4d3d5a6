package client_test

import (
	"encoding/json"
	"log/slog"
	"reflect"
	"testing"

	"github.com/danielgtaylor/huma/v2"

	"github.com/mlopsdev/mlops/api"
	"github.com/mlopsdev/mlops/internal/httpapi"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// TestAnswerSchemasMatchServer holds the answers package api describes for
// the server's store and monitor packages (reports, rules, timeline, metric
// points) to the schemas the server publishes: same names, same fields,
// same types, same constraints.
func TestAnswerSchemasMatchServer(t *testing.T) {
	srv, err := httpapi.New(storetest.Open(t, store.SQLite, store.Options{}), httpapi.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(t.Context()) })
	served := srv.OpenAPI().Components.Schemas.Map()

	ours := huma.NewMapRegistry("#/components/schemas/", huma.DefaultSchemaNamer)
	for _, typ := range []reflect.Type{
		reflect.TypeFor[api.MetricPoint](), reflect.TypeFor[api.MetricBucket](),
		reflect.TypeFor[api.PerformanceReport](), reflect.TypeFor[api.AlertReport](), reflect.TypeFor[api.ApprovalReport](),
		reflect.TypeFor[api.TimelineEvent](), reflect.TypeFor[api.RuleSettings](), reflect.TypeFor[api.RulesRunResult](),
	} {
		ours.Schema(typ, true, "")
	}
	if len(ours.Map()) < 12 {
		t.Fatalf("only %d schemas generated", len(ours.Map()))
	}
	for name, s := range ours.Map() {
		want, ok := served[name]
		if !ok {
			t.Errorf("the server publishes no schema %s", name)
			continue
		}
		got, _ := json.Marshal(s)
		exp, _ := json.Marshal(want)
		if string(got) != string(exp) {
			t.Errorf("schema %s differs from the server's:\n ours   %s\n server %s", name, got, exp)
		}
	}
}
