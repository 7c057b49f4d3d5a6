package store_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
)

func idemKey(scope, key, body string) store.IdempotencyKey {
	return store.IdempotencyKey{Scope: scope, Key: key, BodyHash: sha256.Sum256([]byte(body))}
}

// replayed returns the answer err replays, failing unless err is a replay.
func replayed(t *testing.T, err error) store.Answer {
	t.Helper()
	var rep *store.Replayed
	if !errors.As(err, &rep) {
		t.Fatalf("got %v, want a replay", err)
	}
	return rep.Answer
}

// TestIdempotencyClaim walks a key through its life: claimed, refused while
// pending, completed and replayed, refused for another body, apart per
// scope, released after a failure, taken over after its lease, and new
// again after 24 hours, when IdempotencyPrune deletes it.
func TestIdempotencyClaim(t *testing.T) {
	t.Parallel()
	const lease = time.Minute
	eachClock(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := t.Context()
		k := idemKey(`token 1 "a" POST /api/v1/alerts`, "k1", `{"title":"x"}`)
		claim, err := s.IdempotencyClaim(ctx, k, lease)
		must(t, err)
		if _, err := s.IdempotencyClaim(ctx, k, lease); !errors.Is(err, store.ErrIdempotencyKeyInProgress) || !errors.Is(err, mlops.ErrConflict) {
			t.Fatalf("a pending key claimed again: %v, want in progress (a conflict)", err)
		}
		want := store.Answer{Status: 201, ContentType: "application/json", Body: []byte(`{"id":1}` + "\n")}
		must(t, claim.Complete(ctx, want))
		c.Advance(23 * time.Hour)
		for range 2 {
			_, err := s.IdempotencyClaim(ctx, k, lease)
			if got := replayed(t, err); got.Status != want.Status || got.ContentType != want.ContentType || string(got.Body) != string(want.Body) {
				t.Fatalf("replayed %+v, want %+v", got, want)
			}
		}
		other := idemKey(k.Scope, k.Key, `{"title":"y"}`)
		if _, err := s.IdempotencyClaim(ctx, other, lease); !errors.Is(err, store.ErrIdempotencyKeyReused) {
			t.Fatalf("another body with the key: %v, want ErrIdempotencyKeyReused", err)
		}
		// Another caller's key of the same name is its own.
		theirs, err := s.IdempotencyClaim(ctx, idemKey(`token 2 "b" POST /api/v1/alerts`, k.Key, `{"title":"y"}`), lease)
		must(t, err)
		must(t, theirs.Complete(ctx, store.Answer{Status: 201, ContentType: "application/json", Body: []byte(`{"id":2}`)}))

		// A failed request releases its key: a retry is a new request,
		// with any body.
		failed := idemKey(k.Scope, "k2", `{}`)
		claim, err = s.IdempotencyClaim(ctx, failed, lease)
		must(t, err)
		must(t, claim.Release(ctx))
		claim, err = s.IdempotencyClaim(ctx, idemKey(k.Scope, "k2", `{"fixed":true}`), lease)
		must(t, err)

		// A claim pending past its lease (its server died) is taken over;
		// the first holder can then neither release nor overwrite it.
		c.Advance(lease)
		taken, err := s.IdempotencyClaim(ctx, idemKey(k.Scope, "k2", `{"fixed":true}`), lease)
		must(t, err)
		must(t, claim.Release(ctx))
		if _, err := s.IdempotencyClaim(ctx, idemKey(k.Scope, "k2", `{"fixed":true}`), lease); !errors.Is(err, store.ErrIdempotencyKeyInProgress) {
			t.Fatalf("after the stale holder's release: %v, want in progress", err)
		}
		must(t, taken.Complete(ctx, store.Answer{Status: 201, ContentType: "application/json", Body: []byte(`{"id":3}`)}))
		must(t, claim.Complete(ctx, store.Answer{Status: 201, ContentType: "application/json", Body: []byte(`{"id":4}`)}))
		_, err = s.IdempotencyClaim(ctx, idemKey(k.Scope, "k2", `{"fixed":true}`), lease)
		if got := replayed(t, err); string(got.Body) != `{"id":3}` {
			t.Fatalf("replayed %s, want the first completion", got.Body)
		}
		if err := claim.Complete(ctx, store.Answer{Status: 422}); err == nil {
			t.Fatal("a 422 answer was stored")
		}

		// 24 hours after the first request its key is new again, whatever
		// the body; IdempotencyPrune deletes the keys past their 24 hours.
		c.Advance(time.Hour - lease)
		fresh, err := s.IdempotencyClaim(ctx, idemKey(k.Scope, k.Key, `{"title":"z"}`), lease)
		must(t, err)
		must(t, fresh.Complete(ctx, store.Answer{Status: 201, ContentType: "application/json", Body: []byte(`{"id":5}`)}))
		if n, err := s.IdempotencyPrune(ctx); err != nil || n != 0 {
			t.Fatalf("IdempotencyPrune: %d, %v; want nothing deleted", n, err)
		}
		c.Advance(23 * time.Hour)
		if n, err := s.IdempotencyPrune(ctx); err != nil || n != 1 {
			t.Fatalf("IdempotencyPrune: %d, %v; want the other caller's key deleted", n, err)
		}
		if got := count(t, s, "idempotency_keys"); got != 2 {
			t.Fatalf("%d keys left, want 2", got)
		}
	})
}

// TestIdempotentBatches: a batch written with a key stores its rows and its
// answer together; a repeat writes nothing and gets the same ids; another
// body is refused; a refused batch leaves no key, so its fixed body is
// stored under the same key.
func TestIdempotentBatches(t *testing.T) {
	t.Parallel()
	eachClock(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := t.Context()
		m := mustModel(t, s, "churn", "v1")
		in := []mlops.NewPrediction{{ModelID: m.ID, Prediction: 1}, {ModelID: m.ID, Prediction: 0}}
		kctx := store.WithIdempotencyKey(ctx, idemKey("scope", "batch-1", "body 1"))
		ids, err := s.PredictionCreateBatch(kctx, in)
		must(t, err)
		for range 2 {
			_, err := s.PredictionCreateBatch(kctx, in)
			if got := replayed(t, err); got.Status != 201 || string(got.Body) != `{"count":2,"ids":[`+itoa(ids[0])+`,`+itoa(ids[1])+`]}` {
				t.Fatalf("replayed %d %s for ids %v", got.Status, got.Body, ids)
			}
		}
		if n := count(t, s, "predictions"); n != 2 {
			t.Fatalf("%d predictions after a repeat, want 2", n)
		}
		if _, err := s.PredictionCreateBatch(store.WithIdempotencyKey(ctx, idemKey("scope", "batch-1", "body 2")), in); !errors.Is(err, store.ErrIdempotencyKeyReused) {
			t.Fatalf("another body with the key: %v", err)
		}

		bad := []mlops.NewPrediction{{ModelID: m.ID + 100, Prediction: 1}}
		kctx = store.WithIdempotencyKey(ctx, idemKey("scope", "batch-2", "body 3"))
		if _, err := s.PredictionCreateBatch(kctx, bad); fields(err) == nil {
			t.Fatalf("unknown model: %v", err)
		}
		kctx = store.WithIdempotencyKey(ctx, idemKey("scope", "batch-2", "body 4"))
		if _, err := s.PredictionCreateBatch(kctx, in[:1]); err != nil {
			t.Fatalf("the fixed batch under the key of a refused one: %v", err)
		}

		points := []mlops.NewPerformanceMetric{{MetricName: "latency", MetricValue: 1}, {MetricName: "latency", MetricValue: 2}}
		kctx = store.WithIdempotencyKey(ctx, idemKey("scope", "metrics-1", "body 5"))
		mids, err := s.MetricCreateBatch(kctx, points)
		must(t, err)
		_, err = s.MetricCreateBatch(kctx, points)
		if got := replayed(t, err); string(got.Body) != `{"count":2,"ids":[`+itoa(mids[0])+`,`+itoa(mids[1])+`]}` {
			t.Fatalf("replayed %s for ids %v", got.Body, mids)
		}
		// An empty batch keeps its key too.
		kctx = store.WithIdempotencyKey(ctx, idemKey("scope", "metrics-2", "body 6"))
		_, err = s.MetricCreateBatch(kctx, nil)
		must(t, err)
		if _, err := s.MetricCreateBatch(kctx, nil); replayed(t, err).Status != 201 {
			t.Fatal("empty batch not replayed")
		}
		if n := count(t, s, "performance_metrics"); n != 2 {
			t.Fatalf("%d metric points, want 2", n)
		}

		// After 24 hours the key is a new one.
		c.Advance(store.IdempotencyTTL)
		kctx = store.WithIdempotencyKey(ctx, idemKey("scope", "batch-1", "body 2"))
		if _, err := s.PredictionCreateBatch(kctx, in); err != nil {
			t.Fatalf("a key 24 hours old: %v", err)
		}
		if n := count(t, s, "predictions"); n != 5 {
			t.Fatalf("%d predictions, want 5", n)
		}
	})
}

// TestIdempotentBatchConcurrent: 24 writers send one batch with one key at
// once (on PostgreSQL, each in a transaction of its own that waits on the
// key's row): exactly one batch is stored, and every writer gets its ids.
func TestIdempotentBatchConcurrent(t *testing.T) {
	t.Parallel()
	eachClock(t, func(t *testing.T, s *store.Store, _ *clock) {
		m := mustModel(t, s, "churn", "v1")
		in := make([]mlops.NewPrediction, 300)
		for i := range in {
			in[i] = mlops.NewPrediction{ModelID: m.ID, Prediction: int64(i)}
		}
		points := []mlops.NewPerformanceMetric{{MetricName: "latency", MetricValue: 1}}
		const writers = 24
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			answers = map[string]int{} // body → how many writers got it
			created int
		)
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var (
					ids []int64
					err error
				)
				if i%2 == 0 {
					ids, err = s.PredictionCreateBatch(store.WithIdempotencyKey(context.Background(), idemKey("scope", "p", "predictions")), in)
				} else {
					ids, err = s.MetricCreateBatch(store.WithIdempotencyKey(context.Background(), idemKey("scope", "m", "metrics")), points)
				}
				mu.Lock()
				defer mu.Unlock()
				var rep *store.Replayed
				switch {
				case errors.As(err, &rep):
					answers[string(rep.Answer.Body)]++
				case err != nil:
					t.Error(err)
				case len(ids) == 0:
					t.Error("no ids")
				default:
					created++
				}
			}()
		}
		wg.Wait()
		if created != 2 {
			t.Fatalf("%d batches created, want 2 (one per key)", created)
		}
		if len(answers) != 2 || answers[firstAnswer(t, s, "p")] != writers/2-1 || answers[firstAnswer(t, s, "m")] != writers/2-1 {
			t.Fatalf("replayed answers %v", answers)
		}
		if n := count(t, s, "predictions"); n != int64(len(in)) {
			t.Fatalf("%d predictions, want %d", n, len(in))
		}
		if n := count(t, s, "performance_metrics"); n != 1 {
			t.Fatalf("%d metric points, want 1", n)
		}
	})
}

// firstAnswer is the answer stored with key.
func firstAnswer(t *testing.T, s *store.Store, key string) string {
	t.Helper()
	var body []byte
	if err := s.DB().QueryRowContext(t.Context(), `SELECT body FROM idempotency_keys WHERE idempotency_key = $1`, key).Scan(&body); err != nil {
		t.Fatal(err)
	}
	return string(body)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
