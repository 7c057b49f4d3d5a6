package webui

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
)

// The audit page: the audit log, newest first, filtered by GET parameters
// (actor, entity_type, entity_id, event, since, until), each event's record
// before and after compared field by field.

// auditEvents and auditEntityTypes suggest filter values (the fields take
// any text).
var (
	auditEvents = []string{"model.registered", "model.activated", "action.proposed", "action.approval_recorded",
		"action.approved", "action.rejected", "action.executed", "action.failed", "action.expired", "alert.created",
		"alert.repeated", "alert.acknowledged", "alert.resolved", "drift_report.created", "rules.updated", "audit.pruned"}
	auditEntityTypes = []string{"model_version", "action", "alert", "drift_report", "model_rules", "audit_events"}
)

type auditForm struct {
	Actor, EntityType, EntityID, Event, Since, Until string
}

type auditData struct {
	F           auditForm
	Filtered    bool
	Events      []auditRow
	NextURL     string
	FirstURL    string
	Paged       bool
	EventNames  []string
	EntityTypes []string
}

// auditRow is one event with its change laid out for reading.
type auditRow struct {
	mlops.AuditEvent
	// Fields are the top-level fields that differ between Before and After
	// (added, removed or changed), Same those that do not. Raw: Before or
	// After is not a JSON object, so the page shows both whole.
	Fields     []fieldDiff
	Same       []fieldDiff
	Raw        bool
	Created    bool   // no record before: Fields is the new record, shown folded
	EntityURL  string // the record's page, when the UI has one
	HistoryURL string // every event of the record
}

// fieldDiff is one top-level field of an event's record, before and after.
type fieldDiff struct {
	Key           string
	Before, After string // compact JSON, strings unquoted
	InBefore      bool
	InAfter       bool
}

// Kind is "added", "removed", "changed" or "same".
func (f fieldDiff) Kind() string {
	switch {
	case !f.InBefore:
		return "added"
	case !f.InAfter:
		return "removed"
	case f.Before != f.After:
		return "changed"
	}
	return "same"
}

func (s *server) audit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	d := auditData{EventNames: auditEvents, EntityTypes: auditEntityTypes, F: auditForm{
		Actor: q.Get("actor"), EntityType: q.Get("entity_type"), EntityID: q.Get("entity_id"),
		Event: q.Get("event"), Since: q.Get("since"), Until: q.Get("until"),
	}}
	d.Filtered = d.F != auditForm{}
	f := store.AuditFilter{Actor: d.F.Actor, EntityType: d.F.EntityType, EntityID: d.F.EntityID, Event: d.F.Event,
		Page: store.Page{Limit: pageSize, Cursor: q.Get("cursor")}}
	var err error
	if f.Since, err = parseDay("since", d.F.Since, false); err != nil {
		return err
	}
	if f.Until, err = parseDay("until", d.F.Until, true); err != nil {
		return err
	}
	events, next, err := s.st.AuditList(r.Context(), f)
	if err != nil {
		return err
	}
	for _, e := range events {
		d.Events = append(d.Events, newAuditRow(e))
	}
	if next != "" {
		d.NextURL = withQuery(r, "cursor", next)
	}
	d.Paged, d.FirstURL = q.Get("cursor") != "", withQuery(r, "cursor", "")
	s.render(w, r, http.StatusOK, "audit", "Audit log", "audit", d)
	return nil
}

// parseDay reads a date filter: YYYY-MM-DD is a whole UTC day (until
// includes it), an RFC 3339 time is taken as is.
func parseDay(key, v string, until bool) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		if until {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, httpErr(http.StatusBadRequest, "%s=%q is not a date; use YYYY-MM-DD (a day in UTC) or an RFC 3339 time.", key, v)
}

func newAuditRow(e mlops.AuditEvent) auditRow {
	row := auditRow{AuditEvent: e, EntityURL: entityURL(e),
		HistoryURL: "/audit?" + url.Values{"entity_type": {e.EntityType}, "entity_id": {e.EntityID}}.Encode()}
	before, okB := jsonObject(e.Before)
	after, okA := jsonObject(e.After)
	if !okB || !okA {
		row.Raw = true
		return row
	}
	row.Created = before == nil && after != nil
	keys := make([]string, 0, len(before)+len(after))
	for k := range before {
		keys = append(keys, k)
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		b, inB := before[k]
		a, inA := after[k]
		fd := fieldDiff{Key: k, Before: display(b), After: display(a), InBefore: inB, InAfter: inA}
		if fd.Kind() == "same" {
			row.Same = append(row.Same, fd)
		} else {
			row.Fields = append(row.Fields, fd)
		}
	}
	return row
}

// jsonObject decodes a record; null or absent is an empty record, anything
// but an object is not ok.
func jsonObject(raw mlops.JSON) (map[string]json.RawMessage, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, true
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil, false
	}
	return m, true
}

// display is a field's value for reading: a string without its quotes
// (the empty string as ""), anything else as compact JSON.
func display(raw json.RawMessage) string {
	if raw == nil {
		return ""
	}
	var str string
	if len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &str) == nil {
		if str == "" {
			return `""`
		}
		return str
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

// entityURL is the page of an event's record, or "" when the UI has none.
func entityURL(e mlops.AuditEvent) string {
	rec, _ := jsonObject(e.After)
	if rec == nil {
		rec, _ = jsonObject(e.Before)
	}
	field := func(k string) string { return display(rec[k]) }
	switch e.EntityType {
	case "model_version":
		if id, err := strconv.ParseInt(e.EntityID, 10, 64); err == nil && id > 0 {
			return "/models/" + e.EntityID
		}
	case "action":
		if id := field("id"); id != "" {
			return "/approvals#action-" + id
		}
		return "/approvals"
	case "alert":
		status := mlops.AlertStatus(field("status"))
		if !status.Valid() {
			status = mlops.AlertActive
		}
		return "/alerts?status=" + string(status) + "#alert-" + e.EntityID
	case "drift_report":
		if m := field("model_id"); m != "" {
			return "/drift?model_id=" + url.QueryEscape(m)
		}
		return "/drift"
	}
	return ""
}
