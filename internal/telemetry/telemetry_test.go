package telemetry_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/mlopsdev/mlops/internal/telemetry"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

// keepGlobals restores the global provider, propagator and error handler
// that a Setup turning tracing on replaces.
func keepGlobals(t *testing.T) {
	tp, prop, eh := otel.GetTracerProvider(), otel.GetTextMapPropagator(), otel.GetErrorHandler()
	t.Cleanup(func() {
		otel.SetTracerProvider(tp)
		otel.SetTextMapPropagator(prop)
		otel.SetErrorHandler(eh)
	})
}

// TestSetupOffInstallsNothing: without an endpoint (or with tracing turned
// off by the standard variables) Setup returns no provider, and the
// global provider and propagator stay the no-op ones.
func TestSetupOffInstallsNothing(t *testing.T) {
	for name, getenv := range map[string]func(string) string{
		"no endpoint":           env(),
		"sdk disabled":          env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318", "OTEL_SDK_DISABLED", "true"),
		"exporter none":         env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:4318/v1/traces", "OTEL_TRACES_EXPORTER", "none"),
		"other variables alone": env("OTEL_SERVICE_NAME", "x", "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
	} {
		t.Run(name, func(t *testing.T) {
			before := otel.GetTracerProvider()
			tp, shutdown, err := telemetry.Setup(context.Background(), getenv, "test", slog.New(slog.DiscardHandler))
			if err != nil || tp != nil {
				t.Fatalf("Setup = %v, %v; want no provider and no error", tp, err)
			}
			if err := shutdown(context.Background()); err != nil {
				t.Fatalf("shutdown: %v", err)
			}
			after := otel.GetTracerProvider()
			if after != before {
				t.Fatalf("the global tracer provider changed: %T", after)
			}
			if _, sdk := after.(*sdktrace.TracerProvider); sdk {
				t.Fatal("an SDK tracer provider is installed globally")
			}
			if f := otel.GetTextMapPropagator().Fields(); len(f) != 0 {
				t.Fatalf("a propagator is installed globally: %v", f)
			}
		})
	}
}

// TestSetupRefusesWhatItCannotExport: a protocol or an exporter this
// build does not have stops the start with what to set instead.
func TestSetupRefusesWhatItCannotExport(t *testing.T) {
	keepGlobals(t)
	const ep = "OTEL_EXPORTER_OTLP_ENDPOINT"
	for _, c := range []struct {
		getenv func(string) string
		want   string
	}{
		{env(ep, "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"), "OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported"},
		{env(ep, "http://127.0.0.1:4318", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"), "http/protobuf"},
		{env(ep, "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER", "zipkin"), "OTEL_TRACES_EXPORTER=zipkin is not supported"},
	} {
		tp, _, err := telemetry.Setup(context.Background(), c.getenv, "test", slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), c.want) || tp != nil {
			t.Errorf("Setup = %v, %v; want an error with %q", tp, err, c.want)
		}
	}
	// The traces-specific protocol overrides the general one.
	tp, shutdown, err := telemetry.Setup(context.Background(), env(ep, "http://127.0.0.1:1",
		"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"), "test", slog.New(slog.DiscardHandler))
	if err != nil || tp == nil {
		t.Fatalf("Setup = %v, %v", tp, err)
	}
	_ = shutdown(context.Background())
}

// otlpReceiver collects the OTLP/HTTP trace exports it is sent.
type otlpReceiver struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*coltrace.ExportTraceServiceRequest
}

func newReceiver(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		var m coltrace.ExportTraceServiceRequest
		if req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" || proto.Unmarshal(b, &m) != nil {
			t.Errorf("unexpected export: %s %s %s", req.Method, req.URL.Path, req.Header.Get("Content-Type"))
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.reqs = append(r.reqs, &m)
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	t.Cleanup(r.Close)
	return r
}

// spans returns "service/span" for every span received.
func (r *otlpReceiver) spans() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.reqs {
		for _, rs := range m.ResourceSpans {
			service := ""
			for _, a := range rs.Resource.Attributes {
				if a.Key == "service.name" {
					service = a.Value.GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					out = append(out, service+"/"+s.Name)
				}
			}
		}
	}
	return out
}

// TestSetupExportsOnShutdown: with OTEL_EXPORTER_OTLP_ENDPOINT set, spans
// reach the endpoint over OTLP/HTTP under service.name "mlops" (or
// OTEL_SERVICE_NAME), and shutdown flushes what the batch still holds.
func TestSetupExportsOnShutdown(t *testing.T) {
	for _, c := range []struct{ service, want string }{{"", "mlops"}, {"ingest-eu", "ingest-eu"}} {
		t.Run(c.want, func(t *testing.T) {
			keepGlobals(t)
			rcv := newReceiver(t)
			// The SDK reads these from the process environment itself.
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
			t.Setenv("OTEL_SERVICE_NAME", c.service)
			t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "600000") // only shutdown exports
			tp, shutdown, err := telemetry.Setup(context.Background(), os.Getenv, "test", slog.New(slog.DiscardHandler))
			if err != nil || tp == nil {
				t.Fatalf("Setup = %v, %v", tp, err)
			}
			if otel.GetTracerProvider() != tp {
				t.Fatal("the provider is not the global one")
			}
			if f := otel.GetTextMapPropagator().Fields(); len(f) == 0 || f[0] != "traceparent" {
				t.Fatalf("global propagator fields %v, want W3C trace context", f)
			}
			_, span := tp.Tracer("test").Start(context.Background(), "unit of work")
			span.End()
			if got := rcv.spans(); len(got) != 0 {
				t.Fatalf("exported before shutdown: %v", got)
			}
			if err := shutdown(context.Background()); err != nil {
				t.Fatalf("shutdown: %v", err)
			}
			if got := rcv.spans(); len(got) != 1 || got[0] != c.want+"/unit of work" {
				t.Fatalf("received %v, want [%s/unit of work]", got, c.want)
			}
		})
	}
}
