package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/mlopsdev/mlops/internal/httpapi"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// tracedServer serves a fresh database of engine with tracing on, every
// span going to the returned in-memory exporter as it ends.
func tracedServer(t *testing.T, engine store.Engine) (*client, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	st := storetest.Open(t, engine, store.Options{TracerProvider: tp})
	return serveWith(t, st, httpapi.Options{TracerProvider: tp}), exp
}

func attr(s tracetest.SpanStub, key attribute.Key) string {
	for _, a := range s.Attributes {
		if a.Key == key {
			return a.Value.Emit()
		}
	}
	return ""
}

// serverSpan waits for the server span of the request with id: it ends
// just after the answer is written.
func serverSpan(t *testing.T, exp *tracetest.InMemoryExporter, id string) tracetest.SpanStub {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, s := range exp.GetSpans() {
			if s.SpanKind == trace.SpanKindServer && attr(s, store.RequestIDKey) == id {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no server span with request id %s among %d spans", id, len(exp.GetSpans()))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// children returns the spans whose parent is s.
func children(exp *tracetest.InMemoryExporter, s tracetest.SpanStub) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, c := range exp.GetSpans() {
		if c.Parent.SpanID() == s.SpanContext.SpanID() && c.SpanContext.TraceID() == s.SpanContext.TraceID() {
			out = append(out, c)
		}
	}
	return out
}

// statement returns the first database span among spans whose SQL
// contains sql.
func statement(t *testing.T, spans []tracetest.SpanStub, system, sql string) tracetest.SpanStub {
	t.Helper()
	var names []string
	for _, s := range spans {
		if q := attr(s, "db.query.text"); q != "" && strings.Contains(q, sql) {
			if got := attr(s, "db.system.name"); got != system {
				t.Errorf("database span %q: db.system.name %q, want %q", s.Name, got, system)
			}
			return s
		}
		names = append(names, s.Name)
	}
	t.Fatalf("no database span running %q among %v", sql, names)
	return tracetest.SpanStub{}
}

// TestTracing: with a tracer provider, a request is a server span named by
// its route and carrying its request id, the store's statements are its
// children carrying the same id, a prediction's group commit is a child
// span holding the INSERT, and a caller's traceparent is continued.
func TestTracing(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			c, exp := tracedServer(t, engine)
			system := map[store.Engine]string{store.SQLite: "sqlite", store.Postgres: "postgresql"}[engine]

			mid := id(c.with("X-Request-ID", "register-1").must(201, "POST", "/api/v1/models",
				map[string]any{"model_name": "traced", "version": "1", "algorithm": "rf"}))
			srv := serverSpan(t, exp, "register-1")
			if srv.Name != "POST /api/v1/models" || attr(srv, "http.route") != "/api/v1/models" {
				t.Errorf("server span %q, route %q; want POST /api/v1/models", srv.Name, attr(srv, "http.route"))
			}
			db := statement(t, children(exp, srv), system, "INSERT INTO model_versions")
			if got := attr(db, store.RequestIDKey); got != "register-1" {
				t.Errorf("database span %q: request id %q, want register-1", db.Name, got)
			}

			c.with("X-Request-ID", "predict-1").must(201, "POST", "/api/v1/predictions",
				map[string]any{"model_id": mid, "prediction": 1, "features": map[string]any{"age": 42}})
			srv = serverSpan(t, exp, "predict-1")
			if srv.Name != "POST /api/v1/predictions" {
				t.Errorf("server span %q, want POST /api/v1/predictions", srv.Name)
			}
			var commit tracetest.SpanStub
			for _, s := range children(exp, srv) {
				if s.Name == "prediction ingest" {
					commit = s
				}
			}
			if !commit.SpanContext.IsValid() {
				t.Fatalf("no prediction ingest span under the request's span")
			}
			if attr(commit, store.RequestIDKey) != "predict-1" || attr(commit, "mlops.ingest.rows") != "1" {
				t.Errorf("prediction ingest span attributes %v", commit.Attributes)
			}
			db = statement(t, children(exp, commit), system, "INSERT INTO predictions")
			if got := attr(db, store.RequestIDKey); got != "predict-1" {
				t.Errorf("database span %q: request id %q, want predict-1", db.Name, got)
			}

			// A caller's trace goes on here: same trace id, the caller's
			// span as the parent.
			const traceID, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
			c.with("traceparent", "00-"+traceID+"-"+callerSpan+"-01", "X-Request-ID", "remote-1").
				must(200, "GET", fmt.Sprintf("/api/v1/models/%d", mid), nil)
			srv = serverSpan(t, exp, "remote-1")
			if srv.SpanContext.TraceID().String() != traceID || srv.Parent.SpanID().String() != callerSpan || !srv.Parent.IsRemote() {
				t.Errorf("server span in trace %s under %s (remote %v), want trace %s under %s",
					srv.SpanContext.TraceID(), srv.Parent.SpanID(), srv.Parent.IsRemote(), traceID, callerSpan)
			}
			if srv.Name != "GET /api/v1/models/{id}" {
				t.Errorf("server span %q, want GET /api/v1/models/{id}", srv.Name)
			}
			if db := statement(t, children(exp, srv), system, "model_versions"); db.SpanContext.TraceID().String() != traceID {
				t.Errorf("database span in trace %s, want %s", db.SpanContext.TraceID(), traceID)
			}

			// Probes are not traced.
			c.with("X-Request-ID", "probe-1").must(200, "GET", "/readyz", nil)
			c.with("X-Request-ID", "after-probe").must(200, "GET", "/api/v1/models", nil)
			serverSpan(t, exp, "after-probe")
			for _, s := range exp.GetSpans() {
				if attr(s, store.RequestIDKey) == "probe-1" {
					t.Errorf("a probe was traced: %q", s.Name)
				}
			}
		})
	}
}

// TestNoTracingInstalled: without a tracer provider nothing is traced,
// even with an SDK provider installed globally and a caller sending a
// traceparent: neither the API nor the store looks at the global one.
func TestNoTracingInstalled(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() {
		otel.SetTracerProvider(prev)
		_ = tp.Shutdown(context.Background())
	})
	each(t, func(t *testing.T, c *client) {
		tc := c.with("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
		mid := tc.model("untraced", "1")
		r := tc.do("POST", "/api/v1/predictions", map[string]any{"model_id": mid, "prediction": 1})
		if r.status != http.StatusCreated {
			t.Fatalf("prediction: %s", r)
		}
		tc.must(200, "GET", "/api/v1/models", nil)
		time.Sleep(50 * time.Millisecond) // a server span would have ended by now
		if spans := exp.GetSpans(); len(spans) != 0 {
			t.Fatalf("%d spans recorded, the first %q", len(spans), spans[0].Name)
		}
	})
}

// BenchmarkCreatePredictionTraced is BenchmarkCreatePrediction with
// tracing on, every span exported to a no-op exporter through the batch
// processor serve uses: the price of tracing itself, without a collector.
//
//	go test -run '^$' -bench CreatePrediction -benchtime 20000x ./internal/httpapi/
func BenchmarkCreatePredictionTraced(b *testing.B) {
	for _, engine := range storetest.Engines {
		b.Run(string(engine), func(b *testing.B) {
			tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
			b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			c := serveWith(b, storetest.Open(b, engine, store.Options{TracerProvider: tp}), httpapi.Options{TracerProvider: tp})
			mid := c.model("bench", "1")
			body := fmt.Sprintf(`{"model_id":%d,"features":{"age":42,"plan":"pro"},"prediction":1,"probability":0.87,"latency_ms":12.5}`, mid)
			c.http.Transport = &http.Transport{MaxIdleConnsPerHost: 64}
			b.SetParallelism(16 / runtime.GOMAXPROCS(0))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if r := c.do("POST", "/api/v1/predictions", body); r.status != 201 {
						b.Errorf("%s", r)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}
