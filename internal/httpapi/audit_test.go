package httpapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/internal/auth"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// notAudited are the state-changing routes that write no event of their
// own, and why. Every other POST, PUT, PATCH and DELETE of /openapi.json
// must appear in the scenario of TestEveryChangeIsAudited.
var notAudited = map[string]string{
	"create-prediction":     "single predictions are not audited one by one (a batch is one event)",
	"create-metric":         "single metric points are not audited one by one (a batch is one event)",
	"set-prediction-actual": "ground truth is a prediction's column, not audited row by row",
	"run-rules":             "its events are those of the alerts and actions it raises",
}

// step is one state-changing request and the event it must write.
type step struct {
	op, method, path string
	body             any
	as               mlops.Role
	event, entity    string // entity: entity_type/entity_id ("" id: any)
}

// TestEveryChangeIsAudited walks the route table: every state-changing
// route writes exactly one audit event, with the caller as actor, the
// request's id, and the record before and after. A new state-changing
// route without an event (or without a step here) fails.
func TestEveryChangeIsAudited(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			e := startAuth(t, engine, auth.ModeRequired)
			e.setup(t)
			ctx := context.Background()
			admin := e.c.bearer(e.tokens[mlops.RoleAdmin])
			m1 := admin.model("churn", "v1")
			m2 := admin.model("churn", "v2")
			// Predictions for a drift check: two before mid (the reference
			// window), two after (the current one).
			batch := func(base int) {
				admin.must(201, "POST", "/api/v1/predictions/batch", map[string]any{"predictions": []any{
					map[string]any{"model_id": m1, "prediction": 1, "features": map[string]any{"age": base}},
					map[string]any{"model_id": m1, "prediction": 0, "features": map[string]any{"age": base + 1}}}})
			}
			start := time.Now().UTC().Add(-time.Minute)
			batch(30)
			time.Sleep(20 * time.Millisecond)
			mid := time.Now().UTC()
			time.Sleep(20 * time.Millisecond)
			batch(60)
			end := time.Now().UTC().Add(time.Minute)
			window := func(from, to time.Time) map[string]any {
				return map[string]any{"from": from.Format(time.RFC3339Nano), "to": to.Format(time.RFC3339Nano)}
			}
			agent := e.c.bearer(e.tokens[mlops.RoleAgent])
			for _, id := range []string{"a-approve", "a-reject", "a-fail"} {
				agent.must(201, "POST", "/api/v1/actions", map[string]any{"action_id": id, "action_type": "retrain", "risk_level": "low"})
			}
			alert := id(agent.must(201, "POST", "/api/v1/alerts", map[string]any{"alert_type": "drift", "severity": "high", "title": "x"}))
			silence := map[string]any{"matchers": map[string]any{"model_name": "churn"}, "until": time.Now().Add(time.Hour).Format(time.RFC3339),
				"comment": "retraining churn"}
			silenced := id(admin.must(201, "POST", "/api/v1/alerts/silences", silence))

			steps := []step{
				{"create-model-version", "POST", "/api/v1/models", map[string]any{"model_name": "fraud", "version": "1", "algorithm": "xgb"}, mlops.RolePipeline, "model.registered", "model_version/"},
				{"activate-model-version", "POST", fmt.Sprintf("/api/v1/models/%d/activate", m2), nil, mlops.RoleReviewer, "model.activated", fmt.Sprintf("model_version/%d", m2)},
				{"create-predictions-batch", "POST", "/api/v1/predictions/batch", map[string]any{"predictions": []any{map[string]any{"model_id": m1, "prediction": 1}}}, mlops.RolePipeline, "predictions.logged", fmt.Sprintf("model_version/%d", m1)},
				{"create-metrics-batch", "POST", "/api/v1/metrics/batch", map[string]any{"metrics": []any{map[string]any{"metric_name": "latency", "metric_value": 3.5, "model_id": m1}}}, mlops.RolePipeline, "metrics.logged", fmt.Sprintf("model_version/%d", m1)},
				{"create-drift-report", "POST", "/api/v1/drift-reports", map[string]any{"model_id": m1, "drift_detected": true, "drift_score": 0.3, "drifted_features": []string{"age"}}, mlops.RoleAgent, "drift_report.created", "drift_report/"},
				{"check-model-drift", "POST", fmt.Sprintf("/api/v1/models/%d/drift-check", m1), map[string]any{
					"reference": window(start, mid), "current": window(mid, end), "min_samples": 2}, mlops.RolePipeline, "drift_report.created", "drift_report/"},
				{"create-action", "POST", "/api/v1/actions", map[string]any{"action_id": "a-new", "action_type": "rollback", "risk_level": "medium"}, mlops.RoleAgent, "action.proposed", "action/a-new"},
				{"approve-action", "POST", "/api/v1/actions/a-approve/approve", map[string]any{"comment": "ok"}, mlops.RoleReviewer, "action.approved", "action/a-approve"},
				{"mark-action-executed", "POST", "/api/v1/actions/a-approve/executed", map[string]any{"result": map[string]any{"ok": true}}, mlops.RoleAgent, "action.executed", "action/a-approve"},
				{"reject-action", "POST", "/api/v1/actions/a-reject/reject", map[string]any{"comment": "no"}, mlops.RoleReviewer, "action.rejected", "action/a-reject"},
				{"", "POST", "/api/v1/actions/a-fail/approve", nil, mlops.RoleAdmin, "action.approved", "action/a-fail"},
				{"mark-action-failed", "POST", "/api/v1/actions/a-fail/failed", map[string]any{"result": map[string]any{"error": "oom"}}, mlops.RoleAgent, "action.failed", "action/a-fail"},
				{"create-alert", "POST", "/api/v1/alerts", map[string]any{"alert_type": "latency", "severity": "low", "title": "slow"}, mlops.RoleAgent, "alert.created", "alert/"},
				{"acknowledge-alert", "POST", fmt.Sprintf("/api/v1/alerts/%d/acknowledge", alert), nil, mlops.RoleReviewer, "alert.acknowledged", fmt.Sprintf("alert/%d", alert)},
				{"resolve-alert", "POST", fmt.Sprintf("/api/v1/alerts/%d/resolve", alert), map[string]any{"notes": "fixed"}, mlops.RoleReviewer, "alert.resolved", fmt.Sprintf("alert/%d", alert)},
				{"create-alert-silence", "POST", "/api/v1/alerts/silences", silence, mlops.RoleReviewer, "silence.created", "silence/"},
				{"expire-alert-silence", "DELETE", fmt.Sprintf("/api/v1/alerts/silences/%d", silenced), nil, mlops.RoleReviewer, "silence.expired", fmt.Sprintf("silence/%d", silenced)},
				{"put-rules", "PUT", "/api/v1/rules/churn", map[string]any{"enabled": true}, mlops.RoleAdmin, "rules.updated", "model_rules/churn"},
				{"create-user", "POST", "/api/v1/users", map[string]any{"name": "newbie", "role": "viewer", "password": noteSecret("newbie's password")}, mlops.RoleAdmin, "user.created", "user/newbie"},
				{"update-user", "PATCH", "/api/v1/users/newbie", map[string]any{"role": "reviewer"}, mlops.RoleAdmin, "user.updated", "user/newbie"},
				{"create-token", "POST", "/api/v1/tokens", map[string]any{"name": "ci", "role": "pipeline"}, mlops.RoleAdmin, "token.created", "token/ci"},
				{"revoke-token", "DELETE", "/api/v1/tokens/ci", nil, mlops.RoleAdmin, "token.revoked", "token/ci"},
			}
			covered := map[string]bool{}
			for _, s := range steps {
				covered[s.op] = true
				c := e.c.bearer(e.tokens[s.as]).with("X-Request-ID", "req-"+s.op)
				if _, err := e.st.AuditSeal(ctx); err != nil {
					t.Fatal(err)
				}
				before := lastEvent(t, e.st)
				r := c.do(s.method, s.path, s.body)
				if r.status >= 300 {
					t.Fatalf("%s %s as %s: %s", s.method, s.path, s.as, r)
				}
				if sec, ok := r.obj()["secret"].(string); ok {
					noteSecret(sec)
				}
				events := eventsSince(t, e.st, before)
				if len(events) != 1 {
					t.Errorf("%s %s wrote %d audit events, want 1: %+v", s.method, s.path, len(events), events)
					continue
				}
				ev := events[0]
				typ, eid, _ := strings.Cut(s.entity, "/")
				if ev.Event != s.event || ev.EntityType != typ || (eid != "" && ev.EntityID != eid) {
					t.Errorf("%s %s: event %s %s/%s, want %s %s", s.method, s.path, ev.Event, ev.EntityType, ev.EntityID, s.event, s.entity)
				}
				if ev.Actor != "prog-"+string(s.as) || ev.ActorKind != mlops.KindToken || ev.RequestID != "req-"+s.op || ev.RemoteAddr == "" {
					t.Errorf("%s %s: actor %s (%s), request %q, from %q; want prog-%s, token, req-%s", s.method, s.path,
						ev.Actor, ev.ActorKind, ev.RequestID, ev.RemoteAddr, s.as, s.op)
				}
				if ev.After == nil {
					t.Errorf("%s %s: the event has no after", s.method, s.path)
				}
				if strings.Contains(string(ev.After)+string(ev.Before), "password") && !strings.Contains(string(ev.After), "password_changed") {
					t.Errorf("%s %s: the event mentions a password: %s", s.method, s.path, ev.After)
				}
			}
			for _, op := range operations(t, admin) {
				if op.method == "GET" || op.method == "HEAD" {
					continue
				}
				if why, ok := notAudited[op.id]; ok {
					if why == "" {
						t.Errorf("%s: no reason given for not auditing it", op.id)
					}
					continue
				}
				if !covered[op.id] {
					t.Errorf("%s %s (%s) changes state but the audit test has no step for it: add one, with the event it writes", op.method, op.path, op.id)
				}
			}
			if n, err := e.st.AuditVerify(ctx, 0, nil); err != nil || n == 0 {
				t.Fatalf("AuditVerify after the walk: %d, %v", n, err)
			}
		})
	}
}

func lastEvent(t *testing.T, st *store.Store) int64 {
	t.Helper()
	var id int64
	if err := st.DB().QueryRow(`SELECT coalesce(max(id), 0) FROM audit_events`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func eventsSince(t *testing.T, st *store.Store, after int64) []mlops.AuditEvent {
	t.Helper()
	all, _, err := st.AuditList(context.Background(), store.AuditFilter{Page: store.Page{Limit: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	var out []mlops.AuditEvent
	for _, e := range all {
		if e.ID > after {
			out = append(out, e)
		}
	}
	return out
}
