package store

// Summaries beyond the seed's CRUD: model summaries, counts by status,
// prediction statistics and decided actions, in bounded pages. Plain SQL
// that runs unchanged on both engines.

import (
	"context"
	"database/sql"
	"time"

	"github.com/mlopsdev/mlops"
)

// ModelSummary is one model name with how many versions it has and which
// one is active.
type ModelSummary struct {
	Name     string
	Versions int64
	ActiveID int64 // 0 when no version is active
}

// ModelSummaryList lists model names in alphabetical order, limit at a time,
// starting after the name after ("" for the first page). It returns the name
// to pass as after for the next page ("" at the end).
func (s *Store) ModelSummaryList(ctx context.Context, after string, limit int) ([]ModelSummary, string, error) {
	if limit <= 0 || limit > MaxLimit {
		return nil, "", mlops.Invalid("limit", "must be between 1 and %d, got %d", MaxLimit, limit)
	}
	rows, err := s.reader().QueryContext(ctx, `
		SELECT model_name, count(*), coalesce(max(CASE WHEN is_active THEN id END), 0)
		FROM model_versions WHERE model_name > $1
		GROUP BY model_name ORDER BY model_name LIMIT $2`, after, limit+1)
	items, err := collect(rows, err, func(sc scanner) (ModelSummary, error) {
		var m ModelSummary
		return m, sc.Scan(&m.Name, &m.Versions, &m.ActiveID)
	})
	if err != nil {
		return nil, "", err
	}
	if len(items) <= limit {
		return items, "", nil
	}
	items = items[:limit]
	return items, items[len(items)-1].Name, nil
}

// ActionDecidedList lists actions that are no longer pending (approved,
// rejected, executed, failed, expired), newest first.
func (s *Store) ActionDecidedList(ctx context.Context, p Page) ([]mlops.AgentAction, string, error) {
	limit, cur, err := p.resolve()
	if err != nil {
		return nil, "", err
	}
	var q query
	q.add("status <> 'pending'")
	q.keyset(cur)
	return s.actionPage(ctx, q, newestFirst, limit)
}

// ActionCountByStatus counts actions per status. Statuses without actions
// are absent from the map.
func (s *Store) ActionCountByStatus(ctx context.Context) (map[mlops.ActionStatus]int64, error) {
	rows, err := s.reader().QueryContext(ctx, `SELECT status, count(*) FROM agent_actions GROUP BY status`)
	type pair struct {
		st mlops.ActionStatus
		n  int64
	}
	items, err := collect(rows, err, func(sc scanner) (pair, error) {
		var p pair
		return p, sc.Scan(&p.st, &p.n)
	})
	if err != nil {
		return nil, err
	}
	out := map[mlops.ActionStatus]int64{}
	for _, p := range items {
		out[p.st] = p.n
	}
	return out, nil
}

// AlertCountByStatusSeverity counts alerts per status and severity.
func (s *Store) AlertCountByStatusSeverity(ctx context.Context) (map[mlops.AlertStatus]map[mlops.Severity]int64, error) {
	rows, err := s.reader().QueryContext(ctx, `SELECT status, severity, count(*) FROM alerts GROUP BY status, severity`)
	type triple struct {
		st  mlops.AlertStatus
		sev mlops.Severity
		n   int64
	}
	items, err := collect(rows, err, func(sc scanner) (triple, error) {
		var t triple
		return t, sc.Scan(&t.st, &t.sev, &t.n)
	})
	if err != nil {
		return nil, err
	}
	out := map[mlops.AlertStatus]map[mlops.Severity]int64{}
	for _, t := range items {
		if out[t.st] == nil {
			out[t.st] = map[mlops.Severity]int64{}
		}
		out[t.st][t.sev] = t.n
	}
	return out, nil
}

// PredictionStats summarises the predictions of one model version.
type PredictionStats struct {
	ModelID    int64
	ModelName  string
	Version    string
	Count      int64
	AvgLatency *float64 // nil when no prediction has a latency
	MinLatency *float64
	MaxLatency *float64
	Labelled   int64 // predictions whose ground truth is known
	Correct    int64 // labelled predictions equal to their ground truth
}

// predictionStatsSQL aggregates the predictions selected by where (on
// alias p) per model version first, then names the versions: the join runs
// once per version, not once per prediction.
func predictionStatsSQL(where string) string {
	return `SELECT s.model_id, m.model_name, m.version, s.n, s.avg_latency, s.min_latency, s.max_latency,
		s.labelled, s.correct
	FROM (SELECT p.model_id, count(*) AS n, avg(p.latency_ms) AS avg_latency, min(p.latency_ms) AS min_latency,
			max(p.latency_ms) AS max_latency,
			coalesce(sum(CASE WHEN p.actual IS NOT NULL THEN 1 ELSE 0 END), 0) AS labelled,
			coalesce(sum(CASE WHEN p.actual = p.prediction THEN 1 ELSE 0 END), 0) AS correct
		FROM predictions p` + where + ` GROUP BY p.model_id) s
	JOIN model_versions m ON m.id = s.model_id`
}

func scanPredictionStats(sc scanner) (PredictionStats, error) {
	var (
		ps            PredictionStats
		avg, min, max sql.NullFloat64
	)
	err := sc.Scan(&ps.ModelID, &ps.ModelName, &ps.Version, &ps.Count, &avg, &min, &max, &ps.Labelled, &ps.Correct)
	ps.AvgLatency, ps.MinLatency, ps.MaxLatency = nullFloat(avg), nullFloat(min), nullFloat(max)
	return ps, err
}

// PredictionStatsByModel summarises the predictions made since since, per
// model version, busiest first, at most limit versions.
func (s *Store) PredictionStatsByModel(ctx context.Context, since time.Time, limit int) ([]PredictionStats, error) {
	if limit <= 0 || limit > MaxLimit {
		return nil, mlops.Invalid("limit", "must be between 1 and %d, got %d", MaxLimit, limit)
	}
	rows, err := s.reader().QueryContext(ctx, predictionStatsSQL(` WHERE p.created_at >= $1`)+`
		ORDER BY s.n DESC, s.model_id LIMIT $2`, since.UTC(), limit)
	return collect(rows, err, scanPredictionStats)
}

// PredictionStatsFor summarises the predictions of one model version made
// since since (zero: all of them). A version without predictions has Count 0.
func (s *Store) PredictionStatsFor(ctx context.Context, modelID int64, since time.Time) (PredictionStats, error) {
	var q query
	q.add("p.model_id = ?", modelID)
	if !since.IsZero() {
		q.add("p.created_at >= ?", since.UTC())
	}
	rows, err := s.reader().QueryContext(ctx, predictionStatsSQL(q.sql()), q.args...)
	items, err := collect(rows, err, scanPredictionStats)
	if err != nil {
		return PredictionStats{}, err
	}
	if len(items) == 0 {
		return PredictionStats{ModelID: modelID}, nil
	}
	return items[0], nil
}

// MetricNameList returns the distinct metric names in alphabetical order, at
// most limit. It skips through the (metric_name, created_at) index one name
// at a time, so it stays fast on millions of points.
func (s *Store) MetricNameList(ctx context.Context, limit int) ([]string, error) {
	if limit <= 0 || limit > MaxLimit {
		return nil, mlops.Invalid("limit", "must be between 1 and %d, got %d", MaxLimit, limit)
	}
	rows, err := s.reader().QueryContext(ctx, `
		WITH RECURSIVE names(n) AS (
			SELECT min(metric_name) FROM performance_metrics
			UNION ALL
			SELECT (SELECT min(metric_name) FROM performance_metrics WHERE metric_name > names.n)
			FROM names WHERE names.n IS NOT NULL
		)
		SELECT n FROM names WHERE n IS NOT NULL LIMIT $1`, limit)
	return collect(rows, err, func(sc scanner) (string, error) {
		var n string
		return n, sc.Scan(&n)
	})
}

// DriftReportLatestByName returns the newest drift report of any version of
// model name. ErrNotFound when there is none.
func (s *Store) DriftReportLatestByName(ctx context.Context, name string) (mlops.DriftReport, error) {
	d, err := scanDrift(s.reader().QueryRowContext(ctx, `SELECT `+prefixed("d.", driftColumns)+`
		FROM drift_reports d JOIN model_versions m ON m.id = d.model_id
		WHERE m.model_name = $1 ORDER BY d.created_at DESC, d.id DESC LIMIT 1`, name))
	if err != nil {
		return d, notFound(err, "drift report for model %q", name)
	}
	return d, nil
}

// prefixed qualifies each column of a column list with a table alias.
func prefixed(alias, columns string) string {
	out := make([]byte, 0, len(columns)*2)
	start := true
	for i := 0; i < len(columns); i++ {
		c := columns[i]
		if start && c != ' ' && c != '\t' && c != '\n' {
			out = append(out, alias...)
			start = false
		}
		if c == ',' {
			start = true
		}
		out = append(out, c)
	}
	return string(out)
}

// AlertListBySeverity returns at most limit alerts in status, the most
// severe first and, within a severity, the newest first.
func (s *Store) AlertListBySeverity(ctx context.Context, status mlops.AlertStatus, limit int) ([]mlops.Alert, error) {
	if err := oneOf("status", status, mlops.AlertStatuses); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > MaxLimit {
		return nil, mlops.Invalid("limit", "must be between 1 and %d, got %d", MaxLimit, limit)
	}
	rows, err := s.reader().QueryContext(ctx, `SELECT `+alertColumns+` FROM alerts WHERE status = $1
		ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 WHEN 'low' THEN 3 ELSE 4 END,
			created_at DESC, id DESC
		LIMIT $2`, string(status), limit)
	return collect(rows, err, scanAlert)
}
