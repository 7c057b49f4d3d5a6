package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mlopsdev/mlops"
)

// Rollups of the metric points, kept in the same transaction as the points
// they summarise: count, sum, min and max per metric, model version (0:
// none) and minute in metric_rollups, and the same per hour in
// metric_rollups_hourly. A bucketed series reads whole hours from the
// hourly rows (for buckets of an hour or more), the whole minutes around
// them from the minute rows, and only the parts of minutes that the range
// cuts from the points, so its cost follows the number of hours in the
// range, not of points.

// rollupLevel is one table of rollups: its name, the column of the period's
// start (Unix seconds) and the period in seconds. Both tables are keyed by
// (metric_name, period, model_key).
type rollupLevel struct {
	table, col string
	width      int64
}

var (
	minuteRollups = rollupLevel{"metric_rollups", "minute", 60}
	hourRollups   = rollupLevel{"metric_rollups_hourly", "hour", 3600}
)

// rollupKey names one row of a rollup table: a metric, a model version (0:
// none) and the start of a period (Unix seconds).
type rollupKey struct {
	name   string
	model  int64
	period int64
}

// rollup summarises the points of one period.
type rollup struct {
	key           rollupKey
	n             int64
	total, lo, hi float64
}

// rollupsOf summarises n points per metric, model and minute, in key
// order (so that concurrent writers lock rollup rows in the same order).
func rollupsOf(n int, point func(i int) (name string, model *int64, at time.Time, v float64)) []rollup {
	out := make([]rollup, n)
	for i := range n {
		name, model, at, v := point(i)
		k := rollupKey{name: name, period: floorTo(at.Unix(), 60)}
		if model != nil {
			k.model = *model
		}
		out[i] = rollup{key: k, n: 1, total: v, lo: v, hi: v}
	}
	return merged(out, 60)
}

// merged sums rs per key with periods of width seconds (a multiple of
// theirs), in key order.
func merged(rs []rollup, width int64) []rollup {
	byKey := make(map[rollupKey]*rollup, len(rs))
	out := make([]rollup, 0, len(rs)) // never grows past len(rs): the pointers stay valid
	for _, r := range rs {
		r.key.period = floorTo(r.key.period, width)
		if m, ok := byKey[r.key]; ok {
			m.n += r.n
			m.total += r.total
			m.lo, m.hi = min(m.lo, r.lo), max(m.hi, r.hi)
			continue
		}
		out = append(out, r)
		byKey[r.key] = &out[len(out)-1]
	}
	slices.SortFunc(out, func(a, b rollup) int {
		return cmp.Or(strings.Compare(a.key.name, b.key.name), cmp.Compare(a.key.model, b.key.model), cmp.Compare(a.key.period, b.key.period))
	})
	return out
}

// floorTo is the start, in Unix seconds, of the period of width seconds
// that holds u (also for times before 1970).
func floorTo(u, width int64) int64 { return u - ((u%width)+width)%width }

// ceilTo is the first period start at or after u.
func ceilTo(u, width int64) int64 {
	f := floorTo(u, width)
	if f < u {
		f += width
	}
	return f
}

// addRollups adds the minute rollups rs, and the hours they make up, to
// the rollup tables in the store's transaction.
func (s *Store) addRollups(ctx context.Context, rs []rollup) error {
	if s.noRollups {
		return nil
	}
	if len(rs) == 1 { // a single point: the prepared statements
		r := rs[0]
		for i, l := range []rollupLevel{minuteRollups, hourRollups} {
			if _, err := s.stmt(ctx, s.metricPrep, 1+i).ExecContext(ctx,
				r.key.name, r.key.model, floorTo(r.key.period, l.width), r.n, r.total, r.lo, r.hi); err != nil {
				return classify(err)
			}
		}
		return nil
	}
	if err := s.upsertRollups(ctx, minuteRollups, rs); err != nil {
		return err
	}
	return s.upsertRollups(ctx, hourRollups, merged(rs, hourRollups.width))
}

// upsertRollupSQL adds rows rollups (7 arguments each: metric, model key,
// period start, count, sum, min, max) to the table of l.
func upsertRollupSQL(engine Engine, l rollupLevel, rows int) string {
	least, greatest := "least", "greatest"
	if engine == SQLite {
		least, greatest = "min", "max"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `INSERT INTO %s (metric_name, model_key, %s, n, total, lo, hi) VALUES `, l.table, l.col)
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "($%d, $%d, $%d, $%d, $%d, $%d, $%d)", 7*i+1, 7*i+2, 7*i+3, 7*i+4, 7*i+5, 7*i+6, 7*i+7)
	}
	fmt.Fprintf(&b, ` ON CONFLICT (metric_name, %[2]s, model_key) DO UPDATE SET n = %[1]s.n + excluded.n,
			total = %[1]s.total + excluded.total, lo = %[3]s(%[1]s.lo, excluded.lo), hi = %[4]s(%[1]s.hi, excluded.hi)`,
		l.table, l.col, least, greatest)
	return b.String()
}

func (s *Store) upsertRollups(ctx context.Context, l rollupLevel, rs []rollup) error {
	const chunk = 100
	for start := 0; start < len(rs); start += chunk {
		part := rs[start:min(start+chunk, len(rs))]
		args := make([]any, 0, 7*len(part))
		for _, r := range part {
			args = append(args, r.key.name, r.key.model, r.key.period, r.n, r.total, r.lo, r.hi)
		}
		if _, err := s.writer().ExecContext(ctx, upsertRollupSQL(s.engine, l, len(part)), args...); err != nil {
			return classify(err)
		}
	}
	return nil
}

// span is a part of a range, [from, to) in Unix seconds for the rollups
// (a nil end is open) or as times for the points.
type span struct {
	from, to *int64
}

// cover splits [since, until) (a zero time is open) into what each level
// reads: whole periods of levels (coarsest first) and the rest, which
// only the points can answer.
func cover(since, until time.Time, levels []rollupLevel) (parts [][]span, rest [][2]time.Time) {
	type gap struct{ since, until time.Time }
	gaps := []gap{{since, until}}
	for _, l := range levels {
		var mine []span
		var left []gap
		for _, g := range gaps {
			var sp span
			if !g.since.IsZero() {
				v := ceilTo(g.since.Unix(), l.width)
				if time.Unix(v, 0).Before(g.since) { // since is within second v
					v += l.width
				}
				sp.from = &v
			}
			if !g.until.IsZero() {
				v := floorTo(g.until.Unix(), l.width)
				sp.to = &v
			}
			if sp.from != nil && sp.to != nil && *sp.from >= *sp.to {
				left = append(left, g) // not one whole period
				continue
			}
			mine = append(mine, sp)
			if sp.from != nil {
				if start := time.Unix(*sp.from, 0); g.since.Before(start) {
					left = append(left, gap{g.since, start})
				}
			}
			if sp.to != nil {
				if end := time.Unix(*sp.to, 0); end.Before(g.until) {
					left = append(left, gap{end, g.until})
				}
			}
		}
		parts = append(parts, mine)
		gaps = left
	}
	for _, g := range gaps {
		rest = append(rest, [2]time.Time{g.since, g.until})
	}
	return parts, rest
}

// MetricBuckets aggregates a metric series per time bucket, oldest first:
// count, avg, min and max. For buckets of an hour or more the whole hours
// of the range are read from the hourly rollups; the whole minutes around
// them (or of the whole range, for shorter buckets) from the minute
// rollups; only the parts of minutes that Since or Until cut from the
// points themselves.
func (s *Store) MetricBuckets(ctx context.Context, f MetricFilter, b Bucket) ([]MetricBucket, error) {
	width, ok := Buckets[b]
	if !ok {
		return nil, mlops.Invalid("bucket", "must be one of 1m, 5m, 1h, 1d, got %q", b)
	}
	if f.Name == "" {
		return nil, mlops.Invalid("metric_name", "is required")
	}
	levels := []rollupLevel{minuteRollups}
	if width >= time.Hour {
		levels = []rollupLevel{hourRollups, minuteRollups}
	}
	parts, rest := cover(f.Since, f.Until, levels)

	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	model := func(col string) string {
		if f.ModelID == nil {
			return ""
		}
		return " AND " + col + " = " + arg(*f.ModelID)
	}
	var selects []string
	for i, l := range levels {
		var or []string
		for _, sp := range parts[i] {
			c := []string{"1 = 1"}
			if sp.from != nil {
				c = append(c, l.col+" >= "+arg(*sp.from))
			}
			if sp.to != nil {
				c = append(c, l.col+" < "+arg(*sp.to))
			}
			or = append(or, "("+strings.Join(c, " AND ")+")")
		}
		if len(or) == 0 {
			continue
		}
		selects = append(selects, `SELECT `+l.col+` AS e, n AS c, total AS t, lo AS l, hi AS h FROM `+l.table+
			` WHERE metric_name = `+arg(f.Name)+model("model_key")+` AND (`+strings.Join(or, " OR ")+`)`)
	}
	if len(rest) > 0 {
		var or []string
		for _, r := range rest {
			c := []string{"1 = 1"}
			if !r[0].IsZero() {
				c = append(c, "created_at >= "+arg(r[0].UTC()))
			}
			if !r[1].IsZero() {
				c = append(c, "created_at < "+arg(r[1].UTC()))
			}
			or = append(or, "("+strings.Join(c, " AND ")+")")
		}
		selects = append(selects, `SELECT `+s.epochExpr()+` AS e, 1 AS c, metric_value AS t, metric_value AS l, metric_value AS h FROM performance_metrics
			WHERE metric_name = `+arg(f.Name)+model("model_id")+` AND (`+strings.Join(or, " OR ")+`)`)
	}
	n := strconv.FormatInt(int64(width/time.Second), 10)
	rows, err := s.reader().QueryContext(ctx, `SELECT (e / `+n+`) * `+n+` AS bucket, sum(c), sum(t), min(l), max(h) FROM (
			`+strings.Join(selects, "\n\t\t\tUNION ALL\n\t\t\t")+`
		) x GROUP BY bucket ORDER BY bucket`, args...)
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
// the rows of the minutes and hours it emptied are deleted, the minute of
// its newest point is summed again from the points left and that minute's
// hour from the minutes, so the rollups match the points after every
// batch. It returns the points deleted.
func (s *Store) pruneMetricsBatch(ctx context.Context, cutoff time.Time, batch int) (int64, error) {
	var n int64
	err := s.InTx(ctx, func(tx *Store) error {
		deleted, err := tx.deleteOldest(ctx, "performance_metrics", cutoff, batch)
		if err != nil || len(deleted) == 0 {
			return err
		}
		n = int64(len(deleted))
		minute := floorTo(slices.Max(deleted), 60)
		hour := floorTo(minute, 3600)
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`DELETE FROM metric_rollups WHERE minute <= $1`, []any{minute}},
			{`INSERT INTO metric_rollups (metric_name, model_key, minute, n, total, lo, hi)
				SELECT metric_name, coalesce(model_id, 0), $1, count(*), sum(metric_value), min(metric_value), max(metric_value)
				FROM performance_metrics WHERE created_at >= $2 AND created_at < $3 GROUP BY metric_name, coalesce(model_id, 0)`,
				[]any{minute, time.Unix(minute, 0).UTC(), time.Unix(minute+60, 0).UTC()}},
			{`DELETE FROM metric_rollups_hourly WHERE hour <= $1`, []any{hour}},
			{`INSERT INTO metric_rollups_hourly (metric_name, model_key, hour, n, total, lo, hi)
				SELECT metric_name, model_key, $1, sum(n), sum(total), min(lo), max(hi)
				FROM metric_rollups WHERE minute >= $1 AND minute < $2 GROUP BY metric_name, model_key`,
				[]any{hour, hour + 3600}},
		} {
			if _, err := tx.writer().ExecContext(ctx, q.sql, q.args...); err != nil {
				return classify(err)
			}
		}
		return nil
	})
	return n, err
}
