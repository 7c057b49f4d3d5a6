package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mlopsdev/mlops"
)

const predictionColumns = `id, model_id, features, prediction, probability, latency_ms, actual, created_at`

func scanPrediction(sc scanner) (mlops.Prediction, error) {
	var (
		p             mlops.Prediction
		features      []byte
		prob, latency sql.NullFloat64
		actual        sql.NullInt64
	)
	if err := sc.Scan(&p.ID, &p.ModelID, &features, &p.Prediction, &prob, &latency, &actual, &p.CreatedAt); err != nil {
		return p, err
	}
	p.Features = rawJSON(features)
	p.Probability, p.LatencyMS, p.Actual = nullFloat(prob), nullFloat(latency), nullInt(actual)
	p.CreatedAt = utc(p.CreatedAt)
	return p, nil
}

// PredictionCreate logs one prediction (the seed's create_prediction),
// through the same write as the Ingester's group commit. An unknown
// model_id is a ValidationError on model_id.
func (s *Store) PredictionCreate(ctx context.Context, in mlops.NewPrediction) (mlops.Prediction, error) {
	now := s.Now()
	if err := in.ValidateAt(now); err != nil {
		return mlops.Prediction{}, err
	}
	out, err := s.logPredictions(ctx, []mlops.NewPrediction{in}, now)
	if err != nil {
		return mlops.Prediction{}, err
	}
	return out[0].p, out[0].err
}

// modelRef turns a foreign-key violation into a ValidationError naming the
// field that referenced a missing model version.
func modelRef(err error, field string, id int64) error {
	if errors.Is(err, errForeignKey) {
		return mlops.Invalid(field, "no model version with id %d; register it with POST /api/v1/models first", id)
	}
	return err
}

// PredictionCreateBatch logs many predictions in one transaction: all are
// stored or none. Every bad item is listed in one ValidationError whose
// fields name its index ("predictions[3].probability"); the first item
// whose model_id has no model version is named the same way. It returns the
// new ids in input order. It writes through PredictionCreateSeq.
func (s *Store) PredictionCreateBatch(ctx context.Context, in []mlops.NewPrediction) ([]int64, error) {
	if err := s.PredictionsCheck(in); err != nil {
		return nil, err
	}
	return s.PredictionCreateSeq(ctx, func(yield func(mlops.NewPrediction, error) bool) {
		for _, p := range in {
			if !yield(p, nil) {
				return
			}
		}
	})
}

// PredictionsCheck validates predictions as PredictionCreateBatch would
// store them, and lists every bad field with its item's index, without
// writing anything.
func (s *Store) PredictionsCheck(in []mlops.NewPrediction) error {
	now := s.Now()
	return validateEach(len(in), "predictions[%d].", func(i int) error { return in[i].ValidateAt(now) })
}

// PredictionCreateSeq logs the predictions seq yields, in one transaction:
// all are stored or none. It returns the new ids in input order. The rows
// go through COPY on PostgreSQL and multi-row INSERTs on SQLite (bulkRows),
// while seq runs ahead on a goroutine of its own (a caller that decodes its
// input in seq overlaps that work with the database's; seq should not wait
// for anything slow, since the write transaction is open meanwhile). An
// error seq yields stops the batch and is returned as is; the first
// invalid item, or
// the first whose model_id has no model version, is a ValidationError
// naming its index. The batch is recorded as one predictions.logged event
// (see batchChange) in the same transaction; single predictions are not
// audited. With an idempotency key in ctx (WithIdempotencyKey) the key and
// the answer are stored in the same transaction too, and a repeat returns
// *Replayed.
func (s *Store) PredictionCreateSeq(ctx context.Context, seq iter.Seq2[mlops.NewPrediction, error]) ([]int64, error) {
	now := s.Now()
	var (
		modelIDs []int64
		failed   error // from seq or an item's checks
	)
	// check takes item p (or the error seq yielded) and reports whether
	// to go on.
	check := func(p mlops.NewPrediction, err error) bool {
		if err == nil {
			err = prefixErr(p.ValidateAt(now), fmt.Sprintf("predictions[%d].", len(modelIDs)))
		}
		if err != nil {
			failed = err
			return false
		}
		modelIDs = append(modelIDs, p.ModelID)
		return true
	}
	sums := newPredictionRollups()
	fill := func(p *mlops.NewPrediction, v []any) {
		at := createdAt(p.CreatedAt, now)
		v[0], v[1], v[2], v[3], v[4], v[5], v[6] = p.ModelID, jsonArgNoCopy(p.Features, "{}"), p.Prediction,
			p.Probability, p.LatencyMS, p.Actual, at
		sums.add(p.ModelID, at, p.Prediction, p.Actual, p.Probability, p.LatencyMS)
	}
	// The items are decoded ahead on a goroutine of their own while the
	// rows before them are written.
	next, stop := prefetch(seq)
	defer stop()
	var ids []int64
	err := s.InTx(ctx, func(tx *Store) error {
		keyed, err := tx.batchKey(ctx)
		if err != nil {
			return err
		}
		ids, err = tx.bulkRows(ctx, "predictions", predictionCols, func(v []any) (bool, error) {
			p, perr, ok := next()
			if !ok || !check(p, perr) {
				return false, failed
			}
			fill(&p, v)
			return true, nil
		}, "predictions[%d].")
		if err != nil {
			return err
		}
		if len(ids) > 0 {
			if err := tx.addPredictionRollups(ctx, sums); err != nil {
				return err
			}
			if err := tx.audit(ctx, batchChange("predictions.logged", ids, modelIDs)); err != nil {
				return err
			}
		}
		return keyed(ids)
	})
	switch {
	case failed != nil:
		return nil, failed
	case errors.Is(err, errForeignKey):
		// The foreign key refused a model_id: name the first item with one.
		if cerr := s.checkModelIDs(ctx, "predictions", len(modelIDs), func(i int) int64 { return modelIDs[i] }); cerr != nil {
			return nil, cerr
		}
		return nil, mlops.Invalid("predictions", "a model_id has no model version: %v", err)
	case err != nil:
		return nil, err
	}
	if ids == nil {
		ids = []int64{}
	}
	return ids, nil
}

// validateEach checks n items with check and returns one ValidationError
// listing every bad field, each prefixed by the item's index (prefix is a
// format such as "predictions[%d].").
func validateEach(n int, prefix string, check func(i int) error) error {
	verr := &mlops.ValidationError{}
	for i := range n {
		if err := check(i); err != nil {
			v, ok := mlops.AsValidation(err)
			if !ok {
				return err
			}
			verr.Fields = append(verr.Fields, v.Prefix(fmt.Sprintf(prefix, i)).Fields...)
		}
	}
	return verr.Err()
}

// predictionCols are the columns a new prediction fills (the id aside).
var predictionCols = []string{"model_id", "features", "prediction", "probability", "latency_ms", "actual", "created_at"}

// batchChange is the one event of a batch of rows (predictions or metric
// points) with ids and the model version of each row (0: none). Its entity
// is the model version all rows belong to (entity_type model_version,
// entity_id its id), or entity_id "batch" when they name several model
// versions or none; after holds the count, the first and last new id and the
// distinct model version ids, ascending.
func batchChange(event string, ids, modelIDs []int64) change {
	distinct := []int64{}
	seen := map[int64]bool{}
	none, last := false, int64(-1)
	for _, id := range modelIDs {
		if id == last { // batches mostly name one model: skip the map
			continue
		}
		last = id
		switch {
		case id <= 0:
			none = true
		case !seen[id]:
			seen[id] = true
			distinct = append(distinct, id)
		}
	}
	slices.Sort(distinct)
	c := change{event: event, entityType: "model_version", entityID: "batch",
		after: map[string]any{"count": len(ids), "first_id": ids[0], "last_id": ids[len(ids)-1], "model_ids": distinct}}
	if len(distinct) == 1 && !none {
		c.entityID = entityID(distinct[0])
	}
	return c
}

// checkModelIDs verifies that every referenced model version exists and
// names the first item that references a missing one.
func (s *Store) checkModelIDs(ctx context.Context, list string, n int, modelID func(i int) int64) error {
	seen := map[int64]bool{}
	for i := 0; i < n; i++ {
		if id := modelID(i); id > 0 {
			seen[id] = false
		}
	}
	if len(seen) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	found, err := existingModels(ctx, s.writer(), ids)
	if err != nil {
		return err
	}
	for _, id := range found {
		seen[id] = true
	}
	for i := 0; i < n; i++ {
		if id := modelID(i); id > 0 && !seen[id] {
			return mlops.Invalid(fmt.Sprintf("%s[%d].model_id", list, i), "no model version with id %d; register it with POST /api/v1/models first", id)
		}
	}
	return nil
}

// existingModels returns which of ids (positive, distinct) are model
// versions, in one query.
func existingModels(ctx context.Context, q querier, ids []int64) ([]int64, error) {
	var b strings.Builder
	b.WriteString(`SELECT id FROM model_versions WHERE id IN (`)
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(id, 10)) // integers only: no user text in SQL
	}
	b.WriteByte(')')
	rows, err := q.QueryContext(ctx, b.String())
	return collect(rows, err, func(sc scanner) (int64, error) {
		var id int64
		return id, sc.Scan(&id)
	})
}

func prefixErr(err error, prefix string) error {
	if v, ok := mlops.AsValidation(err); ok {
		return v.Prefix(prefix)
	}
	return err
}

// PredictionGet returns one prediction.
func (s *Store) PredictionGet(ctx context.Context, id int64) (mlops.Prediction, error) {
	where, args := s.predictionWhereID(id, 1)
	p, err := scanPrediction(s.primary().QueryRowContext(ctx, `SELECT `+predictionColumns+` FROM predictions WHERE `+where, args...))
	if err != nil {
		return p, notFound(err, "prediction %d", id)
	}
	return p, nil
}

// PredictionFilter selects predictions for PredictionList.
type PredictionFilter struct {
	ModelID int64     // required
	Since   time.Time // zero: no lower bound
	Page
}

// PredictionList lists a model's predictions newest first, a page at a
// time. The seed's get_recent_predictions(model_id, hours) is
// PredictionFilter{ModelID: id, Since: s.Now().Add(-hours), Page: Page{Limit: -1}}
// (every row of the window in one page).
func (s *Store) PredictionList(ctx context.Context, f PredictionFilter) ([]mlops.Prediction, string, error) {
	limit, cur, err := f.Page.resolve()
	if err != nil {
		return nil, "", err
	}
	var q query
	q.add("model_id = ?", f.ModelID)
	if !f.Since.IsZero() {
		q.add("created_at >= ?", f.Since.UTC())
	}
	q.keyset(cur)
	rows, err := s.reader().QueryContext(ctx, `SELECT `+predictionColumns+` FROM predictions`+q.sql()+
		` ORDER BY created_at DESC, id DESC`+limitSQL(limit), q.args...)
	items, err := collect(rows, err, scanPrediction)
	if err != nil {
		return nil, "", err
	}
	items, next := trimPage(items, limit, func(p mlops.Prediction) Cursor { return Cursor{p.CreatedAt, p.ID} })
	return items, next, nil
}

// PredictionCount counts the predictions of a model version created in
// [from, to) (through ix_predictions_model_created).
func (s *Store) PredictionCount(ctx context.Context, modelID int64, from, to time.Time) (int64, error) {
	var n int64
	err := s.reader().QueryRowContext(ctx, `SELECT count(*) FROM predictions
		WHERE model_id = $1 AND created_at >= $2 AND created_at < $3`, modelID, from.UTC(), to.UTC()).Scan(&n)
	return n, classify(err)
}

// PredictionFeaturesEach calls fn with the features (a JSON object) of
// every prediction of a model version created in [from, to), oldest first
// (by created_at, then id), one row at a time, so a drift check's memory
// does not grow with the window. An error from fn stops the walk and is
// returned.
func (s *Store) PredictionFeaturesEach(ctx context.Context, modelID int64, from, to time.Time, fn func(features []byte) error) error {
	return s.eachRow(ctx, `SELECT features FROM predictions
		WHERE model_id = $1 AND created_at >= $2 AND created_at < $3 ORDER BY created_at, id`,
		[]any{modelID, from.UTC(), to.UTC()}, func(sc scanner) error {
			var raw []byte
			if err := sc.Scan(&raw); err != nil {
				return err
			}
			return fn(raw)
		})
}

// PredictionSetActual records the ground truth of a prediction (the seed's
// update_prediction_actual), moving the row from one count of the
// prediction rollups to another in the same transaction.
func (s *Store) PredictionSetActual(ctx context.Context, id int64, actual int64) (mlops.Prediction, error) {
	var (
		p   mlops.Prediction
		err error
	)
	if s.engine == Postgres {
		// One statement: lock the row, update it, and move its count, the
		// counts in key order (labeled, actual) as every writer locks them.
		where, args := s.predictionWhereID(id, 2)
		p, err = scanPrediction(s.writer().QueryRowContext(ctx, `
			WITH old AS (SELECT id AS old_id, actual AS old_actual FROM predictions WHERE `+where+` FOR UPDATE),
			upd AS (UPDATE predictions SET actual = $1 FROM old WHERE id = old_id AND `+where+`
				RETURNING `+predictionColumns+`, old_actual),
			moved AS (INSERT INTO prediction_rollups (model_id, hour, prediction, labeled, actual, probability_bin, n)
				SELECT u.model_id, floor(extract(epoch FROM u.created_at) / 3600)::bigint * 3600, u.prediction, c.labeled, c.actual, `+rollupBinCase+`, c.d
				FROM upd u CROSS JOIN LATERAL (VALUES
					((CASE WHEN u.old_actual IS NULL THEN 0 ELSE 1 END)::smallint, coalesce(u.old_actual, 0), -1::bigint),
					(1::smallint, $1::bigint, 1::bigint)) AS c(labeled, actual, d)
				WHERE u.old_actual IS DISTINCT FROM $1::bigint
				ORDER BY c.labeled, c.actual`+cellUpsertTail+`)
			SELECT `+predictionColumns+` FROM upd`, append([]any{actual}, args...)...))
	} else {
		err = s.InTx(ctx, func(tx *Store) error {
			var old *int64
			if err := tx.writer().QueryRowContext(ctx, `SELECT actual FROM predictions WHERE id = $1`, id).Scan(&old); err != nil {
				return err
			}
			var err error
			p, err = scanPrediction(tx.writer().QueryRowContext(ctx,
				`UPDATE predictions SET actual = $2 WHERE id = $1 RETURNING `+predictionColumns, id, actual))
			if err != nil || (old != nil && *old == actual) {
				return err
			}
			// Move the row's count: out of its old one, into the new.
			hour := floorTo(p.CreatedAt.Unix(), 3600)
			from := cellKey{model: p.ModelID, hour: hour, prediction: p.Prediction, pbin: probabilityBin(p.Probability)}
			if old != nil {
				from.labeled, from.actual = true, *old
			}
			to := from
			to.labeled, to.actual = true, actual
			return tx.addPredictionRollups(ctx, &predictionRollups{cells: map[cellKey]int64{from: -1, to: 1}})
		})
	}
	if err != nil {
		return p, notFound(err, "prediction %d", id)
	}
	return p, nil
}

// prefetch runs seq on a goroutine of its own, up to four chunks of 128
// items ahead of next, so that producing the items (decoding a request
// body) overlaps the work of the one who takes them (writing rows). stop
// ends seq early and returns once its goroutine is done, so nothing seq
// reads is used after stop.
func prefetch[T any](seq iter.Seq2[T, error]) (next func() (T, error, bool), stop func()) {
	type item struct {
		v   T
		err error
	}
	chunks := make(chan []item, 4)
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		defer close(chunks)
		buf := make([]item, 0, 128)
		send := func() bool {
			select {
			case chunks <- buf:
				buf = make([]item, 0, 128)
				return true
			case <-done:
				return false
			}
		}
		for v, err := range seq {
			if buf = append(buf, item{v, err}); len(buf) == cap(buf) && !send() {
				return
			}
		}
		if len(buf) > 0 {
			send()
		}
	}()
	var cur []item
	next = func() (T, error, bool) {
		for len(cur) == 0 {
			c, ok := <-chunks
			if !ok {
				var zero T
				return zero, nil, false
			}
			cur = c
		}
		it := cur[0]
		cur = cur[1:]
		return it.v, it.err, true
	}
	var once sync.Once
	stop = func() {
		once.Do(func() { close(done) })
		<-finished
	}
	return next, stop
}
