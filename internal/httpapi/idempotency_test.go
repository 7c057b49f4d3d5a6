package httpapi_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/internal/auth"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// sameAnswer fails unless b is a of a request answered again: the same
// status, Content-Type and body, byte for byte.
func sameAnswer(t *testing.T, a, b resp) {
	t.Helper()
	if a.status != b.status || a.header.Get("Content-Type") != b.header.Get("Content-Type") || !bytes.Equal(a.raw, b.raw) {
		t.Fatalf("answered again:\n%s (%s)\nfirst:\n%s (%s)", b, b.header.Get("Content-Type"), a, a.header.Get("Content-Type"))
	}
}

// TestIdempotentBatches: a batch repeated with its key stores nothing and
// is answered the same ids; the key with another body is a 422 on the
// header; a refused batch leaves no key, so its fixed body is stored under
// the same key.
func TestIdempotentBatches(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, c *client) {
		m := c.model("churn", "v1")
		batch := fmt.Sprintf(`{"predictions":[{"model_id":%d,"prediction":1},{"model_id":%d,"prediction":0,"features":{"a":1}}]}`, m, m)
		k := c.with("Idempotency-Key", "batch-7f3a")
		first := k.do("POST", "/api/v1/predictions/batch", batch)
		if first.status != 201 {
			t.Fatalf("first: %s", first)
		}
		for range 2 {
			sameAnswer(t, first, k.do("POST", "/api/v1/predictions/batch", batch))
		}
		if n := c.count("predictions"); n != 2 {
			t.Fatalf("%d predictions after repeats, want 2", n)
		}
		problem(t, k.do("POST", "/api/v1/predictions/batch", strings.Replace(batch, `"prediction":1`, `"prediction":2`, 1)),
			422, "header.Idempotency-Key")
		// Without the key the same batch is a new one.
		c.must(201, "POST", "/api/v1/predictions/batch", batch)

		points := `{"metrics":[{"metric_name":"latency","metric_value":1.5},{"metric_name":"latency","metric_value":2}]}`
		first = k.do("POST", "/api/v1/metrics/batch", points) // the same key on another route is another key
		if first.status != 201 {
			t.Fatalf("metrics: %s", first)
		}
		sameAnswer(t, first, k.do("POST", "/api/v1/metrics/batch", points))
		if n := c.count("performance_metrics"); n != 2 {
			t.Fatalf("%d metric points, want 2", n)
		}

		// A refused batch leaves no key.
		k2 := c.with("Idempotency-Key", "batch-2")
		bad := fmt.Sprintf(`{"predictions":[{"model_id":%d,"prediction":1},{"model_id":%d,"prediction":1}]}`, m, m+100)
		problem(t, k2.do("POST", "/api/v1/predictions/batch", bad), 422, "body.predictions[1].model_id")
		problem(t, k2.do("POST", "/api/v1/predictions/batch", `{"predictions":[{"model_id":1,"prediction":"x"}]}`), 422, "body.predictions[0].prediction")
		k2.must(201, "POST", "/api/v1/predictions/batch", batch)
		if n := c.count("predictions"); n != 6 {
			t.Fatalf("%d predictions, want 6", n)
		}
		if n := c.count("idempotency_keys"); n != 3 {
			t.Fatalf("%d keys, want 3", n)
		}
	})
}

// TestIdempotentBatchRetryAfterTimeout: a client that gives up waiting for
// the answer to a batch and sends it again, with ever longer patience until
// one attempt is answered, stores it once: an attempt cut off before its
// commit stored nothing, one cut off after it is answered on the retry.
func TestIdempotentBatchRetryAfterTimeout(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, c *client) {
		m := c.model("churn", "v1")
		items := make([]string, 5000)
		for i := range items {
			items[i] = fmt.Sprintf(`{"model_id":%d,"prediction":%d,"features":{"i":%d}}`, m, i%2, i)
		}
		batch := `{"predictions":[` + strings.Join(items, ",") + `]}`
		var (
			answer   resp
			timeouts int
		)
		for patience := time.Millisecond; answer.status == 0; patience = patience * 3 / 2 {
			req, err := http.NewRequest("POST", c.base+"/api/v1/predictions/batch", strings.NewReader(batch))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", "retried")
			res, err := (&http.Client{Timeout: patience}).Do(req)
			if err != nil {
				timeouts++
				continue
			}
			raw, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil {
				timeouts++
				continue
			}
			answer = resp{status: res.StatusCode, header: res.Header, raw: raw}
		}
		if answer.status != 201 || timeouts == 0 {
			t.Fatalf("after %d timeouts: %s", timeouts, answer)
		}
		if n := c.count("predictions"); n != len(items) {
			t.Fatalf("%d predictions after %d timeouts, want %d", n, timeouts, len(items))
		}
		sameAnswer(t, answer, c.with("Idempotency-Key", "retried").do("POST", "/api/v1/predictions/batch", batch))
	})
}

// TestIdempotentCreates: every other route that creates replays too (an
// alert, a single prediction and metric point, a model, a drift check);
// bad keys are 422s naming the header; a 4xx leaves no key.
func TestIdempotentCreates(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, c *client) {
		m := c.model("churn", "v1")
		for _, tc := range []struct{ path, body, table string }{
			{"/api/v1/alerts", `{"alert_type":"drift","severity":"high","title":"PSI 0.4"}`, "alerts"},
			{"/api/v1/predictions", fmt.Sprintf(`{"model_id":%d,"prediction":1,"features":{"age":42}}`, m), "predictions"},
			{"/api/v1/metrics", `{"metric_name":"latency","metric_value":12.5}`, "performance_metrics"},
			{"/api/v1/models", `{"model_name":"churn","version":"v2","algorithm":"rf"}`, "model_versions"},
			{"/api/v1/drift-reports", fmt.Sprintf(`{"model_id":%d,"drift_detected":false}`, m), "drift_reports"},
		} {
			k := c.with("Idempotency-Key", "create "+tc.path)
			before := c.count(tc.table)
			first := k.do("POST", tc.path, tc.body)
			if first.status != 201 {
				t.Fatalf("%s: %s", tc.path, first)
			}
			sameAnswer(t, first, k.do("POST", tc.path, tc.body))
			if n := c.count(tc.table); n != before+1 {
				t.Fatalf("%s: %d rows after a repeat, want %d", tc.path, n, before+1)
			}
			problem(t, k.do("POST", tc.path, tc.body+" "), 422, "header.Idempotency-Key")
		}

		// A refused request leaves no key: fixed, it is stored under it.
		k := c.with("Idempotency-Key", "alert-2")
		problem(t, k.do("POST", "/api/v1/alerts", `{"alert_type":"drift","severity":"dire","title":"x"}`), 422, "body.severity")
		problem(t, k.do("POST", "/api/v1/models", `{"model_name":"churn","version":"v1","algorithm":"rf"}`), 409)
		problem(t, k.do("POST", "/api/v1/alerts", `{"alert_type":"drift",`), 400)
		k.must(201, "POST", "/api/v1/alerts", `{"alert_type":"drift","severity":"low","title":"x"}`)
		if n := c.count("alerts"); n != 2 {
			t.Fatalf("%d alerts, want 2", n)
		}

		alert := `{"alert_type":"drift","severity":"low","title":"x"}`
		for _, key := range []string{"", strings.Repeat("k", 256), strings.Repeat("é", 256)} {
			problem(t, c.with("Idempotency-Key", key).do("POST", "/api/v1/alerts", alert), 422, "header.Idempotency-Key")
			problem(t, c.with("Idempotency-Key", key).do("POST", "/api/v1/predictions/batch", `{"predictions":[]}`), 422, "header.Idempotency-Key")
		}
		c.with("Idempotency-Key", strings.Repeat("é", 255)).must(201, "POST", "/api/v1/alerts", alert)
		if n := c.count("alerts"); n != 3 {
			t.Fatalf("%d alerts, want 3", n)
		}
	})
}

// TestIdempotencyKeysPerCaller: two tokens that send the same key and body
// each create their own batch and are each answered their own.
func TestIdempotencyKeysPerCaller(t *testing.T) {
	t.Parallel()
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			e := startAuth(t, engine, auth.ModeRequired)
			a := e.c.bearer(e.token(t, "pipeline-a", mlops.RolePipeline, nil)).with("Idempotency-Key", "nightly")
			b := e.c.bearer(e.token(t, "pipeline-b", mlops.RolePipeline, nil)).with("Idempotency-Key", "nightly")
			m := id(a.must(201, "POST", "/api/v1/models", map[string]any{"model_name": "churn", "version": "v1", "algorithm": "rf"}))
			batch := fmt.Sprintf(`{"predictions":[{"model_id":%d,"prediction":1}]}`, m)
			ra, rb := a.do("POST", "/api/v1/predictions/batch", batch), b.do("POST", "/api/v1/predictions/batch", batch)
			if ra.status != 201 || rb.status != 201 || bytes.Equal(ra.raw, rb.raw) {
				t.Fatalf("two callers, one key: %s and %s", ra, rb)
			}
			sameAnswer(t, ra, a.do("POST", "/api/v1/predictions/batch", batch))
			sameAnswer(t, rb, b.do("POST", "/api/v1/predictions/batch", batch))
			if n := e.c.count("predictions"); n != 2 {
				t.Fatalf("%d predictions, want 2", n)
			}
		})
	}
}

// TestIdempotentConcurrent: 24 clients send one batch with one key at once,
// and 16 one alert with another: one batch and one alert are stored; every
// batch sender gets its ids, every alert sender the alert or a 409.
func TestIdempotentConcurrent(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, c *client) {
		m := c.model("churn", "v1")
		var items []string
		for i := range 500 {
			items = append(items, fmt.Sprintf(`{"model_id":%d,"prediction":%d}`, m, i))
		}
		batch := `{"predictions":[` + strings.Join(items, ",") + `]}`
		alert := `{"alert_type":"drift","severity":"high","title":"once"}`
		bk, ak := c.with("Idempotency-Key", "batch"), c.with("Idempotency-Key", "alert")
		var (
			wg              sync.WaitGroup
			batches, alerts = make([]resp, 24), make([]resp, 16)
			start           = make(chan struct{})
		)
		for i := range batches {
			wg.Go(func() {
				<-start
				batches[i] = bk.do("POST", "/api/v1/predictions/batch", batch)
			})
		}
		for i := range alerts {
			wg.Go(func() {
				<-start
				alerts[i] = ak.do("POST", "/api/v1/alerts", alert)
			})
		}
		close(start)
		wg.Wait()
		for _, r := range batches {
			if r.status != 201 {
				t.Fatalf("batch: %s", r)
			}
			sameAnswer(t, batches[0], r)
		}
		created := 0
		for _, r := range alerts {
			switch r.status {
			case 201:
				created++
			case 409:
				problem(t, r, 409)
				if !strings.Contains(string(r.raw), "in progress; retry") {
					t.Fatalf("409 without its reason: %s", r)
				}
			default:
				t.Fatalf("alert: %s", r)
			}
		}
		if n := c.count("predictions"); n != len(items) {
			t.Fatalf("%d predictions, want %d", n, len(items))
		}
		if n := c.count("alerts"); n != 1 || created == 0 {
			t.Fatalf("%d alerts stored, %d answered 201; want 1 stored", n, created)
		}
		sameAnswer(t, ak.do("POST", "/api/v1/alerts", alert), ak.do("POST", "/api/v1/alerts", alert))
	})
}

// TestIdempotencyKeyExpires: 24 hours after the first request its key is a
// new one.
func TestIdempotencyKeyExpires(t *testing.T) {
	t.Parallel()
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			clock := storetest.NewClock(time.Now().UTC())
			c := serve(t, storetest.Open(t, engine, store.Options{Now: clock.Now})).with("Idempotency-Key", "daily")
			alert := `{"alert_type":"drift","severity":"high","title":"daily"}`
			first := c.must(201, "POST", "/api/v1/alerts", alert)
			clock.Advance(store.IdempotencyTTL - time.Second)
			if again := c.must(201, "POST", "/api/v1/alerts", alert); id(again) != id(first) {
				t.Fatalf("within 24 h: alert %d, want %d again", id(again), id(first))
			}
			clock.Advance(time.Second)
			if again := c.must(201, "POST", "/api/v1/alerts", alert); id(again) == id(first) {
				t.Fatalf("after 24 h: alert %d answered again, want a new one", id(first))
			}
			if n := c.count("alerts"); n != 2 {
				t.Fatalf("%d alerts, want 2", n)
			}
		})
	}
}

// TestIdempotencyKeyDocumented: every route that creates documents the
// header, and the 409 of a request in progress.
func TestIdempotencyKeyDocumented(t *testing.T) {
	t.Parallel()
	s := decodeSpec(t, openAPI(t, start(t, store.SQLite)))
	n := 0
	for key, op := range s.operations() {
		responses := dig(op, "responses")
		if _, creates := responses["201"]; !creates {
			continue
		}
		n++
		found := false
		for _, p := range asSlice(op["parameters"]) {
			found = found || asMap(p)["in"] == "header" && asMap(p)["name"] == "Idempotency-Key"
		}
		if _, ok := responses["409"]; !found || !ok {
			t.Errorf("%s: Idempotency-Key documented %v, 409 declared %v", key, found, ok)
		}
	}
	if n < 12 {
		t.Fatalf("%d routes answer 201, want at least 12", n)
	}
}
