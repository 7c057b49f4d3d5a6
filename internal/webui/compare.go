package webui

// The version tables of the models pages, sortable by any metric; the
// side-by-side comparison of chosen versions (/models/compare) against the
// active version of their model; and the activation confirmation, which
// shows what changes against the version being replaced.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
)

// versionFigure is a number of a model version that its tables sort by and
// the comparison lines up.
type versionFigure struct {
	Key, Label string
	value      func(mlops.ModelVersion) (float64, bool)
	// Quality: an evaluation metric, higher is better (the comparison marks
	// the best). Its text has three decimals, others are counts or times.
	Quality bool
}

func metricOf(get func(mlops.ModelVersion) *float64) func(mlops.ModelVersion) (float64, bool) {
	return func(m mlops.ModelVersion) (float64, bool) { return floatOf(get(m)) }
}

// versionFigures are the figures of a version a person compares, in the
// order of the tables' columns.
var versionFigures = []versionFigure{
	{"accuracy", "Accuracy", metricOf(func(m mlops.ModelVersion) *float64 { return m.Accuracy }), true},
	{"f1_score", "F1 score", metricOf(func(m mlops.ModelVersion) *float64 { return m.F1Score }), true},
	{"precision", "Precision", metricOf(func(m mlops.ModelVersion) *float64 { return m.Precision }), true},
	{"recall", "Recall", metricOf(func(m mlops.ModelVersion) *float64 { return m.Recall }), true},
	{"roc_auc", "ROC AUC", metricOf(func(m mlops.ModelVersion) *float64 { return m.ROCAUC }), true},
	{"training_samples", "Training samples", func(m mlops.ModelVersion) (float64, bool) {
		if m.TrainingSamples == nil {
			return 0, false
		}
		return float64(*m.TrainingSamples), true
	}, false},
}

// timeFigures are the other sortable columns: registration and activation.
var timeFigures = []versionFigure{
	{"created_at", "Registered", func(m mlops.ModelVersion) (float64, bool) { return float64(m.CreatedAt.UnixMicro()), true }, false},
	{"activated_at", "Activated", func(m mlops.ModelVersion) (float64, bool) {
		if m.ActivatedAt == nil {
			return 0, false
		}
		return float64(m.ActivatedAt.UnixMicro()), true
	}, false},
}

func (f versionFigure) text(v float64) string {
	if f.Quality {
		return f3(v)
	}
	return num(int64(v))
}

// ---- sorting ----

// versionSort is the order of a version table: a figure's key and
// direction, or newest first when Key is empty.
type versionSort struct {
	Key  string
	Desc bool
	fig  versionFigure
}

// sortHeader is a sortable column's header: a link to the table sorted by
// it (descending first, then toggling).
type sortHeader struct {
	Key, Label string
	URL        string
	Current    bool
	Desc       bool
	Num        bool // a number column, aligned right
}

// Aria is the column's aria-sort value.
func (h sortHeader) Aria() string {
	switch {
	case !h.Current:
		return ""
	case h.Desc:
		return "descending"
	}
	return "ascending"
}

// sortWindow bounds the versions of one name sorted by a figure: the newest
// store.MaxLimit.
const sortWindow = store.MaxLimit

// sortOf reads ?sort=accuracy&order=asc (descending by default).
func sortOf(r *http.Request) (versionSort, error) {
	q := r.URL.Query()
	vs := versionSort{Key: q.Get("sort"), Desc: q.Get("order") != "asc"}
	if o := q.Get("order"); o != "" && o != "asc" && o != "desc" {
		return vs, httpErr(http.StatusBadRequest, "Unknown order %q; use asc or desc.", o)
	}
	if vs.Key == "" {
		return vs, nil
	}
	for _, f := range slices.Concat(versionFigures, timeFigures) {
		if f.Key == vs.Key {
			vs.fig = f
			return vs, nil
		}
	}
	var keys []string
	for _, f := range slices.Concat(versionFigures, timeFigures) {
		keys = append(keys, f.Key)
	}
	return vs, httpErr(http.StatusBadRequest, "Unknown sort %q; use one of %s.", vs.Key, strings.Join(keys, ", "))
}

// headers are the sortable columns' headers; a sort starts over from the
// first page of versions.
func (vs versionSort) headers(r *http.Request) []sortHeader {
	var out []sortHeader
	for i, f := range slices.Concat(versionFigures, timeFigures) {
		h := sortHeader{Key: f.Key, Label: f.Label, Current: f.Key == vs.Key, Desc: vs.Desc, Num: i < len(versionFigures)}
		order := "desc"
		if h.Current && vs.Desc {
			order = "asc"
		}
		h.URL = withQuery(r, "sort", f.Key, "order", order, "cursor", "", "page", "")
		out = append(out, h)
	}
	return out
}

// Label says the order in words, or "" for the default.
func (vs versionSort) Label() string {
	if vs.Key == "" {
		return ""
	}
	if vs.Desc {
		return vs.fig.Label + ", highest first"
	}
	return vs.fig.Label + ", lowest first"
}

// apply sorts list (newest first) by the figure; versions without it come
// last, and ties keep the newest first.
func (vs versionSort) apply(list []mlops.ModelVersion) {
	if vs.Key == "" {
		return
	}
	slices.SortStableFunc(list, func(a, b mlops.ModelVersion) int {
		av, aok := vs.fig.value(a)
		bv, bok := vs.fig.value(b)
		switch {
		case aok != bok:
			if aok {
				return -1
			}
			return 1
		case vs.Desc:
			return cmp.Compare(bv, av)
		}
		return cmp.Compare(av, bv)
	})
}

// sortedVersions returns the newest sortWindow versions of name in vs's
// order, and whether there were more.
func (s *server) sortedVersions(ctx context.Context, name string, vs versionSort) ([]mlops.ModelVersion, bool, error) {
	list, next, err := s.st.ModelVersionList(ctx, store.ModelVersionFilter{ModelName: name, Page: store.Page{Limit: sortWindow}})
	if err != nil {
		return nil, false, err
	}
	vs.apply(list)
	return list, next != "", nil
}

// ---- models ----

type versionRow struct {
	mlops.ModelVersion
	Figures []string // the text of versionFigures, in order
}

func versionRows(list []mlops.ModelVersion) []versionRow {
	out := make([]versionRow, 0, len(list))
	for _, m := range list {
		row := versionRow{ModelVersion: m}
		for _, f := range versionFigures {
			if v, ok := f.value(m); ok {
				row.Figures = append(row.Figures, f.text(v))
			} else {
				row.Figures = append(row.Figures, "—")
			}
		}
		out = append(out, row)
	}
	return out
}

type modelGroup struct {
	Name     string
	Count    int64
	ActiveID int64
	Versions []versionRow
	More     bool
}

type modelsData struct {
	Groups     []modelGroup
	Name       string // one model's page when set
	NextURL    string
	FirstURL   string
	IsFirst    bool
	AllModels  bool
	Sort       versionSort
	Headers    []sortHeader
	DefaultURL string // the same page, newest first
	Cut        bool   // a sorted name had more than sortWindow versions
}

func (s *server) models(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	d := modelsData{Name: q.Get("name")}
	var err error
	if d.Sort, err = sortOf(r); err != nil {
		return err
	}
	d.Headers, d.DefaultURL = d.Sort.headers(r), withQuery(r, "sort", "", "order", "", "cursor", "", "page", "")
	if d.Name != "" {
		if err := s.modelVersions(r, &d); err != nil {
			return err
		}
		s.render(w, r, http.StatusOK, "models", "Model "+d.Name, "models", d)
		return nil
	}
	d.AllModels = true
	names, next, err := s.st.ModelSummaryList(ctx, q.Get("after"), modelsPerPage)
	if err != nil {
		return err
	}
	for _, n := range names {
		var versions []mlops.ModelVersion
		var more, cut bool
		if d.Sort.Key == "" {
			var cursor string
			versions, cursor, err = s.st.ModelVersionList(ctx, store.ModelVersionFilter{ModelName: n.Name, Page: store.Page{Limit: versionsPerModel}})
			more = cursor != ""
		} else {
			versions, cut, err = s.sortedVersions(ctx, n.Name, d.Sort)
			more = len(versions) > versionsPerModel
			versions = versions[:min(len(versions), versionsPerModel)]
		}
		if err != nil {
			return err
		}
		d.Cut = d.Cut || cut
		d.Groups = append(d.Groups, modelGroup{Name: n.Name, Count: n.Versions, ActiveID: n.ActiveID, Versions: versionRows(versions), More: more})
	}
	if next != "" {
		d.NextURL = withQuery(r, "after", next)
	}
	d.IsFirst = q.Get("after") == ""
	d.FirstURL = withQuery(r, "after", "")
	s.render(w, r, http.StatusOK, "models", "Models", "models", d)
	return nil
}

// modelVersions fills d with a page of one model's versions: newest first
// by keyset, or sorted by a figure a page at a time (?page=2).
func (s *server) modelVersions(r *http.Request, d *modelsData) error {
	ctx, q := r.Context(), r.URL.Query()
	var versions []mlops.ModelVersion
	var next string
	page := 1
	if d.Sort.Key == "" {
		var err error
		if versions, next, err = s.st.ModelVersionList(ctx, store.ModelVersionFilter{ModelName: d.Name,
			Page: store.Page{Limit: pageSize, Cursor: q.Get("cursor")}}); err != nil {
			return err
		}
		if next != "" {
			next = withQuery(r, "cursor", next)
		}
		d.IsFirst = q.Get("cursor") == ""
	} else {
		if p := q.Get("page"); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 {
				return httpErr(http.StatusBadRequest, "page=%q is not a page number; pages start at 1.", p)
			}
			page = n
		}
		all, cut, err := s.sortedVersions(ctx, d.Name, d.Sort)
		if err != nil {
			return err
		}
		d.Cut = cut
		lo := min(len(all), (page-1)*pageSize)
		versions = all[lo:min(len(all), lo+pageSize)]
		if lo+pageSize < len(all) {
			next = withQuery(r, "page", strconv.Itoa(page+1))
		}
		d.IsFirst = page == 1
	}
	if len(versions) == 0 && d.IsFirst {
		return httpErr(http.StatusNotFound, "No model named %q is registered.", d.Name)
	}
	g := modelGroup{Name: d.Name, Versions: versionRows(versions)}
	for _, v := range versions {
		if v.IsActive {
			g.ActiveID = v.ID
		}
	}
	d.Groups, d.NextURL = []modelGroup{g}, next
	d.FirstURL = withQuery(r, "cursor", "", "page", "")
	return nil
}

// ---- comparison ----

// maxCompare bounds the versions of one comparison.
const maxCompare = 10

// compareCol is a column of a comparison: a version and the active version
// of its model, against which its deltas are taken.
type compareCol struct {
	M         mlops.ModelVersion
	Active    *mlops.ModelVersion // nil: the model has no active version
	Reference bool                // not chosen: the active version, shown as the baseline
}

// IsActive reports whether the column is its model's active version.
func (c compareCol) IsActive() bool { return c.Active != nil && c.Active.ID == c.M.ID }

// compareRow is one line of a comparison: a figure, the algorithm, the
// status or a hyperparameter.
type compareRow struct {
	Key, Label string
	Cells      []compareCell
}

type compareCell struct {
	Text    string
	Missing bool
	Delta   string // against the active version: "+0.020", "same"; "" none
	Up      bool   // the delta is positive
	Down    bool
	Best    bool // the highest evaluation metric of the row
	Differs bool // a value other than the active version's
}

type compareData struct {
	Cols  []compareCol
	Rows  []compareRow // figures, algorithm and status
	Hyper []compareRow // one per hyperparameter of any column
	Names []string     // the models compared
}

// HasReference reports whether a column is an active version that was not
// chosen.
func (d compareData) HasReference() bool {
	return slices.ContainsFunc(d.Cols, func(c compareCol) bool { return c.Reference })
}

// Span is the number of the table's columns.
func (d compareData) Span() int { return len(d.Cols) + 1 }

// IsParam reports whether the row is a hyperparameter's.
func (r compareRow) IsParam() bool { return strings.HasPrefix(r.Key, "hp-") }

// Change says how the first cell of a row differs from the second (a
// version against the active one): its delta, "changed", "same" or "—".
func (r compareRow) Change() string {
	a, b := r.Cells[0], r.Cells[1]
	switch {
	case a.Delta != "":
		return a.Delta
	case a.Differs:
		return "changed"
	case a.Missing || b.Missing:
		return "—"
	}
	return "same"
}

// comparison lines up the columns: a row per figure (with deltas against
// each column's active version and the best evaluation metric marked), the
// algorithm and status, and a row per hyperparameter any column has.
func comparison(cols []compareCol) (rows, hyper []compareRow) {
	for _, f := range versionFigures {
		row := compareRow{Key: f.Key, Label: f.Label}
		var vals []float64
		for _, c := range cols {
			v, ok := f.value(c.M)
			cell := compareCell{Text: "—", Missing: !ok}
			if ok {
				cell.Text = f.text(v)
				vals = append(vals, v)
				if c.Active != nil && !c.IsActive() {
					if av, aok := f.value(*c.Active); aok {
						cell.Delta, cell.Up, cell.Down = delta(f, v-av)
					}
				}
			}
			row.Cells = append(row.Cells, cell)
		}
		if f.Quality && len(vals) > 1 && slices.Min(vals) < slices.Max(vals) {
			for i, c := range cols {
				if v, ok := f.value(c.M); ok && v == slices.Max(vals) {
					row.Cells[i].Best = true
				}
			}
		}
		rows = append(rows, row)
	}
	text := func(key, label string, get func(mlops.ModelVersion) (string, bool)) compareRow {
		row := compareRow{Key: key, Label: label}
		for _, c := range cols {
			v, ok := get(c.M)
			cell := compareCell{Text: v, Missing: !ok}
			if !ok {
				cell.Text = "—"
			}
			if c.Active != nil && !c.IsActive() {
				av, aok := get(*c.Active)
				cell.Differs = v != av || ok != aok
			}
			row.Cells = append(row.Cells, cell)
		}
		return row
	}
	rows = append(rows,
		text("algorithm", "Algorithm", func(m mlops.ModelVersion) (string, bool) { return m.Algorithm, m.Algorithm != "" }),
		text("status", "Status", func(m mlops.ModelVersion) (string, bool) { return string(m.Status), true }))
	// The active versions are among the columns: the rows read theirs.
	params := map[int64]map[string]string{}
	var keys []string
	for _, c := range cols {
		params[c.M.ID] = map[string]string{}
		for _, p := range pairs(c.M.Hyperparameters) {
			params[c.M.ID][p.Key] = p.Value
			keys = append(keys, p.Key)
		}
	}
	slices.Sort(keys)
	for _, k := range slices.Compact(keys) {
		hyper = append(hyper, text("hp-"+k, k, func(m mlops.ModelVersion) (string, bool) {
			v, ok := params[m.ID][k]
			return v, ok
		}))
	}
	return rows, hyper
}

// delta words the difference d of figure f against the active version:
// "+0.020", "−1,000" or "same".
func delta(f versionFigure, d float64) (text string, up, down bool) {
	s := f.text(d)
	if f.Quality && (s == "0.000" || s == "-0.000") || !f.Quality && s == "0" {
		return "same", false, false
	}
	if d > 0 {
		return "+" + s, true, false
	}
	return "−" + strings.TrimPrefix(s, "-"), false, true
}

// compareIDs reads ?id=1&id=2…: two to maxCompare distinct versions.
func compareIDs(r *http.Request) ([]int64, error) {
	var ids []int64
	for _, v := range r.URL.Query()["id"] {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return nil, httpErr(http.StatusBadRequest, "id=%q is not a model version id; ids are positive integers.", v)
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	switch {
	case len(ids) < 2:
		return nil, &httpError{status: http.StatusBadRequest, back: "/models",
			msg: fmt.Sprintf("Select two or more versions to compare (%d selected): tick them in a version table, then press Compare.", len(ids))}
	case len(ids) > maxCompare:
		return nil, &httpError{status: http.StatusBadRequest, back: "/models",
			msg: fmt.Sprintf("Compare at most %d versions at a time (%d selected).", maxCompare, len(ids))}
	}
	return ids, nil
}

// activeOf returns the active version of name, or nil when none is.
func (s *server) activeOf(ctx context.Context, name string) (*mlops.ModelVersion, error) {
	m, err := s.st.ModelVersionActive(ctx, name)
	switch {
	case errors.Is(err, mlops.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return &m, nil
}

func (s *server) compare(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ids, err := compareIDs(r)
	if err != nil {
		return err
	}
	chosen := make([]mlops.ModelVersion, 0, len(ids))
	actives := map[string]*mlops.ModelVersion{}
	d := compareData{}
	for _, id := range ids {
		m, err := s.st.ModelVersionGet(ctx, id)
		if err != nil {
			return err
		}
		chosen = append(chosen, m)
		if _, ok := actives[m.ModelName]; !ok {
			if actives[m.ModelName], err = s.activeOf(ctx, m.ModelName); err != nil {
				return err
			}
			d.Names = append(d.Names, m.ModelName)
		}
	}
	// Per model, its active version first (added as the baseline when not
	// chosen), then the chosen ones in the order given.
	for _, name := range d.Names {
		act := actives[name]
		if act != nil {
			d.Cols = append(d.Cols, compareCol{M: *act, Active: act, Reference: !slices.Contains(ids, act.ID)})
		}
		for _, m := range chosen {
			if m.ModelName == name && (act == nil || m.ID != act.ID) {
				d.Cols = append(d.Cols, compareCol{M: m, Active: act})
			}
		}
	}
	d.Rows, d.Hyper = comparison(d.Cols)
	s.render(w, r, http.StatusOK, "compare", "Compare "+strings.Join(d.Names, ", ")+" versions", "models", d)
	return nil
}

// ---- activation confirmation ----

// activationData is the confirmation page of an activation: the confirm
// template shows it when the page belongs to the models.
type activationData struct {
	M       mlops.ModelVersion
	Current *mlops.ModelVersion // the active version it replaces; nil: none
	Rows    []compareRow        // M, then Current, when one is active
	Hyper   []compareRow
}

// activateConfirm answers an activation form that did not name the version
// it replaces (the comparison's): a page that names it and shows what
// changes against it, whose form then activates. Nothing changes yet.
func (s *server) activateConfirm(w http.ResponseWriter, r *http.Request, m mlops.ModelVersion) error {
	cur, err := s.activeOf(r.Context(), m.ModelName)
	if err != nil {
		return err
	}
	if cur != nil && cur.ID == m.ID {
		return flashed(w, r, "/models/"+strconv.FormatInt(m.ID, 10), "ok",
			fmt.Sprintf("%s %s is already the active version; nothing changed.", m.ModelName, m.Version))
	}
	d := activationData{M: m, Current: cur}
	if cur != nil {
		d.Rows, d.Hyper = comparison([]compareCol{{M: m, Active: cur}, {M: *cur, Active: cur}})
	}
	s.render(w, r, http.StatusOK, "confirm", "Confirm activation of "+m.ModelName+" "+m.Version, "models", d)
	return nil
}
