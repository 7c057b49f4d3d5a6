package store

import (
	"context"
	"strconv"

	"github.com/mlopsdev/mlops"
)

// The alerts and actions that name a drift report. A rule's drift alert
// names the latest report of its condition in related_data.drift_report_id
// and its retrain action names it in parameters.drift_report_id; a client
// may name one the same way, as a JSON number (17) or a string ("17"), or
// file an action whose issue is the report (issue_type drift_report,
// issue_id its id). Migration 00008 indexes the text form of those members
// (ix_alerts_drift_report, ix_agent_actions_drift_report), so both lists
// are exact and read only the rows that name the report.

// namesDriftReport is the condition "the JSON object in col names the
// drift report ?" (the report's id in decimal), in the very expression
// migration 00008 indexes, so the planner uses that index. On SQLite,
// json_extract turns true into 1: the type check, made on the rows the
// index found, keeps booleans out, as ->> does on PostgreSQL.
func (s *Store) namesDriftReport(col string) string {
	if s.engine == Postgres {
		return `(` + col + ` ->> 'drift_report_id') = ?`
	}
	return `CAST(json_extract(` + col + `, '$.drift_report_id') AS TEXT) = ?` +
		` AND json_type(` + col + `, '$.drift_report_id') IN ('integer', 'text')`
}

// AlertListByDriftReport lists the alerts whose related_data names drift
// report reportID, newest first, a page at a time. An open rule alert names
// the latest report of its condition, so an earlier report loses the alert
// when it repeats. A report that does not exist is named by nothing.
func (s *Store) AlertListByDriftReport(ctx context.Context, reportID int64, p Page) ([]mlops.Alert, string, error) {
	return listNewest(ctx, s, p, func() (query, error) {
		var q query
		q.add(s.namesDriftReport("related_data"), strconv.FormatInt(reportID, 10))
		return q, nil
	}, `SELECT `+alertColumns+` FROM alerts`, scanAlert, func(a mlops.Alert) Cursor { return Cursor{a.CreatedAt, a.ID} })
}

// ActionListByDriftReport lists the actions whose parameters name drift
// report reportID or whose issue is that report, newest first, a page at a
// time, with their approvals.
func (s *Store) ActionListByDriftReport(ctx context.Context, reportID int64, p Page) ([]mlops.AgentAction, string, error) {
	limit, cur, err := p.resolve()
	if err != nil {
		return nil, "", err
	}
	ref := strconv.FormatInt(reportID, 10)
	var q query
	q.add(`((`+s.namesDriftReport("parameters")+`) OR (issue_type = 'drift_report' AND issue_id = ?))`, ref, ref)
	q.keyset(cur)
	return s.actionPage(ctx, q, newestFirst, limit)
}
