package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mlopsdev/mlops"
)

// ErrOverloaded means the ingest queue stayed full for the whole wait bound:
// the database does not keep up with the offered load. Nothing was stored;
// the caller may retry after a short pause (HTTP: 503 with Retry-After). It
// wraps mlops.ErrUnavailable.
var ErrOverloaded = fmt.Errorf("prediction ingest queue is full; retry after a short pause: %w", mlops.ErrUnavailable)

// ErrIngesterClosed is returned by Log after Close has begun. Nothing was
// stored. It wraps mlops.ErrUnavailable.
var ErrIngesterClosed = fmt.Errorf("prediction ingester is shutting down: %w", mlops.ErrUnavailable)

// IngesterOptions tune an Ingester. The zero value is usable.
type IngesterOptions struct {
	// MaxBatch is the most rows written in one transaction. Default 512,
	// at most 4096.
	MaxBatch int
	// MaxWait is how long a batch may linger after its first row for
	// more rows to join, unless it fills first. The default, 0 (or any
	// value <= 0), never lingers: a batch goes as soon as a writer is
	// free, so a row waits at most for the commit in progress, and
	// batches grow with concurrency on their own because rows gather while
	// the writers commit. Measured on the 2-core benchmark machine,
	// lingering even 1ms lowered throughput at 1 to 64 clients
	// (docs/benchmarks.md).
	MaxWait time.Duration
	// QueueSize bounds the rows waiting for a batch. Default 8192.
	QueueSize int
	// QueueWait is how long Log waits for room in a full queue before it
	// returns ErrOverloaded. Default 100ms; negative: do not wait.
	QueueWait time.Duration
	// Writers is the number of batches committed concurrently. Default 1:
	// SQLite has one writer, and on PostgreSQL a second writer halved the
	// batches and cost more CPU per row than it saved in waiting (16 HTTP
	// clients on 2 cores: 8,500 req/s with 2 writers, 10,400 with 1).
	Writers int
	// FlushTimeout bounds writing one batch. Default 30s.
	FlushTimeout time.Duration
}

// IngesterStats are counters of an Ingester since it started.
type IngesterStats struct {
	Accepted  uint64 // rows that passed validation and entered the queue
	Batches   uint64 // batches written
	Rows      uint64 // rows committed
	Fallbacks uint64 // batches that failed and were retried row by row
	Queued    int    // rows waiting in the queue now
}

// Ingester gathers concurrent single-prediction writes into few
// transactions (group commit). Log returns only after the caller's row is
// committed, so its answer means what PredictionCreate's does; a row that
// fails (bad input, unknown model) fails alone. It is safe for concurrent
// use; Close it to flush what is queued.
type Ingester struct {
	s     *Store
	opts  IngesterOptions
	queue chan *ingestReq

	mu     sync.RWMutex // guards closed against sends on the closing queue
	closed bool
	done   chan struct{} // closed when every queued row has been answered

	known   sync.Map // model ids seen in model_versions
	nKnown  atomic.Int64
	stats   struct{ accepted, batches, rows, fallbacks atomic.Uint64 }
	started sync.WaitGroup
}

type ingestReq struct {
	ctx context.Context
	in  mlops.NewPrediction
	res chan ingestRes // buffered: the writer never blocks on a caller
}

type ingestRes struct {
	p   mlops.Prediction
	err error
}

const maxKnownModels = 1 << 14

// NewIngester starts an Ingester writing through s. s must not be bound to
// a transaction (a Store handed to an InTx callback).
func NewIngester(s *Store, opts IngesterOptions) *Ingester {
	if s.tx != nil {
		panic("store: NewIngester needs a Store that is not bound to a transaction")
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 512
	}
	opts.MaxBatch = min(opts.MaxBatch, 4096)
	if opts.QueueSize <= 0 {
		opts.QueueSize = 8192
	}
	if opts.QueueWait == 0 {
		opts.QueueWait = 100 * time.Millisecond
	}
	if opts.Writers <= 0 {
		opts.Writers = 1
	}
	if opts.FlushTimeout <= 0 {
		opts.FlushTimeout = 30 * time.Second
	}
	g := &Ingester{
		s:     s,
		opts:  opts,
		queue: make(chan *ingestReq, opts.QueueSize),
		done:  make(chan struct{}),
	}
	g.started.Add(opts.Writers)
	for range opts.Writers {
		go g.write()
	}
	go func() {
		g.started.Wait()
		close(g.done)
	}()
	return g
}

// Log validates in and stores it in the next batch. It returns the stored
// prediction once the batch holding it has committed (Features as given,
// "{}" when empty; PostgreSQL may store jsonb in a normalised form). Errors: a ValidationError for bad input or an unknown
// model_id (that row only); ErrOverloaded when the queue stays full;
// ErrIngesterClosed after Close. If ctx ends after the row was queued, Log
// returns ctx's error and the row may still be committed.
func (g *Ingester) Log(ctx context.Context, in mlops.NewPrediction) (mlops.Prediction, error) {
	if err := in.ValidateAt(g.s.Now()); err != nil {
		return mlops.Prediction{}, err
	}
	r := &ingestReq{ctx: ctx, in: in, res: make(chan ingestRes, 1)}
	if err := g.enqueue(ctx, r); err != nil {
		return mlops.Prediction{}, err
	}
	select {
	case res := <-r.res:
		return res.p, res.err
	case <-ctx.Done():
		return mlops.Prediction{}, ctx.Err()
	}
}

func (g *Ingester) enqueue(ctx context.Context, r *ingestReq) error {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.closed {
		return ErrIngesterClosed
	}
	select {
	case g.queue <- r:
		g.stats.accepted.Add(1)
		return nil
	default:
	}
	if g.opts.QueueWait < 0 {
		return ErrOverloaded
	}
	t := time.NewTimer(g.opts.QueueWait)
	defer t.Stop()
	select {
	case g.queue <- r:
		g.stats.accepted.Add(1)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return ErrOverloaded
	}
}

// Close stops accepting rows, writes every row already queued and waits
// for their commits, or until ctx ends. Later calls to Log return
// ErrIngesterClosed. It does not close the Store.
func (g *Ingester) Close(ctx context.Context) error {
	g.mu.Lock()
	if !g.closed {
		g.closed = true
		close(g.queue)
	}
	g.mu.Unlock()
	select {
	case <-g.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("close prediction ingester: %d rows still queued: %w", len(g.queue), ctx.Err())
	}
}

// Stats returns the ingester's counters.
func (g *Ingester) Stats() IngesterStats {
	return IngesterStats{
		Accepted:  g.stats.accepted.Load(),
		Batches:   g.stats.batches.Load(),
		Rows:      g.stats.rows.Load(),
		Fallbacks: g.stats.fallbacks.Load(),
		Queued:    len(g.queue),
	}
}

// write is one writer: it takes the first waiting row, then every row
// already queued (lingering up to MaxWait for more when that is set), up
// to MaxBatch, and commits them. Rows gather in the queue while the
// writers commit, so batches grow with load. After Close it drains the
// queue and returns.
func (g *Ingester) write() {
	defer g.started.Done()
	batch := make([]*ingestReq, 0, g.opts.MaxBatch)
	var timer *time.Timer
	for {
		r, ok := <-g.queue
		if !ok {
			return
		}
		batch = append(batch[:0], r)
		// Let goroutines that are ready to queue a row (callers the last
		// commit just answered) run first: batches grow by a third at 16
		// clients for about a microsecond when nothing else is runnable.
		runtime.Gosched()
		var deadline <-chan time.Time
		if g.opts.MaxWait > 0 {
			if timer == nil {
				timer = time.NewTimer(g.opts.MaxWait)
			} else {
				timer.Reset(g.opts.MaxWait)
			}
			deadline = timer.C
		}
	fill:
		for len(batch) < g.opts.MaxBatch {
			select {
			case r, ok := <-g.queue:
				if !ok {
					break fill
				}
				batch = append(batch, r)
				continue
			default:
			}
			if deadline == nil {
				break // nothing waiting and no lingering: go
			}
			select {
			case r, ok := <-g.queue:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			case <-deadline:
				deadline = nil
				break fill
			}
		}
		if timer != nil && deadline != nil {
			timer.Stop()
		}
		g.flush(batch)
		clear(batch) // drop references to answered requests
	}
}

// flush writes one batch and answers each of its callers.
func (g *Ingester) flush(batch []*ingestReq) {
	ctx, cancel := context.WithTimeout(context.Background(), g.opts.FlushTimeout)
	defer cancel()
	live := batch[:0:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.res <- ingestRes{err: err} // the caller gave up: do not store
			continue
		}
		live = append(live, r)
	}
	ctx, span := g.s.startIngestSpan(ctx, live) // does nothing unless tracing is on
	live = g.checkModels(ctx, live)
	if len(live) == 0 {
		span.End()
		return
	}
	g.stats.batches.Add(1)
	in := make([]mlops.NewPrediction, len(live))
	for i, r := range live {
		in[i] = r.in
	}
	out, err := g.s.logPredictions(ctx, in, g.s.Now())
	// Ended before any answer goes out, so a caller that has its answer
	// finds the commit in its trace (the row-by-row fallback below is in
	// spans of its own statements).
	span.End()
	if err == nil {
		for i, r := range live {
			if out[i].err == nil {
				g.stats.rows.Add(1)
			}
			r.res <- out[i]
		}
		return
	}
	if errors.Is(err, mlops.ErrUnavailable) || ctx.Err() != nil || len(live) == 1 {
		for _, r := range live {
			r.res <- ingestRes{err: err}
		}
		return
	}
	// The batch failed as a whole (PostgreSQL writes it in one statement):
	// write row by row so each caller gets the answer its own row deserves.
	g.stats.fallbacks.Add(1)
	for i, r := range live {
		out, err := g.s.logPredictions(ctx, in[i:i+1], g.s.Now())
		if err == nil {
			err = out[0].err
		}
		if err == nil {
			g.stats.rows.Add(1)
		}
		r.res <- ingestRes{p: out0(out), err: err}
	}
}

func out0(out []ingestRes) mlops.Prediction {
	if len(out) == 0 {
		return mlops.Prediction{}
	}
	return out[0].p
}

// checkModels answers the rows whose model_id does not exist with the
// ValidationError PredictionCreate would give and returns the others. Ids
// found once are remembered, so a steady stream costs no extra query; the
// foreign key still guards a version deleted since.
func (g *Ingester) checkModels(ctx context.Context, live []*ingestReq) []*ingestReq {
	var unknown []int64
	seen := map[int64]bool{}
	for _, r := range live {
		id := r.in.ModelID
		if _, ok := g.known.Load(id); !ok && !seen[id] {
			seen[id] = true
			unknown = append(unknown, id)
		}
	}
	if len(unknown) == 0 {
		return live
	}
	found, err := existingModels(ctx, g.s.primary(), unknown)
	if err != nil {
		return live // the insert (and its foreign key) will tell
	}
	if g.nKnown.Load() > maxKnownModels {
		g.known.Clear()
		g.nKnown.Store(0)
	}
	exists := map[int64]bool{}
	for _, id := range found {
		exists[id] = true
		if _, loaded := g.known.LoadOrStore(id, struct{}{}); !loaded {
			g.nKnown.Add(1)
		}
	}
	out := live[:0]
	for _, r := range live {
		if seen[r.in.ModelID] && !exists[r.in.ModelID] {
			r.res <- ingestRes{err: modelRef(errForeignKey, "model_id", r.in.ModelID)}
			continue
		}
		out = append(out, r)
	}
	return out
}

// logPredictions is the group-commit write of predictions, used by the
// Ingester and by PredictionCreate: in (already checked) is written in one
// statement on PostgreSQL, all or nothing (err), and in one transaction on
// SQLite, where a row the database refuses fails alone (its entry's err).
// A row without CreatedAt gets now.
func (s *Store) logPredictions(ctx context.Context, in []mlops.NewPrediction, now time.Time) ([]ingestRes, error) {
	if s.engine == Postgres {
		return s.logPredictionsPostgres(ctx, in, now)
	}
	return s.logPredictionsSQLite(ctx, in, now)
}

// logPredictionsPostgresSQL is the group commit's one statement on
// PostgreSQL: the rows from arrays $1…$8, their rollups from $9…$22. Built
// once: it depends on nothing but constants.
var logPredictionsPostgresSQL = `
		WITH input AS (
			SELECT ` + newIDSQL("predictions", `nextval((SELECT pg_get_serial_sequence('predictions', 'id'))::regclass)`,
	"coalesce(t.created_at, $8::timestamptz)") + ` AS id, t.*
			FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::float8[], $5::float8[], $6::bigint[], $7::timestamptz[])
				WITH ORDINALITY AS t(model_id, features, prediction, probability, latency_ms, actual, created_at, ord)
		), ins AS (
			INSERT INTO predictions (id, model_id, features, prediction, probability, latency_ms, actual, created_at)
			SELECT id, model_id, features::jsonb, prediction, probability, latency_ms, actual, coalesce(created_at, $8) FROM input
		), cells AS (` + cellsUnnestSQL(9) + ` RETURNING 1
		), bins AS (` + binsUnnestSQLPostgres(16, "cells") + `
		)
		SELECT id, ord FROM input`

// logPredictionsPostgres writes the rows and their rollups in one
// autocommitted statement: ids come from the table's sequence inside the
// statement (carrying the row's hour on a partitioned table,
// partitions.go), and each comes back with the ordinal of its input row,
// so no caller depends on the order of RETURNING.
func (s *Store) logPredictionsPostgres(ctx context.Context, in []mlops.NewPrediction, now time.Time) ([]ingestRes, error) {
	n := len(in)
	var (
		modelIDs    = make([]int64, n)
		features    = make([]string, n)
		predictions = make([]int64, n)
		probs       = make([]*float64, n)
		latencies   = make([]*float64, n)
		actuals     = make([]*int64, n)
		times       = make([]time.Time, n)
	)
	history := false
	sums := newPredictionRollups()
	for i, p := range in {
		modelIDs[i], features[i], predictions[i] = p.ModelID, jsonArg(p.Features, "{}"), p.Prediction
		probs[i], latencies[i], actuals[i], times[i] = p.Probability, p.LatencyMS, p.Actual, createdAt(p.CreatedAt, now)
		history = history || p.CreatedAt != nil
		sums.add(p.ModelID, times[i], p.Prediction, p.Actual, p.Probability, p.LatencyMS)
	}
	cells, bins := sums.rows()
	// Rows without their own time take now ($8): the array of times is sent
	// only when some row brings one (unnest pads a NULL array with NULLs).
	var timesArg any
	if history {
		timesArg = times
	}
	rows, err := s.writer().QueryContext(ctx, logPredictionsPostgresSQL,
		append(append([]any{modelIDs, features, predictions, probs, latencies, actuals, timesArg, now},
			cellArrays(cells)...), binArrays(bins)...)...)
	type idOrd struct{ id, ord int64 }
	got, err := collect(rows, err, func(sc scanner) (idOrd, error) {
		var v idOrd
		return v, sc.Scan(&v.id, &v.ord)
	})
	if err != nil {
		if n == 1 {
			err = modelRef(err, "model_id", in[0].ModelID)
		}
		return nil, err
	}
	if len(got) != n {
		return nil, fmt.Errorf("store: prediction insert returned %d ids for %d rows", len(got), n)
	}
	out := make([]ingestRes, n)
	for _, v := range got {
		if v.ord < 1 || v.ord > int64(n) {
			return nil, fmt.Errorf("store: prediction insert returned ordinal %d for %d rows", v.ord, n)
		}
		i := v.ord - 1
		out[i].p = stored(in[i], v.id, times[i])
	}
	return out, nil
}

// logPredictionsSQLite writes the rows with one prepared statement in one
// transaction on the single writer (one row: without preparing), and then
// their rollups. A row the database refuses fails alone: SQLite undoes
// only that statement, and the rollups count only the rows written.
func (s *Store) logPredictionsSQLite(ctx context.Context, in []mlops.NewPrediction, now time.Time) ([]ingestRes, error) {
	out := make([]ingestRes, len(in))
	write := func(tx *Store, insert func(args ...any) *sql.Row) error {
		sums := newPredictionRollups()
		for i, p := range in {
			at := createdAt(p.CreatedAt, now)
			var id int64
			err := insert(p.ModelID, jsonArg(p.Features, "{}"), p.Prediction, p.Probability, p.LatencyMS, p.Actual, at).Scan(&id)
			if err != nil {
				err = modelRef(classify(err), "model_id", p.ModelID)
				if _, ok := mlops.AsValidation(err); !ok {
					return err
				}
				out[i].err = err
				continue
			}
			out[i].p = stored(p, id, at)
			sums.add(p.ModelID, at, p.Prediction, p.Actual, p.Probability, p.LatencyMS)
		}
		return tx.addPredictionRollups(ctx, sums)
	}
	err := s.InTx(ctx, func(tx *Store) error {
		if len(in) == 1 {
			return write(tx, func(args ...any) *sql.Row { return tx.writer().QueryRowContext(ctx, insertPrediction, args...) })
		}
		stmt, err := tx.tx.PrepareContext(ctx, insertPrediction)
		if err != nil {
			return classify(err)
		}
		defer stmt.Close()
		return write(tx, func(args ...any) *sql.Row { return stmt.QueryRowContext(ctx, args...) })
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

const insertPrediction = `INSERT INTO predictions
	(model_id, features, prediction, probability, latency_ms, actual, created_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`

// createdAt is when a row happened: as the client said, else now.
func createdAt(t *time.Time, now time.Time) time.Time {
	if t == nil {
		return now
	}
	return t.UTC()
}

// stored is the prediction as committed, built from its input.
func stored(in mlops.NewPrediction, id int64, at time.Time) mlops.Prediction {
	features := in.Features
	if len(features) == 0 {
		features = mlops.JSON("{}")
	}
	return mlops.Prediction{ID: id, ModelID: in.ModelID, Features: features, Prediction: in.Prediction,
		Probability: in.Probability, LatencyMS: in.LatencyMS, Actual: in.Actual, CreatedAt: at}
}
