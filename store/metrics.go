package store

import (
	"context"
	"database/sql"
	"strconv"
	"time"

	"github.com/mlopsdev/mlops"
)

const metricColumns = `id, metric_name, metric_value, model_id, created_at, metadata`

// metricInsertSQL records one metric point (SQLite).
const metricInsertSQL = `INSERT INTO performance_metrics (metric_name, metric_value, model_id, created_at, metadata)
	VALUES ($1, $2, $3, $4, $5) RETURNING ` + metricColumns

// metricInsertPostgres records one metric point on PostgreSQL, its id
// drawn as on a partitioned table when it is one (partitions.go).
var metricInsertPostgres = `INSERT INTO performance_metrics (id, metric_name, metric_value, model_id, created_at, metadata)
	VALUES (` + newIDSQL("performance_metrics", `nextval(pg_get_serial_sequence('performance_metrics', 'id'))`, `$4::timestamptz`) + `,
		$1, $2, $3, $4, $5) RETURNING ` + metricColumns

// metricInsertSQLFor is the statement of one metric point on engine.
func metricInsertSQLFor(engine Engine) string {
	if engine == Postgres {
		return metricInsertPostgres
	}
	return metricInsertSQL
}

// metricInsertRollupsPostgres records one metric point and adds it to its
// minute and hour rollups, in one statement (PostgreSQL).
var metricInsertRollupsPostgres = `WITH p AS (` + metricInsertPostgres + `),
	m AS (INSERT INTO metric_rollups AS r (metric_name, model_key, minute, n, total, lo, hi)
		SELECT metric_name, coalesce(model_id, 0), floor(extract(epoch FROM created_at) / 60)::bigint * 60,
			1, metric_value, metric_value, metric_value FROM p
		ON CONFLICT (metric_name, minute, model_key) DO UPDATE SET n = r.n + excluded.n, total = r.total + excluded.total,
			lo = least(r.lo, excluded.lo), hi = greatest(r.hi, excluded.hi)),
	h AS (INSERT INTO metric_rollups_hourly AS r (metric_name, model_key, hour, n, total, lo, hi)
		SELECT metric_name, coalesce(model_id, 0), floor(extract(epoch FROM created_at) / 3600)::bigint * 3600,
			1, metric_value, metric_value, metric_value FROM p
		ON CONFLICT (metric_name, hour, model_key) DO UPDATE SET n = r.n + excluded.n, total = r.total + excluded.total,
			lo = least(r.lo, excluded.lo), hi = greatest(r.hi, excluded.hi))
	SELECT ` + metricColumns + ` FROM p`

func scanMetric(sc scanner) (mlops.PerformanceMetric, error) {
	var (
		m       mlops.PerformanceMetric
		modelID sql.NullInt64
		meta    []byte
	)
	if err := sc.Scan(&m.ID, &m.MetricName, &m.MetricValue, &modelID, &m.CreatedAt, &meta); err != nil {
		return m, err
	}
	m.ModelID, m.Metadata, m.CreatedAt = nullInt(modelID), rawJSON(meta), utc(m.CreatedAt)
	return m, nil
}

// MetricCreate records one metric point (the seed's
// create_performance_metric).
func (s *Store) MetricCreate(ctx context.Context, in mlops.NewPerformanceMetric) (mlops.PerformanceMetric, error) {
	now := s.Now()
	if err := in.ValidateAt(now); err != nil {
		return mlops.PerformanceMetric{}, err
	}
	var m mlops.PerformanceMetric
	args := []any{in.MetricName, in.MetricValue, in.ModelID, createdAt(in.CreatedAt, now), jsonArg(in.Metadata, "{}")}
	var err error
	if s.engine == Postgres && !s.noRollups && s.tx == nil {
		// One statement writes the point and both rollups: a round trip
		// each cost more than the rows.
		m, err = scanMetric(s.writer().QueryRowContext(ctx, metricInsertRollupsPostgres, args...))
	} else {
		err = s.InTx(ctx, func(tx *Store) error {
			var err error
			m, err = scanMetric(tx.stmt(ctx, tx.metricPrep, 0).QueryRowContext(ctx, args...))
			if err != nil {
				return err
			}
			return tx.addRollups(ctx, rollupsOf(1, func(int) (string, *int64, time.Time, float64) {
				return m.MetricName, m.ModelID, m.CreatedAt, m.MetricValue
			}))
		})
	}
	if err != nil {
		var id int64
		if in.ModelID != nil {
			id = *in.ModelID
		}
		return mlops.PerformanceMetric{}, modelRef(classify(err), "model_id", id)
	}
	return m, nil
}

// MetricCreateBatch records many points in one transaction, all or none; a
// bad item is a ValidationError naming its index ("metrics[2].metric_value").
// The batch is recorded as one metrics.logged event (see batchChange), in
// the same transaction; single points are not audited. An idempotency key
// in ctx is handled as PredictionCreateSeq does.
func (s *Store) MetricCreateBatch(ctx context.Context, in []mlops.NewPerformanceMetric) ([]int64, error) {
	if _, keyed := idempotencyKeyFrom(ctx); len(in) == 0 && !keyed {
		return []int64{}, nil
	}
	now := s.Now()
	if err := validateEach(len(in), "metrics[%d].", func(i int) error { return in[i].ValidateAt(now) }); err != nil {
		return nil, err
	}
	ids := make([]int64, len(in))
	err := s.InTx(ctx, func(tx *Store) error {
		keyed, err := tx.batchKey(ctx)
		if err != nil {
			return err
		}
		if len(in) == 0 {
			return keyed(ids)
		}
		if err := tx.checkModelIDs(ctx, "metrics", len(in), func(i int) int64 {
			if in[i].ModelID == nil {
				return 0
			}
			return *in[i].ModelID
		}); err != nil {
			return err
		}
		modelIDs := make([]int64, len(in)) // 0: none
		for i, m := range in {
			if m.ModelID != nil {
				modelIDs[i] = *m.ModelID
			}
		}
		row := func(i int, v []any) {
			m := &in[i]
			v[0], v[1], v[2], v[3], v[4] = m.MetricName, m.MetricValue, m.ModelID, createdAt(m.CreatedAt, now), jsonArgNoCopy(m.Metadata, "{}")
		}
		if err := tx.bulkInsert(ctx, "performance_metrics",
			[]string{"metric_name", "metric_value", "model_id", "created_at", "metadata"}, row, ids, "metrics[%d]."); err != nil {
			return err
		}
		if err := tx.addRollups(ctx, rollupsOf(len(in), func(i int) (string, *int64, time.Time, float64) {
			return in[i].MetricName, in[i].ModelID, createdAt(in[i].CreatedAt, now), in[i].MetricValue
		})); err != nil {
			return err
		}
		if err := tx.audit(ctx, batchChange("metrics.logged", ids, modelIDs)); err != nil {
			return err
		}
		return keyed(ids)
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// MetricGet returns one metric point.
func (s *Store) MetricGet(ctx context.Context, id int64) (mlops.PerformanceMetric, error) {
	where, args := s.whereID("performance_metrics", id, 1)
	m, err := scanMetric(s.primary().QueryRowContext(ctx, `SELECT `+metricColumns+` FROM performance_metrics WHERE `+where, args...))
	if err != nil {
		return m, notFound(err, "metric point %d", id)
	}
	return m, nil
}

// MetricFilter selects a metric time series.
type MetricFilter struct {
	Name    string    // required
	Since   time.Time // zero: no lower bound
	Until   time.Time // zero: no upper bound (exclusive)
	ModelID *int64    // nil: every model and none
}

func (f MetricFilter) query() (query, error) {
	var q query
	if f.Name == "" {
		return q, mlops.Invalid("metric_name", "is required")
	}
	q.add("metric_name = ?", f.Name)
	if f.ModelID != nil {
		q.add("model_id = ?", *f.ModelID)
	}
	if !f.Since.IsZero() {
		q.add("created_at >= ?", f.Since.UTC())
	}
	if !f.Until.IsZero() {
		q.add("created_at < ?", f.Until.UTC())
	}
	return q, nil
}

// MetricPoint is one raw point of a series.
type MetricPoint struct {
	CreatedAt time.Time `json:"created_at"`
	Value     float64   `json:"value"`
}

// MetricSeriesEach streams a metric series oldest first, calling fn for each
// point without holding the whole series in memory (the seed's
// get_metrics_timeseries). An error from fn stops the scan and is returned.
func (s *Store) MetricSeriesEach(ctx context.Context, f MetricFilter, fn func(MetricPoint) error) error {
	q, err := f.query()
	if err != nil {
		return err
	}
	return s.eachRow(ctx, `SELECT created_at, metric_value FROM performance_metrics`+q.sql()+
		` ORDER BY created_at, id`, q.args, func(sc scanner) error {
		var p MetricPoint
		if err := sc.Scan(&p.CreatedAt, &p.Value); err != nil {
			return err
		}
		p.CreatedAt = p.CreatedAt.UTC()
		return fn(p)
	})
}

// MetricSeries returns a metric series oldest first (the seed's
// get_metrics_timeseries with Since = now - days).
func (s *Store) MetricSeries(ctx context.Context, f MetricFilter) ([]MetricPoint, error) {
	out := []MetricPoint{}
	err := s.MetricSeriesEach(ctx, f, func(p MetricPoint) error {
		out = append(out, p)
		return nil
	})
	return out, err
}

// Bucket is the width of a time bucket: 1m, 5m, 1h or 1d.
type Bucket string

// Buckets lists the supported bucket widths.
var Buckets = map[Bucket]time.Duration{"1m": time.Minute, "5m": 5 * time.Minute, "1h": time.Hour, "1d": 24 * time.Hour}

// ParseBucket validates a bucket width.
func ParseBucket(s string) (Bucket, error) {
	if _, ok := Buckets[Bucket(s)]; !ok {
		return "", mlops.Invalid("bucket", "must be one of 1m, 5m, 1h, 1d, got %q", s)
	}
	return Bucket(s), nil
}

// MetricBucket aggregates the points of one time bucket.
type MetricBucket struct {
	BucketStart time.Time `json:"bucket_start"`
	Count       int64     `json:"count"`
	Avg         float64   `json:"avg"`
	Min         float64   `json:"min"`
	Max         float64   `json:"max"`
}

// epochExpr is the SQL for created_at in Unix seconds: the one place time
// bucketing differs between the engines.
func (s *Store) epochExpr() string {
	if s.engine == Postgres {
		return `floor(extract(epoch from created_at))::bigint`
	}
	return `unixepoch(created_at)`
}

// bucketExpr is the SQL for the start of created_at's bucket of seconds,
// in Unix seconds.
func (s *Store) bucketExpr(seconds int64) string {
	n := strconv.FormatInt(seconds, 10)
	return `((` + s.epochExpr() + ` / ` + n + `) * ` + n + `)`
}
