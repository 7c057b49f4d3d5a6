package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
)

// TestIdempotencyFreeWithoutKey: a request without an Idempotency-Key goes
// through the key's middlewares without an allocation (the single
// prediction route is the hot path).
func TestIdempotencyFreeWithoutKey(t *testing.T) {
	s := &Server{}
	r := httptest.NewRequest(http.MethodPost, "/api/v1/predictions", strings.NewReader(`{}`))
	r.Header.Set("Content-Type", "application/json")
	ctx := humago.NewContext(&huma.Operation{MaxBodyBytes: MaxBodyBytes}, r, httptest.NewRecorder())
	passed := 0
	next := func(huma.Context) { passed++ }
	for name, mw := range map[string]func(huma.Context, func(huma.Context)){"replay": s.replay, "batchKey": s.batchKey} {
		if n := testing.AllocsPerRun(100, func() { mw(ctx, next) }); n != 0 {
			t.Errorf("%s: %v allocations per request without a key, want 0", name, n)
		}
	}
	if passed == 0 {
		t.Fatal("the middlewares did not pass the request on")
	}
}
