package webui

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
)

// Charts are drawn in the browser by static/charts.js with uPlot (vendored
// in static/uplot) from a JSON block that the page carries. They enhance a
// table of the same numbers rendered here, which is what a screen reader or
// a browser without JavaScript gets, and each has a text summary.

// chartPanel is one or more time charts over one time axis: X holds the
// bucket starts, in Unix seconds, of every bucket from From to To, so that
// buckets without data show as gaps.
type chartPanel struct {
	ID     string      `json:"-"`
	Small  bool        `json:"small"` // sparkline-sized charts side by side
	From   int64       `json:"from"`
	To     int64       `json:"to"`
	X      []int64     `json:"x"`
	Charts []timeChart `json:"charts"`
	Marks  []chartMark `json:"marks"`

	Bucket  store.Bucket `json:"-"`
	Columns []string     `json:"-"` // the table: one column per series
	Rows    []chartRow   `json:"-"` // one row per bucket with data
}

// timeChart is one chart: its series share the panel's axis.
type timeChart struct {
	Title string `json:"title"`
	// Unit says how values read: ratio (0..1, three decimals), % (a 0..1
	// share shown as a percentage), ms, count, or "" (a plain number).
	Unit    string        `json:"unit"`
	Series  []chartSeries `json:"series"`
	Refs    []chartRef    `json:"refs"`
	Summary string        `json:"-"` // the chart's text alternative
}

// chartSeries is one line: a value per bucket of the axis, null where the
// bucket has no data.
type chartSeries struct {
	Label  string     `json:"label"`
	Values []*float64 `json:"values"`
}

// chartRef is a horizontal reference line: a version's training metric
// (kind training) or a rule's threshold (kind threshold).
type chartRef struct {
	Label string  `json:"label"`
	Kind  string  `json:"kind"`
	Value float64 `json:"value"`
}

// chartMark is a vertical marker: an activation, an alert or a drift
// report.
type chartMark struct {
	At    int64     `json:"at"`
	Kind  string    `json:"kind"`
	Label string    `json:"label"`
	Time  time.Time `json:"-"`
}

type chartRow struct {
	Start time.Time
	Cells []string
}

// newPanel lays out the axis of the buckets of b that cover [from, to),
// aligned as the store aligns them: on multiples of the width since the
// epoch, so hours start on the hour and days at midnight UTC.
func newPanel(id string, from, to time.Time, b store.Bucket) chartPanel {
	p := chartPanel{ID: id, From: from.Unix(), To: to.Unix(), Bucket: b, Marks: []chartMark{}}
	w := int64(store.Buckets[b] / time.Second)
	for t := p.From / w * w; t < p.To; t += w {
		p.X = append(p.X, t)
	}
	return p
}

// onAxis places rows on the panel's axis: the value of each row at the
// index of its bucket, null for buckets without a row.
func onAxis[T any](p *chartPanel, rows []T, start func(T) time.Time, value func(T) *float64) []*float64 {
	out := make([]*float64, len(p.X))
	if len(p.X) == 0 {
		return out
	}
	w := int64(store.Buckets[p.Bucket] / time.Second)
	for _, r := range rows {
		if i := (start(r).Unix() - p.X[0]) / w; i >= 0 && i < int64(len(out)) {
			out[i] = value(r)
		}
	}
	return out
}

// finish writes the table and the text summaries; call it once the charts
// are in.
func (p *chartPanel) finish() {
	p.Columns, p.Rows = nil, nil
	for _, c := range p.Charts {
		for _, s := range c.Series {
			col := c.Title
			if len(c.Series) > 1 || len(p.Charts) == 1 {
				col = s.Label
			}
			p.Columns = append(p.Columns, col)
		}
	}
	for i, x := range p.X {
		row := chartRow{Start: time.Unix(x, 0).UTC()}
		filled := false
		for _, c := range p.Charts {
			for _, s := range c.Series {
				cell := "—"
				if v := s.Values[i]; v != nil {
					cell, filled = chartValue(c.Unit, *v), true
				}
				row.Cells = append(row.Cells, cell)
			}
		}
		if filled {
			p.Rows = append(p.Rows, row)
		}
	}
	span := time.Unix(p.From, 0).UTC().Format("2006-01-02 15:04") + " to " + time.Unix(p.To, 0).UTC().Format("2006-01-02 15:04 UTC")
	for i := range p.Charts {
		p.Charts[i].Summary = p.Charts[i].summary(span, p.Bucket)
	}
}

// Empty reports whether no bucket has data.
func (p chartPanel) Empty() bool { return len(p.Rows) == 0 }

// summary says what a chart shows, in words: "Realized accuracy per 1h
// bucket, 2026-11-20 08:00 to 2026-11-20 13:00 UTC: realized from 0.667 to
// 1.000 over 4 buckets, last 0.667. Dashed lines: training 0.910."
func (c timeChart) summary(span string, b store.Bucket) string {
	var parts []string
	for _, s := range c.Series {
		lo, hi, last, n := math.Inf(1), math.Inf(-1), 0.0, 0
		for _, v := range s.Values {
			if v != nil {
				lo, hi, last, n = math.Min(lo, *v), math.Max(hi, *v), *v, n+1
			}
		}
		switch n {
		case 0:
			parts = append(parts, s.Label+": no data")
			continue
		case 1:
			parts = append(parts, fmt.Sprintf("%s %s in 1 bucket", s.Label, chartValue(c.Unit, last)))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s from %s to %s over %d bucket%s, last %s", s.Label,
			chartValue(c.Unit, lo), chartValue(c.Unit, hi), n, plural(n), chartValue(c.Unit, last)))
	}
	out := fmt.Sprintf("%s per %s bucket, %s: %s.", c.Title, b, span, strings.Join(parts, "; "))
	if len(c.Refs) > 0 {
		var refs []string
		for _, r := range c.Refs {
			refs = append(refs, r.Label+" "+chartValue(c.Unit, r.Value))
		}
		out += " Dashed lines: " + strings.Join(refs, ", ") + "."
	}
	return out
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// chartValue formats a value as charts.js does (fmt there).
func chartValue(unit string, v float64) string {
	switch unit {
	case "%":
		return strconv.FormatFloat(100*v, 'f', 1, 64) + " %"
	case "ms":
		return ms(v)
	case "count":
		return num(int64(math.Round(v)))
	}
	if math.Abs(v) >= 1000 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}

// metricUnit guesses a recorded metric's unit from its name: latencies and
// names ending in _ms are milliseconds; any other is a plain number.
func metricUnit(name string) string {
	n := strings.ToLower(name)
	if strings.Contains(n, "latency") || strings.HasSuffix(n, "_ms") {
		return "ms"
	}
	return ""
}

// metricSeries is the buckets of one line of a metric chart: the points of
// one model version (Model is its name) or of none.
type metricSeries struct {
	Label, Model string
	Buckets      []store.MetricBucket
}

// metricSeries splits the buckets of the points f selects (all) into one
// series per version of versions (listed newest first) that has points,
// with a query each, and one of the points that none of them holds. A
// filter on one version (versions is then that one) is its series.
func (s *server) metricSeries(ctx context.Context, f store.MetricFilter, b store.Bucket, all []store.MetricBucket,
	versions []mlops.ModelVersion) ([]metricSeries, error) {
	if f.ModelID != nil {
		v := versions[0]
		return []metricSeries{{Label: v.ModelName + " " + v.Version, Model: v.ModelName, Buckets: all}}, nil
	}
	if len(all) == 0 {
		return nil, nil
	}
	// Oldest first, so that a version keeps its colour as others come.
	found := make([]metricSeries, len(versions))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(queriesAtOnce)
	for i, v := range versions {
		g.Go(func() (err error) {
			one := f
			one.ModelID = &v.ID
			found[len(versions)-1-i] = metricSeries{Label: v.ModelName + " " + v.Version, Model: v.ModelName}
			found[len(versions)-1-i].Buckets, err = s.st.MetricBuckets(gctx, one, b)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var out []metricSeries
	for _, sr := range found {
		if len(sr.Buckets) > 0 {
			out = append(out, sr)
		}
	}
	if rest := unattributed(all, out); len(rest) > 0 {
		out = append(out, metricSeries{Label: "other points", Buckets: rest})
	}
	return out, nil
}

// metricPanel charts a metric's average per bucket, one line per series.
func metricPanel(p chartPanel, metric string, series []metricSeries, refs []chartRef) chartPanel {
	c := timeChart{Title: metric, Unit: metricUnit(metric), Refs: refs}
	for _, s := range series {
		c.Series = append(c.Series, chartSeries{Label: s.Label, Values: onAxis(&p, s.Buckets,
			func(b store.MetricBucket) time.Time { return b.BucketStart },
			func(b store.MetricBucket) *float64 { return &b.Avg })})
	}
	p.Charts = []timeChart{c}
	p.finish()
	return p
}

// unattributed is the average per bucket of the points in all that none of
// parts holds (points without a model version, or of versions not listed):
// its count and sum are what is left of all's after the parts'.
func unattributed(all []store.MetricBucket, parts []metricSeries) []store.MetricBucket {
	type acc struct {
		n   int64
		sum float64
	}
	seen := map[int64]acc{}
	for _, s := range parts {
		for _, b := range s.Buckets {
			a := seen[b.BucketStart.Unix()]
			seen[b.BucketStart.Unix()] = acc{a.n + b.Count, a.sum + b.Avg*float64(b.Count)}
		}
	}
	var out []store.MetricBucket
	for _, b := range all {
		a := seen[b.BucketStart.Unix()]
		if n := b.Count - a.n; n > 0 {
			out = append(out, store.MetricBucket{BucketStart: b.BucketStart, Count: n, Avg: (b.Avg*float64(b.Count) - a.sum) / float64(n)})
		}
	}
	return out
}

// metricStats are the figures of all of a chart's points.
type metricStats struct {
	Min, Avg, Max float64
	Count         int64
	Buckets       int
	Unit          string
}

// Fmt formats one of the figures in the metric's unit.
func (st metricStats) Fmt(v float64) string { return chartValue(st.Unit, v) }

func statsOf(metric string, buckets []store.MetricBucket) metricStats {
	st := metricStats{Min: math.Inf(1), Max: math.Inf(-1), Buckets: len(buckets), Unit: metricUnit(metric)}
	var sum float64
	for _, b := range buckets {
		st.Min, st.Max = math.Min(st.Min, b.Min), math.Max(st.Max, b.Max)
		sum += b.Avg * float64(b.Count)
		st.Count += b.Count
	}
	if st.Count > 0 {
		st.Avg = sum / float64(st.Count)
	}
	return st
}

// performancePanel charts a version's realized performance per bucket of
// its performance report: accuracy and F1 from the predictions with ground
// truth, each with the version's training figure as a dashed reference line
// labelled "training" (and the rule's threshold when the rule watches that
// metric), the share of predictions with ground truth, latency p95, and the
// number of predictions.
func performancePanel(p chartPanel, rep store.PerformanceReport, m mlops.ModelVersion, rule store.RuleSettings) chartPanel {
	at := func(b store.PerformanceRow) time.Time { return b.BucketStart }
	line := func(title, label, unit string, value func(store.PerformanceRow) *float64, refs ...chartRef) timeChart {
		return timeChart{Title: title, Unit: unit, Refs: refs,
			Series: []chartSeries{{Label: label, Values: onAxis(&p, rep.Buckets, at, value)}}}
	}
	refs := func(metric string, training *float64) []chartRef {
		out := thresholdRef(rule, metric, "threshold")
		if training != nil {
			out = append([]chartRef{{Label: "training", Kind: "training", Value: *training}}, out...)
		}
		return out
	}
	p.Charts = []timeChart{
		line("Realized accuracy", "realized", "ratio", func(b store.PerformanceRow) *float64 { return b.Accuracy }, refs("accuracy", m.Accuracy)...),
		line("Realized F1", "realized", "ratio", func(b store.PerformanceRow) *float64 { return b.F1 }, refs("f1", m.F1Score)...),
		line("Labeled share", "labeled", "%", func(b store.PerformanceRow) *float64 { return b.LabeledShare }),
		line("Latency p95", "p95", "ms", func(b store.PerformanceRow) *float64 { return b.LatencyP95MS }),
		line("Predictions", "predictions", "count", func(b store.PerformanceRow) *float64 {
			v := float64(b.Predictions)
			return &v
		}),
	}
	p.finish()
	return p
}

// markLimit bounds the alerts and the drift reports that one chart marks.
const markLimit = 50

// chartMarks lists what a chart of [from, to) marks, oldest first: the
// activations of versions, and the alerts raised and drift reports stored
// in the window (the newest markLimit of each); only those of version
// modelID when it is not 0.
func (s *server) chartMarks(ctx context.Context, from, to time.Time, versions []mlops.ModelVersion, modelID int64) ([]chartMark, error) {
	marks := []chartMark{}
	add := func(t time.Time, kind, label string) {
		if !t.Before(from) && t.Before(to) {
			marks = append(marks, chartMark{At: t.Unix(), Kind: kind, Label: label, Time: t.UTC()})
		}
	}
	names := map[int64]string{}
	for _, v := range versions {
		names[v.ID] = v.ModelName + " " + v.Version
		if v.ActivatedAt != nil && (modelID == 0 || v.ID == modelID) {
			add(*v.ActivatedAt, "activation", names[v.ID]+" activated")
		}
	}
	alerts, _, err := s.st.AlertList(ctx, store.AlertFilter{Since: from, Page: store.Page{Limit: markLimit}})
	if err != nil {
		return nil, err
	}
	for _, a := range alerts {
		if modelID == 0 || a.ModelID != nil && *a.ModelID == modelID {
			add(a.CreatedAt, "alert", fmt.Sprintf("%s alert: %s", a.Severity, a.Title))
		}
	}
	reports, _, err := s.st.DriftReportList(ctx, store.DriftReportFilter{ModelID: modelID, Since: from, Page: store.Page{Limit: markLimit}})
	if err != nil {
		return nil, err
	}
	for _, r := range reports {
		name, ok := names[r.ModelID]
		if !ok {
			name = fmt.Sprintf("version id %d", r.ModelID)
		}
		label := "no drift on " + name
		if r.DriftDetected {
			label = fmt.Sprintf("drift on %s (%d feature%s)", name, r.NDriftedFeatures, plural(r.NDriftedFeatures))
		}
		add(r.CreatedAt, "drift", label)
	}
	sort.SliceStable(marks, func(i, j int) bool { return marks[i].Time.Before(marks[j].Time) })
	return marks, nil
}

// thresholdRef is the reference line of rule's threshold, labelled label,
// when the rule watches metric; none otherwise.
func thresholdRef(rule store.RuleSettings, metric, label string) []chartRef {
	if rule.Metric != metric || rule.MetricThreshold == nil {
		return nil
	}
	if !rule.Enabled {
		label += " (rules off)"
	}
	return []chartRef{{Label: label, Kind: "threshold", Value: *rule.MetricThreshold}}
}

// queriesAtOnce bounds the queries one page runs at once (of the reader
// pool's connections, 5 by default).
const queriesAtOnce = 3

// livePanels sets the chart of live performance over the last 24 hours of
// each row's active version, a few at a time.
func (s *server) livePanels(ctx context.Context, rows []modelRow) error {
	rules, err := s.st.RuleSettingsList(ctx)
	if err != nil {
		return err
	}
	ruleOf := map[string]store.RuleSettings{}
	for _, r := range rules {
		ruleOf[r.ModelName] = r
	}
	day, _ := rangeOf("24h")
	now := s.now().UTC()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(queriesAtOnce)
	for i := range rows {
		if m := rows[i].Active; m != nil {
			g.Go(func() (err error) {
				rows[i].Live, err = s.livePanel(gctx, *m, ruleOf[m.ModelName], day, now)
				return err
			})
		}
	}
	return g.Wait()
}

// livePanel charts version m's realized performance over rng up to to.
func (s *server) livePanel(ctx context.Context, m mlops.ModelVersion, rule store.RuleSettings, rng rangeOpt, to time.Time) (chartPanel, error) {
	// The first bucket starts whole on its bound (an hour or a day): the
	// chart shows whole buckets, and the whole hours come from the
	// prediction rollups rather than from the rows.
	from := to.Add(-rng.D)
	if w := store.Buckets[rng.Bucket]; w >= time.Hour {
		from = from.Truncate(w)
	}
	rep, err := s.st.PerformanceReport(ctx, m.ID, store.PerformanceOptions{Bucket: rng.Bucket, Since: from, Until: to.Add(time.Microsecond)})
	if err != nil {
		return chartPanel{}, err
	}
	p := newPanel(fmt.Sprintf("live-%d", m.ID), from, to, rng.Bucket)
	p.Small = true
	return performancePanel(p, rep, m, rule), nil
}
