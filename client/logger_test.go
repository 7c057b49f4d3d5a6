package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
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

// fastLoggerRetry keeps the logger's waits short in tests.
var fastLoggerRetry = client.RetryPolicy{BaseDelay: 5 * time.Millisecond, MaxDelay: 50 * time.Millisecond}

// pred is prediction number i of model id: its Prediction field is i, so
// the stored rows can be matched to what was logged.
func pred(id int64, i int) api.NewPrediction {
	return api.NewPrediction{ModelID: id, Prediction: int64(i), Probability: ptr(0.5),
		Features: api.Object(fmt.Sprintf(`{"amount":%d,"city":"Lyon"}`, i%100))}
}

// storedPredictions returns the Prediction field of every stored row,
// sorted.
func storedPredictions(t testing.TB, st *store.Store) []int64 {
	t.Helper()
	rows, err := st.DB().Query(`SELECT prediction FROM predictions ORDER BY prediction`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLogger: predictions logged are stored in batches, each once; Flush
// waits for them; a prediction the server refuses fails alone; Log refuses
// bad fields at once and everything after Close.
func TestLogger(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		id := model(t, e.c, "churn", "1")
		var (
			mu       sync.Mutex
			ids      []int64
			refused  []api.NewPrediction
			refusals error
		)
		l := client.NewPredictionLogger(e.c, client.LoggerOptions{MaxBatch: 1000, FlushInterval: time.Hour, Retry: fastLoggerRetry,
			OnStored: func(got []int64, preds []api.NewPrediction) {
				mu.Lock()
				defer mu.Unlock()
				if len(got) != len(preds) {
					t.Errorf("%d ids for %d predictions", len(got), len(preds))
				}
				ids = append(ids, got...)
			},
			OnFailed: func(err error, preds []api.NewPrediction) {
				mu.Lock()
				defer mu.Unlock()
				refused, refusals = append(refused, preds...), err
			}})
		for i := range 2500 {
			if err := l.Log(pred(id, i)); err != nil {
				t.Fatal(err)
			}
		}
		// Two full batches went at once; the rest waits for Flush (the
		// interval is an hour).
		if err := l.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if n := count(t, e.st, "predictions"); n != 2500 {
			t.Fatalf("%d predictions stored after Flush, want 2500", n)
		}
		if s := l.Stats(); s.Sent != 2500 || s.Logged != 2500 || s.Batches != 3 || s.Queued != 0 || s.InFlight != 0 {
			t.Fatalf("stats: %+v", s)
		}

		var ve *mlops.ValidationError
		if err := l.Log(api.NewPrediction{ModelID: id, Probability: ptr(2.0)}); !errors.As(err, &ve) || ve.Fields[0].Field != "probability" {
			t.Fatalf("probability 2: %v", err)
		}
		if err := l.Log(api.NewPrediction{ModelID: id, Features: api.Object(`[1]`)}); !errors.As(err, &ve) {
			t.Fatalf("features [1]: %v", err)
		}

		// An unknown model_id is refused by the server alone: the other
		// predictions of its batch are stored.
		for i := 2500; i < 2510; i++ {
			p := pred(id, i)
			if i == 2504 {
				p.ModelID = 999999
			}
			if err := l.Log(p); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if err := l.Log(pred(id, 1)); !errors.Is(err, client.ErrLoggerClosed) {
			t.Fatalf("Log after Close: %v", err)
		}
		got := storedPredictions(t, e.st)
		if len(got) != 2509 || slices.Contains(got, 2504) {
			t.Fatalf("%d stored, 2504 among them: %v", len(got), slices.Contains(got, 2504))
		}
		if len(refused) != 1 || refused[0].Prediction != 2504 || !client.IsInvalid(refusals) {
			t.Fatalf("refused %+v: %v", refused, refusals)
		}
		slices.Sort(ids)
		if len(slices.Compact(ids)) != 2509 {
			t.Fatalf("OnStored saw %d distinct ids, want 2509", len(ids))
		}
		if s := l.Stats(); s.Sent != 2509 || s.Failed != 1 || s.Logged != 2510 {
			t.Fatalf("stats: %+v", s)
		}
		if err := l.Close(ctx); err != nil {
			t.Fatalf("a second Close: %v", err)
		}
	})
}

// gate holds the batch requests until it is opened.
type gate struct {
	open chan struct{}
	once sync.Once
}

func newGate() *gate { return &gate{open: make(chan struct{})} }

func (g *gate) release() { g.once.Do(func() { close(g.open) }) }

func (g *gate) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/predictions/batch" {
			select {
			case <-g.open:
			case <-r.Context().Done():
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// TestLoggerFullQueue: while the server holds the batches, the queue fills
// and Log blocks (until room frees up, or for BlockTimeout), drops the
// oldest, or errs, as configured; what Log accepted is stored once the
// server answers again.
func TestLoggerFullQueue(t *testing.T) {
	// At most 10 queued, 5 in the batch being sent, 5 in the batch cut
	// for the next sender to be free.
	opts := func(full client.FullPolicy, block time.Duration) client.LoggerOptions {
		return client.LoggerOptions{QueueSize: 10, MaxBatch: 5, Senders: 1, FlushInterval: time.Hour,
			OnFull: full, BlockTimeout: block, Retry: fastLoggerRetry}
	}
	const most = 20
	// fill logs predictions 0 to 19 into a logger whose server holds the
	// batches: two batches of 5 taken off the queue, 10 queued.
	fill := func(t *testing.T, l *client.PredictionLogger, id int64) {
		t.Helper()
		for i := range most {
			if err := l.Log(pred(id, i)); err != nil {
				t.Fatal(err)
			}
			if i == 4 || i == 9 {
				waitFor(t, "a batch taken off the queue", func() bool { return l.Stats().InFlight == i+1 })
			}
		}
		if s := l.Stats(); s.Queued != 10 || s.InFlight != 10 {
			t.Fatalf("stats: %+v", s)
		}
	}

	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()

			t.Run("ReturnError", func(t *testing.T) {
				g := newGate()
				e := start(t, engine, serverOptions{wrap: g.wrap})
				defer g.release()
				id := model(t, e.c, "churn", "1")
				l := client.NewPredictionLogger(e.c, opts(client.ReturnError, 0))
				fill(t, l, id)
				began := time.Now()
				if err := l.Log(pred(id, most)); !errors.Is(err, client.ErrQueueFull) || time.Since(began) > 50*time.Millisecond {
					t.Fatalf("Log on a full queue: %v after %v", err, time.Since(began))
				}
				if s := l.Stats(); s.Rejected != 1 || s.Queued != 10 || s.Dropped != 0 {
					t.Fatalf("stats: %+v", s)
				}
				g.release()
				if err := l.Close(ctx); err != nil {
					t.Fatal(err)
				}
				if n := count(t, e.st, "predictions"); n != most {
					t.Fatalf("%d stored, %d accepted", n, most)
				}
			})

			t.Run("Block", func(t *testing.T) {
				g := newGate()
				e := start(t, engine, serverOptions{wrap: g.wrap})
				defer g.release()
				id := model(t, e.c, "churn", "1")

				// BlockTimeout passes: ErrQueueFull after waiting it.
				l := client.NewPredictionLogger(e.c, opts(client.Block, 100*time.Millisecond))
				fill(t, l, id)
				began := time.Now()
				if err := l.Log(pred(id, most)); !errors.Is(err, client.ErrQueueFull) || time.Since(began) < 100*time.Millisecond {
					t.Fatalf("Log on a full queue: %v after %v", err, time.Since(began))
				}
				accepted := most

				// Room frees up while Log waits: it returns nil.
				l2 := client.NewPredictionLogger(e.c, opts(client.Block, 10*time.Second))
				done := make(chan error, 1)
				go func() {
					for i := range most + 1 { // one more than fits
						if err := l2.Log(pred(id, 1000+i)); err != nil {
							done <- err
							return
						}
					}
					done <- nil
				}()
				select {
				case err := <-done:
					t.Fatalf("%d predictions logged without blocking: %v", most+1, err)
				case <-time.After(300 * time.Millisecond):
				}
				g.release()
				select {
				case err := <-done:
					if err != nil {
						t.Fatal(err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("Log still blocked after the server answered")
				}
				if err := l.Close(ctx); err != nil {
					t.Fatal(err)
				}
				if err := l2.Close(ctx); err != nil {
					t.Fatal(err)
				}
				if n := count(t, e.st, "predictions"); n != accepted+most+1 {
					t.Fatalf("%d stored, %d accepted", n, accepted+most+1)
				}
				if s := l.Stats(); s.Rejected != 1 || s.Sent != int64(accepted) {
					t.Fatalf("stats: %+v", s)
				}
			})

			t.Run("DropOldest", func(t *testing.T) {
				g := newGate()
				e := start(t, engine, serverOptions{wrap: g.wrap})
				defer g.release()
				id := model(t, e.c, "churn", "1")
				l := client.NewPredictionLogger(e.c, opts(client.DropOldest, 0))
				fill(t, l, id)
				const logged = 60
				for i := most; i < logged; i++ {
					if err := l.Log(pred(id, i)); err != nil {
						t.Fatal(err)
					}
				}
				s := l.Stats()
				if s.Dropped != logged-most || s.Queued != 10 || s.InFlight != 10 {
					t.Fatalf("stats: %+v", s)
				}
				g.release()
				if err := l.Close(ctx); err != nil {
					t.Fatal(err)
				}
				got := storedPredictions(t, e.st)
				if int64(len(got))+s.Dropped != logged {
					t.Fatalf("%d stored + %d dropped != %d logged", len(got), s.Dropped, logged)
				}
				// The dropped ones are the oldest queued: those taken off the
				// queue in batches (0 to 9) and the last 10 logged are stored.
				want := []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59}
				if !slices.Equal(got, want) {
					t.Fatalf("stored %v, want %v", got, want)
				}
			})
		})
	}
}

// TestLoggerCloseServerDown: with the server gone, Close returns when its
// context ends and lists the predictions not sent.
func TestLoggerCloseServerDown(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := storetest.Open(t, engine, store.Options{})
			ts, stop := serveOn(t, st, serverOptions{})
			c := newClient(t, ts.URL)
			id := model(t, c, "churn", "1")
			l := client.NewPredictionLogger(c, client.LoggerOptions{FlushInterval: 10 * time.Millisecond, Retry: fastLoggerRetry})
			for i := range 50 {
				if err := l.Log(pred(id, i)); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			stop()
			for i := 50; i < 150; i++ {
				if err := l.Log(pred(id, i)); err != nil {
					t.Fatal(err)
				}
			}
			fctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			if err := l.Flush(fctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Flush with the server down: %v", err)
			}

			cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			defer cancel()
			began := time.Now()
			err := l.Close(cctx)
			took := time.Since(began)
			var ue *client.UnsentError
			if !errors.As(err, &ue) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Close: %v", err)
			}
			if took < 300*time.Millisecond || took > 2*time.Second {
				t.Fatalf("Close took %v with a 300ms context", took)
			}
			if len(ue.Predictions) != 100 {
				t.Fatalf("%d predictions not sent, want 100", len(ue.Predictions))
			}
			var seen []int64
			for _, p := range ue.Predictions {
				seen = append(seen, p.Prediction)
			}
			slices.Sort(seen)
			if seen[0] != 50 || seen[99] != 149 || len(slices.Compact(seen)) != 100 {
				t.Fatalf("the unsent predictions are not those logged while the server was down: %v", seen)
			}
			if s := l.Stats(); s.Sent != 50 || s.Retried == 0 {
				t.Fatalf("stats: %+v", s)
			}
			if err := l.Log(pred(id, 0)); !errors.Is(err, client.ErrLoggerClosed) {
				t.Fatalf("Log after Close: %v", err)
			}
		})
	}
}

// TestLoggerKillRestart: the server is stopped mid-stream, with requests
// in flight and the answers of some stored batches lost, and a new server
// starts on the same database and address. Every prediction Log accepted
// is stored exactly once.
func TestLoggerKillRestart(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			u := storetest.URL(t, engine)
			st := storetest.OpenURL(t, u, store.Options{})
			lose := &loseAnswers{}
			lose.arm("POST /api/v1/predictions/batch", 3)
			ts, stop := serveOn(t, st, serverOptions{wrap: lose.wrap})
			c := newClient(t, ts.URL)
			id := model(t, c, "churn", "1")
			l := client.NewPredictionLogger(c, client.LoggerOptions{MaxBatch: 250, FlushInterval: 5 * time.Millisecond,
				Senders: 3, Retry: fastLoggerRetry})

			const n = 30000
			var accepted atomic.Int64
			produced := make(chan error, 1)
			go func() {
				for i := range n {
					if err := l.Log(pred(id, i)); err != nil {
						produced <- fmt.Errorf("Log %d: %w", i, err)
						return
					}
					accepted.Add(1)
					if i%500 == 0 {
						time.Sleep(time.Millisecond) // a stream, not one burst
					}
				}
				produced <- nil
			}()

			waitFor(t, "a third of the stream stored", func() bool { return l.Stats().Sent >= n/3 })
			stop() // connections cut, requests in flight lose their answers
			time.Sleep(300 * time.Millisecond)
			st2 := storetest.OpenURL(t, u, store.Options{})
			serveOn(t, st2, serverOptions{addr: ts.Listener.Addr().String()})

			if err := <-produced; err != nil {
				t.Fatal(err)
			}
			cctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			if err := l.Close(cctx); err != nil {
				t.Fatal(err)
			}
			got := storedPredictions(t, st2)
			if int64(len(got)) != accepted.Load() || len(got) != n {
				t.Fatalf("%d stored, %d accepted, %d logged", len(got), accepted.Load(), n)
			}
			for i, v := range got {
				if v != int64(i) {
					t.Fatalf("prediction %d stored %s", i, map[bool]string{true: "twice", false: "never"}[v < int64(i)])
				}
			}
			s := l.Stats()
			if s.Sent != n || s.Retried == 0 || s.Failed != 0 || lose.lostCount() != 3 {
				t.Fatalf("stats: %+v, %d answers lost", s, lose.lostCount())
			}
			t.Logf("%d predictions, %d batches, %d attempts repeated, %d answers lost after the write", s.Sent, s.Batches, s.Retried, lose.lostCount())
		})
	}
}

// waitFor polls cond for up to 30 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestLoggerHalvesLargeBatch: a batch over the server's 16 MiB limit (413)
// is halved until its parts fit, and every prediction is stored once.
func TestLoggerHalvesLargeBatch(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		id := model(t, e.c, "churn", "1")
		l := client.NewPredictionLogger(e.c, client.LoggerOptions{MaxBatch: 5000, FlushInterval: time.Hour, Retry: fastLoggerRetry})
		blob := api.Object(`{"blob":"` + strings.Repeat("x", 4000) + `"}`)
		for i := range 5000 { // 20 MB of JSON in one batch
			p := pred(id, i)
			p.Features = blob
			if err := l.Log(p); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if s := l.Stats(); s.Sent != 5000 || s.Failed != 0 || s.Batches < 2 {
			t.Fatalf("stats: %+v", s)
		}
		if got := storedPredictions(t, e.st); len(got) != 5000 || len(slices.Compact(got)) != 5000 {
			t.Fatalf("%d stored", len(got))
		}
	})
}
