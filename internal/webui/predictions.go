package webui

// The predictions page as an investigation tool: one version's predictions
// with its features as columns, narrowed by filters in the address (wrong
// or labelled only, predicted class, probability and time ranges), paged
// with a page count and a jump to a time, summarized by a confusion matrix
// and a probability histogram, and exported as CSV (/predictions.csv with
// the same filters), streamed row by row.

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
)

// maxClasses bounds the classes of a confusion matrix drawn as a table.
const maxClasses = 20

// predictionForm is the filter form as typed, to show it again.
type predictionForm struct {
	Wrong, Labelled             bool
	Class, PMin, PMax, From, To string
	At                          string // jump: the newest row at or before this time
}

// Any reports whether a filter narrows the selection.
func (f predictionForm) Any() bool {
	return f.Wrong || f.Labelled || f.Class != "" || f.PMin != "" || f.PMax != "" || f.From != "" || f.To != ""
}

type predictionsData struct {
	Versions []mlops.ModelVersion
	Model    *mlops.ModelVersion
	Form     predictionForm
	Columns  []string // feature columns: the version's feature names, then the other keys of the page
	Rows     []predictionRow
	Sum      store.PredictionSummary
	Matrix   *confusionMatrix // nil: no labelled row, or more than maxClasses classes
	Classes  int              // the classes of the labelled rows
	Hist     []probBin
	// WithProbability counts the predictions in Hist.
	WithProbability int64
	Page            int // 0: not known (after a jump to a time)
	Pages           int
	NextURL         string
	FirstURL        string
	Paged           bool
	CSVURL          string
	ClearURL        string
}

type predictionRow struct {
	mlops.Prediction
	Values []featureCell // one per column
}

type featureCell struct {
	Text    string
	Missing bool
}

// Outcome is "correct" or "wrong" when the ground truth is known, else "".
func (p predictionRow) Outcome() string {
	switch {
	case p.Actual == nil:
		return ""
	case *p.Actual == p.Prediction.Prediction:
		return "correct"
	}
	return "wrong"
}

// confusionMatrix is the labelled rows counted per actual class (rows) and
// predicted class (columns).
type confusionMatrix struct {
	Classes   []int64
	Rows      []confusionRow
	ColTotals []int64
	Total     int64
}

type confusionRow struct {
	Actual int64
	Cells  []confusionCell
	Total  int64
}

type confusionCell struct {
	Predicted int64
	Count     int64
	Diagonal  bool // predicted the actual class
}

// probBin is one bar of the probability histogram.
type probBin struct {
	Range string
	Count int64
	Share string
	W     float64 // bar length, 0 to 100
}

// predictionSearch reads the filters of the address (model_id aside) into
// a search of model id and the form as typed. The page and the CSV read
// the same ones.
func predictionSearch(r *http.Request, id int64) (store.PredictionSearch, predictionForm, error) {
	q := r.URL.Query()
	form := predictionForm{Wrong: q.Get("wrong") != "", Labelled: q.Get("labelled") != "",
		Class: strings.TrimSpace(q.Get("class")), PMin: strings.TrimSpace(q.Get("pmin")), PMax: strings.TrimSpace(q.Get("pmax")),
		From: strings.TrimSpace(q.Get("from")), To: strings.TrimSpace(q.Get("to")), At: strings.TrimSpace(q.Get("at"))}
	f := store.PredictionSearch{PredictionFilter: store.PredictionFilter{ModelID: id}, WrongOnly: form.Wrong, LabelledOnly: form.Labelled}
	if form.Class != "" {
		c, err := strconv.ParseInt(form.Class, 10, 64)
		if err != nil {
			return f, form, mlops.Invalid("class", "must be a whole number (a predicted class), got %q", form.Class)
		}
		f.Class = &c
	}
	for _, p := range []struct {
		field, v string
		dst      **float64
	}{{"pmin", form.PMin, &f.MinProbability}, {"pmax", form.PMax, &f.MaxProbability}} {
		if p.v == "" {
			continue
		}
		v, err := strconv.ParseFloat(p.v, 64)
		if err != nil || v < 0 || v > 1 {
			return f, form, mlops.Invalid(p.field, "must be a probability from 0 to 1, got %q", p.v)
		}
		*p.dst = &v
	}
	var err error
	if f.Since, err = formTime("from", form.From); err != nil {
		return f, form, err
	}
	if f.Until, err = formTime("to", form.To); err != nil {
		return f, form, err
	}
	return f, form, nil
}

// formTime reads an optional time field as parseUntil does (a
// datetime-local value in UTC, or RFC 3339); empty is the zero time.
func formTime(field, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := parseUntil(v)
	if err != nil {
		return t, mlops.Invalid(field, "must be a date and time such as 2026-11-20T15:00 (UTC), got %q", v)
	}
	return t, nil
}

// predictionModel is the version the page is about: model_id, else the most
// recently activated version, else the newest (0: none is registered).
func (s *server) predictionModel(r *http.Request, versions []mlops.ModelVersion) (int64, error) {
	id, err := queryID(r, "model_id")
	if err != nil || id != 0 {
		return id, err
	}
	m, err := s.activeOf(r.Context(), "")
	switch {
	case err != nil:
		return 0, err
	case m != nil:
		return m.ID, nil
	case len(versions) > 0:
		return versions[0].ID, nil
	}
	return 0, nil
}

func (s *server) predictions(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	d := predictionsData{}
	var err error
	if d.Versions, _, err = s.st.ModelVersionList(ctx, store.ModelVersionFilter{Page: store.Page{Limit: selectLimit}}); err != nil {
		return err
	}
	id, err := s.predictionModel(r, d.Versions)
	if err != nil {
		return err
	}
	if id == 0 {
		s.render(w, r, http.StatusOK, "predictions", "Predictions", "predictions", d)
		return nil
	}
	m, err := s.st.ModelVersionGet(ctx, id)
	if err != nil {
		return err
	}
	d.Model = &m
	f, form, err := predictionSearch(r, id)
	if err != nil {
		return err
	}
	d.Form = form
	f.Page = store.Page{Limit: pageSize, Cursor: q.Get("cursor")}
	d.Page = 1
	if p := q.Get("page"); p != "" {
		if d.Page, err = strconv.Atoi(p); err != nil || d.Page < 1 {
			return httpErr(http.StatusBadRequest, "page=%q is not a page number; pages start at 1.", p)
		}
	}
	if f.Cursor == "" && form.At != "" {
		at, err := formTime("at", form.At)
		if err != nil {
			return err
		}
		// The rows at or before the time: the cursor of a row at that time
		// with an id above any other.
		f.Cursor, d.Page = store.Cursor{CreatedAt: at, ID: 1<<63 - 1}.Encode(), 0
	} else if f.Cursor != "" && q.Get("page") == "" {
		d.Page = 0
	}
	items, next, err := s.st.PredictionSearchList(ctx, f)
	if err != nil {
		return err
	}
	if d.Sum, err = s.st.PredictionSearchSummary(ctx, f); err != nil {
		return err
	}
	d.Columns = featureColumns(m.FeatureNames, items)
	for _, p := range items {
		d.Rows = append(d.Rows, predictionRow{Prediction: p, Values: featureCells(d.Columns, p.Features)})
	}
	d.Matrix, d.Classes = newConfusionMatrix(d.Sum)
	d.Hist, d.WithProbability = probHistogram(d.Sum), d.Sum.Count-d.Sum.NoProbability
	d.Pages = int((d.Sum.Count + pageSize - 1) / pageSize)
	mid := strconv.FormatInt(id, 10)
	if next != "" {
		page := ""
		if d.Page > 0 {
			page = strconv.Itoa(d.Page + 1)
		}
		d.NextURL = withQuery(r, "model_id", mid, "cursor", next, "page", page, "at", "")
	}
	d.Paged = f.Cursor != ""
	d.FirstURL = withQuery(r, "model_id", mid, "cursor", "", "page", "", "at", "")
	d.CSVURL = "/predictions.csv" + strings.TrimPrefix(withQuery(r, "model_id", mid, "cursor", "", "page", "", "at", ""), r.URL.Path)
	d.ClearURL = "/predictions?model_id=" + mid
	s.render(w, r, http.StatusOK, "predictions", "Predictions", "predictions", d)
	return nil
}

// featureColumns are the version's feature names, then the other keys the
// rows' features have, sorted.
func featureColumns(names []string, rows []mlops.Prediction) []string {
	cols := slices.Clone(names)
	var more []string
	for _, p := range rows {
		for _, kv := range pairs(p.Features) {
			if !slices.Contains(cols, kv.Key) {
				more = append(more, kv.Key)
			}
		}
	}
	slices.Sort(more)
	return append(cols, slices.Compact(more)...)
}

// featureCells are the values of features in the columns, as pairs words
// them (strings unquoted, other values as compact JSON).
func featureCells(cols []string, features mlops.JSON) []featureCell {
	values := map[string]string{}
	for _, kv := range pairs(features) {
		values[kv.Key] = kv.Value
	}
	out := make([]featureCell, len(cols))
	for i, c := range cols {
		v, ok := values[c]
		out[i] = featureCell{Text: v, Missing: !ok}
		if !ok {
			out[i].Text = "—"
		}
	}
	return out
}

// newConfusionMatrix lays out the summary's labelled rows, with the number
// of classes; the matrix is nil without labelled rows or with more than
// maxClasses classes.
func newConfusionMatrix(sum store.PredictionSummary) (*confusionMatrix, int) {
	var classes []int64
	for _, c := range sum.Confusion {
		classes = append(classes, c.Actual, c.Predicted)
	}
	slices.Sort(classes)
	classes = slices.Compact(classes)
	if len(classes) == 0 || len(classes) > maxClasses {
		return nil, len(classes)
	}
	m := &confusionMatrix{Classes: classes, ColTotals: make([]int64, len(classes)), Total: sum.Labelled}
	for _, a := range classes {
		row := confusionRow{Actual: a}
		for j, p := range classes {
			cell := confusionCell{Predicted: p, Diagonal: a == p}
			for _, c := range sum.Confusion {
				if c.Actual == a && c.Predicted == p {
					cell.Count = c.Count
				}
			}
			row.Total += cell.Count
			m.ColTotals[j] += cell.Count
			row.Cells = append(row.Cells, cell)
		}
		m.Rows = append(m.Rows, row)
	}
	return m, len(classes)
}

// probHistogram is the summary's probability bins as bars; nil when no row
// has a probability.
func probHistogram(sum store.PredictionSummary) []probBin {
	with := sum.Count - sum.NoProbability
	if with == 0 {
		return nil
	}
	top := slices.Max(sum.Bins[:])
	out := make([]probBin, 0, len(sum.Bins))
	for i, n := range sum.Bins {
		lo, hi := float64(i)/store.ProbabilityBins, float64(i+1)/store.ProbabilityBins
		rng := fmt.Sprintf("%.1f–%.1f", lo, hi)
		if i == len(sum.Bins)-1 {
			rng += " (incl.)"
		}
		out = append(out, probBin{Range: rng, Count: n, Share: pct(n, with), W: round(100 * float64(n) / float64(top))})
	}
	return out
}

// ---- CSV ----

// predictionsCSV streams the selection of /predictions (the same filters,
// every page) as CSV: each row is written as it is read, the features
// flattened to a column per feature name of the version (or, without
// names, per key of the first row) and the rest as a JSON object in
// other_features.
func (s *server) predictionsCSV(w http.ResponseWriter, r *http.Request) error {
	id, err := queryID(r, "model_id")
	switch {
	case err != nil:
		return err
	case id == 0:
		return httpErr(http.StatusBadRequest, "Say which model version to export: /predictions.csv?model_id=1 (the filters of /predictions apply).")
	}
	ctx := r.Context()
	m, err := s.st.ModelVersionGet(ctx, id)
	if err != nil {
		return err
	}
	f, _, err := predictionSearch(r, id)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	var cols []string
	rows := 0
	start := func(first *mlops.Prediction) error {
		cols = slices.Clone(m.FeatureNames)
		if len(cols) == 0 && first != nil {
			for _, kv := range pairs(first.Features) {
				cols = append(cols, kv.Key)
			}
		}
		h := w.Header()
		h.Set("Content-Type", "text/csv; charset=utf-8")
		h.Set("Content-Disposition", mime.FormatMediaType("attachment",
			map[string]string{"filename": fmt.Sprintf("predictions-%s-%s.csv", m.ModelName, m.Version)}))
		h.Set("Cache-Control", "no-store")
		return cw.Write(slices.Concat([]string{"id", "created_at", "model_id", "prediction", "probability", "actual", "correct", "latency_ms"},
			cols, []string{"other_features"}))
	}
	err = s.st.PredictionSearchEach(ctx, f, func(p mlops.Prediction) error {
		if rows == 0 {
			if err := start(&p); err != nil {
				return err
			}
		}
		rows++
		if err := cw.Write(csvRecord(p, cols)); err != nil {
			return err
		}
		if rows%500 == 0 {
			cw.Flush()
		}
		return cw.Error()
	})
	switch {
	case err != nil && rows == 0:
		return err // nothing sent yet: an error page
	case err != nil:
		// The rows sent cannot be taken back: cut the connection, so the
		// download fails instead of ending short as if complete.
		s.log.ErrorContext(ctx, "webui: CSV export stopped", "model_id", id, "rows", rows, "error", err.Error())
		panic(http.ErrAbortHandler)
	case rows == 0:
		if err := start(nil); err != nil {
			return err
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		s.log.ErrorContext(ctx, "webui: CSV export", "model_id", id, "error", err.Error())
	}
	return nil
}

// csvRecord is one prediction as a CSV row under csv's header.
func csvRecord(p mlops.Prediction, cols []string) []string {
	num := func(v *float64) string {
		if v == nil {
			return ""
		}
		return strconv.FormatFloat(*v, 'g', -1, 64)
	}
	correct := predictionRow{Prediction: p}.Outcome()
	if correct != "" {
		correct = strconv.FormatBool(correct == "correct")
	}
	rec := []string{strconv.FormatInt(p.ID, 10), p.CreatedAt.UTC().Format(time.RFC3339Nano), strconv.FormatInt(p.ModelID, 10),
		strconv.FormatInt(p.Prediction, 10), num(p.Probability), deref(p.Actual), correct, num(p.LatencyMS)}
	for _, c := range featureCells(cols, p.Features) {
		if c.Missing {
			c.Text = ""
		}
		rec = append(rec, csvSafe(c.Text))
	}
	// The keys no column holds, as JSON.
	var rest map[string]json.RawMessage
	_ = json.Unmarshal(p.Features, &rest)
	for _, c := range cols {
		delete(rest, c)
	}
	other := ""
	if len(rest) > 0 {
		b, _ := json.Marshal(rest)
		other = string(b)
	}
	return append(rec, csvSafe(other))
}

// csvSafe keeps a spreadsheet from reading a text value as a formula: one
// that starts with = + - @ (and is not a number) gets a leading quote.
func csvSafe(v string) string {
	if v == "" || !strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return v
	}
	if _, err := strconv.ParseFloat(v, 64); err == nil {
		return v
	}
	return "'" + v
}
