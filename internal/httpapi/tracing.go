package httpapi

import (
	"net/http"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/mlopsdev/mlops/store"
)

// traced wraps h (the whole API) in otelhttp's server span (Options.
// TracerProvider): a caller's W3C traceparent is continued, the span is
// named by the route pattern ("POST /api/v1/predictions") and carries the
// request id. The store's spans are its children: the span rides in the
// request's context. Probes and scrapes (/healthz, /readyz, /metrics) are
// not traced.
func (s *Server) traced(h http.Handler, tp trace.TracerProvider) http.Handler {
	named := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		span := trace.SpanFromContext(r.Context())
		// The middleware sets X-Request-ID on every answer; the mux sets
		// the pattern on its own copy of r, so it is looked up again here.
		span.SetAttributes(store.RequestIDKey.String(w.Header().Get("X-Request-ID")))
		if _, pattern := s.mux.Handler(r); pattern != "" {
			method, path, ok := strings.Cut(pattern, " ")
			if !ok {
				method, path = r.Method, pattern
			}
			span.SetName(method + " " + path)
			span.SetAttributes(semconv.HTTPRoute(path))
		}
	})
	return otelhttp.NewHandler(named, "mlops",
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(propagation.TraceContext{}),
		otelhttp.WithFilter(func(r *http.Request) bool {
			switch r.URL.Path {
			case "/healthz", "/readyz", "/metrics":
				return false
			}
			return true
		}))
}
