package store

import (
	"context"
	"database/sql"
	"strconv"
	"time"

	"github.com/mlopsdev/mlops"
)

// Alert triage: the alerts of one status, most severe first and, within a
// severity, the one waiting longest first, each with the name of the model
// it is about and the silence that covers it, and their counts by model,
// type and severity. An alert is about the model of its model_id (set by
// the rules); an alert raised by hand is about none.

// severityRank orders severities most serious first, as 0 … 4.
const severityRank = `CASE a.severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 WHEN 'low' THEN 3 ELSE 4 END`

// triageFrom joins each alert to its model version; $1 is the time silences
// are in force at.
const triageFrom = ` FROM alerts a LEFT JOIN model_versions mv ON mv.id = a.model_id`

// TriageFilter selects alerts for AlertTriageList.
type TriageFilter struct {
	Status    mlops.AlertStatus // required
	Severity  mlops.Severity    // empty: every severity
	ModelName string            // empty: every model, and alerts about none
	AlertType string            // empty: every type
	Limit     int               // 1 to MaxLimit
}

// TriagedAlert is an alert with the name of the model it is about ("" for
// none) and, while it is open, the id of the silence in force that covers
// it (the one that lasts longest), or nil.
type TriagedAlert struct {
	mlops.Alert
	ModelName string
	SilenceID *int64
}

// AlertTriageList returns at most f.Limit alerts in f.Status matching f,
// the most severe first and, within a severity, the oldest first. A
// resolved alert is never silenced.
func (s *Store) AlertTriageList(ctx context.Context, f TriageFilter) ([]TriagedAlert, error) {
	if err := oneOf("status", f.Status, mlops.AlertStatuses); err != nil {
		return nil, err
	}
	if f.Severity != "" {
		if err := oneOf("severity", f.Severity, mlops.Severities); err != nil {
			return nil, err
		}
	}
	if f.Limit <= 0 || f.Limit > MaxLimit {
		return nil, mlops.Invalid("limit", "must be between 1 and %d, got %d", MaxLimit, f.Limit)
	}
	q := query{args: []any{s.Now()}}
	q.add("a.status = ?", string(f.Status))
	if f.Severity != "" {
		q.add("a.severity = ?", string(f.Severity))
	}
	if f.ModelName != "" {
		q.add("mv.model_name = ?", f.ModelName)
	}
	if f.AlertType != "" {
		q.add("a.alert_type = ?", f.AlertType)
	}
	rows, err := s.reader().QueryContext(ctx, `SELECT `+prefixed("a.", alertColumns)+`, coalesce(mv.model_name, ''),
		CASE WHEN a.status = 'resolved' THEN NULL ELSE (SELECT s.id FROM alert_silences s
			WHERE `+silenceCovers("a.alert_type", "mv.model_name", "a.severity", "$1")+`
			ORDER BY s.until DESC, s.id DESC LIMIT 1) END`+
		triageFrom+q.sql()+` ORDER BY `+severityRank+`, a.created_at, a.id LIMIT `+strconv.Itoa(f.Limit), q.args...)
	return collect(rows, err, func(sc scanner) (TriagedAlert, error) {
		var (
			t       TriagedAlert
			silence sql.NullInt64
		)
		a, err := scanAlert(scanFunc(func(dest ...any) error { return sc.Scan(append(dest, &t.ModelName, &silence)...) }))
		t.Alert, t.SilenceID = a, nullInt(silence)
		return t, err
	})
}

// AlertGroupCount counts the alerts of one status about one model ("" for
// none), of one type and one severity; Silenced of them are covered by a
// silence in force. Oldest is when the oldest of them was raised.
type AlertGroupCount struct {
	ModelName string
	AlertType string
	Severity  mlops.Severity
	Count     int64
	Silenced  int64
	Oldest    time.Time
}

// AlertCountByGroup counts the alerts in status by model name, alert type
// and severity, in no particular order.
func (s *Store) AlertCountByGroup(ctx context.Context, status mlops.AlertStatus) ([]AlertGroupCount, error) {
	if err := oneOf("status", status, mlops.AlertStatuses); err != nil {
		return nil, err
	}
	rows, err := s.reader().QueryContext(ctx, `SELECT coalesce(mv.model_name, ''), a.alert_type, a.severity, count(*),
		coalesce(sum(CASE WHEN a.status <> 'resolved' AND EXISTS (SELECT 1 FROM alert_silences s
			WHERE `+silenceCovers("a.alert_type", "mv.model_name", "a.severity", "$1")+`) THEN 1 ELSE 0 END), 0),
		min(a.created_at)`+
		triageFrom+` WHERE a.status = $2
		GROUP BY coalesce(mv.model_name, ''), a.alert_type, a.severity`, s.Now(), string(status))
	return collect(rows, err, func(sc scanner) (AlertGroupCount, error) {
		var (
			g      AlertGroupCount
			oldest nullableTime // min() of a time is text on SQLite
		)
		err := sc.Scan(&g.ModelName, &g.AlertType, &g.Severity, &g.Count, &g.Silenced, &oldest)
		g.Oldest = oldest.Time
		return g, err
	})
}
