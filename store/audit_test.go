package store_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// alice is the actor the audit tests make their changes as.
var alice = store.Actor{Name: "alice", Kind: mlops.KindUser, RequestID: "r1", RemoteAddr: "127.0.0.1:5"}

// lastEventID returns the id of the newest audit event, 0 when none.
func lastEventID(t *testing.T, s *store.Store) int64 {
	t.Helper()
	var id int64
	if err := s.DB().QueryRowContext(context.Background(), `SELECT coalesce(max(id), 0) FROM audit_events`).Scan(&id); err != nil {
		t.Fatalf("last audit event: %v", err)
	}
	return id
}

// eventsAfter returns the audit events with an id above after, oldest first.
func eventsAfter(t *testing.T, s *store.Store, after int64) []mlops.AuditEvent {
	t.Helper()
	all, _, err := s.AuditList(context.Background(), store.AuditFilter{Page: store.Page{Limit: -1}})
	if err != nil {
		t.Fatalf("AuditList: %v", err)
	}
	var out []mlops.AuditEvent
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].ID > after {
			out = append(out, all[i])
		}
	}
	return out
}

// oneEvent runs fn and returns the one audit event it wrote, failing the
// test unless it wrote exactly one.
func oneEvent(t *testing.T, s *store.Store, fn func() error) mlops.AuditEvent {
	t.Helper()
	before := lastEventID(t, s)
	if err := fn(); err != nil {
		t.Fatal(err)
	}
	evs := eventsAfter(t, s, before)
	if len(evs) != 1 {
		t.Fatalf("%d audit events written, want 1: %+v", len(evs), evs)
	}
	return evs[0]
}

// noEvent runs fn, which must fail with an error ok accepts, and checks
// that it wrote no audit event.
func noEvent(t *testing.T, s *store.Store, what string, ok func(error) bool, fn func() error) {
	t.Helper()
	before := count(t, s, "audit_events")
	err := fn()
	if err == nil || !ok(err) {
		t.Errorf("%s: error = %v (%T), want a failure of the expected kind", what, err, err)
	}
	if after := count(t, s, "audit_events"); after != before {
		t.Errorf("%s failed, yet %d audit events were written", what, after-before)
	}
}

// noEventOK runs fn, which must succeed without writing an audit event.
func noEventOK(t *testing.T, s *store.Store, what string, fn func() error) {
	t.Helper()
	before := count(t, s, "audit_events")
	if err := fn(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if after := count(t, s, "audit_events"); after != before {
		t.Errorf("%s wrote %d audit events, want none", what, after-before)
	}
}

// wantEvent checks what an event says happened, to what, and by whom.
func wantEvent(t *testing.T, e mlops.AuditEvent, event, entityType, entityID string, by store.Actor) {
	t.Helper()
	if e.Event != event || e.EntityType != entityType || e.EntityID != entityID {
		t.Errorf("event %d = %s %s/%s, want %s %s/%s", e.ID, e.Event, e.EntityType, e.EntityID, event, entityType, entityID)
	}
	if e.Actor != by.Name || e.ActorKind != by.Kind || e.RequestID != by.RequestID || e.RemoteAddr != by.RemoteAddr {
		t.Errorf("event %d (%s) by %s/%s request %q from %q, want %s/%s request %q from %q", e.ID, e.Event,
			e.Actor, e.ActorKind, e.RequestID, e.RemoteAddr, by.Name, by.Kind, by.RequestID, by.RemoteAddr)
	}
}

// sameJSON checks that got holds the same JSON as want marshals to; want
// nil means got must be null.
func sameJSON(t *testing.T, what string, got mlops.JSON, want any) {
	t.Helper()
	if want == nil {
		if got != nil {
			t.Errorf("%s = %s, want null", what, got)
		}
		return
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var gv, wv any
	if err := json.Unmarshal(got, &gv); err != nil {
		t.Fatalf("%s = %q: %v", what, got, err)
	}
	_ = json.Unmarshal(w, &wv)
	if !reflect.DeepEqual(gv, wv) {
		t.Errorf("%s = %s\nwant %s", what, got, w)
	}
}

func id(n int64) string { return strconv.FormatInt(n, 10) }

// TestAuditEventPerChange: every audited store method writes exactly one
// event naming the change, the record, the actor of ctx, and the record
// before and after; the hot paths (single predictions and points, sessions,
// token use) write none.
func TestAuditEventPerChange(t *testing.T) {
	eachClock(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := store.WithActor(t.Context(), alice)
		m := mustModel(t, s, "churn", "1")
		m2 := mustModel(t, s, "churn", "2")

		// Alerts.
		var a, ack, res mlops.Alert
		e := oneEvent(t, s, func() (err error) { a, err = s.AlertCreate(ctx, newAlert("drift on churn")); return })
		wantEvent(t, e, "alert.created", "alert", id(a.ID), alice)
		sameJSON(t, "alert.created before", e.Before, nil)
		sameJSON(t, "alert.created after", e.After, a)
		e = oneEvent(t, s, func() (err error) { ack, err = s.AlertAcknowledge(ctx, a.ID, "alice"); return })
		wantEvent(t, e, "alert.acknowledged", "alert", id(a.ID), alice)
		sameJSON(t, "alert.acknowledged before", e.Before, a)
		sameJSON(t, "alert.acknowledged after", e.After, ack)
		e = oneEvent(t, s, func() (err error) { res, err = s.AlertResolve(ctx, a.ID, "alice", "retrained"); return })
		wantEvent(t, e, "alert.resolved", "alert", id(a.ID), alice)
		sameJSON(t, "alert.resolved before", e.Before, ack)
		sameJSON(t, "alert.resolved after", e.After, res)
		if res.Status != mlops.AlertResolved {
			t.Fatalf("resolved alert = %+v", res)
		}

		// Drift reports.
		var d mlops.DriftReport
		e = oneEvent(t, s, func() (err error) {
			d, err = s.DriftReportCreate(ctx, mlops.NewDriftReport{ModelID: m.ID, DriftDetected: true,
				DriftScore: ptr(0.4), DriftedFeatures: []string{"age"}, Details: mlops.JSON(`{"psi": {"age": 0.4}}`)})
			return
		})
		wantEvent(t, e, "drift_report.created", "drift_report", id(d.ID), alice)
		sameJSON(t, "drift_report.created before", e.Before, nil)
		sameJSON(t, "drift_report.created after", e.After, d)

		// Rule settings.
		var r1, r2 store.RuleSettings
		e = oneEvent(t, s, func() (err error) { r1, err = s.RuleSettingsPut(ctx, store.DefaultRuleSettings("churn")); return })
		wantEvent(t, e, "rules.updated", "model_rules", "churn", alice)
		sameJSON(t, "rules.updated before (none stored)", e.Before, nil)
		sameJSON(t, "rules.updated after", e.After, r1)
		c.Advance(time.Second)
		e = oneEvent(t, s, func() (err error) {
			in := r1
			in.Enabled = true
			r2, err = s.RuleSettingsPut(ctx, in)
			return
		})
		wantEvent(t, e, "rules.updated", "model_rules", "churn", alice)
		sameJSON(t, "rules.updated before", e.Before, r1)
		sameJSON(t, "rules.updated after", e.After, r2)

		// Prediction batches: one event each; single predictions: none.
		pred := func(model int64) mlops.NewPrediction {
			return mlops.NewPrediction{ModelID: model, Features: mlops.JSON(`{"age": 42}`), Prediction: 1}
		}
		var ids []int64
		e = oneEvent(t, s, func() (err error) {
			ids, err = s.PredictionCreateBatch(ctx, []mlops.NewPrediction{pred(m.ID), pred(m.ID), pred(m.ID)})
			return
		})
		wantEvent(t, e, "predictions.logged", "model_version", id(m.ID), alice)
		sameJSON(t, "predictions.logged before", e.Before, nil)
		sameJSON(t, "predictions.logged after", e.After, map[string]any{"count": 3, "first_id": ids[0], "last_id": ids[2], "model_ids": []int64{m.ID}})
		e = oneEvent(t, s, func() (err error) {
			ids, err = s.PredictionCreateBatch(ctx, []mlops.NewPrediction{pred(m2.ID), pred(m.ID)})
			return
		})
		wantEvent(t, e, "predictions.logged", "model_version", "batch", alice)
		sameJSON(t, "mixed predictions.logged after", e.After, map[string]any{"count": 2, "first_id": ids[0], "last_id": ids[1], "model_ids": []int64{m.ID, m2.ID}})
		var p mlops.Prediction
		noEventOK(t, s, "PredictionCreate", func() (err error) { p, err = s.PredictionCreate(ctx, pred(m.ID)); return })
		noEventOK(t, s, "PredictionSetActual", func() error { _, err := s.PredictionSetActual(ctx, p.ID, 1); return err })

		// Metric batches likewise.
		e = oneEvent(t, s, func() (err error) {
			ids, err = s.MetricCreateBatch(ctx, []mlops.NewPerformanceMetric{
				{MetricName: "latency", MetricValue: 1, ModelID: &m.ID}, {MetricName: "latency", MetricValue: 2, ModelID: &m.ID}})
			return
		})
		wantEvent(t, e, "metrics.logged", "model_version", id(m.ID), alice)
		sameJSON(t, "metrics.logged after", e.After, map[string]any{"count": 2, "first_id": ids[0], "last_id": ids[1], "model_ids": []int64{m.ID}})
		e = oneEvent(t, s, func() (err error) {
			ids, err = s.MetricCreateBatch(ctx, []mlops.NewPerformanceMetric{{MetricName: "cpu", MetricValue: 0.5}})
			return
		})
		wantEvent(t, e, "metrics.logged", "model_version", "batch", alice)
		sameJSON(t, "model-less metrics.logged after", e.After, map[string]any{"count": 1, "first_id": ids[0], "last_id": ids[0], "model_ids": []int64{}})
		noEventOK(t, s, "MetricCreate", func() error {
			_, err := s.MetricCreate(ctx, mlops.NewPerformanceMetric{MetricName: "cpu", MetricValue: 0.7})
			return err
		})

		// Accounts: never a hash in an event.
		const pwHash, pwHash2 = "$argon2id$v=19$first-hash", "$argon2id$v=19$second-hash"
		secretHash := strings.Repeat("ab", 32)
		noSecret := func(e mlops.AuditEvent) {
			t.Helper()
			for _, j := range []mlops.JSON{e.Before, e.After} {
				for _, secret := range []string{pwHash, pwHash2, secretHash, "password_hash", "secret_hash"} {
					if strings.Contains(string(j), secret) {
						t.Errorf("%s event carries %q: %s", e.Event, secret, j)
					}
				}
			}
		}
		var u, u2, u3 mlops.User
		e = oneEvent(t, s, func() (err error) {
			u, err = s.UserCreate(ctx, store.NewUser{Name: "bob", Role: mlops.RoleViewer, PasswordHash: pwHash})
			return
		})
		wantEvent(t, e, "user.created", "user", "bob", alice)
		sameJSON(t, "user.created before", e.Before, nil)
		sameJSON(t, "user.created after", e.After, u)
		noSecret(e)
		noEventOK(t, s, "SessionCreate", func() error { return s.SessionCreate(ctx, strings.Repeat("cd", 32), u.ID, c.Now()) })
		noEventOK(t, s, "SessionTouch", func() error { return s.SessionTouch(ctx, strings.Repeat("cd", 32), c.Now()) })
		noEventOK(t, s, "SessionDelete", func() error { return s.SessionDelete(ctx, strings.Repeat("cd", 32)) })
		c.Advance(time.Second)
		e = oneEvent(t, s, func() (err error) {
			u2, err = s.UserUpdate(ctx, "bob", store.UserChange{Role: ptr(mlops.RoleAdmin), PasswordHash: ptr(pwHash2)})
			return
		})
		wantEvent(t, e, "user.updated", "user", "bob", alice)
		sameJSON(t, "user.updated before", e.Before, u)
		after := map[string]any{}
		b, _ := json.Marshal(u2)
		_ = json.Unmarshal(b, &after)
		after["password_changed"] = true
		sameJSON(t, "user.updated after (password)", e.After, after)
		noSecret(e)
		e = oneEvent(t, s, func() (err error) { u3, err = s.UserUpdate(ctx, "bob", store.UserChange{Disabled: ptr(true)}); return })
		wantEvent(t, e, "user.updated", "user", "bob", alice)
		sameJSON(t, "user.updated before (disable)", e.Before, u2)
		sameJSON(t, "user.updated after (disable)", e.After, u3)

		var tok, revoked mlops.Token
		e = oneEvent(t, s, func() (err error) {
			tok, err = s.TokenCreate(ctx, store.NewToken{Name: "ci", Role: mlops.RolePipeline, SecretHash: secretHash, CreatedBy: "alice"})
			return
		})
		wantEvent(t, e, "token.created", "token", "ci", alice)
		sameJSON(t, "token.created before", e.Before, nil)
		sameJSON(t, "token.created after", e.After, tok)
		noSecret(e)
		noEventOK(t, s, "TokenTouch", func() error { return s.TokenTouch(ctx, tok.ID, c.Now()) })
		tok.LastUsedAt = ptr(c.Now())
		e = oneEvent(t, s, func() (err error) { revoked, err = s.TokenRevoke(ctx, "ci"); return })
		wantEvent(t, e, "token.revoked", "token", "ci", alice)
		sameJSON(t, "token.revoked before", e.Before, tok)
		sameJSON(t, "token.revoked after", e.After, revoked)
		if revoked.RevokedAt == nil {
			t.Errorf("revoked token = %+v", revoked)
		}

		anon := store.Actor{Name: "anonymous", Kind: mlops.KindAnonymous, RequestID: "r2", RemoteAddr: "10.0.0.9:4"}
		e = oneEvent(t, s, func() error { return s.SignInFailureAdd(store.WithActor(t.Context(), anon), "mallory", c.Now()) })
		// mallory is no user: the name (maybe a mistyped password) is not recorded.
		wantEvent(t, e, "signin.failed", "user", "(unknown)", anon)
		sameJSON(t, "signin.failed before", e.Before, nil)
		sameJSON(t, "signin.failed after", e.After, map[string]any{"known_user": false})
		if strings.Contains(string(e.After)+e.EntityID, "mallory") {
			t.Errorf("an unknown sign-in name reached the audit log: %+v", e)
		}
		if n, _, err := s.SignInFailures(ctx, "mallory", base); err != nil || n != 1 {
			t.Errorf("SignInFailures = %d, %v; want 1", n, err)
		}

		// Prune: one event per run, with the count per table; never the audit log.
		c.Advance(48 * time.Hour)
		events := count(t, s, "audit_events")
		var deleted int64
		e = oneEvent(t, s, func() (err error) { deleted, err = s.Prune(ctx, "predictions", base.Add(24*time.Hour), 2, nil); return })
		if deleted != 6 {
			t.Errorf("pruned %d predictions, want 6", deleted)
		}
		wantEvent(t, e, "prune.ran", "prune", "predictions", alice)
		sameJSON(t, "prune.ran after", e.After, map[string]any{"deleted": map[string]any{"predictions": 6},
			"older_than": base.Add(24 * time.Hour).Format(time.RFC3339Nano)})
		e = oneEvent(t, s, func() (err error) { deleted, err = s.Prune(ctx, "alerts", c.Now(), 0, nil); return })
		if deleted != 1 || e.Event != "prune.ran" || e.EntityID != "alerts" {
			t.Errorf("pruned %d alerts, event %+v; want 1 alert and prune.ran", deleted, e)
		}
		noEvent(t, s, `Prune("audit")`, func(error) bool { return true }, func() error {
			_, err := s.Prune(ctx, "audit", c.Now(), 0, nil)
			return err
		})
		if n := count(t, s, "audit_events"); n != events+2 {
			t.Errorf("%d audit events after pruning, want %d: prune must not delete any", n, events+2)
		}
		if n, err := s.AuditVerify(ctx, 0, nil); err != nil || n != events+2 {
			t.Errorf("AuditVerify = %d, %v; want %d, nil", n, err, events+2)
		}
	})
}

// TestAuditRuleEvents: a drift check that stores a report and raises an
// alert records the report under the caller, and the alert and the action
// the rule proposes under System (with the caller's request); a recurring
// condition records alert.repeated with the alert before and after. Run
// through the monitor's RulesRun and DriftCheck.
func TestAuditRuleEvents(t *testing.T) {
	loopEach(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := store.WithActor(context.Background(), alice)
		sys := store.Actor{Name: store.System.Name, Kind: store.System.Kind, RequestID: alice.RequestID, RemoteAddr: alice.RemoteAddr}
		m := storetest.Model(t, s, "fraud", "v1")
		must1(t)(s.ModelVersionActivate(context.Background(), m.ID))
		storetest.EnableRules(t, s, "fraud", func(r *store.RuleSettings) {
			r.MinSamples, r.CurrentWindowSeconds, r.ReferenceWindowSeconds = 5, 3600, 3600
		})
		storetest.DriftData(t, s, c, loopT0, m.ID, m.ID, 0)
		c.Set(loopT0.Add(2 * time.Hour))

		last := lastEventID(t, s)
		mon := loopMonitor(s)
		res, err := mon.RulesRun(ctx)
		if err != nil || res.Skipped || len(res.Outcomes) != 1 || res.Outcomes[0].Alert == nil || res.Outcomes[0].Action == nil {
			t.Fatalf("RulesRun = %+v, %v", res, err)
		}
		out := res.Outcomes[0]
		evs := eventsAfter(t, s, last)
		if len(evs) != 3 {
			t.Fatalf("first run wrote %d events, want 3 (report, alert, action): %+v", len(evs), evs)
		}
		wantEvent(t, evs[0], "drift_report.created", "drift_report", id(*out.DriftReportID), alice)
		rep, err := s.DriftReportGet(ctx, *out.DriftReportID)
		if err != nil {
			t.Fatal(err)
		}
		sameJSON(t, "drift_report.created after", evs[0].After, rep)
		wantEvent(t, evs[1], "alert.created", "alert", id(out.Alert.ID), sys)
		sameJSON(t, "alert.created before", evs[1].Before, nil)
		sameJSON(t, "alert.created after", evs[1].After, *out.Alert)
		wantEvent(t, evs[2], "action.proposed", "action", out.Action.ActionID, sys)

		c.Set(loopT0.Add(2*time.Hour + time.Minute))
		last = lastEventID(t, s)
		res2, err := mon.RulesRun(ctx)
		if err != nil || len(res2.Outcomes) != 1 || res2.Outcomes[0].Alert == nil || res2.Outcomes[0].NewAlert {
			t.Fatalf("second RulesRun = %+v, %v", res2, err)
		}
		evs = eventsAfter(t, s, last)
		if len(evs) != 2 {
			t.Fatalf("second run wrote %d events, want 2 (report, repeated alert): %+v", len(evs), evs)
		}
		wantEvent(t, evs[0], "drift_report.created", "drift_report", id(*res2.Outcomes[0].DriftReportID), alice)
		wantEvent(t, evs[1], "alert.repeated", "alert", id(out.Alert.ID), sys)
		sameJSON(t, "alert.repeated before", evs[1].Before, *out.Alert)
		sameJSON(t, "alert.repeated after", evs[1].After, *res2.Outcomes[0].Alert)
		if res2.Outcomes[0].Alert.Occurrences != 2 {
			t.Errorf("occurrences = %d, want 2", res2.Outcomes[0].Alert.Occurrences)
		}

		// A drift check asked for by hand.
		c.Set(loopT0.Add(2*time.Hour + 2*time.Minute))
		last = lastEventID(t, s)
		rep3, err := mon.DriftCheck(ctx, m.ID, loopDriftOpts())
		if err != nil {
			t.Fatal(err)
		}
		evs = eventsAfter(t, s, last)
		if len(evs) != 2 {
			t.Fatalf("DriftCheck wrote %d events, want 2: %+v", len(evs), evs)
		}
		wantEvent(t, evs[0], "drift_report.created", "drift_report", id(rep3.ID), alice)
		sameJSON(t, "drift_report.created after", evs[0].After, rep3)
		wantEvent(t, evs[1], "alert.repeated", "alert", id(out.Alert.ID), sys)
		sameJSON(t, "alert.repeated before", evs[1].Before, *res2.Outcomes[0].Alert)
		now, err := s.AlertGet(ctx, out.Alert.ID)
		if err != nil {
			t.Fatal(err)
		}
		sameJSON(t, "alert.repeated after", evs[1].After, now)
		if _, err := s.AuditVerify(ctx, 0, nil); err != nil {
			t.Errorf("AuditVerify: %v", err)
		}
	})
}

// TestAuditNoEventOnFailure: a refused change (conflict, invalid transition,
// validation, missing reference) rolls back with no event.
func TestAuditNoEventOnFailure(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := store.WithActor(t.Context(), alice)
		m := mustModel(t, s, "churn", "1")
		isTransition := func(err error) bool {
			var te *mlops.TransitionError
			return errors.As(err, &te)
		}
		isInvalid := func(err error) bool { _, ok := mlops.AsValidation(err); return ok }
		is := func(target error) func(error) bool { return func(err error) bool { return errors.Is(err, target) } }

		a := mustAlert(t, s, "to resolve")
		if _, err := s.AlertResolve(ctx, a.ID, "alice", ""); err != nil {
			t.Fatal(err)
		}
		noEvent(t, s, "acknowledge a resolved alert", isTransition, func() error { _, err := s.AlertAcknowledge(ctx, a.ID, "alice"); return err })
		noEvent(t, s, "resolve a resolved alert", isTransition, func() error { _, err := s.AlertResolve(ctx, a.ID, "alice", ""); return err })
		noEvent(t, s, "acknowledge a missing alert", is(mlops.ErrNotFound), func() error { _, err := s.AlertAcknowledge(ctx, 9999, "alice"); return err })
		noEvent(t, s, "create an invalid alert", isInvalid, func() error { _, err := s.AlertCreate(ctx, newAlert("")); return err })
		noEvent(t, s, "drift report of a missing model", isInvalid, func() error {
			_, err := s.DriftReportCreate(ctx, mlops.NewDriftReport{ModelID: 9999, DriftedFeatures: []string{"x"}})
			return err
		})
		noEvent(t, s, "prediction batch naming a missing model", isInvalid, func() error {
			_, err := s.PredictionCreateBatch(ctx, []mlops.NewPrediction{{ModelID: m.ID, Prediction: 1}, {ModelID: 9999, Prediction: 1}})
			return err
		})
		noEvent(t, s, "prediction batch with a bad item", isInvalid, func() error {
			_, err := s.PredictionCreateBatch(ctx, []mlops.NewPrediction{{ModelID: m.ID, Prediction: 1, Probability: ptr(2.0)}})
			return err
		})
		noEvent(t, s, "metric batch naming a missing model", isInvalid, func() error {
			_, err := s.MetricCreateBatch(ctx, []mlops.NewPerformanceMetric{{MetricName: "x", MetricValue: 1, ModelID: ptr(int64(9999))}})
			return err
		})
		noEvent(t, s, "invalid rule settings", isInvalid, func() error {
			r := store.DefaultRuleSettings("churn")
			r.KSThreshold = 2
			_, err := s.RuleSettingsPut(ctx, r)
			return err
		})
		if _, err := s.UserCreate(ctx, store.NewUser{Name: "bob", Role: mlops.RoleViewer}); err != nil {
			t.Fatal(err)
		}
		noEvent(t, s, "a taken user name", is(mlops.ErrConflict), func() error {
			_, err := s.UserCreate(ctx, store.NewUser{Name: "bob", Role: mlops.RoleAdmin})
			return err
		})
		noEvent(t, s, "update a missing user", is(mlops.ErrNotFound), func() error {
			_, err := s.UserUpdate(ctx, "nobody", store.UserChange{Disabled: ptr(true)})
			return err
		})
		noEvent(t, s, "update a user to a bad role", isInvalid, func() error {
			_, err := s.UserUpdate(ctx, "bob", store.UserChange{Role: ptr(mlops.Role("god"))})
			return err
		})
		tok := store.NewToken{Name: "ci", Role: mlops.RolePipeline, SecretHash: strings.Repeat("ab", 32)}
		if _, err := s.TokenCreate(ctx, tok); err != nil {
			t.Fatal(err)
		}
		tok.SecretHash = strings.Repeat("cd", 32)
		noEvent(t, s, "a taken token name", is(mlops.ErrConflict), func() error { _, err := s.TokenCreate(ctx, tok); return err })
		if _, err := s.TokenRevoke(ctx, "ci"); err != nil {
			t.Fatal(err)
		}
		noEvent(t, s, "revoke a revoked token", is(mlops.ErrNotFound), func() error { _, err := s.TokenRevoke(ctx, "ci"); return err })
	})
}

// TestAuditAppendOnly: the database refuses to change or delete an event.
func TestAuditAppendOnly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		mustAlert(t, s, "one")
		mustAlert(t, s, "two")
		if _, err := s.AuditSeal(ctx); err != nil {
			t.Fatal(err)
		}
		stmts := []string{`UPDATE audit_events SET actor = 'mallory'`, `UPDATE audit_events SET seq = seq + 100`,
			`UPDATE audit_events SET hash = prev_hash`, `DELETE FROM audit_events`, `DELETE FROM audit_events WHERE id = 1`}
		if s.Engine() == store.Postgres {
			stmts = append(stmts, `TRUNCATE audit_events`)
		}
		for _, stmt := range stmts {
			_, err := s.DB().ExecContext(ctx, stmt)
			if err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: error = %v, want the append-only refusal", stmt, err)
			}
		}
		if n, err := s.AuditVerify(ctx, 0, nil); err != nil || n != 2 {
			t.Errorf("AuditVerify = %d, %v; want 2, nil", n, err)
		}
	})
}

// tamper runs stmt on audit_events as the table's owner would, with the
// append-only triggers out of the way: disabled for the statement on
// PostgreSQL, dropped on SQLite.
func tamper(t *testing.T, s *store.Store, stmt string) {
	t.Helper()
	ctx := context.Background()
	tx, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var bypass []string
	if s.Engine() == store.Postgres {
		bypass = []string{`ALTER TABLE audit_events DISABLE TRIGGER USER`, stmt, `ALTER TABLE audit_events ENABLE TRIGGER USER`}
	} else {
		bypass = []string{`DROP TRIGGER IF EXISTS audit_events_append_only_update`, `DROP TRIGGER IF EXISTS audit_events_append_only_delete`, stmt}
	}
	for _, q := range bypass {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// wantProblem fails unless err is an *store.AuditProblem naming event id
// at chain position seq.
func wantProblem(t *testing.T, err error, id, seq int64) {
	t.Helper()
	var p *store.AuditProblem
	if !errors.As(err, &p) || p.ID != id || p.Seq != seq {
		t.Fatalf("AuditVerify error = %v (%T), want an *store.AuditProblem naming event %d at position %d", err, err, id, seq)
	}
}

// sealed seals every pending event and returns the events in chain order.
func sealed(t *testing.T, s *store.Store) []mlops.AuditEvent {
	t.Helper()
	if _, err := s.AuditSeal(t.Context()); err != nil {
		t.Fatalf("AuditSeal: %v", err)
	}
	evs := eventsAfter(t, s, 0)
	slices.SortFunc(evs, func(a, b mlops.AuditEvent) int { return cmp.Compare(*a.Seq, *b.Seq) })
	return evs
}

// TestAuditVerifyDetectsTampering: an event edited or deleted behind the
// triggers' back is named by AuditVerify; an untouched chain verifies.
func TestAuditVerifyDetectsTampering(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			setup := func(t *testing.T) *store.Store {
				s := storetest.Open(t, engine, store.Options{})
				ctx := store.WithActor(t.Context(), alice)
				for i := range 4 {
					if _, err := s.AlertCreate(ctx, newAlert(fmt.Sprint("alert ", i))); err != nil {
						t.Fatal(err)
					}
				}
				return s
			}
			t.Run("clean", func(t *testing.T) {
				s := setup(t)
				var progress []int64
				n, err := s.AuditVerify(t.Context(), 0, func(checked, lastID int64) { progress = append(progress, checked, lastID) })
				if err != nil || n != 4 || !reflect.DeepEqual(progress, []int64{4, 4}) {
					t.Fatalf("AuditVerify = %d, %v (progress %v); want 4, nil", n, err, progress)
				}
			})
			t.Run("edited", func(t *testing.T) {
				s := setup(t)
				evs := sealed(t, s)
				tamper(t, s, fmt.Sprintf(`UPDATE audit_events SET actor = 'mallory' WHERE id = %d`, evs[1].ID))
				_, err := s.AuditVerify(t.Context(), 0, nil)
				wantProblem(t, err, evs[1].ID, 2)
			})
			t.Run("deleted", func(t *testing.T) {
				s := setup(t)
				evs := sealed(t, s)
				tamper(t, s, fmt.Sprintf(`DELETE FROM audit_events WHERE id = %d`, evs[2].ID))
				// The gap is at position 3; the problem names the event after it.
				_, err := s.AuditVerify(t.Context(), 0, nil)
				wantProblem(t, err, evs[3].ID, 3)
			})
		})
	}
}

// TestAuditPrune: AuditPrune deletes the events before a cutoff, appends an
// audit.pruned checkpoint so the rest still verifies, and leaves the table
// append-only.
func TestAuditPrune(t *testing.T) {
	eachClock(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := store.WithActor(t.Context(), alice)
		for range 3 {
			mustAlert(t, s, "old")
		}
		c.Advance(48 * time.Hour)
		for range 2 {
			mustAlert(t, s, "new")
		}
		deleted, err := s.AuditPrune(ctx, base.Add(24*time.Hour))
		if err != nil || deleted != 3 {
			t.Fatalf("AuditPrune = %d, %v; want 3", deleted, err)
		}
		evs := sealed(t, s)
		if len(evs) != 3 || *evs[0].Seq != 4 || evs[0].Event != "alert.created" || evs[2].Event != "audit.pruned" {
			t.Fatalf("events after prune = %+v, want the 2 new ones and the checkpoint", evs)
		}
		wantEvent(t, evs[2], "audit.pruned", "audit_events", "3", alice)
		var cp struct {
			Through int64 `json:"pruned_through_seq"`
			Deleted int64 `json:"deleted"`
		}
		if err := json.Unmarshal(evs[2].After, &cp); err != nil || cp.Through != 3 || cp.Deleted != 3 {
			t.Errorf("checkpoint after = %s", evs[2].After)
		}
		if n, err := s.AuditVerify(ctx, 0, nil); err != nil || n != 3 {
			t.Errorf("AuditVerify after prune = %d, %v; want 3, nil", n, err)
		}
		if n := count(t, s, "audit_prune_permit"); n != 0 {
			t.Errorf("%d prune permits left behind", n)
		}
		for _, stmt := range []string{`DELETE FROM audit_events`, fmt.Sprintf(`DELETE FROM audit_events WHERE id = %d`, evs[0].ID)} {
			if _, err := s.DB().ExecContext(ctx, stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s after a prune: error = %v, want the append-only refusal", stmt, err)
			}
		}
		// A prune with nothing old enough deletes nothing and records nothing.
		if deleted, err := s.AuditPrune(ctx, base); err != nil || deleted != 0 {
			t.Errorf("second AuditPrune = %d, %v; want 0", deleted, err)
		}
		if n := count(t, s, "audit_events"); n != 3 {
			t.Errorf("%d events, want 3", n)
		}
	})
}
