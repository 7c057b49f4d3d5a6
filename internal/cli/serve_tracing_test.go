package cli

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"

	"github.com/mlopsdev/mlops/store/storetest"
)

// TestServeTracing: with OTEL_EXPORTER_OTLP_ENDPOINT set, serve sends its
// spans (the request's, named by route, and its statements') to the
// endpoint over OTLP/HTTP, under service.name mlops, and a shutdown
// flushes the spans the batch still holds.
func TestServeTracing(t *testing.T) {
	storetest.EachURL(t, func(t *testing.T, dbURL string) {
		var (
			mu      sync.Mutex
			exports [][]byte
		)
		rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			if r.URL.Path == "/v1/traces" {
				mu.Lock()
				exports = append(exports, b)
				mu.Unlock()
			}
		}))
		defer rcv.Close()
		prev := otel.GetTracerProvider()
		t.Cleanup(func() { otel.SetTracerProvider(prev) })
		// The SDK reads the exporter's settings from the process environment.
		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
		t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "600000") // only the shutdown exports

		s := startServe(t, map[string]string{"DATABASE_URL": dbURL, "OTEL_EXPORTER_OTLP_ENDPOINT": rcv.URL})
		if code, body := s.post(t, "/api/v1/models", `{"model_name":"m","version":"1","algorithm":"a"}`); code != 201 {
			t.Fatalf("create model: %d %v", code, body)
		}
		mu.Lock()
		early := len(exports)
		mu.Unlock()
		if code := s.stop(); code != 0 {
			t.Fatalf("serve exited %d; stderr:\n%s", code, s.stderr.String())
		}
		mu.Lock()
		all := bytes.Join(exports, nil)
		mu.Unlock()
		if early != 0 {
			t.Errorf("%d exports before the shutdown", early)
		}
		for _, want := range []string{"mlops", "POST /api/v1/models", "INSERT INTO model_versions"} {
			if !bytes.Contains(all, []byte(want)) {
				t.Errorf("the exported spans lack %q", want)
			}
		}
		if log := s.stderr.String(); !bytes.Contains([]byte(log), []byte("exporting traces over OTLP/HTTP")) {
			t.Errorf("no start line about tracing in:\n%s", log)
		}
	})
}
