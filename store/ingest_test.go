package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// ingestRow is the i-th row of a group-commit test: most are valid, some
// fail validation, some name a model version that does not exist.
type ingestRow struct {
	in        mlops.NewPrediction
	wantField string // "" when the row must be stored
}

func ingestRows(modelID int64, worker, n int) []ingestRow {
	rows := make([]ingestRow, n)
	for j := range rows {
		value := int64(worker*1000 + j) // unique: finds a row stored twice
		in := mlops.NewPrediction{ModelID: modelID, Features: mlops.JSON(fmt.Sprintf(`{"worker": %d, "j": %d}`, worker, j)),
			Prediction: value, Probability: ptr(0.5), LatencyMS: ptr(float64(j))}
		var field string
		switch (worker + j) % 5 {
		case 1:
			in.Probability, field = ptr(1.5), "probability"
		case 2:
			in.ModelID, field = 1_000_000+int64(worker), "model_id"
		case 3:
			in.Features, field = mlops.JSON(`[1, 2]`), "features"
		}
		rows[j] = ingestRow{in: in, wantField: field}
	}
	return rows
}

// TestIngesterConcurrentCallers: 64 goroutines log valid and invalid rows
// through one Ingester; each caller gets the answer its own row deserves,
// every valid row is stored exactly once and nothing else is.
func TestIngesterConcurrentCallers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		model := mustModel(t, s, "churn", "v1")
		g := store.NewIngester(s, store.IngesterOptions{})
		const workers, perWorker = 64, 10
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			stored = map[int64]mlops.Prediction{} // by prediction value
			errs   []error
		)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, row := range ingestRows(model.ID, w, perWorker) {
					p, err := g.Log(ctx, row.in)
					mu.Lock()
					switch {
					case row.wantField == "" && err != nil:
						errs = append(errs, fmt.Errorf("row %d: unexpected error %v", row.in.Prediction, err))
					case row.wantField == "":
						if _, dup := stored[p.Prediction]; dup {
							errs = append(errs, fmt.Errorf("row %d answered twice", p.Prediction))
						}
						stored[p.Prediction] = p
						if p.Prediction != row.in.Prediction || p.ID <= 0 || p.ModelID != row.in.ModelID {
							errs = append(errs, fmt.Errorf("row %d: got %+v", row.in.Prediction, p))
						}
					default:
						v, ok := mlops.AsValidation(err)
						if !ok || len(v.Fields) != 1 || v.Fields[0].Field != row.wantField {
							errs = append(errs, fmt.Errorf("row %d: error %v, want a ValidationError on %s", row.in.Prediction, err, row.wantField))
						}
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		for _, err := range errs {
			t.Error(err)
		}
		if err := g.Close(ctx); err != nil {
			t.Fatalf("Close: %v", err)
		}
		want := 0
		for w := range workers {
			for _, row := range ingestRows(model.ID, w, perWorker) {
				if row.wantField == "" {
					want++
				}
			}
		}
		if len(stored) != want {
			t.Fatalf("%d rows answered as stored, want %d", len(stored), want)
		}
		if n := count(t, s, "predictions"); n != int64(want) {
			t.Fatalf("predictions table holds %d rows, want %d", n, want)
		}
		var dups int64
		must(t, s.DB().QueryRowContext(ctx, `SELECT count(*) FROM (SELECT prediction FROM predictions
			GROUP BY prediction HAVING count(*) > 1) d`).Scan(&dups))
		if dups != 0 {
			t.Fatalf("%d prediction values are stored more than once", dups)
		}
		// Each answer is what the database holds.
		for _, p := range stored {
			got, err := s.PredictionGet(ctx, p.ID)
			must(t, err)
			if got.Prediction != p.Prediction || got.ModelID != p.ModelID || !got.CreatedAt.Equal(p.CreatedAt) ||
				*got.Probability != *p.Probability || *got.LatencyMS != *p.LatencyMS {
				t.Fatalf("stored %+v, answered %+v", got, p)
			}
		}
		st := g.Stats()
		if st.Rows != uint64(want) {
			t.Fatalf("Stats().Rows = %d, want %d", st.Rows, want)
		}
		t.Logf("%d rows in %d batches, %d fallbacks", st.Rows, st.Batches, st.Fallbacks)
	})
}

// TestIngesterCloseFlushes: rows that never fill a batch are written by
// Close, which then refuses new work.
func TestIngesterCloseFlushes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		model := mustModel(t, s, "churn", "v1")
		// Batches of 8 that never time out: only full batches and Close flush.
		g := store.NewIngester(s, store.IngesterOptions{MaxBatch: 8, MaxWait: time.Hour, Writers: 1})
		const n = 20
		results := make(chan error, n)
		for i := range n {
			go func() {
				_, err := g.Log(ctx, mlops.NewPrediction{ModelID: model.ID, Prediction: int64(i)})
				results <- err
			}()
		}
		waitFor(t, func() bool { return g.Stats().Accepted == n })
		// 16 rows commit as two full batches; 4 wait for Close.
		waitFor(t, func() bool { return g.Stats().Rows == 16 })
		if c := count(t, s, "predictions"); c != 16 {
			t.Fatalf("before Close: %d rows stored, want 16", c)
		}
		must(t, g.Close(ctx))
		for range n {
			must(t, <-results)
		}
		if c := count(t, s, "predictions"); c != n {
			t.Fatalf("after Close: %d rows stored, want %d", c, n)
		}
		if st := g.Stats(); st.Batches != 3 || st.Rows != n {
			t.Fatalf("stats %+v, want 3 batches of %d rows", st, n)
		}
		_, err := g.Log(ctx, mlops.NewPrediction{ModelID: model.ID})
		wantIs(t, err, store.ErrIngesterClosed)
		wantIs(t, err, mlops.ErrUnavailable)
		must(t, g.Close(ctx)) // idempotent
	})
}

// TestIngesterOverloaded: with the writer blocked and the queue full, Log
// answers ErrOverloaded at once instead of queueing without bound; the
// rows that were accepted are stored once the writer is free.
func TestIngesterOverloaded(t *testing.T) {
	storetest.EachURL(t, func(t *testing.T, url string) {
		ctx := t.Context()
		s := storetest.OpenURL(t, url, store.Options{})
		model := mustModel(t, s, "churn", "v1")
		release := blockPredictionWrites(t, s, url)

		// Capacity: one row in the writer, one queued.
		g := store.NewIngester(s, store.IngesterOptions{MaxBatch: 1, MaxWait: -1, QueueSize: 1, QueueWait: -1, Writers: 1})
		const callers = 10
		results := make(chan error, callers)
		for i := range callers {
			go func() {
				_, err := g.Log(ctx, mlops.NewPrediction{ModelID: model.ID, Prediction: int64(i)})
				results <- err
			}()
		}
		// Accepted rows cannot be answered while writes are blocked, so
		// the first callers-2 answers are all refusals.
		overloaded, ok := 0, 0
		tally := func(err error) {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrOverloaded):
				if !errors.Is(err, mlops.ErrUnavailable) {
					t.Fatalf("ErrOverloaded does not match mlops.ErrUnavailable")
				}
				overloaded++
			default:
				t.Fatalf("Log: %v", err)
			}
		}
		for range callers - 2 {
			err := receive(t, results)
			if !errors.Is(err, store.ErrOverloaded) {
				t.Fatalf("while writes are blocked Log returned %v, want ErrOverloaded", err)
			}
			tally(err)
		}
		release()
		for range 2 {
			tally(receive(t, results))
		}
		must(t, g.Close(ctx))
		if ok < 1 || ok+overloaded != callers {
			t.Fatalf("%d stored, %d refused, want at least 1 stored and %d answers", ok, overloaded, callers)
		}
		if c := count(t, s, "predictions"); c != int64(ok) {
			t.Fatalf("%d rows stored, %d callers told stored", c, ok)
		}
	})
}

// TestIngesterCallerGivesUp: a caller whose context ends while its row
// waits is answered with ctx's error at once, and the row is not written.
func TestIngesterCallerGivesUp(t *testing.T) {
	storetest.EachURL(t, func(t *testing.T, url string) {
		ctx := t.Context()
		s := storetest.OpenURL(t, url, store.Options{})
		model := mustModel(t, s, "churn", "v1")
		release := blockPredictionWrites(t, s, url)
		g := store.NewIngester(s, store.IngesterOptions{MaxBatch: 1, Writers: 1})

		first := make(chan error, 1)
		go func() {
			_, err := g.Log(ctx, mlops.NewPrediction{ModelID: model.ID, Prediction: 1})
			first <- err
		}()
		waitFor(t, func() bool { return g.Stats().Accepted == 1 })
		// Batches hold one row, so this one waits behind the first.
		ctx2, cancel := context.WithCancel(ctx)
		second := make(chan error, 1)
		go func() {
			_, err := g.Log(ctx2, mlops.NewPrediction{ModelID: model.ID, Prediction: 2})
			second <- err
		}()
		waitFor(t, func() bool { return g.Stats().Accepted == 2 })
		cancel()
		wantIs(t, receive(t, second), context.Canceled)
		release()
		must(t, receive(t, first))
		must(t, g.Close(ctx))
		if c := count(t, s, "predictions"); c != 1 {
			t.Fatalf("%d rows stored, want only the first", c)
		}
	})
}

// TestIngesterBatchFailure: a row that passes the checks before batching
// but is refused by the database fails alone; the rest of its batch is
// stored. The model version is deleted behind the ingester's back, so its
// cache of known model ids is stale and the foreign key refuses the row.
func TestIngesterBatchFailure(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		keep := mustModel(t, s, "churn", "v1")
		gone := mustModel(t, s, "churn", "v2")
		g := store.NewIngester(s, store.IngesterOptions{MaxBatch: 4, MaxWait: time.Hour, Writers: 1})
		defer g.Close(ctx)

		// Fill one batch of 4 so the ingester learns both model ids.
		logAll(t, g, []mlops.NewPrediction{{ModelID: keep.ID}, {ModelID: gone.ID}, {ModelID: keep.ID}, {ModelID: keep.ID}},
			[]string{"", "", "", ""})
		_, err := s.DB().ExecContext(ctx, `DELETE FROM predictions WHERE model_id = $1`, gone.ID)
		must(t, err)
		_, err = s.DB().ExecContext(ctx, `DELETE FROM model_versions WHERE id = $1`, gone.ID)
		must(t, err)

		rows := []mlops.NewPrediction{{ModelID: keep.ID, Prediction: 1}, {ModelID: gone.ID, Prediction: 2},
			{ModelID: keep.ID, Prediction: 3}, {ModelID: keep.ID, Prediction: 4}}
		want := []string{"", "model_id", "", ""}
		if s.Engine() == store.Postgres {
			// jsonb refuses a lone surrogate escape, which is valid JSON: a
			// second kind of row only the database rejects.
			rows = append(rows, mlops.NewPrediction{ModelID: keep.ID, Features: mlops.JSON(`{"a": "\ud800"}`), Prediction: 5},
				mlops.NewPrediction{ModelID: keep.ID, Prediction: 6}, mlops.NewPrediction{ModelID: keep.ID, Prediction: 7},
				mlops.NewPrediction{ModelID: keep.ID, Prediction: 8})
			want = append(want, "record", "", "", "") // as PredictionCreate names it
		}
		logAll(t, g, rows, want)
		stored := 0
		for _, f := range want {
			if f == "" {
				stored++
			}
		}
		if c := count(t, s, "predictions"); c != int64(3+stored) {
			t.Fatalf("%d rows stored, want %d", c, 3+stored)
		}
	})
}

// logAll logs rows concurrently (one batch when len(rows) == MaxBatch) and
// checks each answer: "" means stored, else the field of the
// ValidationError.
func logAll(t *testing.T, g *store.Ingester, rows []mlops.NewPrediction, want []string) {
	t.Helper()
	errs := make([]error, len(rows))
	var wg sync.WaitGroup
	for i, in := range rows {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = g.Log(t.Context(), in)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if want[i] == "" {
			if err != nil {
				t.Fatalf("row %d: %v", i, err)
			}
			continue
		}
		v, ok := mlops.AsValidation(err)
		if !ok || len(v.Fields) != 1 || v.Fields[0].Field != want[i] {
			t.Fatalf("row %d: error %v, want a ValidationError on %s", i, err, want[i])
		}
	}
}

// blockPredictionWrites holds writes to predictions until the returned
// function is called: on SQLite by holding the store's single writer in a
// transaction, on PostgreSQL by a table lock from another connection.
func blockPredictionWrites(t *testing.T, s *store.Store, url string) (release func()) {
	t.Helper()
	ctx := t.Context()
	if s.Engine() == store.SQLite {
		held, done := make(chan struct{}), make(chan struct{})
		go func() {
			_ = s.InTx(context.Background(), func(tx *store.Store) error {
				close(held)
				<-done
				return nil
			})
		}()
		<-held
		var once sync.Once
		return func() { once.Do(func() { close(done) }) }
	}
	t2, err := store.ParseURL(url)
	must(t, err)
	db, err := sql.Open("pgx", t2.URL)
	must(t, err)
	t.Cleanup(func() { db.Close() })
	conn, err := db.Conn(ctx)
	must(t, err)
	_, err = conn.ExecContext(ctx, `BEGIN`)
	must(t, err)
	_, err = conn.ExecContext(ctx, `LOCK TABLE predictions IN EXCLUSIVE MODE`)
	must(t, err)
	var once sync.Once
	release = func() {
		once.Do(func() {
			_, _ = conn.ExecContext(context.Background(), `ROLLBACK`)
			conn.Close()
		})
	}
	t.Cleanup(release)
	return release
}

// waitFor polls cond until it holds; a guard against hanging, not a timed
// assertion.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within a minute")
		}
		time.Sleep(time.Millisecond)
	}
}

// receive takes one result, failing instead of hanging forever.
func receive(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(time.Minute):
		t.Fatal("no answer within a minute")
		return nil
	}
}
