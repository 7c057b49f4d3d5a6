package webui

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
)

// ---- overview ----

type modelRow struct {
	Name     string
	Versions int64
	Active   *mlops.ModelVersion
	Drift    *mlops.DriftReport
	Preds    *store.PredictionStats // last 24 h of the active version
	Live     chartPanel             // the active version's realized performance
}

type sevCount struct {
	Severity mlops.Severity
	Count    int64
}

type overviewData struct {
	Models       []modelRow
	MoreModels   bool
	AnyActive    bool
	PendingCount int64
	Pending      []mlops.AgentAction
	ActiveAlerts int64
	BySeverity   []sevCount
	RecentAlerts []mlops.Alert
	Pred24       []store.PredictionStats
	Pred24Total  int64
	Since        time.Time
}

func (s *server) overview(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	// The last 24 h from the start of their first hour: whole hours, read
	// from the prediction rollups.
	d := overviewData{Since: s.now().UTC().Add(-24 * time.Hour).Truncate(time.Hour)}
	names, next, err := s.st.ModelSummaryList(ctx, "", overviewModels)
	if err != nil {
		return err
	}
	d.MoreModels = next != ""
	stats, err := s.st.PredictionStatsByModel(ctx, d.Since, overviewModels)
	if err != nil {
		return err
	}
	d.Pred24 = stats
	byID := map[int64]*store.PredictionStats{}
	for i := range stats {
		byID[stats[i].ModelID] = &stats[i]
		d.Pred24Total += stats[i].Count
	}
	for _, n := range names {
		row := modelRow{Name: n.Name, Versions: n.Versions}
		if n.ActiveID != 0 {
			m, err := s.st.ModelVersionGet(ctx, n.ActiveID)
			if err != nil && !errors.Is(err, mlops.ErrNotFound) {
				return err
			}
			if err == nil {
				row.Active = &m
				row.Preds = byID[m.ID]
				d.AnyActive = true
			}
		}
		dr, err := s.st.DriftReportLatestByName(ctx, n.Name)
		switch {
		case err == nil:
			row.Drift = &dr
		case !errors.Is(err, mlops.ErrNotFound):
			return err
		}
		d.Models = append(d.Models, row)
	}
	if err := s.livePanels(ctx, d.Models); err != nil {
		return err
	}
	counts, err := s.st.ActionCountByStatus(ctx)
	if err != nil {
		return err
	}
	d.PendingCount = counts[mlops.ActionPending]
	if d.Pending, _, err = s.st.ActionList(ctx, store.ActionFilter{Status: mlops.ActionPending, OldestFirst: true,
		Page: store.Page{Limit: overviewPending}}); err != nil {
		return err
	}
	alertCounts, err := s.st.AlertCountByStatusSeverity(ctx)
	if err != nil {
		return err
	}
	for i := len(mlops.Severities) - 1; i >= 0; i-- {
		sev := mlops.Severities[i]
		n := alertCounts[mlops.AlertActive][sev]
		d.ActiveAlerts += n
		d.BySeverity = append(d.BySeverity, sevCount{sev, n})
	}
	if d.RecentAlerts, err = s.st.AlertListBySeverity(ctx, mlops.AlertActive, 5); err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "overview", "Overview", "overview", d)
	return nil
}

// ---- models ----

type modelData struct {
	M        mlops.ModelVersion
	Current  *mlops.ModelVersion // the active version of the same name, when another one
	All      store.PredictionStats
	Day      store.PredictionStats
	Drift    []mlops.DriftReport
	MoreDrft bool
	Range    rangeOpt
	Quick    []rangeLink
	Live     chartPanel // realized performance over Range
}

func pathID(r *http.Request, what string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, httpErr(http.StatusNotFound, "%q is not a %s id; ids are positive integers.", r.PathValue("id"), what)
	}
	return id, nil
}

func (s *server) model(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := pathID(r, "model version")
	if err != nil {
		return err
	}
	d := modelData{}
	if d.Range, err = rangeOf(r.URL.Query().Get("range")); err != nil {
		return err
	}
	d.Quick = rangeLinks(r, d.Range.Key)
	if d.M, err = s.st.ModelVersionGet(ctx, id); err != nil {
		return err
	}
	if !d.M.IsActive {
		cur, err := s.st.ModelVersionActive(ctx, d.M.ModelName)
		switch {
		case err == nil:
			d.Current = &cur
		case !errors.Is(err, mlops.ErrNotFound):
			return err
		}
	}
	if d.All, err = s.st.PredictionStatsFor(ctx, id, time.Time{}); err != nil {
		return err
	}
	if d.Day, err = s.st.PredictionStatsFor(ctx, id, s.now().UTC().Add(-24*time.Hour)); err != nil {
		return err
	}
	var next string
	if d.Drift, next, err = s.st.DriftReportList(ctx, store.DriftReportFilter{ModelID: id, Page: store.Page{Limit: 20}}); err != nil {
		return err
	}
	d.MoreDrft = next != ""
	rule, err := s.st.RuleSettingsGet(ctx, d.M.ModelName)
	if err != nil {
		return err
	}
	to := s.now().UTC()
	if d.Live, err = s.livePanel(ctx, d.M, rule, d.Range, to); err != nil {
		return err
	}
	if d.Live.Marks, err = s.chartMarks(ctx, to.Add(-d.Range.D), to, []mlops.ModelVersion{d.M}, id); err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "model", d.M.ModelName+" "+d.M.Version, "models", d)
	return nil
}

func (s *server) activate(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := pathID(r, "model version")
	if err != nil {
		return err
	}
	back := "/models/" + strconv.FormatInt(id, 10)
	m, err := s.st.ModelVersionGet(ctx, id)
	if err != nil {
		return err
	}
	// A form that did not show which version this replaces (the
	// comparison's) gets the confirmation page first.
	if r.PostFormValue("replaces") == "" {
		return s.activateConfirm(w, r, m)
	}
	// Here the name is only logged, so the open mode does not require it.
	p := caller(r)
	actor := p.Name
	if !p.Authenticated() {
		actor = strings.TrimSpace(r.PostFormValue("actor"))
		if actor != "" {
			if err := mlops.ValidateActor("actor", actor); err != nil {
				redirect(w, r, back, "error", err.Error())
				return nil
			}
			rememberActor(w, actor)
		}
	}
	// The confirmation named the version it would replace; if another one
	// became active since, ask again rather than replace something unseen.
	expect, _ := strconv.ParseInt(r.PostFormValue("replaces"), 10, 64)
	cur, err := s.st.ModelVersionActive(ctx, m.ModelName)
	var curID int64
	switch {
	case err == nil:
		curID = cur.ID
	case !errors.Is(err, mlops.ErrNotFound):
		return err
	}
	if curID != expect && curID != m.ID {
		redirect(w, r, back, "warn", fmt.Sprintf("Not activated: the active version of %s changed to %s while you were deciding. Review and confirm again.",
			m.ModelName, cur.Version))
		return nil
	}
	if curID == m.ID {
		redirect(w, r, back, "ok", fmt.Sprintf("%s %s is already the active version; nothing changed.", m.ModelName, m.Version))
		return nil
	}
	if _, err := s.st.ModelVersionActivate(actAs(r, actor), id); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "webui: model version activated", "model_name", m.ModelName, "version", m.Version,
		"id", id, "replaced_id", curID, "by", actor)
	msg := fmt.Sprintf("Activated %s %s.", m.ModelName, m.Version)
	if curID != 0 {
		msg += fmt.Sprintf(" %s was archived.", cur.Version)
	}
	redirect(w, r, back, "ok", msg)
	return nil
}

// lostRace words a refused transition: "Action x was already approved by
// alice at T (3 min ago); your rejection was not recorded."
func (s *server) lostRace(te *mlops.TransitionError, what, yours string) string {
	msg := capitalize(what) + " was already " + te.From
	if te.By != "" {
		msg += " by " + te.By
	}
	if te.At != "" {
		if t, err := time.Parse(time.RFC3339, te.At); err == nil {
			msg += " at " + t.UTC().Format("2006-01-02 15:04:05 UTC") + " (" + age(s.now().UTC(), t) + ")"
		} else {
			msg += " at " + te.At
		}
	}
	return msg + "; your " + yours + " was not recorded."
}

// ---- drift ----

type driftData struct {
	ModelID  int64
	Model    *mlops.ModelVersion
	Versions []mlops.ModelVersion
	Reports  []driftRow
	NextURL  string
	FirstURL string
	Paged    bool
}

type driftRow struct {
	mlops.DriftReport
	Model *mlops.ModelVersion
}

// queryID parses an optional positive id parameter.
func queryID(r *http.Request, key string) (int64, error) {
	v := r.URL.Query().Get(key)
	if v == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0, httpErr(http.StatusBadRequest, "%s=%q is not an id; ids are positive integers.", key, v)
	}
	return id, nil
}

func (s *server) drift(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	d := driftData{}
	var err error
	if d.ModelID, err = queryID(r, "model_id"); err != nil {
		return err
	}
	if d.Versions, _, err = s.st.ModelVersionList(ctx, store.ModelVersionFilter{Page: store.Page{Limit: selectLimit}}); err != nil {
		return err
	}
	models := map[int64]*mlops.ModelVersion{}
	for i := range d.Versions {
		models[d.Versions[i].ID] = &d.Versions[i]
	}
	reports, next, err := s.st.DriftReportList(ctx, store.DriftReportFilter{ModelID: d.ModelID,
		Page: store.Page{Limit: pageSize, Cursor: q.Get("cursor")}})
	if err != nil {
		return err
	}
	for _, rep := range reports {
		m, ok := models[rep.ModelID]
		if !ok {
			mv, err := s.st.ModelVersionGet(ctx, rep.ModelID)
			if err != nil {
				return err
			}
			m = &mv
			models[rep.ModelID] = m
		}
		d.Reports = append(d.Reports, driftRow{DriftReport: rep, Model: m})
	}
	if d.ModelID != 0 {
		m, ok := models[d.ModelID]
		if !ok {
			mv, err := s.st.ModelVersionGet(ctx, d.ModelID)
			if err != nil {
				return err
			}
			m = &mv
		}
		d.Model = m
	}
	if next != "" {
		d.NextURL = withQuery(r, "cursor", next)
	}
	d.Paged, d.FirstURL = q.Get("cursor") != "", withQuery(r, "cursor", "")
	s.render(w, r, http.StatusOK, "drift", "Drift", "drift", d)
	return nil
}

// ---- metrics ----

type rangeOpt struct {
	Key    string
	Label  string
	D      time.Duration
	Bucket store.Bucket // the default bucket for this range
}

var ranges = []rangeOpt{
	{"1h", "last hour", time.Hour, "1m"},
	{"6h", "last 6 hours", 6 * time.Hour, "5m"},
	{"24h", "last 24 hours", 24 * time.Hour, "1h"},
	{"7d", "last 7 days", 7 * 24 * time.Hour, "1h"},
	{"30d", "last 30 days", 30 * 24 * time.Hour, "1d"},
}

var bucketOrder = []store.Bucket{"1m", "5m", "1h", "1d"}

// maxBuckets bounds the points of one chart.
const maxBuckets = 1500

// rangeOf finds the range named key; empty is the last 24 hours.
func rangeOf(key string) (rangeOpt, error) {
	if key == "" {
		key = "24h"
	}
	for _, o := range ranges {
		if o.Key == key {
			return o, nil
		}
	}
	return rangeOpt{}, httpErr(http.StatusBadRequest, "Unknown range %q; use 1h, 6h, 24h, 7d or 30d.", key)
}

// rangeLink is a quick range: the page at another range, in that range's
// default bucket.
type rangeLink struct {
	rangeOpt
	URL     string
	Current bool
}

func rangeLinks(r *http.Request, current string) []rangeLink {
	out := make([]rangeLink, 0, len(ranges))
	for _, o := range ranges {
		out = append(out, rangeLink{rangeOpt: o, URL: withQuery(r, "range", o.Key, "bucket", ""), Current: o.Key == current})
	}
	return out
}

type metricsData struct {
	Names    []string
	Versions []mlops.ModelVersion
	Metric   string
	ModelID  int64
	Range    string
	Ranges   []rangeOpt
	Quick    []rangeLink
	Bucket   store.Bucket
	Buckets  []store.Bucket
	Note     string
	Stats    metricStats // of all the charted points
	Panel    chartPanel
}

func (s *server) metrics(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	d := metricsData{Ranges: ranges, Buckets: bucketOrder, Metric: q.Get("metric")}
	var err error
	if d.Names, err = s.st.MetricNameList(ctx, selectLimit); err != nil {
		return err
	}
	if d.Versions, _, err = s.st.ModelVersionList(ctx, store.ModelVersionFilter{Page: store.Page{Limit: selectLimit}}); err != nil {
		return err
	}
	if d.ModelID, err = queryID(r, "model_id"); err != nil {
		return err
	}
	if d.Metric == "" && len(d.Names) > 0 {
		d.Metric = d.Names[0]
	}
	rng, err := rangeOf(q.Get("range"))
	if err != nil {
		return err
	}
	d.Range, d.Quick = rng.Key, rangeLinks(r, rng.Key)
	d.Bucket = rng.Bucket
	if b := q.Get("bucket"); b != "" {
		if d.Bucket, err = store.ParseBucket(b); err != nil {
			return err
		}
	}
	asked := d.Bucket
	for i := 0; i+1 < len(bucketOrder) && rng.D/store.Buckets[d.Bucket] > maxBuckets; i++ {
		if bucketOrder[i] == d.Bucket {
			d.Bucket = bucketOrder[i+1]
		}
	}
	if d.Bucket != asked {
		d.Note = fmt.Sprintf("The %s in %s buckets would be more than %d points; showing %s buckets instead.", rng.Label, asked, maxBuckets, d.Bucket)
	}
	if d.Metric == "" {
		s.render(w, r, http.StatusOK, "metrics", "Metrics", "metrics", d)
		return nil
	}
	to := s.now().UTC()
	from := to.Add(-rng.D)
	f := store.MetricFilter{Name: d.Metric, Since: from}
	charted := d.Versions
	if d.ModelID != 0 {
		f.ModelID = &d.ModelID
		m, err := s.st.ModelVersionGet(ctx, d.ModelID)
		if err != nil {
			return err
		}
		charted = []mlops.ModelVersion{m}
	}
	all, err := s.st.MetricBuckets(ctx, f, d.Bucket)
	if err != nil {
		return err
	}
	d.Stats = statsOf(d.Metric, all)
	series, err := s.metricSeries(ctx, f, d.Bucket, all, charted)
	if err != nil {
		return err
	}
	rules, err := s.st.RuleSettingsList(ctx)
	if err != nil {
		return err
	}
	var refs []chartRef
	for _, rs := range rules {
		for _, sr := range series {
			if sr.Model == rs.ModelName {
				refs = append(refs, thresholdRef(rs, d.Metric, rs.ModelName+" threshold")...)
				break
			}
		}
	}
	d.Panel = metricPanel(newPanel("chart", from, to, d.Bucket), d.Metric, series, refs)
	if d.Panel.Marks, err = s.chartMarks(ctx, from, to, charted, d.ModelID); err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "metrics", "Metrics", "metrics", d)
	return nil
}
