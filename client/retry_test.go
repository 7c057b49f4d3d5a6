package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/api"
	"github.com/mlopsdev/mlops/client"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// flaky answers the requests whose "METHOD path" starts with match with
// status (and Retry-After, if not empty) the first n times, and passes
// every other request on.
type flaky struct {
	mu         sync.Mutex
	match      string
	status     int
	retryAfter string
	n          int
	attempts   int
}

// arm fails the next n requests that match with status.
func (f *flaky) arm(match string, n, status int, retryAfter string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.match, f.n, f.attempts, f.status, f.retryAfter = match, n, 0, status, retryAfter
}

// tries returns the requests that matched since arm.
func (f *flaky) tries() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts
}

func (f *flaky) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		hit := f.match != "" && strings.HasPrefix(r.Method+" "+r.URL.Path, f.match)
		fail := hit && f.n > 0
		if hit {
			f.attempts++
		}
		if fail {
			f.n--
		}
		status, retryAfter := f.status, f.retryAfter
		f.mu.Unlock()
		if !fail {
			h.ServeHTTP(w, r)
			return
		}
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"title":"` + http.StatusText(status) + `","status":` + strconv.Itoa(status) + `,"detail":"try again"}`))
	})
}

// TestRetry: requests safe to repeat are retried on 503 and 429, others
// are sent once; MaxAttempts and Retry-After are honoured.
func TestRetry(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := &flaky{}
			e := start(t, engine, serverOptions{wrap: f.wrap})
			arm := func(match string, n int) { f.arm(match, n, http.StatusServiceUnavailable, "") }
			id := model(t, e.c, "churn", "1")

			arm("GET /api/v1/models/", 2)
			if _, err := e.c.ModelVersionGet(ctx, id); err != nil || f.tries() != 3 {
				t.Fatalf("GET after two 503s: %v, %d attempts", err, f.tries())
			}

			arm("POST /api/v1/models", 2)
			if _, err := e.c.ModelVersionCreate(ctx, apiModel("churn", "2")); !client.IsUnavailable(err) || f.tries() != 1 {
				t.Fatalf("a POST without a key is sent once: %v, %d attempts", err, f.tries())
			}

			arm("POST /api/v1/models", 2)
			if _, err := e.c.ModelVersionCreate(ctx, apiModel("churn", "2"), client.IdempotencyKey(client.NewIdempotencyKey())); err != nil || f.tries() != 3 {
				t.Fatalf("a POST with a key after two 503s: %v, %d attempts", err, f.tries())
			}

			arm("POST /api/v1/models/", 1)
			if _, err := e.c.ModelVersionActivate(ctx, id); err != nil || f.tries() != 2 {
				t.Fatalf("activate is safe to repeat: %v, %d attempts", err, f.tries())
			}

			arm("PUT /api/v1/rules/", 10)
			_, err := e.c.RuleSettingsPut(ctx, "churn", api.RuleSettingsUpdate{Enabled: ptr(true)})
			if !client.IsUnavailable(err) || f.tries() != fastRetry.MaxAttempts {
				t.Fatalf("MaxAttempts: %v, %d attempts", err, f.tries())
			}

			once := newClient(t, e.ts.URL, client.WithRetry(client.NoRetry))
			arm("GET /api/v1/models", 1)
			if _, err := once.ModelVersionList(ctx, client.ModelVersionFilter{}); !client.IsUnavailable(err) || f.tries() != 1 {
				t.Fatalf("NoRetry: %v, %d attempts", err, f.tries())
			}

			f.arm("GET /api/v1/models", 1, http.StatusTooManyRequests, "1")
			began := time.Now()
			if _, err := e.c.ModelVersionList(ctx, client.ModelVersionFilter{}); err != nil || f.tries() != 2 {
				t.Fatalf("GET after a 429: %v, %d attempts", err, f.tries())
			}
			if waited := time.Since(began); waited < time.Second {
				t.Fatalf("Retry-After: 1 honoured for %v only", waited)
			}

			f.arm("GET /api/v1/models", 100, http.StatusTooManyRequests, "")
			cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			defer cancel()
			began = time.Now()
			_, err = newClient(t, e.ts.URL, client.WithRetry(client.RetryPolicy{})).ModelVersionList(cctx, client.ModelVersionFilter{})
			if StatusCodeOf(err) != http.StatusTooManyRequests || time.Since(began) > 3*time.Second {
				t.Fatalf("unlimited attempts end with the context: %v after %v", err, time.Since(began))
			}
		})
	}
}

func StatusCodeOf(err error) int { return client.StatusCode(err) }

// TestRetryUntilReady: a server whose database is not migrated answers
// 503 with Retry-After: 1; the client retries, reports the 503 when out of
// attempts, and succeeds once the database is migrated meanwhile.
func TestRetryUntilReady(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, err := store.Open(ctx, storetest.URL(t, engine), store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			ts, _ := serveOn(t, st, serverOptions{})

			twice := newClient(t, ts.URL, client.WithRetry(client.RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond}))
			began := time.Now()
			_, err = twice.ModelVersionList(ctx, client.ModelVersionFilter{})
			var ce *client.Error
			if !errors.As(err, &ce) || !client.IsUnavailable(err) || !errors.Is(err, mlops.ErrUnavailable) || ce.RetryAfter != time.Second {
				t.Fatalf("unmigrated database: %v", err)
			}
			if waited := time.Since(began); waited < time.Second {
				t.Fatalf("the second attempt came %v after the first, before its Retry-After", waited)
			}

			go func() {
				time.Sleep(1500 * time.Millisecond)
				if err := st.Migrate(context.Background()); err != nil {
					t.Errorf("migrate: %v", err)
				}
			}()
			patient := newClient(t, ts.URL, client.WithRetry(client.RetryPolicy{}))
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if h, err := patient.Ready(cctx); err != nil || h.Status != "ready" {
				t.Fatalf("ready after the migration: %+v %v", h, err)
			}
			if _, err := patient.ModelVersionCreate(ctx, apiModel("churn", "1")); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// countingTransport counts the requests it sends.
type countingTransport struct {
	n    atomic.Int64
	next http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// TestRetryConnectionRefused: with nobody listening, a GET is tried
// MaxAttempts times and a POST without a key once.
func TestRetryConnectionRefused(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	base := ts.URL
	ts.Close()
	ct := &countingTransport{next: http.DefaultTransport}
	c := newClient(t, base, client.WithHTTPClient(&http.Client{Transport: ct}))
	ctx := context.Background()

	_, err := c.ModelVersionGet(ctx, 1)
	if err == nil || client.StatusCode(err) != 0 || ct.n.Load() != int64(fastRetry.MaxAttempts) {
		t.Fatalf("GET: %v after %d attempts", err, ct.n.Load())
	}
	ct.n.Store(0)
	if _, err := c.AlertCreate(ctx, api.NewAlert{AlertType: "x", Severity: mlops.SeverityLow, Title: "x"}); err == nil || ct.n.Load() != 1 {
		t.Fatalf("POST: %v after %d attempts", err, ct.n.Load())
	}
	ct.n.Store(0)
	if _, err := c.AlertCreate(ctx, api.NewAlert{AlertType: "x", Severity: mlops.SeverityLow, Title: "x"},
		client.IdempotencyKey("k1")); err == nil || ct.n.Load() != int64(fastRetry.MaxAttempts) {
		t.Fatalf("POST with a key: %v after %d attempts", err, ct.n.Load())
	}
}

// loseAnswers runs the first n requests that match to completion, then
// drops their connection instead of answering: the write is done, the
// answer lost.
type loseAnswers struct {
	mu    sync.Mutex
	match string
	n     int
	lost  int
}

// arm loses the answers of the next n requests that match.
func (l *loseAnswers) arm(match string, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.match, l.n = match, n
}

// lostCount returns how many answers were lost.
func (l *loseAnswers) lostCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost
}

func (l *loseAnswers) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		lose := r.Method+" "+r.URL.Path == l.match && l.n > 0
		if lose {
			l.n--
		}
		l.mu.Unlock()
		if !lose {
			h.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
		l.mu.Lock()
		l.lost++
		l.mu.Unlock()
		panic(http.ErrAbortHandler)
	})
}

// TestRetryLostAnswer: a creating request whose answer is lost after the
// server stored it is retried under its Idempotency-Key, and the retry is
// answered the first answer: one record, not two.
func TestRetryLostAnswer(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			lose := &loseAnswers{}
			e := start(t, engine, serverOptions{wrap: lose.wrap})
			id := model(t, e.c, "churn", "1")

			lose.arm("POST /api/v1/predictions/batch", 1)
			res, err := e.c.PredictionCreateBatch(ctx, []api.NewPrediction{{ModelID: id, Prediction: 1}, {ModelID: id}})
			if err != nil || res.Count != 2 || lose.lostCount() != 1 {
				t.Fatalf("batch: %+v %v (%d answers lost)", res, err, lose.lostCount())
			}
			if n := count(t, e.st, "predictions"); n != 2 {
				t.Fatalf("%d predictions stored by a batch of 2 sent twice", n)
			}

			lose.arm("POST /api/v1/alerts", 1)
			a, err := e.c.AlertCreate(ctx, api.NewAlert{AlertType: "drift", Severity: mlops.SeverityLow, Title: "once"},
				client.IdempotencyKey(client.NewIdempotencyKey()))
			if err != nil || a.ID == 0 {
				t.Fatalf("alert: %+v %v", a, err)
			}
			if n := count(t, e.st, "alerts"); n != 1 {
				t.Fatalf("%d alerts stored by one request sent twice", n)
			}
		})
	}
}
