package httpapi_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/internal/httpapi"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// TestIngestRefusesWhatTheContractForbids posts bodies that are
// well-formed JSON but break the contract (duplicate or case-variant
// names, invalid UTF-8, a time in the future, values out of range) to the
// four ingest routes: each is refused with a status and the location of
// the field, and nothing is stored.
func TestIngestRefusesWhatTheContractForbids(t *testing.T) {
	each(t, func(t *testing.T, c *client) {
		m := c.model("strict", "1")
		good := fmt.Sprintf(`{"model_id":%d,"prediction":1}`, m)
		future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		cases := []struct {
			name, path, body string
			status           int
			locations        []string
		}{
			{"case variant", "/api/v1/predictions", fmt.Sprintf(`{"model_id":%d,"MODEL_ID":99999,"prediction":1}`, m), 422, []string{"body.MODEL_ID"}},
			{"duplicate name", "/api/v1/predictions", fmt.Sprintf(`{"model_id":%d,"model_id":99999,"prediction":1}`, m), 422, []string{"body.model_id"}},
			{"duplicate inside features", "/api/v1/predictions", fmt.Sprintf(`{"model_id":%d,"prediction":1,"features":{"a":1,"a":2}}`, m), 422, []string{"body.features.a"}},
			{"invalid UTF-8 inside features", "/api/v1/predictions", fmt.Sprintf("{\"model_id\":%d,\"prediction\":1,\"features\":{\"city\":\"\xff\"}}", m), 422, []string{"body.features.city"}},
			{"lone surrogate", "/api/v1/predictions", fmt.Sprintf(`{"model_id":%d,"prediction":1,"features":{"s":"\ud800"}}`, m), 422, []string{"body.features.s"}},
			{"created_at in the future", "/api/v1/predictions", fmt.Sprintf(`{"model_id":%d,"prediction":1,"created_at":%q}`, m, future), 422, []string{"body.created_at"}},
			{"created_at not a time", "/api/v1/predictions", fmt.Sprintf(`{"model_id":%d,"prediction":1,"created_at":"yesterday"}`, m), 422, []string{"body.created_at"}},
			{"latency beyond a day", "/api/v1/predictions", fmt.Sprintf(`{"model_id":%d,"prediction":1,"latency_ms":1e200}`, m), 422, []string{"body.latency_ms"}},
			{"number beyond float64", "/api/v1/predictions", fmt.Sprintf(`{"model_id":%d,"prediction":1,"probability":1e400}`, m), 422, []string{"body.probability"}},
			{"integer with a fraction", "/api/v1/predictions", fmt.Sprintf(`{"model_id":%d,"prediction":1.5}`, m), 422, []string{"body.prediction"}},
			{"null for a required field", "/api/v1/predictions", `{"model_id":null,"prediction":1}`, 422, []string{"body.model_id"}},
			{"array body", "/api/v1/predictions", `[` + good + `]`, 422, []string{"body"}},
			{"batch: every bad item", "/api/v1/predictions/batch", fmt.Sprintf(`{"predictions":[%s,{"model_id":%d,"Prediction":1},%s,{"model_id":%d,"prediction":1,"created_at":%q}]}`, good, m, good, m, future), 422,
				[]string{"body.predictions[1].Prediction", "body.predictions[1].prediction"}},
			{"batch: ranges of every item", "/api/v1/predictions/batch", fmt.Sprintf(`{"predictions":[%s,{"model_id":%d,"prediction":1,"probability":2},{"model_id":%d,"prediction":1,"created_at":%q}]}`, good, m, m, future), 422,
				[]string{"body.predictions[1].probability", "body.predictions[2].created_at"}},
			{"batch: duplicate in an item", "/api/v1/predictions/batch", fmt.Sprintf(`{"predictions":[%s,{"model_id":%d,"prediction":1,"prediction":2}]}`, good, m), 422, []string{"body.predictions[1].prediction"}},
			{"batch: invalid UTF-8 in an item", "/api/v1/predictions/batch", fmt.Sprintf("{\"predictions\":[%s,{\"model_id\":%d,\"prediction\":1,\"features\":{\"k\":\"a\xc3\"}}]}", good, m), 422, []string{"body.predictions[1].features.k"}},
			{"batch: duplicate list", "/api/v1/predictions/batch", `{"predictions":[],"predictions":[]}`, 422, []string{"body.predictions"}},
			{"metric: case variant", "/api/v1/metrics", `{"metric_name":"x","Metric_Value":1}`, 422, []string{"body.Metric_Value", "body.metric_value"}},
			{"metric: invalid UTF-8 in the name", "/api/v1/metrics", "{\"metric_name\":\"lat\xe9ncy\",\"metric_value\":1}", 422, []string{"body.metric_name"}},
			{"metric: beyond 1e15", "/api/v1/metrics", `{"metric_name":"x","metric_value":1e200}`, 422, []string{"body.metric_value"}},
			{"model: duplicate name", "/api/v1/models", `{"model_name":"a","model_name":"b","version":"1","algorithm":"rf"}`, 422, []string{"body.model_name"}},
			{"model: invalid UTF-8", "/api/v1/models", "{\"model_name\":\"a\",\"version\":\"1\",\"algorithm\":\"r\xfff\"}", 422, []string{"body.algorithm"}},
			{"model: case variant", "/api/v1/models", `{"model_name":"a","Version":"1","algorithm":"rf"}`, 422, nil},
			{"metric: created_at in the future", "/api/v1/metrics/batch", fmt.Sprintf(`{"metrics":[{"metric_name":"x","metric_value":1},{"metric_name":"x","metric_value":1,"created_at":%q}]}`, future), 422, []string{"body.metrics[1].created_at"}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c := *c
				c.t = t
				problem(t, c.do("POST", tc.path, tc.body), tc.status, tc.locations...)
			})
		}
		if n := c.count("predictions") + c.count("performance_metrics"); n != 0 {
			t.Fatalf("%d rows stored by refused bodies", n)
		}
		if n := c.count("model_versions"); n != 1 {
			t.Fatalf("%d model versions, want the test's one", n)
		}

		// Text is stored verbatim, history keeps its time, null is absent.
		past := time.Date(2026, 10, 1, 12, 30, 0, 0, time.UTC)
		p := c.must(201, "POST", "/api/v1/predictions", fmt.Sprintf(
			`{"model_id":%d,"prediction":0,"features":{"city":"Zürich ☕","esc":"a\"b\u00e9"},"probability":null,"created_at":%q}`, m, past.Format(time.RFC3339)))
		got := c.must(200, "GET", fmt.Sprintf("/api/v1/predictions/%d", id(p)), nil)
		features := got["features"].(map[string]any)
		if features["city"] != "Zürich ☕" || features["esc"] != `a"bé` || got["probability"] != nil || got["created_at"] != past.Format(time.RFC3339) {
			t.Fatalf("stored %v", got)
		}
		out := c.must(201, "POST", "/api/v1/predictions/batch", fmt.Sprintf(`{"predictions":[%s,{"model_id":%d,"prediction":2,"created_at":%q}]}`, good, m, past.Format(time.RFC3339)))
		second := c.must(200, "GET", fmt.Sprintf("/api/v1/predictions/%d", int64(out["ids"].([]any)[1].(float64))), nil)
		if second["created_at"] != past.Format(time.RFC3339) || second["prediction"] != float64(2) {
			t.Fatalf("batch item with created_at stored as %v", second)
		}
		mp := c.must(201, "POST", "/api/v1/metrics", fmt.Sprintf(`{"metric_name":"x","metric_value":-1e15,"created_at":%q}`, past.Format(time.RFC3339)))
		if mp["created_at"] != past.Format(time.RFC3339) || mp["metric_value"] != -1e15 {
			t.Fatalf("metric stored as %v", mp)
		}
	})
}

// rawPost opens a connection and sends the headers of a POST with a
// declared Content-Length, and the first bytes of its body.
func rawPost(t *testing.T, base, path string, declared int, first string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_, err = fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", path, declared, first)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// TestBodyThatStopsIsCutOff checks that a body that stops arriving is
// answered 408 after the idle timeout, that one declared larger than the
// limit is refused before it is sent, and that nothing is stored.
func TestBodyThatStopsIsCutOff(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			c := serveWith(t, storetest.Open(t, engine, store.Options{}), httpapi.Options{BodyIdleTimeout: 300 * time.Millisecond})
			m := c.model("slow", "1")
			conn := rawPost(t, c.base, "/api/v1/predictions/batch", 1000, fmt.Sprintf(`{"predictions":[{"model_id":%d,"prediction":1},`, m))
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer to a stalled body: %v\n%s", err, c.logs.String())
			}
			res.Body.Close()
			if res.StatusCode != http.StatusRequestTimeout {
				t.Fatalf("stalled body: %d, want 408", res.StatusCode)
			}

			for _, path := range []string{"/api/v1/predictions", "/api/v1/models"} { // read whole, then decoded
				conn := rawPost(t, c.base, path, 100, `{"model_id":`)
				_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
				res, err := http.ReadResponse(bufio.NewReader(conn), nil)
				if err != nil || res.StatusCode != http.StatusRequestTimeout {
					t.Fatalf("%s, stalled body: %v %v, want 408", path, res, err)
				}
				res.Body.Close()
			}

			conn = rawPost(t, c.base, "/api/v1/predictions/batch", httpapi.MaxBatchBodyBytes+1, "")
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			res, err = http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer to an oversized declaration: %v", err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("declared %d bytes: %d, want 413", httpapi.MaxBatchBodyBytes+1, res.StatusCode)
			}
			if n := c.count("predictions"); n != 0 {
				t.Fatalf("%d rows stored", n)
			}
		})
	}
}

// liveHeap is the memory the Go runtime holds for the heap and the
// goroutine stacks after a collection: what a connection costs.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}

// TestDeclaredLengthReservesNothing opens 200 connections that declare
// a 16 MB batch and send none of it: memory must follow the bytes
// received (less than 50 MB for all of them; sizing buffers from the
// header would take 3 GB), and /healthz keeps answering at once.
func TestDeclaredLengthReservesNothing(t *testing.T) {
	c := serveWith(t, storetest.Open(t, store.SQLite, store.Options{}), httpapi.Options{BodyIdleTimeout: time.Minute})
	before := liveHeap()
	for range 200 {
		rawPost(t, c.base, "/api/v1/predictions/batch", 16_000_000, `{"predictions":[`)
	}
	time.Sleep(200 * time.Millisecond) // let the server read every header
	grown := int64(liveHeap()) - int64(before)
	t.Logf("200 connections declaring 16 MB: heap and stacks grew by %.1f MB", float64(grown)/1e6)
	if grown > 50<<20 {
		t.Fatalf("200 stalled connections cost %d MB", grown>>20)
	}
	var lat []time.Duration
	for range 9 {
		t0 := time.Now()
		c.must(200, "GET", "/healthz", nil)
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	t.Logf("/healthz during the attack: median %v", lat[4])
	if lat[4] > 100*time.Millisecond {
		t.Fatalf("/healthz took %v (median of 9) with 200 stalled uploads", lat[4])
	}
}

// TestLargeBatchMemory posts a batch of 10,000 predictions of about 16 MiB
// and measures what decoding and storing it allocates in all: less than
// three times its size.
func TestLargeBatchMemory(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			c := start(t, engine)
			m := c.model("big", "1")
			pad := strings.Repeat("x", 1550)
			var b strings.Builder
			b.WriteString(`{"predictions":[`)
			for i := range httpapi.MaxBatchItems {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `{"model_id":%d,"prediction":%d,"probability":0.5,"features":{"i":%d,"pad":%q}}`, m, i%2, i, pad)
			}
			b.WriteString(`]}`)
			body := b.String()
			if len(body) > httpapi.MaxBatchBodyBytes {
				t.Fatalf("test body is %d bytes, over the limit", len(body))
			}
			var wg sync.WaitGroup
			var peak uint64
			done := make(chan struct{})
			// The heap in use counts garbage not yet collected, which depends
			// on the collector's pace on a loaded machine: a low GOGC keeps
			// the sample close to what the request holds.
			defer debug.SetGCPercent(debug.SetGCPercent(20))
			wg.Add(1)
			go func() { // sample the heap while the request runs
				defer wg.Done()
				var ms runtime.MemStats
				for {
					select {
					case <-done:
						return
					case <-time.After(5 * time.Millisecond):
					}
					runtime.ReadMemStats(&ms)
					peak = max(peak, ms.HeapInuse)
				}
			}()
			base := liveHeap()
			out := c.must(201, "POST", "/api/v1/predictions/batch", body)
			close(done)
			wg.Wait()
			if out["count"] != float64(httpapi.MaxBatchItems) {
				t.Fatalf("stored %v", out["count"])
			}
			grown := int64(peak) - int64(base)
			t.Logf("%s: a %.1f MB batch raised the heap by at most %.1f MB (%.2f× its size)", engine,
				float64(len(body))/1e6, float64(grown)/1e6, float64(grown)/float64(len(body)))
			if grown > 3*int64(len(body)) {
				t.Fatalf("a %d-byte batch raised the heap by %d bytes, over 3× its size", len(body), grown)
			}
		})
	}
}

// TestSchemaBoundsMatchDomain holds the ranges the OpenAPI document shows
// for the ingest bodies to the domain's, which are the ones enforced.
func TestSchemaBoundsMatchDomain(t *testing.T) {
	c := start(t, store.SQLite)
	doc := c.must(200, "GET", "/openapi.json", nil)
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	prop := func(schema, name string) map[string]any {
		return schemas[schema].(map[string]any)["properties"].(map[string]any)[name].(map[string]any)
	}
	for _, tc := range []struct {
		schema, name string
		min, max     float64
	}{
		{"NewPrediction", "probability", 0, 1},
		{"NewPrediction", "latency_ms", 0, mlops.MaxLatencyMS},
		{"NewMetric", "metric_value", -mlops.MaxMetricMagnitude, mlops.MaxMetricMagnitude},
	} {
		p := prop(tc.schema, tc.name)
		if p["minimum"] != tc.min || p["maximum"] != tc.max {
			t.Errorf("%s.%s: the document says [%v, %v], the domain enforces [%v, %v]", tc.schema, tc.name, p["minimum"], p["maximum"], tc.min, tc.max)
		}
		// The domain refuses just past the bound.
		var err error
		switch tc.schema {
		case "NewPrediction":
			v := tc.max * 1.0000001
			in := mlops.NewPrediction{ModelID: 1}
			if tc.name == "probability" {
				in.Probability = &v
			} else {
				in.LatencyMS = &v
			}
			err = in.Validate()
		case "NewMetric":
			err = (&mlops.NewPerformanceMetric{MetricName: "x", MetricValue: tc.max * 1.0000001}).Validate()
		}
		if v, ok := mlops.AsValidation(err); !ok || v.Fields[0].Field != tc.name {
			t.Errorf("%s.%s just past %v: %v, want a field error", tc.schema, tc.name, tc.max, err)
		}
	}
}

// TestSingleIngestAnswersAsHuma: the single ingest routes answer a valid
// body from the decoding step, without huma's handler; a request with an
// Idempotency-Key takes huma's way. Both answers must be the same bytes
// (the record's id aside) and carry the same status and Content-Type, for
// values that encoders write differently (HTML characters, non-ASCII,
// tiny and huge numbers, nulls).
func TestSingleIngestAnswersAsHuma(t *testing.T) {
	each(t, func(t *testing.T, c *client) {
		mid := c.model("answers", "1")
		at := time.Now().UTC().Add(-time.Hour).Truncate(time.Microsecond).Format(time.RFC3339Nano)
		for _, tc := range []struct{ path, body string }{
			{"/api/v1/predictions", fmt.Sprintf(`{"model_id":%d,"features":{"q":"<a href='x'>&amp;</a>","é":"\u2028 ☃","n":1e-7,"big":12345678901234567890,"nested":{"a":[1, 2 ,{"b":null}]}},`+
				`"prediction":-3,"probability":0.000001,"latency_ms":86399999.5,"created_at":%q}`, mid, at)},
			{"/api/v1/predictions", fmt.Sprintf(`{"model_id":%d,"prediction":1,"actual":0,"created_at":%q}`, mid, at)},
			{"/api/v1/metrics", fmt.Sprintf(`{"metric_name":"p<9>&","metric_value":1e-9,"model_id":%d,"metadata":{"k":"<v>"},"created_at":%q}`, mid, at)},
			{"/api/v1/metrics", fmt.Sprintf(`{"metric_name":"plain","metric_value":123456789012,"created_at":%q}`, at)},
		} {
			direct := c.do("POST", tc.path, tc.body)
			viaHuma := c.with("Idempotency-Key", "answers-"+fmt.Sprint(time.Now().UnixNano())).do("POST", tc.path, tc.body)
			if direct.status != http.StatusCreated || viaHuma.status != http.StatusCreated {
				t.Fatalf("%s: got %s and %s, want 201 twice", tc.path, direct, viaHuma)
			}
			if a, b := direct.header.Get("Content-Type"), viaHuma.header.Get("Content-Type"); a != b {
				t.Errorf("%s: Content-Type %q, huma's %q", tc.path, a, b)
			}
			idA, idB := fmt.Sprintf(`{"id":%d,`, id(direct.obj())), fmt.Sprintf(`{"id":%d,`, id(viaHuma.obj()))
			if idA == idB {
				t.Fatalf("%s: both answers name record %s; want two records", tc.path, idA)
			}
			if a, b := strings.Replace(string(direct.raw), idA, "", 1), strings.Replace(string(viaHuma.raw), idB, "", 1); a != b {
				t.Errorf("%s: answers differ beyond the id:\n direct %s\n huma   %s", tc.path, direct.raw, viaHuma.raw)
			}
		}
	})
}
