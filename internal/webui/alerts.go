package webui

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
)

// The alerts page is a triage view: the alerts of one status grouped by
// model and alert type (each group counted in full, most severe group
// first), the rows of a group most severe first and then oldest first,
// filters for severity, model and type, inline acknowledge and resolve,
// and the silences in force, with a form to add one (prefilled from an
// alert's "Silence…" link) and to expire one.

// triageRows bounds the alerts the page lists; the group counts are exact.
const triageRows = 200

// untilLayout is the value of a datetime-local field, read as UTC.
const untilLayout = "2006-01-02T15:04"

type alertsData struct {
	Tab        mlops.AlertStatus
	Tabs       []alertTab
	Severity   mlops.Severity
	Model      string
	Type       string
	Filtered   bool
	ClearURL   string
	Severities []mlops.Severity // most severe first
	Models     []string
	Types      []string
	Groups     []alertGroup
	Shown      int64 // alerts listed
	Total      int64 // alerts in the groups
	Silences   []mlops.Silence
	New        silenceForm
}

type alertTab struct {
	Status  mlops.AlertStatus
	Count   int64
	URL     string
	Current bool
}

// alertGroup is the alerts about one model ("" for none) of one type.
type alertGroup struct {
	ModelName  string
	AlertType  string
	Count      int64
	Silenced   int64
	BySeverity []sevCount // most severe first
	Rows       []alertRow
	Hidden     int64 // counted but not listed (over triageRows)
	rank       int   // of its most severe alerts
	oldest     time.Time
}

type alertRow struct {
	store.TriagedAlert
	Silence    *mlops.Silence // the silence covering it, when it is listed
	SilenceURL string         // the page with the silence form prefilled from the alert
}

// silenceForm is what the new-silence form shows.
type silenceForm struct {
	AlertType, ModelName, Comment string
	Severity                      mlops.Severity
	Until, Min                    string // untilLayout
	Open                          bool   // prefilled: show the form unfolded
}

// severityRank is 0 for critical … 4 for info.
func severityRank(sev mlops.Severity) int {
	return len(mlops.Severities) - 1 - slices.Index(mlops.Severities, sev)
}

func (s *server) alerts(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	d := alertsData{Tab: mlops.AlertStatus(q.Get("status")), Severity: mlops.Severity(q.Get("severity")),
		Model: q.Get("model"), Type: q.Get("type")}
	if d.Tab == "" {
		d.Tab = mlops.AlertActive
	}
	if !d.Tab.Valid() {
		return httpErr(http.StatusBadRequest, "Unknown alert status %q; use active, acknowledged or resolved.", d.Tab)
	}
	if d.Severity != "" && !d.Severity.Valid() {
		return httpErr(http.StatusBadRequest, "Unknown severity %q; use info, low, medium, high or critical.", d.Severity)
	}
	d.Filtered = d.Severity != "" || d.Model != "" || d.Type != ""
	d.ClearURL = "/alerts?status=" + url.QueryEscape(string(d.Tab))
	d.Severities = slices.Clone(mlops.Severities)
	slices.Reverse(d.Severities)
	counts, err := s.st.AlertCountByStatusSeverity(ctx)
	if err != nil {
		return err
	}
	for _, st := range mlops.AlertStatuses {
		var n int64
		for _, c := range counts[st] {
			n += c
		}
		d.Tabs = append(d.Tabs, alertTab{Status: st, Count: n, URL: "/alerts?status=" + string(st), Current: st == d.Tab})
	}
	groups, err := s.st.AlertCountByGroup(ctx, d.Tab)
	if err != nil {
		return err
	}
	d.Groups, d.Models, d.Types = d.group(groups)
	rows, err := s.st.AlertTriageList(ctx, store.TriageFilter{Status: d.Tab, Severity: d.Severity, ModelName: d.Model,
		AlertType: d.Type, Limit: triageRows})
	if err != nil {
		return err
	}
	if d.Silences, _, err = s.st.SilenceList(ctx, true, store.Page{Limit: selectLimit}); err != nil {
		return err
	}
	d.place(r, rows)
	d.New = s.silenceForm(q)
	s.render(w, r, http.StatusOK, "alerts", "Alerts", "alerts", d)
	return nil
}

// group turns the counts into the groups the filters select, most severe
// first and then oldest first, and lists the models and types to filter by.
func (d *alertsData) group(counts []store.AlertGroupCount) (groups []alertGroup, models, types []string) {
	index := map[[2]string]int{}
	for _, c := range counts {
		models, types = append(models, c.ModelName), append(types, c.AlertType)
		if d.Severity != "" && c.Severity != d.Severity || d.Model != "" && c.ModelName != d.Model || d.Type != "" && c.AlertType != d.Type {
			continue
		}
		key := [2]string{c.ModelName, c.AlertType}
		i, ok := index[key]
		if !ok {
			i = len(groups)
			index[key] = i
			groups = append(groups, alertGroup{ModelName: c.ModelName, AlertType: c.AlertType, rank: len(mlops.Severities)})
		}
		g := &groups[i]
		g.Count += c.Count
		g.Silenced += c.Silenced
		g.BySeverity = append(g.BySeverity, sevCount{Severity: c.Severity, Count: c.Count})
		if rank := severityRank(c.Severity); rank < g.rank || rank == g.rank && c.Oldest.Before(g.oldest) {
			g.rank, g.oldest = rank, c.Oldest
		}
		d.Total += c.Count
	}
	for i := range groups {
		slices.SortFunc(groups[i].BySeverity, func(a, b sevCount) int { return severityRank(a.Severity) - severityRank(b.Severity) })
	}
	slices.SortFunc(groups, func(a, b alertGroup) int {
		return cmp.Or(a.rank-b.rank, a.oldest.Compare(b.oldest), strings.Compare(a.ModelName, b.ModelName), strings.Compare(a.AlertType, b.AlertType))
	})
	// The current filter stays selectable even when nothing matches it.
	models, types = append(models, d.Model), append(types, d.Type)
	return groups, compactSorted(models), compactSorted(types)
}

// place puts each listed alert into its group, with its silence.
func (d *alertsData) place(r *http.Request, rows []store.TriagedAlert) {
	silences := map[int64]*mlops.Silence{}
	for i := range d.Silences {
		silences[d.Silences[i].ID] = &d.Silences[i]
	}
	index := map[[2]string]int{}
	for i, g := range d.Groups {
		index[[2]string{g.ModelName, g.AlertType}] = i
	}
	for _, a := range rows {
		i, ok := index[[2]string{a.ModelName, a.AlertType}]
		if !ok {
			continue // raised since the counts were read
		}
		row := alertRow{TriagedAlert: a, SilenceURL: withQuery(r, "silence_type", a.AlertType, "silence_model", a.ModelName,
			"silence_severity", string(a.Severity)) + "#new-silence"}
		if a.SilenceID != nil {
			row.Silence = silences[*a.SilenceID]
		}
		d.Groups[i].Rows = append(d.Groups[i].Rows, row)
		d.Shown++
	}
	for i := range d.Groups {
		d.Groups[i].Hidden = d.Groups[i].Count - int64(len(d.Groups[i].Rows))
	}
}

// silenceForm prefills the new-silence form from the query (an alert's
// "Silence…" link, or a refused form sent back), until two hours from now
// by default.
func (s *server) silenceForm(q url.Values) silenceForm {
	now := s.now().UTC()
	f := silenceForm{AlertType: q.Get("silence_type"), ModelName: q.Get("silence_model"),
		Severity: mlops.Severity(q.Get("silence_severity")), Comment: q.Get("silence_comment"),
		Until: q.Get("silence_until"), Min: now.Format(untilLayout)}
	f.Open = f.AlertType != "" || f.ModelName != "" || f.Severity != "" || f.Comment != ""
	if f.Until == "" {
		f.Until = now.Add(2 * time.Hour).Format(untilLayout)
	}
	return f
}

// compactSorted sorts list and drops empty and repeated names.
func compactSorted(list []string) []string {
	list = slices.DeleteFunc(list, func(s string) bool { return s == "" })
	slices.Sort(list)
	return slices.Compact(list)
}

// alertsBack is the page a form on the alerts page returns to: the status
// tab and the filters it was posted from (the hidden fields tab,
// tab_severity, tab_model and tab_type), with the query parameters extra
// (name, value, ...) added.
func alertsBack(r *http.Request, extra ...string) string {
	tab := mlops.AlertStatus(r.PostFormValue("tab"))
	if !tab.Valid() {
		tab = mlops.AlertActive
	}
	q := url.Values{"status": {string(tab)}}
	kv := append([]string{"severity", r.PostFormValue("tab_severity"), "model", r.PostFormValue("tab_model"),
		"type", r.PostFormValue("tab_type")}, extra...)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	return "/alerts?" + q.Encode()
}

// formError is the text of a refused form's error for a flash message.
func formError(err error) string {
	return strings.TrimPrefix(err.Error(), "invalid input: ")
}

func (s *server) alertAcknowledge(w http.ResponseWriter, r *http.Request) error {
	return s.alertTransition(w, r, mlops.AlertAcknowledged)
}

func (s *server) alertResolve(w http.ResponseWriter, r *http.Request) error {
	return s.alertTransition(w, r, mlops.AlertResolved)
}

func (s *server) alertTransition(w http.ResponseWriter, r *http.Request, to mlops.AlertStatus) error {
	ctx := r.Context()
	id, err := pathID(r, "alert")
	if err != nil {
		return err
	}
	back := alertsBack(r)
	verb := map[mlops.AlertStatus]string{mlops.AlertAcknowledged: "acknowledged", mlops.AlertResolved: "resolved"}[to]
	user, err := actingName(w, r, "actor")
	if err != nil {
		return flashed(w, r, back, "error", fmt.Sprintf("Alert %d was not %s: %s.", id, verb, formError(err)))
	}
	var a mlops.Alert
	actx := actAs(r, user)
	if to == mlops.AlertAcknowledged {
		a, err = s.st.AlertAcknowledge(actx, id, user)
	} else {
		a, err = s.st.AlertResolve(actx, id, user, strings.TrimSpace(r.PostFormValue("notes")))
	}
	var te *mlops.TransitionError
	var ve *mlops.ValidationError
	switch {
	case errors.As(err, &te):
		yours := map[mlops.AlertStatus]string{mlops.AlertAcknowledged: "acknowledgement", mlops.AlertResolved: "resolution"}[to]
		return flashed(w, r, back, "warn", s.lostRace(te, fmt.Sprintf("alert %d", id), yours))
	case errors.As(err, &ve):
		return flashed(w, r, back, "error", fmt.Sprintf("Alert %d was not %s: %s.", id, verb, formError(ve)))
	case errors.Is(err, mlops.ErrNotFound):
		return flashed(w, r, back, "error", fmt.Sprintf("Alert %d does not exist; nothing changed.", id))
	case err != nil:
		return err
	}
	s.log.InfoContext(ctx, "webui: alert "+verb, "alert_id", id, "by", user)
	return flashed(w, r, back, "ok", fmt.Sprintf("Alert %d (%s) %s by %s.", id, a.Title, verb, user))
}

// silenceCreate adds a silence from the page's form. A refused form
// returns to the page with the form refilled.
func (s *server) silenceCreate(w http.ResponseWriter, r *http.Request) error {
	in := mlops.NewSilence{Matchers: mlops.SilenceMatchers{AlertType: formMatcher[string](r, "alert_type"),
		ModelName: formMatcher[string](r, "model_name"), Severity: formMatcher[mlops.Severity](r, "severity")},
		Comment: strings.TrimSpace(r.PostFormValue("comment"))}
	until := strings.TrimSpace(r.PostFormValue("until"))
	refused := func(err error) error {
		back := alertsBack(r, "silence_type", r.PostFormValue("alert_type"), "silence_model", r.PostFormValue("model_name"),
			"silence_severity", r.PostFormValue("severity"), "silence_until", until, "silence_comment", in.Comment)
		return flashed(w, r, back+"#new-silence", "error", "The silence was not created: "+formError(err)+".")
	}
	t, err := parseUntil(until)
	if err != nil {
		return refused(err)
	}
	in.Until = t
	user, err := actingName(w, r, "actor")
	if err != nil {
		return refused(err)
	}
	sil, err := s.st.SilenceCreate(actAs(r, user), in)
	if _, ok := mlops.AsValidation(err); ok {
		return refused(err)
	}
	if err != nil {
		return err
	}
	s.log.InfoContext(r.Context(), "webui: silence created", "silence_id", sil.ID, "by", user)
	return flashed(w, r, alertsBack(r)+"#silences", "ok", fmt.Sprintf("Silence %d created by %s: %s until %s.", sil.ID, user,
		describeMatchers(sil.Matchers), sil.Until.Format("2006-01-02 15:04 UTC")))
}

// silenceExpire ends a silence from the page.
func (s *server) silenceExpire(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "silence")
	if err != nil {
		return err
	}
	back := alertsBack(r) + "#silences"
	user, err := actingName(w, r, "actor")
	if err != nil {
		return flashed(w, r, back, "error", fmt.Sprintf("Silence %d was not expired: %s.", id, formError(err)))
	}
	_, err = s.st.SilenceExpire(actAs(r, user), id)
	var te *mlops.TransitionError
	switch {
	case errors.As(err, &te) && te.By == "": // past its until
		return flashed(w, r, back, "warn", fmt.Sprintf("Silence %d had ended already: %s; nothing changed.", id, te.Detail))
	case errors.As(err, &te):
		return flashed(w, r, back, "warn", s.lostRace(te, fmt.Sprintf("silence %d", id), "expiry"))
	case errors.Is(err, mlops.ErrNotFound):
		return flashed(w, r, back, "error", fmt.Sprintf("Silence %d does not exist; nothing changed.", id))
	case err != nil:
		return err
	}
	s.log.InfoContext(r.Context(), "webui: silence expired", "silence_id", id, "by", user)
	return flashed(w, r, back, "ok", fmt.Sprintf("Silence %d expired by %s: the rules raise its alerts again.", id, user))
}

// flashed answers a form by redirecting to back with a flash message.
func flashed(w http.ResponseWriter, r *http.Request, back, kind, msg string) error {
	redirect(w, r, back, kind, msg)
	return nil
}

// formMatcher reads an optional matcher: nil when the field is empty.
func formMatcher[T ~string](r *http.Request, field string) *T {
	v := strings.TrimSpace(r.PostFormValue(field))
	if v == "" {
		return nil
	}
	t := T(v)
	return &t
}

// parseUntil reads the until field: a datetime-local value in UTC, or RFC
// 3339.
func parseUntil(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, mlops.Invalid("until", "is required: when the silence ends (UTC)")
	}
	for _, layout := range []string{untilLayout, untilLayout + ":05", time.RFC3339} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, mlops.Invalid("until", "must be a date and time such as 2026-11-20T15:00 (UTC), got %q", v)
}

// describeMatchers says what a silence matches, for a flash message.
func describeMatchers(m mlops.SilenceMatchers) string {
	var parts []string
	if m.AlertType != nil {
		parts = append(parts, "alerts of type "+*m.AlertType)
	} else {
		parts = append(parts, "alerts of any type")
	}
	if m.ModelName != nil {
		parts = append(parts, "on model "+*m.ModelName)
	}
	if m.Severity != nil {
		parts = append(parts, "of severity "+string(*m.Severity))
	}
	return strings.Join(parts, " ")
}
