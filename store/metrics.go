package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mlopsdev/mlops"
)

const metricColumns = `id, metric_name, metric_value, model_id, created_at, metadata`

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
	err := s.InTx(ctx, func(tx *Store) error {
		var err error
		m, err = scanMetric(tx.writer().QueryRowContext(ctx, `
			INSERT INTO performance_metrics (metric_name, metric_value, model_id, created_at, metadata)
			VALUES ($1, $2, $3, $4, $5) RETURNING `+metricColumns,
			in.MetricName, in.MetricValue, in.ModelID, createdAt(in.CreatedAt, now), jsonArg(in.Metadata, "{}")))
		if err != nil {
			return err
		}
		return tx.addRollups(ctx, rollupsOf(1, func(int) (string, *int64, time.Time, float64) {
			return m.MetricName, m.ModelID, m.CreatedAt, m.MetricValue
		}))
	})
	if err != nil {
		var id int64
		if in.ModelID != nil {
			id = *in.ModelID
		}
		return mlops.PerformanceMetric{}, modelRef(classify(err), "model_id", id)
	}
	return m, nil
}

// rollupKey names one row of metric_rollups: a metric, a model version (0:
// none) and a minute (Unix seconds).
type rollupKey struct {
	name   string
	model  int64
	minute int64
}

// rollup summarises the points of one minute.
type rollup struct {
	key           rollupKey
	n             int64
	total, lo, hi float64
}

// rollupsOf summarises n points per metric, model and minute, in key
// order (so that concurrent writers lock rollup rows in the same order).
func rollupsOf(n int, point func(i int) (name string, model *int64, at time.Time, v float64)) []rollup {
	byKey := map[rollupKey]*rollup{}
	for i := range n {
		name, model, at, v := point(i)
		k := rollupKey{name: name, minute: unixMinute(at)}
		if model != nil {
			k.model = *model
		}
		r, ok := byKey[k]
		if !ok {
			byKey[k] = &rollup{key: k, n: 1, total: v, lo: v, hi: v}
			continue
		}
		r.n++
		r.total += v
		r.lo, r.hi = min(r.lo, v), max(r.hi, v)
	}
	out := make([]rollup, 0, len(byKey))
	for _, r := range byKey {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b rollup) int {
		return cmp.Or(strings.Compare(a.key.name, b.key.name), cmp.Compare(a.key.model, b.key.model), cmp.Compare(a.key.minute, b.key.minute))
	})
	return out
}

// unixMinute is the start of t's minute in Unix seconds.
func unixMinute(t time.Time) int64 {
	u := t.Unix()
	return u - ((u%60)+60)%60
}

// addRollups adds rs to metric_rollups in the store's transaction.
func (s *Store) addRollups(ctx context.Context, rs []rollup) error {
	if s.noRollups {
		return nil
	}
	least, greatest := "least", "greatest"
	if s.engine == SQLite {
		least, greatest = "min", "max"
	}
	const chunk = 100
	for start := 0; start < len(rs); start += chunk {
		part := rs[start:min(start+chunk, len(rs))]
		var b strings.Builder
		args := make([]any, 0, 7*len(part))
		b.WriteString(`INSERT INTO metric_rollups (metric_name, model_key, minute, n, total, lo, hi) VALUES `)
		for i, r := range part {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "($%d, $%d, $%d, $%d, $%d, $%d, $%d)", len(args)+1, len(args)+2, len(args)+3, len(args)+4, len(args)+5, len(args)+6, len(args)+7)
			args = append(args, r.key.name, r.key.model, r.key.minute, r.n, r.total, r.lo, r.hi)
		}
		b.WriteString(` ON CONFLICT (metric_name, model_key, minute) DO UPDATE SET n = metric_rollups.n + excluded.n,
			total = metric_rollups.total + excluded.total, lo = ` + least + `(metric_rollups.lo, excluded.lo),
			hi = ` + greatest + `(metric_rollups.hi, excluded.hi)`)
		if _, err := s.writer().ExecContext(ctx, b.String(), args...); err != nil {
			return classify(err)
		}
	}
	return nil
}

// MetricCreateBatch records many points in one transaction, all or none; a
// bad item is a ValidationError naming its index ("metrics[2].metric_value").
// The batch is recorded as one metrics.logged event (see batchChange), in
// the same transaction; single points are not audited.
func (s *Store) MetricCreateBatch(ctx context.Context, in []mlops.NewPerformanceMetric) ([]int64, error) {
	if len(in) == 0 {
		return []int64{}, nil
	}
	now := s.Now()
	if err := validateEach(len(in), "metrics[%d].", func(i int) error { return in[i].ValidateAt(now) }); err != nil {
		return nil, err
	}
	ids := make([]int64, len(in))
	err := s.InTx(ctx, func(tx *Store) error {
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
		return tx.audit(ctx, batchChange("metrics.logged", ids, modelIDs))
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// MetricGet returns one metric point.
func (s *Store) MetricGet(ctx context.Context, id int64) (mlops.PerformanceMetric, error) {
	m, err := scanMetric(s.reader().QueryRowContext(ctx, `SELECT `+metricColumns+` FROM performance_metrics WHERE id = $1`, id))
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

// MetricBuckets aggregates a metric series per time bucket, oldest first:
// count, avg, min and max. The whole minutes of the range are read from
// the per-minute rollups, which the store keeps with the points; only the
// minutes that Since or Until cut are read from the points themselves, so
// the cost follows the number of minutes, not of points.
func (s *Store) MetricBuckets(ctx context.Context, f MetricFilter, b Bucket) ([]MetricBucket, error) {
	width, ok := Buckets[b]
	if !ok {
		return nil, mlops.Invalid("bucket", "must be one of 1m, 5m, 1h, 1d, got %q", b)
	}
	if f.Name == "" {
		return nil, mlops.Invalid("metric_name", "is required")
	}
	// [first, last) are the whole minutes of [Since, Until), in Unix
	// seconds, read from the rollups; edges are the parts of minutes at the
	// ends, read from the points.
	var (
		first, last *int64
		edges       [][2]time.Time
		rollups     = true
	)
	if !f.Since.IsZero() {
		m := unixMinute(f.Since)
		if time.Unix(m, 0).Before(f.Since) {
			m += 60
		}
		first = &m
		if start := time.Unix(m, 0); f.Since.Before(start) {
			edges = append(edges, [2]time.Time{f.Since, start})
		}
	}
	if !f.Until.IsZero() {
		m := unixMinute(f.Until)
		last = &m
		if end := time.Unix(m, 0); end.Before(f.Until) {
			edges = append(edges, [2]time.Time{end, f.Until})
		}
	}
	if first != nil && last != nil && *first >= *last {
		// Not one whole minute: read the points of the range.
		rollups, edges = false, [][2]time.Time{{f.Since, f.Until}}
	}
	var roll, raw query
	roll.add("metric_name = ?", f.Name)
	if f.ModelID != nil {
		roll.add("model_key = ?", *f.ModelID)
	}
	if first != nil {
		roll.add("minute >= ?", *first)
	}
	if last != nil {
		roll.add("minute < ?", *last)
	}
	if !rollups {
		roll.where = append(roll.where, "1 = 0")
	}
	raw.args = roll.args
	raw.add("metric_name = ?", f.Name)
	if f.ModelID != nil {
		raw.add("model_id = ?", *f.ModelID)
	}
	var parts []string
	for _, e := range edges {
		n := len(raw.args)
		raw.args = append(raw.args, e[0].UTC(), e[1].UTC())
		parts = append(parts, fmt.Sprintf("(created_at >= $%d AND created_at < $%d)", n+1, n+2))
	}
	if len(parts) == 0 {
		parts = []string{"1 = 0"}
	}
	raw.where = append(raw.where, "("+strings.Join(parts, " OR ")+")")
	n := strconv.FormatInt(int64(width/time.Second), 10)
	rows, err := s.reader().QueryContext(ctx, `SELECT (e / `+n+`) * `+n+` AS bucket, sum(c), sum(t), min(l), max(h) FROM (
			SELECT minute AS e, n AS c, total AS t, lo AS l, hi AS h FROM metric_rollups`+roll.sql()+`
			UNION ALL
			SELECT `+s.epochExpr()+`, 1, metric_value, metric_value, metric_value FROM performance_metrics`+raw.sql()+`
		) x GROUP BY bucket ORDER BY bucket`, raw.args...)
	return collect(rows, err, func(sc scanner) (MetricBucket, error) {
		var (
			mb    MetricBucket
			start int64
			total float64
		)
		err := sc.Scan(&start, &mb.Count, &total, &mb.Min, &mb.Max)
		mb.BucketStart = time.Unix(start, 0).UTC()
		mb.Avg = total / float64(mb.Count)
		return mb, err
	})
}

// pruneMetricsBatch deletes at most batch metric points created before
// cutoff, the oldest first, in one transaction with the rollups it changes:
// the rows of the minutes it emptied are deleted and the minute of its
// newest point is summed again from the points left, so the rollups match
// the points after every batch. It returns the points deleted.
func (s *Store) pruneMetricsBatch(ctx context.Context, cutoff time.Time, batch int) (int64, error) {
	var n int64
	err := s.InTx(ctx, func(tx *Store) error {
		rows, err := tx.writer().QueryContext(ctx, `DELETE FROM performance_metrics WHERE id IN (
			SELECT id FROM performance_metrics WHERE created_at < $1 ORDER BY created_at, id LIMIT `+strconv.Itoa(batch)+`)
			RETURNING `+tx.epochExpr(), cutoff.UTC())
		deleted, err := collect(rows, err, func(sc scanner) (int64, error) {
			var at int64
			return at, sc.Scan(&at)
		})
		if err != nil || len(deleted) == 0 {
			return err
		}
		n = int64(len(deleted))
		minute := slices.Max(deleted)
		minute -= ((minute % 60) + 60) % 60
		if _, err := tx.writer().ExecContext(ctx, `DELETE FROM metric_rollups WHERE minute <= $1`, minute); err != nil {
			return classify(err)
		}
		_, err = tx.writer().ExecContext(ctx, `INSERT INTO metric_rollups (metric_name, model_key, minute, n, total, lo, hi)
			SELECT metric_name, coalesce(model_id, 0), $1, count(*), sum(metric_value), min(metric_value), max(metric_value)
			FROM performance_metrics WHERE created_at >= $2 AND created_at < $3 GROUP BY metric_name, coalesce(model_id, 0)`,
			minute, time.Unix(minute, 0).UTC(), time.Unix(minute+60, 0).UTC())
		return classify(err)
	})
	return n, err
}
