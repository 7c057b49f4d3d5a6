package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"
)

// WithoutAudit returns a copy of s that writes no audit events: the
// benchmarks' baseline of the same statements without the audit insert.
// Only tests can reach it.
func WithoutAudit(s *Store) *Store {
	c := *s
	c.noAudit = true
	return &c
}

// WithoutRollups returns a copy of s that keeps no metric rollups: the
// benchmarks' baseline of metric ingest without them. Only tests can reach
// it.
func WithoutRollups(s *Store) *Store {
	c := *s
	c.noRollups = true
	return &c
}

// PredictionRollupsMismatch compares the prediction rollups with the rows
// they summarise, summed again here from every row, and describes the
// first difference ("" when they match). The latency bins are compared
// per model version and hour (count, sum, smallest and largest), since
// SQL and Go may put a value lying exactly on a bin's bound in adjacent
// bins. Only tests can reach it.
func PredictionRollupsMismatch(ctx context.Context, s *Store) (string, error) {
	want := newPredictionRollups()
	err := s.eachRow(ctx, `SELECT model_id, created_at, prediction, actual, probability, latency_ms FROM predictions`, nil, func(sc scanner) error {
		var (
			model, pred int64
			at          time.Time
			actual      sql.NullInt64
			prob, lat   sql.NullFloat64
		)
		if err := sc.Scan(&model, &at, &pred, &actual, &prob, &lat); err != nil {
			return err
		}
		var a *int64
		if actual.Valid {
			a = &actual.Int64
		}
		var l *float64
		if lat.Valid {
			l = &lat.Float64
		}
		var pr *float64
		if prob.Valid {
			pr = &prob.Float64
		}
		want.add(model, at, pred, a, pr, l)
		return nil
	})
	if err != nil {
		return "", err
	}
	got := map[cellKey]int64{}
	err = s.eachRow(ctx, `SELECT model_id, hour, prediction, labeled, actual, probability_bin, n FROM prediction_rollups WHERE n <> 0`, nil, func(sc scanner) error {
		var k cellKey
		var labeled, n int64
		if err := sc.Scan(&k.model, &k.hour, &k.prediction, &labeled, &k.actual, &k.pbin, &n); err != nil {
			return err
		}
		k.labeled = labeled == 1
		got[k] = n
		return nil
	})
	if err != nil {
		return "", err
	}
	for k, n := range want.cells {
		if got[k] != n {
			return fmt.Sprintf("count %+v: rollup %d, rows %d", k, got[k], n), nil
		}
	}
	for k, n := range got {
		if want.cells[k] != n {
			return fmt.Sprintf("count %+v: rollup %d, rows %d", k, n, want.cells[k]), nil
		}
	}
	type hourKey struct{ model, hour int64 }
	sum := func(bins map[binKey]*latencies) map[hourKey]latencies {
		out := map[hourKey]latencies{}
		for k, l := range bins {
			h := out[hourKey{k.model, k.hour}]
			h.add(*l)
			out[hourKey{k.model, k.hour}] = h
		}
		return out
	}
	gotBins := map[binKey]*latencies{}
	err = s.eachRow(ctx, `SELECT model_id, hour, bin, n, total, lo, hi FROM prediction_latency_rollups`, nil, func(sc scanner) error {
		var k binKey
		var l latencies
		if err := sc.Scan(&k.model, &k.hour, &k.bin, &l.n, &l.total, &l.lo, &l.hi); err != nil {
			return err
		}
		gotBins[k] = &l
		return nil
	})
	if err != nil {
		return "", err
	}
	g, w := sum(gotBins), sum(want.bins)
	if len(g) != len(w) {
		return fmt.Sprintf("latencies: %d model-hours in the rollups, %d in the rows", len(g), len(w)), nil
	}
	for k, wl := range w {
		gl := g[k]
		if gl.n != wl.n || gl.lo != wl.lo || gl.hi != wl.hi || math.Abs(gl.total-wl.total) > 1e-9*math.Abs(wl.total) {
			return fmt.Sprintf("latencies of %+v: rollup %+v, rows %+v", k, gl, wl), nil
		}
	}
	return "", nil
}

// PredictionSearchSummaryFromRows is PredictionSearchSummary read from the
// rows whatever the filter, to check the rollups' answers against. Only
// tests can reach it.
func PredictionSearchSummaryFromRows(ctx context.Context, s *Store, f PredictionSearch) (PredictionSummary, error) {
	q, err := f.where()
	if err != nil {
		return PredictionSummary{}, err
	}
	return s.summaryFromRows(ctx, q)
}
