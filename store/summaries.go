package store

// Summaries beyond the seed's CRUD: model summaries, counts by status,
// prediction statistics and decided actions, in bounded pages. Plain SQL
// that runs unchanged on both engines.

import (
	"cmp"
	"context"
	"errors"
	"slices"
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

// PredictionStatsByModel summarises the predictions made since since, per
// model version, busiest first, at most limit versions. Whole hours are read
// from the prediction rollups (prediction_rollups.go), so the average
// latency is their sum over their count, and the hour since cuts from the
// rows.
func (s *Store) PredictionStatsByModel(ctx context.Context, since time.Time, limit int) ([]PredictionStats, error) {
	if limit <= 0 || limit > MaxLimit {
		return nil, mlops.Invalid("limit", "must be between 1 and %d, got %d", MaxLimit, limit)
	}
	stats, err := s.predictionStats(ctx, 0, since)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(stats, func(a, b PredictionStats) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.ModelID, b.ModelID))
	})
	// Named after the cut, so a version without a name (none: every
	// prediction names one) never takes a place in the page.
	named := stats[:0]
	for _, ps := range stats {
		if len(named) == limit {
			break
		}
		m, err := s.ModelVersionGet(ctx, ps.ModelID)
		if errors.Is(err, mlops.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		ps.ModelName, ps.Version = m.ModelName, m.Version
		named = append(named, ps)
	}
	return named, nil
}

// PredictionStatsFor summarises the predictions of one model version made
// since since (zero: all of them). A version without predictions has Count 0.
func (s *Store) PredictionStatsFor(ctx context.Context, modelID int64, since time.Time) (PredictionStats, error) {
	stats, err := s.predictionStats(ctx, modelID, since)
	if err != nil || len(stats) == 0 {
		return PredictionStats{ModelID: modelID}, err
	}
	m, err := s.ModelVersionGet(ctx, modelID)
	if err != nil {
		return PredictionStats{}, err
	}
	stats[0].ModelName, stats[0].Version = m.ModelName, m.Version
	return stats[0], nil
}

// predictionStats summarises the predictions of model (0: each model
// version) made since since (zero: all), from the rollups and the rows of
// the hour since cuts; unnamed, in no order.
func (s *Store) predictionStats(ctx context.Context, model int64, since time.Time) ([]PredictionStats, error) {
	r, err := s.predictionRange(ctx, model, since.UTC(), time.Time{}, 0, false)
	if err != nil {
		return nil, err
	}
	type acc struct {
		PredictionStats
		latencies
	}
	by := map[int64]*acc{}
	get := func(m int64) *acc {
		a, ok := by[m]
		if !ok {
			a = &acc{PredictionStats: PredictionStats{ModelID: m}}
			by[m] = a
		}
		return a
	}
	for k, n := range r.cells {
		a := get(k.model)
		a.Count += n
		if k.labeled {
			a.Labelled += n
			if k.actual == k.prediction {
				a.Correct += n
			}
		}
	}
	for k, l := range r.bins {
		get(k.model).latencies.add(*l)
	}
	out := make([]PredictionStats, 0, len(by))
	for _, a := range by {
		if a.Count == 0 {
			continue
		}
		if a.n > 0 {
			avg, lo, hi := a.total/float64(a.n), a.lo, a.hi
			a.AvgLatency, a.MinLatency, a.MaxLatency = &avg, &lo, &hi
		}
		out = append(out, a.PredictionStats)
	}
	return out, nil
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
