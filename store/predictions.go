package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

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
// index ("predictions[3].probability"). It returns the new ids in input
// order. On PostgreSQL the rows go through COPY; on SQLite through
// multi-row INSERTs.
func (s *Store) PredictionCreateBatch(ctx context.Context, in []mlops.NewPrediction) ([]int64, error) {
	if len(in) == 0 {
		return []int64{}, nil
	}
	verr := &mlops.ValidationError{}
	for i := range in {
		if err := in[i].Validate(); err != nil {
			v, _ := mlops.AsValidation(err)
			verr.Fields = append(verr.Fields, v.Prefix(fmt.Sprintf("predictions[%d].", i)).Fields...)
		}
	}
	if err := verr.Err(); err != nil {
		return nil, err
	}
	ids := make([]int64, len(in))
	err := s.InTx(ctx, func(tx *Store) error {
		if err := tx.checkModelIDs(ctx, "predictions", len(in), func(i int) int64 { return in[i].ModelID }); err != nil {
			return err
		}
		now := tx.Now()
		rows := make([][]any, len(in))
		for i, p := range in {
			rows[i] = []any{p.ModelID, jsonArg(p.Features, "{}"), p.Prediction, p.Probability, p.LatencyMS, p.Actual, now}
		}
		return tx.bulkInsert(ctx, "predictions",
			[]string{"model_id", "features", "prediction", "probability", "latency_ms", "actual", "created_at"}, rows, ids, "predictions[%d].")
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
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

// reserveIDs fills ids with fresh values of table's id sequence.
func (s *Store) reserveIDs(ctx context.Context, table string, ids []int64) error {
	// One array in pgx's binary format rather than len(ids) rows through
	// database/sql: 10,000 ids in one value.
	return s.txConnRaw(ctx, func(conn *pgx.Conn) error {
		var got []int64
		err := conn.QueryRow(ctx, `SELECT array_agg(nextval((SELECT pg_get_serial_sequence($1, 'id'))::regclass))
			FROM generate_series(1, $2::int)`, table, len(ids)).Scan(&got)
		if err != nil {
			return classify(err)
		}
		if len(got) != len(ids) {
			return fmt.Errorf("store: reserved %d ids for %s, wanted %d", len(got), table, len(ids))
		}
		copy(ids, got)
		return nil
	})
}

// copyFrom runs COPY on the connection of the store's transaction. It must
// be called inside InTx.
func (s *Store) copyFrom(ctx context.Context, table string, cols []string, rows [][]any) error {
	if s.tx == nil {
		return errors.New("store: copyFrom outside a transaction")
	}
	return s.txConnRaw(ctx, func(conn *pgx.Conn) error {
		_, err := conn.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(rows))
		if err != nil {
			return classify(err)
		}
		return nil
	})
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
