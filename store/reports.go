package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/mlopsdev/mlops"
)

// Reporting queries. Counts and sums are computed by the database; ratios
// are divided in Go from those exact integer counts, so both engines give
// bit-identical figures.
//
// Percentiles use the nearest-rank method: the p-th percentile of n values
// is the value at rank ceil(p*n/100) in ascending order, computed with the
// integer division (p*n + 99) / 100. On PostgreSQL, percentile_disc in the
// counts query computes exactly that (see percentileColumns). On SQLite the
// counts query gives n per bucket; one more query returns (bucket,
// latency_ms) ordered by latency_ms, and Go walks it once, counting per
// bucket and overall, and keeps the value found at each rank. The database
// does the one sort (spilling to disk if it must); Go holds only counters
// per bucket, never the rows. The value is a stored
// value, never an interpolation, so both engines give the same figure. (A
// ROW_NUMBER() window per bucket plus one over the range gives the same
// values but sorts twice: 2-4 times slower at 1 M predictions.)
//
// Indexes relied on: the performance report reads one model's range
// through ix_predictions_model_created (model_id, created_at, id); the alerts
// report reads ix_alerts_created (created_at, id); the approvals report reads
// ix_agent_actions_created (created_at, id) and, for the queue,
// ix_agent_actions_status_created (status, created_at, id).

// MaxReportBuckets bounds the number of buckets one report may ask for.
const MaxReportBuckets = 10000

// PerformanceOptions selects the range, bucket width and positive class of
// a performance report.
type PerformanceOptions struct {
	// Bucket is the bucket width (1m, 5m, 1h, 1d); empty means 1h.
	Bucket Bucket
	// Since is the start of the range (inclusive); zero means the model
	// version's registration (its whole lifetime).
	Since time.Time
	// Until is the end of the range (exclusive); zero means now (inclusive).
	Until time.Time
	// PositiveClass is the class that counts as positive for precision,
	// recall and F1; nil means 1.
	PositiveClass *int64
}

// PerformanceRow is the realized performance of one bucket, or of the
// whole range (Total). A figure is null when it is undefined: accuracy with
// no labeled prediction, precision with no predicted positive, recall with
// no actual positive, a latency percentile with no latency recorded.
type PerformanceRow struct {
	BucketStart  time.Time `json:"bucket_start"`
	Predictions  int64     `json:"predictions"`
	Labeled      int64     `json:"labeled"`
	LabeledShare *float64  `json:"labeled_share"`
	Accuracy     *float64  `json:"accuracy"`
	Precision    *float64  `json:"precision"`
	Recall       *float64  `json:"recall"`
	F1           *float64  `json:"f1"`
	LatencyP50MS *float64  `json:"latency_p50_ms"`
	LatencyP95MS *float64  `json:"latency_p95_ms"`
	LatencyP99MS *float64  `json:"latency_p99_ms"`
	// The confusion counts behind the ratios, over labeled predictions.
	Correct        int64 `json:"correct"`
	TruePositives  int64 `json:"true_positives"`
	FalsePositives int64 `json:"false_positives"`
	FalseNegatives int64 `json:"false_negatives"`

	latencies int64 // predictions with a latency: the n of the percentiles
}

// PerformanceReport is the realized performance of one model version per
// time bucket (oldest first, only buckets with predictions) and in total.
type PerformanceReport struct {
	ModelID       int64            `json:"model_id"`
	ModelName     string           `json:"model_name"`
	Version       string           `json:"version"`
	Bucket        Bucket           `json:"bucket"`
	From          time.Time        `json:"from"`
	To            time.Time        `json:"to"`
	PositiveClass int64            `json:"positive_class"`
	Buckets       []PerformanceRow `json:"buckets"`
	Total         PerformanceRow   `json:"total"`
}

// PerformanceReport computes, per bucket and over the range, a model
// version's prediction volume, latency p50/p95/p99, share of predictions
// with ground truth, and realized accuracy, precision, recall and F1 from
// the predictions whose actual is known. Two queries for the counts and
// bucket percentiles, one for the total's percentiles.
func (s *Store) PerformanceReport(ctx context.Context, modelID int64, o PerformanceOptions) (PerformanceReport, error) {
	var rep PerformanceReport
	m, err := s.ModelVersionGet(ctx, modelID)
	if err != nil {
		return rep, err
	}
	if o.Bucket == "" {
		o.Bucket = "1h"
	}
	width, ok := Buckets[o.Bucket]
	if !ok {
		return rep, mlops.Invalid("bucket", "must be one of 1m, 5m, 1h, 1d, got %q", o.Bucket)
	}
	if o.Since.IsZero() {
		o.Since = m.CreatedAt
	}
	if o.Until.IsZero() {
		o.Until = s.Now().Add(time.Microsecond)
	}
	o.Since, o.Until = o.Since.UTC(), o.Until.UTC()
	if !o.Until.After(o.Since) {
		return rep, mlops.Invalid("range", "the end (%s) must be after the start (%s)", o.Until.Format(time.RFC3339), o.Since.Format(time.RFC3339))
	}
	if n := o.Until.Sub(o.Since) / width; n > MaxReportBuckets {
		return rep, mlops.Invalid("bucket", "%s buckets over this range would be %d buckets, more than %d; choose a wider bucket or a shorter range", o.Bucket, n, MaxReportBuckets)
	}
	pos := int64(1)
	if o.PositiveClass != nil {
		pos = *o.PositiveClass
	}
	rep = PerformanceReport{ModelID: m.ID, ModelName: m.ModelName, Version: m.Version, Bucket: o.Bucket,
		From: o.Since, To: o.Until, PositiveClass: pos, Buckets: []PerformanceRow{}}

	if w := int64(width / time.Second); w%3600 == 0 {
		rep.Buckets, rep.Total, err = s.performanceFromRollups(ctx, modelID, o.Since, o.Until, w, pos)
		return rep, err
	}
	expr := s.bucketExpr(int64(width / time.Second))
	pct := s.percentileColumns()
	rows, err := s.reader().QueryContext(ctx, `SELECT `+expr+` AS bucket, count(*), count(actual), count(latency_ms),
			sum(CASE WHEN actual = prediction THEN 1 ELSE 0 END),
			sum(CASE WHEN actual = $4 AND prediction = $4 THEN 1 ELSE 0 END),
			sum(CASE WHEN actual <> $4 AND prediction = $4 THEN 1 ELSE 0 END),
			sum(CASE WHEN actual = $4 AND prediction <> $4 THEN 1 ELSE 0 END)`+pct+`
		FROM predictions WHERE model_id = $1 AND created_at >= $2 AND created_at < $3
		GROUP BY bucket ORDER BY bucket`, modelID, o.Since, o.Until, pos)
	buckets, err := collect(rows, err, func(sc scanner) (PerformanceRow, error) {
		var r PerformanceRow
		var start int64
		var p50, p95, p99 sql.NullFloat64
		dest := []any{&start, &r.Predictions, &r.Labeled, &r.latencies, &r.Correct, &r.TruePositives, &r.FalsePositives, &r.FalseNegatives}
		if pct != "" {
			dest = append(dest, &p50, &p95, &p99)
		}
		err := sc.Scan(dest...)
		r.BucketStart = time.Unix(start, 0).UTC()
		r.LatencyP50MS, r.LatencyP95MS, r.LatencyP99MS = nullFloat(p50), nullFloat(p95), nullFloat(p99)
		return r, err
	})
	if err != nil {
		return rep, err
	}
	index := map[int64]int{}
	total := PerformanceRow{BucketStart: o.Since}
	for i := range buckets {
		index[buckets[i].BucketStart.Unix()] = i
		b := &buckets[i]
		total.Predictions += b.Predictions
		total.Labeled += b.Labeled
		total.latencies += b.latencies
		total.Correct += b.Correct
		total.TruePositives += b.TruePositives
		total.FalsePositives += b.FalsePositives
		total.FalseNegatives += b.FalseNegatives
	}
	switch {
	case total.latencies == 0:
	case pct != "":
		var p50, p95, p99 sql.NullFloat64
		if err := s.reader().QueryRowContext(ctx, `SELECT `+pct[1:]+` FROM predictions
			WHERE model_id = $1 AND created_at >= $2 AND created_at < $3`, modelID, o.Since, o.Until).Scan(&p50, &p95, &p99); err != nil {
			return rep, classify(err)
		}
		total.LatencyP50MS, total.LatencyP95MS, total.LatencyP99MS = nullFloat(p50), nullFloat(p95), nullFloat(p99)
	default:
		if err := s.latencyPercentiles(ctx, expr, modelID, o.Since, o.Until, buckets, index, &total); err != nil {
			return rep, err
		}
	}
	for i := range buckets {
		buckets[i].derive()
	}
	total.derive()
	rep.Buckets, rep.Total = buckets, total
	return rep, nil
}

// PerformanceReportActive is PerformanceReport for the active version of
// modelName; with a zero Since it covers that version's whole lifetime.
func (s *Store) PerformanceReportActive(ctx context.Context, modelName string, o PerformanceOptions) (PerformanceReport, error) {
	m, err := s.ModelVersionActive(ctx, modelName)
	if err != nil {
		return PerformanceReport{}, err
	}
	return s.PerformanceReport(ctx, m.ID, o)
}

// percentileColumns is, on PostgreSQL, the select-list tail computing the
// nearest-rank latency percentiles with percentile_disc, whose rank is
// ceil(p * n) (orderedsetaggs.c): for p = 0.5, 0.95 and 0.99 that is exactly
// (100p*n + 99) / 100, as the float product never crosses an integer. On
// SQLite, which has no percentile_disc, it is "" and latencyPercentiles walks
// the sorted latencies instead. Both give the same stored value.
func (s *Store) percentileColumns() string {
	if s.engine != Postgres {
		return ""
	}
	return `, percentile_disc(0.5) WITHIN GROUP (ORDER BY latency_ms),
		percentile_disc(0.95) WITHIN GROUP (ORDER BY latency_ms),
		percentile_disc(0.99) WITHIN GROUP (ORDER BY latency_ms)`
}

// latencyPercentiles walks the range's latencies in ascending order once
// and sets the nearest-rank p50, p95 and p99 of every bucket and of total,
// whose latency counts are known from the counts query.
func (s *Store) latencyPercentiles(ctx context.Context, bucketExpr string, modelID int64, since, until time.Time,
	buckets []PerformanceRow, index map[int64]int, total *PerformanceRow) error {
	seen := make([]int64, len(buckets))
	var all int64
	return s.eachRow(ctx, `SELECT `+bucketExpr+` AS bucket, latency_ms FROM predictions
		WHERE model_id = $1 AND created_at >= $2 AND created_at < $3 AND latency_ms IS NOT NULL
		ORDER BY latency_ms`, []any{modelID, since, until}, func(sc scanner) error {
		var bucket int64
		var v float64
		if err := sc.Scan(&bucket, &v); err != nil {
			return err
		}
		all++
		total.rankValue(all, v)
		if i, ok := index[bucket]; ok {
			seen[i]++
			buckets[i].rankValue(seen[i], v)
		}
		return nil
	})
}

// nearestRank is ceil(p*n/100), the 1-based rank of the p-th percentile.
func nearestRank(p int, n int64) int64 { return (int64(p)*n + 99) / 100 }

// rankValue records v, the rank-th smallest latency of r, as each
// percentile whose nearest rank it is.
func (r *PerformanceRow) rankValue(rank int64, v float64) {
	if rank == nearestRank(50, r.latencies) {
		r.LatencyP50MS = &v
	}
	if rank == nearestRank(95, r.latencies) {
		r.LatencyP95MS = &v
	}
	if rank == nearestRank(99, r.latencies) {
		r.LatencyP99MS = &v
	}
}

// derive computes the ratios from the counts.
func (r *PerformanceRow) derive() {
	r.LabeledShare = ratio(r.Labeled, r.Predictions)
	r.Accuracy = ratio(r.Correct, r.Labeled)
	r.Precision = ratio(r.TruePositives, r.TruePositives+r.FalsePositives)
	r.Recall = ratio(r.TruePositives, r.TruePositives+r.FalseNegatives)
	r.F1 = ratio(2*r.TruePositives, 2*r.TruePositives+r.FalsePositives+r.FalseNegatives)
}

// Metric returns the ratio of r named name: accuracy, precision, recall or
// f1 (the metrics a performance rule may watch); false for any other name.
func (r PerformanceRow) Metric(name string) (*float64, bool) {
	switch name {
	case "accuracy":
		return r.Accuracy, true
	case "precision":
		return r.Precision, true
	case "recall":
		return r.Recall, true
	case "f1":
		return r.F1, true
	}
	return nil, false
}

func ratio(num, den int64) *float64 {
	if den == 0 {
		return nil
	}
	v := float64(num) / float64(den)
	return &v
}

// DurationStats summarises durations in seconds. Mean and P90 (nearest
// rank) are null when Count is 0.
type DurationStats struct {
	Count       int64    `json:"count"`
	MeanSeconds *float64 `json:"mean_seconds"`
	P90Seconds  *float64 `json:"p90_seconds"`
}

// durationStats summarises ds. The durations are computed in Go from the
// stored microsecond timestamps, which SQLite's own date functions (at
// millisecond precision) could not do exactly.
func durationStats(ds []time.Duration) DurationStats {
	st := DurationStats{Count: int64(len(ds))}
	if len(ds) == 0 {
		return st
	}
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	mean := sum.Seconds() / float64(len(ds))
	p90 := ds[nearestRank(90, int64(len(ds)))-1].Seconds()
	st.MeanSeconds, st.P90Seconds = &mean, &p90
	return st
}

// AlertReport summarises the alerts raised in a range.
type AlertReport struct {
	From              time.Time        `json:"from"`
	To                time.Time        `json:"to"`
	Total             int64            `json:"total"`
	BySeverity        map[string]int64 `json:"by_severity"`
	ByType            map[string]int64 `json:"by_type"`
	ByStatus          map[string]int64 `json:"by_status"`
	TimeToAcknowledge DurationStats    `json:"time_to_acknowledge"`
	TimeToResolve     DurationStats    `json:"time_to_resolve"`
}

// AlertReport counts the alerts raised in [since, until) by severity, type
// and status, and gives the mean and p90 time from raising to acknowledging
// and to resolving (over those acknowledged, resolved). until zero means
// now. One aggregate query and one over the acknowledged or resolved rows.
func (s *Store) AlertReport(ctx context.Context, since, until time.Time) (AlertReport, error) {
	since, until, err := s.reportRange(since, until)
	if err != nil {
		return AlertReport{}, err
	}
	rep := AlertReport{From: since, To: until, BySeverity: map[string]int64{}, ByType: map[string]int64{},
		ByStatus: map[string]int64{}}
	for _, sev := range mlops.Severities {
		rep.BySeverity[string(sev)] = 0
	}
	for _, st := range mlops.AlertStatuses {
		rep.ByStatus[string(st)] = 0
	}
	rows, err := s.reader().QueryContext(ctx, `SELECT severity, alert_type, status, count(*) FROM alerts
		WHERE created_at >= $1 AND created_at < $2 GROUP BY severity, alert_type, status`, since, until)
	if err != nil {
		return rep, classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		var sev, typ, st string
		var n int64
		if err := rows.Scan(&sev, &typ, &st, &n); err != nil {
			return rep, classify(err)
		}
		rep.Total += n
		rep.BySeverity[sev] += n
		rep.ByType[typ] += n
		rep.ByStatus[st] += n
	}
	if err := rows.Err(); err != nil {
		return rep, classify(err)
	}
	rows.Close()

	var toAck, toResolve []time.Duration
	err = s.eachRow(ctx, `SELECT created_at, acknowledged_at, resolved_at FROM alerts
		WHERE created_at >= $1 AND created_at < $2 AND (acknowledged_at IS NOT NULL OR resolved_at IS NOT NULL)`,
		[]any{since, until}, func(sc scanner) error {
			var created time.Time
			var ack, res nullableTime
			if err := sc.Scan(&created, &ack, &res); err != nil {
				return err
			}
			if ack.Valid {
				toAck = append(toAck, ack.Time.Sub(created))
			}
			if res.Valid {
				toResolve = append(toResolve, res.Time.Sub(created))
			}
			return nil
		})
	if err != nil {
		return rep, err
	}
	rep.TimeToAcknowledge, rep.TimeToResolve = durationStats(toAck), durationStats(toResolve)
	return rep, nil
}

// ApprovalTypeStats are the decisions on one action type.
type ApprovalTypeStats struct {
	ActionType string `json:"action_type"`
	Proposed   int64  `json:"proposed"`
	Pending    int64  `json:"pending"`
	Approved   int64  `json:"approved"` // reviewed and approved (including those since executed or failed)
	Rejected   int64  `json:"rejected"`
	Executed   int64  `json:"executed"`
	Failed     int64  `json:"failed"`
	// ApproveRatio is approved / (approved + rejected); null before any decision.
	ApproveRatio *float64 `json:"approve_ratio"`
}

// ApprovalReport summarises the approval workflow of agent actions.
type ApprovalReport struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Pending and the oldest pending action describe the queue now,
	// whatever the range.
	Pending                 int64      `json:"pending"`
	OldestPendingAt         *time.Time `json:"oldest_pending_at"`
	OldestPendingAgeSeconds *float64   `json:"oldest_pending_age_seconds"`
	// Turnaround is the time from proposal to review of the actions
	// proposed in the range and reviewed.
	Turnaround DurationStats       `json:"turnaround"`
	ByType     []ApprovalTypeStats `json:"by_action_type"`
}

// ApprovalReport reports the pending queue (count and oldest age), the
// decision turnaround and the approve/reject counts and ratio per action
// type of the actions proposed in [since, until). until zero means now.
func (s *Store) ApprovalReport(ctx context.Context, since, until time.Time) (ApprovalReport, error) {
	since, until, err := s.reportRange(since, until)
	if err != nil {
		return ApprovalReport{}, err
	}
	rep := ApprovalReport{From: since, To: until, ByType: []ApprovalTypeStats{}}
	if err := s.reader().QueryRowContext(ctx, `SELECT count(*) FROM agent_actions WHERE status = 'pending'`).Scan(&rep.Pending); err != nil {
		return rep, classify(err)
	}
	if rep.Pending > 0 {
		var oldest time.Time
		if err := s.reader().QueryRowContext(ctx, `SELECT created_at FROM agent_actions WHERE status = 'pending'
			ORDER BY created_at, id LIMIT 1`).Scan(&oldest); err != nil {
			return rep, classify(err)
		}
		oldest = oldest.UTC()
		age := s.Now().Sub(oldest).Seconds()
		rep.OldestPendingAt, rep.OldestPendingAgeSeconds = &oldest, &age
	}
	rows, err := s.reader().QueryContext(ctx, `SELECT action_type, count(*),
			sum(CASE WHEN status = 'pending' THEN 1 ELSE 0 END),
			sum(CASE WHEN reviewed_at IS NOT NULL AND status <> 'rejected' THEN 1 ELSE 0 END),
			sum(CASE WHEN status = 'rejected' THEN 1 ELSE 0 END),
			sum(CASE WHEN status = 'executed' THEN 1 ELSE 0 END),
			sum(CASE WHEN status = 'failed' THEN 1 ELSE 0 END)
		FROM agent_actions WHERE created_at >= $1 AND created_at < $2
		GROUP BY action_type ORDER BY action_type`, since, until)
	rep.ByType, err = collect(rows, err, func(sc scanner) (ApprovalTypeStats, error) {
		var a ApprovalTypeStats
		err := sc.Scan(&a.ActionType, &a.Proposed, &a.Pending, &a.Approved, &a.Rejected, &a.Executed, &a.Failed)
		a.ApproveRatio = ratio(a.Approved, a.Approved+a.Rejected)
		return a, err
	})
	if err != nil {
		return rep, err
	}
	var turnaround []time.Duration
	err = s.eachRow(ctx, `SELECT created_at, reviewed_at FROM agent_actions
		WHERE created_at >= $1 AND created_at < $2 AND reviewed_at IS NOT NULL`, []any{since, until},
		func(sc scanner) error {
			var created, reviewed time.Time
			if err := sc.Scan(&created, &reviewed); err != nil {
				return err
			}
			turnaround = append(turnaround, reviewed.Sub(created))
			return nil
		})
	if err != nil {
		return rep, err
	}
	rep.Turnaround = durationStats(turnaround)
	return rep, nil
}

// reportRange defaults and checks a report's [since, until).
func (s *Store) reportRange(since, until time.Time) (time.Time, time.Time, error) {
	if until.IsZero() {
		until = s.Now().Add(time.Microsecond)
	}
	since, until = since.UTC(), until.UTC()
	if !until.After(since) {
		return since, until, mlops.Invalid("range", "the end (%s) must be after the start (%s)", until.Format(time.RFC3339), since.Format(time.RFC3339))
	}
	return since, until, nil
}

// eachRow runs a query and calls fn for every row, one at a time.
func (s *Store) eachRow(ctx context.Context, q string, args []any, fn func(scanner) error) error {
	rows, err := s.reader().QueryContext(ctx, q, args...)
	if err != nil {
		return classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return classify(err)
		}
	}
	return classify(rows.Err())
}

// nullableTime scans a time that may be NULL, and accepts the text form
// SQLite returns for expressions without a declared column type (UNION
// branches, aggregates).
type nullableTime struct {
	Time  time.Time
	Valid bool
}

// Scan implements sql.Scanner.
func (n *nullableTime) Scan(v any) error {
	if v == nil {
		n.Time, n.Valid = time.Time{}, false
		return nil
	}
	t, err := parseDBTime(v)
	if err != nil {
		return err
	}
	n.Time, n.Valid = t, true
	return nil
}

var dbTimeLayouts = []string{
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999Z07:00",
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
}

// parseDBTime turns a scanned time value (time.Time, or text from SQLite)
// into a UTC time.
func parseDBTime(v any) (time.Time, error) {
	var s string
	switch x := v.(type) {
	case time.Time:
		return x.UTC(), nil
	case string:
		s = x
	case []byte:
		s = string(x)
	case int64:
		return time.Unix(x, 0).UTC(), nil
	default:
		return time.Time{}, fmt.Errorf("cannot read a time from %T", v)
	}
	for _, layout := range dbTimeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) {
		return time.UnixMicro(int64(f * 1e6)).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("cannot read a time from %q", s)
}

// performanceFromRollups is the performance report of buckets of width
// seconds (whole hours) from the prediction rollups: exact counts, and
// latency percentiles from the histogram (within a bin's width, see
// prediction_rollups.go).
func (s *Store) performanceFromRollups(ctx context.Context, modelID int64, since, until time.Time, width, pos int64) ([]PerformanceRow, PerformanceRow, error) {
	total := PerformanceRow{BucketStart: since}
	r, err := s.predictionRange(ctx, modelID, since, until, width, false)
	if err != nil {
		return nil, total, err
	}
	rows := map[int64]*PerformanceRow{}
	row := func(start int64) *PerformanceRow {
		b, ok := rows[start]
		if !ok {
			b = &PerformanceRow{BucketStart: time.Unix(start, 0).UTC()}
			rows[start] = b
		}
		return b
	}
	for k, n := range r.cells {
		for _, b := range []*PerformanceRow{row(k.hour), &total} {
			b.Predictions += n
			if !k.labeled {
				continue
			}
			b.Labeled += n
			if k.actual == k.prediction {
				b.Correct += n
			}
			switch {
			case k.actual == pos && k.prediction == pos:
				b.TruePositives += n
			case k.actual != pos && k.prediction == pos:
				b.FalsePositives += n
			case k.actual == pos && k.prediction != pos:
				b.FalseNegatives += n
			}
		}
	}
	hists := map[int64]histogram{}
	var all histogram
	for k, l := range r.bins {
		hists[k.hour] = append(hists[k.hour], binRow{k, *l})
		all = append(all, binRow{binKey{bin: k.bin}, *l})
		row(k.hour).latencies += l.n
		total.latencies += l.n
	}
	out := make([]PerformanceRow, 0, len(rows))
	for start, b := range rows {
		if b.Predictions == 0 {
			continue
		}
		b.setPercentiles(hists[start])
		b.derive()
		out = append(out, *b)
	}
	slices.SortFunc(out, func(a, b PerformanceRow) int { return a.BucketStart.Compare(b.BucketStart) })
	total.setPercentiles(all)
	total.derive()
	return out, total, nil
}

// setPercentiles sets r's latency percentiles from its histogram h (in any
// order; bins of the same number are merged).
func (r *PerformanceRow) setPercentiles(h histogram) {
	slices.SortFunc(h, func(a, b binRow) int { return cmp.Compare(a.bin, b.bin) })
	merged := h[:0]
	for _, b := range h {
		if n := len(merged); n > 0 && merged[n-1].bin == b.bin {
			merged[n-1].latencies.add(b.latencies)
			continue
		}
		merged = append(merged, b)
	}
	r.LatencyP50MS, r.LatencyP95MS, r.LatencyP99MS = merged.percentile(50, r.latencies), merged.percentile(95, r.latencies), merged.percentile(99, r.latencies)
}
