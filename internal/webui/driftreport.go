package webui

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/monitor"
	"github.com/mlopsdev/mlops/store"
)

// The drift report page (/drift/{id}) and the drift check form of the model
// page (POST /models/{id}/drift-check). A report's details are whatever its
// author stored: a server-side check writes monitor.DriftDetails, a client
// anything. The page reads the fields it knows, each on its own, and lists
// the rest as they are.

type driftReportData struct {
	R        mlops.DriftReport
	Model    mlops.ModelVersion
	RefModel *mlops.ModelVersion // the baseline's version, when another one
	D        reportDetails
	Features []featureRow
	// Histograms counts the features with a histogram to draw; a check
	// stores histograms up to HistBins bins.
	Histograms, HistBins int
	Alerts               []mlops.Alert
	Actions              []mlops.AgentAction
	// MoreAlerts, MoreActions: more than RefLimit name the report; the
	// newest RefLimit are listed.
	MoreAlerts, MoreActions bool
	RefLimit                int
}

// reportDetails are the fields of a report's details the page knows.
type reportDetails struct {
	Features                      map[string]featureStats
	Skipped                       map[string]string
	Reference, Current            *window
	ReferenceModelID              int64
	PSIThreshold, KSThreshold     *float64
	Bins, MaxSamples, MaxFeatures *int64
	FeaturesLeftOut               int64
	LeftOut, Method               string
	// Other are the fields the page does not know, or could not read.
	Other []kv
	// Unreadable holds details that are not a JSON object.
	Unreadable string
}

type window struct {
	From *time.Time `json:"from"`
	To   *time.Time `json:"to"`
}

// featureStats are the figures of one feature; nil when not reported.
type featureStats struct {
	PSI, KS, PValue              *float64
	Drifted                      *bool
	ReferenceCount, CurrentCount *int64
	Histogram                    *monitor.Histogram
}

// featureRow is one feature of the report, with its figures formatted and
// its histogram laid out.
type featureRow struct {
	featureStats
	Name                   string
	Anchor                 string
	Drifted                bool
	PSIText, KSText, PText string
	Hist                   *histView
}

// parseDetails reads the fields of raw it knows one by one, so that a
// field a client wrote otherwise costs only that field; per feature too.
func parseDetails(raw mlops.JSON) reportDetails {
	var d reportDetails
	var m map[string]json.RawMessage
	if len(raw) == 0 {
		return d
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		d.Unreadable = pretty(raw)
		return d
	}
	var features map[string]map[string]json.RawMessage
	take(m, map[string]any{
		"features": &features, "skipped": &d.Skipped, "reference": &d.Reference, "current": &d.Current,
		"reference_model_id": &d.ReferenceModelID, "psi_threshold": &d.PSIThreshold, "ks_threshold": &d.KSThreshold,
		"bins": &d.Bins, "max_samples": &d.MaxSamples, "max_features": &d.MaxFeatures,
		"features_left_out": &d.FeaturesLeftOut, "left_out": &d.LeftOut, "method": &d.Method,
	})
	if len(features) > 0 {
		d.Features = make(map[string]featureStats, len(features))
	}
	for name, fm := range features {
		var f featureStats
		take(fm, map[string]any{"psi": &f.PSI, "ks": &f.KS, "p_value": &f.PValue, "drifted": &f.Drifted,
			"reference_count": &f.ReferenceCount, "current_count": &f.CurrentCount, "histogram": &f.Histogram})
		d.Features[name] = f
	}
	if len(m) > 0 {
		rest, _ := json.Marshal(m)
		d.Other = pairs(rest)
	}
	return d
}

// take decodes each field of m named in dst into its destination (a
// pointer) and removes it from m; a field that does not decode stays in m
// and leaves its destination as it was.
func take(m map[string]json.RawMessage, dst map[string]any) {
	for key, to := range dst {
		v, ok := m[key]
		if !ok {
			continue
		}
		// json.Unmarshal may have set part of a value when it fails.
		fresh := reflect.New(reflect.TypeOf(to).Elem())
		if json.Unmarshal(v, fresh.Interface()) == nil {
			reflect.ValueOf(to).Elem().Set(fresh.Elem())
			delete(m, key)
		}
	}
}

// featureRows lists the report's features, drifted first, each group by
// PSI (largest first, unknown last), then by name. A feature the report
// names as drifted without statistics still has its row.
func featureRows(r mlops.DriftReport, d reportDetails) []featureRow {
	rows := make([]featureRow, 0, len(d.Features))
	for name, f := range d.Features {
		row := featureRow{featureStats: f, Name: name, Drifted: slices.Contains(r.DriftedFeatures, name)}
		if f.Drifted != nil {
			row.Drifted = *f.Drifted
		}
		rows = append(rows, row)
	}
	for _, name := range r.DriftedFeatures {
		if _, ok := d.Features[name]; !ok {
			rows = append(rows, featureRow{Name: name, Drifted: true})
		}
	}
	slices.SortFunc(rows, func(a, b featureRow) int {
		if a.Drifted != b.Drifted {
			if a.Drifted {
				return -1
			}
			return 1
		}
		if a.PSI != nil && b.PSI != nil {
			if c := cmp.Compare(*b.PSI, *a.PSI); c != 0 {
				return c
			}
		} else if a.PSI != b.PSI {
			if a.PSI != nil {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Name, b.Name)
	})
	for i := range rows {
		f := &rows[i]
		f.Anchor = "feature-" + strconv.Itoa(i+1)
		f.PSIText, f.KSText, f.PText = stat(f.PSI), stat(f.KS), stat(f.PValue)
		f.Hist = newHistView(f.Name, f.Histogram)
	}
	return rows
}

// stat formats a statistic with 4 significant digits; nil is a dash.
func stat(v *float64) string {
	if v == nil {
		return "—"
	}
	return sig4(*v)
}

// histView is a feature's histogram laid out as SVG: per bin, the
// reference bar and the current bar side by side, with the same figures in
// Rows for the table beside it.
type histView struct {
	W, H, Left, Right, Top, Bottom float64
	Bars                           []histBar
	Labels                         []histTick // bin numbers under the bars
	YTicks                         []histTick
	Rows                           []histRow
}

type histTick struct {
	X, Y  float64
	Label string
}

type histBar struct {
	X, Y, W, H float64
	Class      string // ref or cur
	Title      string
}

type histRow struct {
	N             int
	Range         string
	Ref, Cur, Chg string
	Up            bool // the current share is larger
}

// maxHistBins bounds the bins a client's histogram may have to be drawn.
const maxHistBins = 100

// newHistView lays out h, or returns nil when h is missing or not a
// histogram (a client's details): shares per bin one more than the edges.
func newHistView(name string, h *monitor.Histogram) *histView {
	if h == nil || len(h.Reference) == 0 || len(h.Reference) > maxHistBins ||
		len(h.Current) != len(h.Reference) || len(h.Edges) != len(h.Reference)-1 {
		return nil
	}
	top := 0.0 // JSON numbers are finite; shares must be proportions
	for _, s := range slices.Concat(h.Reference, h.Current) {
		if s < 0 || s > 1 {
			return nil
		}
		top = math.Max(top, s)
	}
	if top == 0 {
		top = 1
	}
	n := len(h.Reference)
	v := &histView{W: 440, H: 180, Left: 44, Right: 432, Top: 10, Bottom: 150}
	slot := (v.Right - v.Left) / float64(n)
	y := func(s float64) float64 { return round(v.Bottom - s/top*(v.Bottom-v.Top)) }
	for _, s := range []float64{0, top / 2, top} {
		v.YTicks = append(v.YTicks, histTick{X: v.Left - 6, Y: y(s), Label: strconv.FormatFloat(math.Round(1000*s)/10, 'f', -1, 64) + " %"})
	}
	every := (n + 19) / 20 // at most 20 bin numbers under the bars
	for i := 0; i < n; i++ {
		x := v.Left + float64(i)*slot
		r := histRow{N: i + 1, Range: binRange(h.Edges, i), Ref: share(h.Reference[i]), Cur: share(h.Current[i]),
			Chg: points(h.Current[i] - h.Reference[i]), Up: h.Current[i] > h.Reference[i]}
		v.Rows = append(v.Rows, r)
		for j, b := range []struct {
			class, what string
			s           float64
		}{{"ref", "reference", h.Reference[i]}, {"cur", "current", h.Current[i]}} {
			v.Bars = append(v.Bars, histBar{X: round(x + slot*(0.1+0.42*float64(j))), Y: y(b.s), W: round(slot * 0.38),
				H: round(v.Bottom - y(b.s)), Class: b.class,
				Title: fmt.Sprintf("%s, bin %d %s: %s of the %s values", name, i+1, r.Range, share(b.s), b.what)})
		}
		if i%every == 0 {
			v.Labels = append(v.Labels, histTick{X: round(x + slot/2), Y: v.Bottom + 16, Label: strconv.Itoa(i + 1)})
		}
	}
	return v
}

// binRange words bin i of the bins on edges: (-inf, e0], (e0, e1], …,
// (e_last, +inf).
func binRange(edges []float64, i int) string {
	switch {
	case len(edges) == 0:
		return "all values"
	case i == 0:
		return "≤ " + sig4(edges[0])
	case i == len(edges):
		return "> " + sig4(edges[i-1])
	}
	return "(" + sig4(edges[i-1]) + ", " + sig4(edges[i]) + "]"
}

// sig4 formats a value with 4 significant digits.
func sig4(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

// share formats a proportion as a percentage.
func share(s float64) string { return strconv.FormatFloat(100*s, 'f', 1, 64) + " %" }

// points formats a difference of proportions in percentage points.
func points(d float64) string {
	p := strconv.FormatFloat(100*d, 'f', 1, 64)
	if p == "-0.0" {
		p = "0.0"
	}
	if d > 0 && p != "0.0" {
		p = "+" + p
	}
	return p + " pp"
}

func (s *server) driftReport(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := pathID(r, "drift report")
	if err != nil {
		return err
	}
	d := driftReportData{RefLimit: refLimit, HistBins: monitor.MaxHistogramBins}
	if d.R, err = s.st.DriftReportGet(ctx, id); err != nil {
		return err
	}
	if d.Model, err = s.st.ModelVersionGet(ctx, d.R.ModelID); err != nil {
		return err
	}
	d.D = parseDetails(d.R.Details)
	if ref := d.D.ReferenceModelID; ref != 0 && ref != d.R.ModelID {
		m, err := s.st.ModelVersionGet(ctx, ref)
		switch {
		case err == nil:
			d.RefModel = &m
		case !errors.Is(err, mlops.ErrNotFound):
			return err
		}
	}
	d.Features = featureRows(d.R, d.D)
	for _, f := range d.Features {
		if f.Hist != nil {
			d.Histograms++
		}
	}
	// The alerts and actions that name the report, exactly (indexed:
	// store/driftrefs.go).
	page := store.Page{Limit: refLimit}
	var next string
	if d.Alerts, next, err = s.st.AlertListByDriftReport(ctx, id, page); err != nil {
		return err
	}
	d.MoreAlerts = next != ""
	if d.Actions, next, err = s.st.ActionListByDriftReport(ctx, id, page); err != nil {
		return err
	}
	d.MoreActions = next != ""
	s.render(w, r, http.StatusOK, "drift_report", fmt.Sprintf("Drift report %d", id), "drift", d)
	return nil
}

// refLimit bounds the alerts, and the actions, the report page lists.
const refLimit = 100

// driftCheck runs the monitor's drift check of a version from the model
// page's form (the check of POST /api/v1/models/{id}/drift-check) and
// shows the report it stored.
func (s *server) driftCheck() func(http.ResponseWriter, *http.Request) error {
	mon := monitor.New(s.st, monitor.Options{Logger: s.log})
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r, "model version")
		if err != nil {
			return err
		}
		back := "/models/" + strconv.FormatInt(id, 10)
		o, err := driftCheckOptions(r, s.st.Now())
		var actor string
		if err == nil && (caller(r).Authenticated() || strings.TrimSpace(r.PostFormValue("actor")) != "") {
			actor, err = actingName(w, r, "actor")
		}
		var rep mlops.DriftReport
		if err == nil {
			rep, err = mon.DriftCheck(actAs(r, actor), id, o)
		}
		var ve *mlops.ValidationError
		switch {
		case errors.As(err, &ve):
			redirect(w, r, back+"#drift-check", "error", "The drift check did not run: "+strings.TrimPrefix(ve.Error(), "invalid input: ")+".")
			return nil
		case err != nil:
			return err
		}
		s.log.InfoContext(r.Context(), "webui: drift check", "model_id", id, "drift_report_id", rep.ID,
			"drift_detected", rep.DriftDetected, "by", actor)
		msg := fmt.Sprintf("Drift check stored as report %d: no drift.", rep.ID)
		if rep.DriftDetected {
			msg = fmt.Sprintf("Drift check stored as report %d: drift in %s.", rep.ID, strings.Join(rep.DriftedFeatures, ", "))
		}
		redirect(w, r, "/drift/"+strconv.FormatInt(rep.ID, 10), "ok", msg)
		return nil
	}
}

// driftCheckOptions reads the drift check form: the current window in
// hours up to now, the reference window in days before it, the thresholds
// and the fewest samples. An empty field keeps the check's default.
func driftCheckOptions(r *http.Request, now time.Time) (monitor.DriftCheckOptions, error) {
	v := &mlops.ValidationError{}
	number := func(field string, def, max float64, whole bool) float64 {
		in := strings.TrimSpace(r.PostFormValue(field))
		if in == "" {
			return def
		}
		f, err := strconv.ParseFloat(in, 64)
		switch {
		case err != nil || math.IsNaN(f) || f <= 0 || f > max:
			v.Add(field, "must be a number greater than 0 and at most %s, got %q", sig4(max), in)
		case whole && f != math.Trunc(f):
			v.Add(field, "must be a whole number, got %q", in)
		}
		return f
	}
	hours := number("current_hours", store.DefaultCurrentWindow.Hours(), 24*3660, false)
	days := number("reference_days", store.DefaultReferenceWindow.Hours()/24, 3660, false)
	o := monitor.DriftCheckOptions{
		PSIThreshold: number("psi_threshold", store.DefaultPSIThreshold, math.MaxFloat64, false),
		KSThreshold:  number("ks_threshold", store.DefaultKSThreshold, 1, false),
		MinSamples:   int(number("min_samples", store.DefaultDriftMinSamples, 1e9, true)),
	}
	if err := v.Err(); err != nil {
		return o, err
	}
	o.Current.From = now.Add(-time.Duration(hours * float64(time.Hour)))
	o.Reference.From = o.Current.From.Add(-time.Duration(days * 24 * float64(time.Hour)))
	return o, nil
}
