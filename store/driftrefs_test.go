package store_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// sqlLog is a slog handler that keeps the statements a store echoes
// (Options.Echo), so a test can ask the engine how it runs them.
type sqlLog struct {
	mu   sync.Mutex
	stmt []string
}

func (l *sqlLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *sqlLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *sqlLog) WithGroup(string) slog.Handler            { return l }
func (l *sqlLog) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "sql" {
			l.mu.Lock()
			l.stmt = append(l.stmt, a.Value.String())
			l.mu.Unlock()
		}
		return true
	})
	return nil
}

// since returns the statements echoed from statement n on.
func (l *sqlLog) since(n int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.stmt[n:])
}

func (l *sqlLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.stmt)
}

// plan returns the engine's plan of query with args, one line per step.
func plan(t *testing.T, s *store.Store, query string, args ...any) string {
	t.Helper()
	q := "EXPLAIN QUERY PLAN " + query
	if s.Engine() == store.Postgres {
		q = "EXPLAIN " + query
	}
	rows, err := s.DB().QueryContext(t.Context(), q, args...)
	must(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	must(t, err)
	var lines []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		must(t, rows.Scan(ptrs...))
		lines = append(lines, fmt.Sprint(vals[len(vals)-1])) // PostgreSQL: the line; SQLite: detail
	}
	must(t, rows.Err())
	return strings.Join(lines, "\n")
}

// TestDriftReportLinks: the alerts and actions that name a drift report
// are found exactly, by number and by string, however many unrelated ones
// came after it, through the indexes of migration 00008; look-alikes (the
// id inside another member, as a boolean, with a leading zero, as a
// fraction) are not found.
func TestDriftReportLinks(t *testing.T) {
	t.Parallel()
	storetest.EachURL(t, func(t *testing.T, url string) {
		ctx := t.Context()
		c := newClock()
		log := &sqlLog{}
		s := storetest.OpenURL(t, url, store.Options{Now: c.Now, Echo: true, Logger: slog.New(log)})
		m := mustModel(t, s, "churn", "v1")
		rep := mustDrift(t, s, m.ID) // id 1: a boolean true must not read as it
		other := mustDrift(t, s, m.ID)
		if rep.ID != 1 {
			t.Fatalf("the first drift report has id %d, want 1", rep.ID)
		}
		id := rep.ID
		alert := func(related string) mlops.Alert {
			t.Helper()
			c.Advance(time.Second)
			a, err := s.AlertCreate(ctx, mlops.NewAlert{AlertType: "drift", Severity: mlops.SeverityHigh,
				Title: "drift " + related, RelatedData: mlops.JSON(related)})
			must(t, err)
			return a
		}
		n := 0
		action := func(params, issueType, issueID string) mlops.AgentAction {
			t.Helper()
			c.Advance(time.Second)
			n++
			in := newAction(fmt.Sprintf("act-%d", n))
			in.Parameters, in.IssueType, in.IssueID = mlops.JSON(params), issueType, issueID
			a, err := s.ActionCreate(ctx, in)
			must(t, err)
			return a
		}
		wantAlerts := []mlops.Alert{
			alert(fmt.Sprintf(`{"drift_report_id": %d, "model_id": %d}`, id, m.ID)),
			alert(fmt.Sprintf(`{"drift_report_id": "%d"}`, id)),
		}
		wantActions := []mlops.AgentAction{
			action(fmt.Sprintf(`{"drift_report_id": %d}`, id), "alert", "7"),
			action(fmt.Sprintf(`{"drift_report_id": "%d"}`, id), "", ""),
			action(`{}`, "drift_report", fmt.Sprint(id)),
			// Named both ways: listed once.
			action(fmt.Sprintf(`{"drift_report_id": %d}`, id), "drift_report", fmt.Sprint(id)),
		}
		for _, decoy := range []string{`{"drift_report_id": true}`, `{"drift_report_id": "01"}`, `{"drift_report_id": 1.5}`,
			`{"drift_report_id": [1]}`, `{"drift_report_id": null}`, `{"nested": {"drift_report_id": 1}}`,
			`{"drift_report_id": " 1"}`, fmt.Sprintf(`{"drift_report_id": %d}`, other.ID)} {
			alert(decoy)
			action(decoy, "", "")
		}
		action(`{}`, "alert", fmt.Sprint(id))              // an alert's id, not a report's
		action(`{}`, "drift_report", fmt.Sprint(other.ID)) // another report
		// More than the 200 rows of each list the page used to read.
		for i := range 250 {
			related := `{"model_id": 1}`
			if i%2 == 0 {
				related = fmt.Sprintf(`{"drift_report_id": %d}`, other.ID)
			}
			alert(related)
			action(related, "", "")
		}
		// The newest come first.
		slices.Reverse(wantAlerts)
		slices.Reverse(wantActions)

		mark := log.len()
		alerts, next, err := s.AlertListByDriftReport(ctx, id, store.Page{})
		must(t, err)
		if got, want := alertIDs(alerts), alertIDs(wantAlerts); !slices.Equal(got, want) || next != "" {
			t.Errorf("alerts naming report %d: %v (next %q), want %v", id, got, next, want)
		}
		alertSQL := log.since(mark)
		mark = log.len()
		actions, next, err := s.ActionListByDriftReport(ctx, id, store.Page{})
		must(t, err)
		if got, want := actionIDs(actions), actionIDs(wantActions); !slices.Equal(got, want) || next != "" {
			t.Errorf("actions naming report %d: %v (next %q), want %v", id, got, next, want)
		}
		actionSQL := log.since(mark)

		// A page at a time.
		paged := []string{}
		p := store.Page{Limit: 3}
		for {
			items, next, err := s.ActionListByDriftReport(ctx, id, p)
			must(t, err)
			paged = append(paged, actionIDs(items)...)
			if next == "" {
				break
			}
			p.Cursor = next
		}
		if want := actionIDs(wantActions); !slices.Equal(paged, want) {
			t.Errorf("actions paged 3 at a time: %v, want %v", paged, want)
		}
		if got, _, err := s.AlertListByDriftReport(ctx, other.ID, store.Page{Limit: store.MaxLimit}); err != nil || len(got) != 126 {
			t.Errorf("alerts naming report %d: %d, %v; want 126", other.ID, len(got), err)
		}
		if got, _, err := s.AlertListByDriftReport(ctx, 424242, store.Page{}); err != nil || len(got) != 0 {
			t.Errorf("alerts naming a report that does not exist: %v, %v", got, err)
		}

		// How the engine runs them, among 20,000 more alerts and actions,
		// half of them naming another report: through the indexes of
		// migration 00008.
		bulk := fmt.Sprintf(`CASE WHEN i %% 2 = 0 THEN '{"drift_report_id": %d}' ELSE '{"model_id": 1}' END`, other.ID)
		if s.Engine() == store.Postgres {
			bulk = `CAST(` + bulk + ` AS jsonb)`
		}
		for _, q := range []string{
			`INSERT INTO alerts (alert_type, severity, title, related_data, created_at) SELECT 'drift', 'low', 'bulk', ` + bulk + `, $1 FROM n`,
			`INSERT INTO agent_actions (action_id, action_type, risk_level, parameters, created_at) SELECT 'bulk-' || i, 'retrain', 'low', ` + bulk + `, $1 FROM n`,
		} {
			_, err := s.DB().ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) `+q, c.Now().Add(time.Hour))
			must(t, err)
		}
		if s.Engine() == store.Postgres {
			_, err := s.DB().ExecContext(ctx, `ANALYZE alerts; ANALYZE agent_actions`)
			must(t, err)
		}
		if got, _, err := s.ActionListByDriftReport(ctx, id, store.Page{}); err != nil || !slices.Equal(actionIDs(got), actionIDs(wantActions)) {
			t.Errorf("actions naming report %d among 20,000 more: %v, %v", id, actionIDs(got), err)
		}
		ref := fmt.Sprint(id)
		for _, c := range []struct {
			what, table string
			stmts       []string
			args        []any
			want        []string
		}{
			{"alerts", "FROM alerts", alertSQL, []any{ref}, []string{"ix_alerts_drift_report"}},
			{"actions", "FROM agent_actions", actionSQL, []any{ref, ref}, []string{"ix_agent_actions_drift_report", "ix_agent_actions_issue"}},
		} {
			i := slices.IndexFunc(c.stmts, func(q string) bool { return strings.Contains(q, c.table) })
			if i < 0 {
				t.Fatalf("%s: no statement read %s among %q", c.what, c.table, c.stmts)
			}
			got := plan(t, s, c.stmts[i], c.args...)
			t.Logf("%s: %s\nplan:\n%s", c.what, c.stmts[i], got)
			for _, ix := range c.want {
				if !strings.Contains(got, ix) {
					t.Errorf("the plan of the %s naming a report does not use %s:\n%s", c.what, ix, got)
				}
			}
			if strings.Contains(got, "Seq Scan") || strings.Contains(got, "SCAN "+strings.TrimPrefix(c.table, "FROM ")) {
				t.Errorf("the plan of the %s naming a report reads the whole table:\n%s", c.what, got)
			}
		}
	})
}
