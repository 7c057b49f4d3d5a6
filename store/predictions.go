package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
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

// PredictionCreate logs one prediction (the seed's create_prediction). An
// unknown model_id is a ValidationError on model_id.
func (s *Store) PredictionCreate(ctx context.Context, in mlops.NewPrediction) (mlops.Prediction, error) {
	if err := in.Validate(); err != nil {
		return mlops.Prediction{}, err
	}
	p, err := scanPrediction(s.writer().QueryRowContext(ctx, `
		INSERT INTO predictions (model_id, features, prediction, probability, latency_ms, actual, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING `+predictionColumns,
		in.ModelID, jsonArg(in.Features, "{}"), in.Prediction, in.Probability, in.LatencyMS, in.Actual, s.Now()))
	if err != nil {
		return p, modelRef(classify(err), "model_id", in.ModelID)
	}
	return p, nil
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
// stored or none. A bad item is a ValidationError whose field names its
// index ("predictions[3].probability"); every bad field is listed. It
// returns the new ids in input order. On PostgreSQL the rows go through
// COPY; on SQLite through multi-row INSERTs.
func (s *Store) PredictionCreateBatch(ctx context.Context, in []mlops.NewPrediction) ([]int64, error) {
	ids, err := s.PredictionCreateStream(ctx, len(in), func(i int) (mlops.NewPrediction, error) { return in[i], nil })
	if _, ok := mlops.AsValidation(err); ok {
		// The stream stops at the first bad item: list them all.
		verr := &mlops.ValidationError{}
		for i := range in {
			if err := in[i].Validate(); err != nil {
				v, _ := mlops.AsValidation(err)
				verr.Fields = append(verr.Fields, v.Prefix(fmt.Sprintf("predictions[%d].", i)).Fields...)
			}
		}
		if verr := verr.Err(); verr != nil {
			return nil, verr
		}
	}
	return ids, err
}

// predictionCols are the columns a new prediction fills (the id aside).
var predictionCols = []string{"model_id", "features", "prediction", "probability", "latency_ms", "actual", "created_at"}

// PredictionCreateStream logs the n predictions next returns, in one
// transaction: all are stored or none. next is called once for each i from
// 0 to n-1, in order, possibly on another goroutine; on PostgreSQL while the
// rows already read are on their way through COPY, so a caller that decodes
// its input in next overlaps that work with the database's. An error from
// next aborts the batch and is returned as is. The first invalid item, or
// the first whose model_id has no model version, is a ValidationError
// naming its index ("predictions[3].probability"). It returns the new ids in
// input order. The batch is recorded as one predictions.logged event (see
// batchChange), in the same transaction; single predictions are not audited.
func (s *Store) PredictionCreateStream(ctx context.Context, n int, next func(i int) (mlops.NewPrediction, error)) ([]int64, error) {
	if n <= 0 {
		return []int64{}, nil
	}
	rows := &predictionRows{n: n, next: next, ids: make([]int64, n), vals: make([]any, len(predictionCols))}
	var err error
	if s.engine == SQLite {
		err = s.predictionsSQLite(ctx, rows)
	} else {
		err = s.InTx(ctx, func(tx *Store) error {
			rows.vals[len(rows.vals)-1] = tx.Now()
			if err := tx.copyNumbered(ctx, "predictions", predictionCols, rows, rows.ids); err != nil {
				return err
			}
			return tx.audit(ctx, batchChange("predictions.logged", rows.ids, rows.modelIDs))
		})
	}
	switch {
	case rows.err != nil:
		return nil, rows.err
	case errors.Is(err, errForeignKey):
		// The foreign key refused a model_id: name the first item with one.
		if cerr := s.checkModelIDs(ctx, "predictions", len(rows.modelIDs), func(i int) int64 { return rows.modelIDs[i] }); cerr != nil {
			return nil, cerr
		}
		return nil, mlops.Invalid("predictions", "a model_id has no model version: %v", err)
	case err != nil:
		return nil, err
	}
	return rows.ids, nil
}

// predictionsSQLite reads and checks every item, then inserts them on the
// single writer.
func (s *Store) predictionsSQLite(ctx context.Context, rows *predictionRows) error {
	in := make([]mlops.NewPrediction, 0, rows.n)
	for rows.Next() {
		in = append(in, rows.p)
	}
	if rows.err != nil {
		return rows.err
	}
	return s.InTx(ctx, func(tx *Store) error {
		now := tx.Now()
		vals := make([][]any, len(in))
		for i, p := range in {
			vals[i] = []any{p.ModelID, jsonArg(p.Features, "{}"), p.Prediction, p.Probability, p.LatencyMS, p.Actual, now}
		}
		if err := tx.bulkInsertSQLite(ctx, "predictions", predictionCols, vals, rows.ids, "predictions[%d]."); err != nil {
			return err
		}
		return tx.audit(ctx, batchChange("predictions.logged", rows.ids, rows.modelIDs))
	})
}

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

// predictionRows reads predictions from next, checking each, and hands
// them to COPY as rows of (id, predictionCols...) with the reserved ids. It
// is a pgx.CopyFromSource; its one row of values is reused.
type predictionRows struct {
	n        int
	next     func(i int) (mlops.NewPrediction, error)
	ids      []int64 // reserved, in input order
	p        mlops.NewPrediction
	modelIDs []int64 // of the items read, to name one whose model is missing
	vals     []any   // the current row; the last value (created_at) is set once
	err      error   // the first error of next or of an item's checks
}

func (r *predictionRows) Next() bool {
	i := len(r.modelIDs)
	if i == r.n || r.err != nil {
		return false
	}
	p, err := r.next(i)
	if err == nil {
		if err = p.Validate(); err != nil {
			err = prefixErr(err, fmt.Sprintf("predictions[%d].", i))
		}
	}
	if err != nil {
		r.err = err
		return false
	}
	r.p = p
	r.modelIDs = append(r.modelIDs, p.ModelID)
	return true
}

func (r *predictionRows) Values() ([]any, error) {
	p, v := &r.p, r.vals
	features := []byte(p.Features)
	if len(features) == 0 {
		features = emptyObject
	}
	v[0], v[1], v[2], v[3], v[4], v[5] = p.ModelID, features, p.Prediction, p.Probability, p.LatencyMS, p.Actual
	return v, nil
}

func (r *predictionRows) Err() error { return r.err }

var emptyObject = []byte("{}")

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
	var b strings.Builder
	b.WriteString(`SELECT id FROM model_versions WHERE id IN (`)
	first := true
	for id := range seen {
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString(strconv.FormatInt(id, 10)) // integers only: no user text in SQL
	}
	b.WriteByte(')')
	rows, err := s.writer().QueryContext(ctx, b.String())
	found, err := collect(rows, err, func(sc scanner) (int64, error) {
		var id int64
		return id, sc.Scan(&id)
	})
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

func prefixErr(err error, prefix string) error {
	if v, ok := mlops.AsValidation(err); ok {
		return v.Prefix(prefix)
	}
	return err
}

// PredictionGet returns one prediction.
func (s *Store) PredictionGet(ctx context.Context, id int64) (mlops.Prediction, error) {
	p, err := scanPrediction(s.reader().QueryRowContext(ctx, `SELECT `+predictionColumns+` FROM predictions WHERE id = $1`, id))
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

// PredictionList lists a model's predictions newest first (the seed's
// get_recent_predictions with Since = now - hours).
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

// PredictionsRecent returns every prediction of a model from the last hours
// hours, newest first (the seed's get_recent_predictions).
func (s *Store) PredictionsRecent(ctx context.Context, modelID int64, hours int) ([]mlops.Prediction, error) {
	if hours < 0 {
		return nil, mlops.Invalid("hours", "must be >= 0, got %d", hours)
	}
	items, _, err := s.PredictionList(ctx, PredictionFilter{
		ModelID: modelID, Since: s.Now().Add(-time.Duration(hours) * time.Hour), Page: Page{Limit: -1}})
	return items, err
}

// PredictionSetActual records the ground truth of a prediction (the seed's
// update_prediction_actual).
func (s *Store) PredictionSetActual(ctx context.Context, id int64, actual int64) (mlops.Prediction, error) {
	p, err := scanPrediction(s.writer().QueryRowContext(ctx,
		`UPDATE predictions SET actual = $2 WHERE id = $1 RETURNING `+predictionColumns, id, actual))
	if err != nil {
		return p, notFound(err, "prediction %d", id)
	}
	return p, nil
}
