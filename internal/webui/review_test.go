package webui_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/internal/auth"
	"github.com/mlopsdev/mlops/internal/webui"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// article returns the part of a page that shows the action with the given
// row id in the approval queue.
func article(t *testing.T, body string, id int64) string {
	t.Helper()
	start := strings.Index(body, fmt.Sprintf(`<article class="action" id="action-%d"`, id))
	if start < 0 {
		t.Fatalf("no pending action %d on the page:\n%s", id, body)
	}
	end := strings.Index(body[start:], "</article>")
	return body[start : start+end]
}

// lacks fails the test for every unwanted string found in body.
func lacks(t *testing.T, what, body string, unwanted ...string) {
	t.Helper()
	for _, u := range unwanted {
		if strings.Contains(body, u) {
			t.Errorf("%s: shows %q", what, u)
		}
	}
}

func TestAuditPage(t *testing.T) {
	t.Parallel()
	eachEngineAuth(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		s := e.seed
		ritaPW := e.addUser(t, "rita", mlops.RoleReviewer)
		victorPW := e.addUser(t, "victor", mlops.RoleViewer)
		alice := store.WithActor(ctx, store.Actor{Name: "alice", Kind: mlops.KindUser, RemoteAddr: "10.0.0.7:5123", RequestID: "req-alice-1"})
		bob := store.WithActor(ctx, store.Actor{Name: "bob", Kind: mlops.KindToken})
		if _, err := e.st.ModelVersionActivate(alice, s.churnV2.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.AlertAcknowledge(bob, s.alertCritical.ID, "bob"); err != nil {
			t.Fatal(err)
		}
		proposed, err := e.st.ActionCreate(alice, mlops.NewAgentAction{ActionID: "act-audit-3", ActionType: "retrain_model", RiskLevel: mlops.RiskLow})
		if err != nil {
			t.Fatal(err)
		}

		rita := e.signIn(t, "rita", ritaPW)
		resp, body := rita.get(t, "/audit")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /audit as a reviewer: %d\n%s", resp.StatusCode, body)
		}
		v2 := fmt.Sprint(s.churnV2.ID)
		contains(t, "the audit page", body, `<a href="/audit" aria-current="page">Audit</a>`,
			// who, from where, what, on which record
			`class="actor">alice</a> <span class="badge kind-user">user</span>`, "from 10.0.0.7:5123", "req-alice-1",
			`class="actor">bob</a> <span class="badge kind-token">token</span>`,
			`<td class="event"><code>model.activated</code>`, `<td class="event"><code>alert.acknowledged</code>`,
			`<a href="/models/`+v2+`"><code>`+v2+`</code></a>`,
			fmt.Sprintf(`<a href="/approvals#action-%d"><code>act-audit-3</code></a>`, proposed.ID),
			fmt.Sprintf(`<a href="/alerts?status=acknowledged#alert-%d">`, s.alertCritical.ID),
			// before and after, side by side, the changed fields marked
			`<tr class="changed"><th scope="row"><code>is_active</code> <span class="small muted">changed</span></th><td><code>false</code></td><td><code>true</code></td></tr>`,
			`<tr class="changed"><th scope="row"><code>status</code> <span class="small muted">changed</span></th><td><code>active</code></td><td><code>acknowledged</code></td></tr>`,
			`<tr class="added"><th scope="row"><code>action_id</code> <span class="small muted">added</span></th><td><span class="muted">—</span></td><td><code>act-audit-3</code></td></tr>`,
			"unchanged fields</summary>", `class="chain"`, "mlops audit verify")
		// Newest first: the action alice proposed last is above her activation.
		if i, j := strings.Index(body, `<td class="event"><code>action.proposed</code>`), strings.Index(body, `<td class="event"><code>model.activated</code>`); i < 0 || j < 0 || i > j {
			t.Errorf("the events are not newest first (action.proposed at %d, model.activated at %d)", i, j)
		}

		// Filters narrow the list.
		_, body = rita.get(t, "/audit?actor=alice")
		contains(t, "actor=alice", body, `<td class="event"><code>model.activated</code>`, `<td class="event"><code>action.proposed</code>`,
			`<input name="actor" value="alice"`, `id="clear-filters"`)
		lacks(t, "actor=alice", body, `class="actor">bob</a>`, `class="actor">system</a>`, `<code>alert.acknowledged</code>`)
		_, body = rita.get(t, "/audit?event=alert.acknowledged")
		contains(t, "event=alert.acknowledged", body, `class="actor">bob</a>`)
		lacks(t, "event=alert.acknowledged", body, `class="actor">alice</a>`, `<code>model.activated</code>`)
		_, body = rita.get(t, "/audit?entity_type=model_version&entity_id="+v2)
		contains(t, "one model version", body, `<td class="event"><code>model.activated</code>`, `<td class="event"><code>model.registered</code>`)
		lacks(t, "one model version", body, `<code>alert.acknowledged</code>`, `<code>action.proposed</code>`)
		_, body = rita.get(t, "/audit?since=2026-11-20&until=2026-11-20&actor=bob")
		contains(t, "one day", body, `class="actor">bob</a>`)
		for _, q := range []string{"since=2026-11-21", "until=2026-11-19"} {
			_, body = rita.get(t, "/audit?"+q)
			contains(t, q, body, `id="audit-empty"`, "No event matches these filters")
			lacks(t, q, body, `class="actor"`)
		}
		resp, body = rita.get(t, "/audit?since=yesterday")
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "is not a date") {
			t.Errorf("since=yesterday: %d, want 400 naming the date\n%s", resp.StatusCode, body)
		}

		// A change made through the UI is recorded under the signed-in
		// reviewer and the address the request came from.
		resp, _ = rita.post(t, fmt.Sprintf("/alerts/%d/resolve", s.alertHigh.ID), url.Values{"tab": {"active"}, "notes": {"fixed"}})
		wantRedirect(t, "resolve", resp, "/alerts?status=active")
		events, _, err := e.st.AuditList(ctx, store.AuditFilter{Event: "alert.resolved", EntityID: fmt.Sprint(s.alertHigh.ID)})
		if err != nil || len(events) != 1 || events[0].Actor != "rita" || events[0].ActorKind != mlops.KindUser ||
			!strings.HasPrefix(events[0].RemoteAddr, "127.0.0.1:") {
			t.Errorf("the UI's resolution is recorded as %s (err %v); want rita, user, from 127.0.0.1", mustJSON(events), err)
		}

		// A viewer may not read the log, and is not offered it.
		victor := e.signIn(t, "victor", victorPW)
		resp, body = victor.get(t, "/audit")
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("GET /audit as a viewer: %d, want 403", resp.StatusCode)
		}
		contains(t, "the viewer's 403", body, "the audit permission (roles reviewer, admin)", "user victor has role viewer")
		lacks(t, "the viewer's 403", body, "alice", "model.activated")
		_, body = victor.get(t, "/")
		lacks(t, "the viewer's navigation", body, `href="/audit"`)
	})
}

func TestAuditEmpty(t *testing.T) {
	t.Parallel()
	eachEngine(t, false, func(t *testing.T, e *env) {
		code, body := e.get(t, "/audit")
		if code != http.StatusOK {
			t.Fatalf("GET /audit: %d", code)
		}
		contains(t, "empty audit log", body, `id="audit-empty"`, "The audit log is empty", "mlops audit verify")
	})
}

// TestTwoPersonApproval follows a high-risk action under a two-person
// policy with expiry: its proposer cannot decide it, each approval is
// confirmed on a page of its own, and a second reviewer's makes it
// approved.
func TestTwoPersonApproval(t *testing.T) {
	t.Parallel()
	policy := store.Options{Approvals: mlops.ApprovalPolicy{TwoPersonFrom: mlops.RiskHigh, TTL: 72 * time.Hour}}
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			t.Parallel()
			e := newEnvWith(t, engine, true, auth.ModeRequired, policy)
			ctx := context.Background()
			ritaPW := e.addUser(t, "rita", mlops.RoleReviewer)
			tomPW := e.addUser(t, "tom", mlops.RoleReviewer)
			olgaPW := e.addUser(t, "olga", mlops.RoleReviewer)
			// rita proposes at t0+5h; 69 h 47 min later 2 h 13 min are
			// left. The seeded high-risk action (t0+2h) has expired by
			// then, and the low-risk one (t0+3h) has 13 minutes left.
			act, err := e.st.ActionCreate(store.WithActor(ctx, store.Actor{Name: "rita", Kind: mlops.KindUser}), mlops.NewAgentAction{
				ActionID: "act-failover-7", ActionType: "failover", Description: "Fail over to the standby region", RiskLevel: mlops.RiskHigh})
			if err != nil {
				t.Fatal(err)
			}
			e.clk.Set(t0.Add(5*time.Hour + 69*time.Hour + 47*time.Minute))
			fresh, err := e.st.ActionCreate(ctx, mlops.NewAgentAction{ActionID: "act-fresh-8", ActionType: "scale_up", RiskLevel: mlops.RiskLow})
			if err != nil {
				t.Fatal(err)
			}
			get := func() mlops.AgentAction {
				t.Helper()
				a, err := e.st.ActionGet(ctx, "act-failover-7")
				if err != nil {
					t.Fatal(err)
				}
				return a
			}

			tom := e.signIn(t, "tom", tomPW)
			_, body := tom.get(t, "/approvals")
			contains(t, "tom's queue", article(t, body, act.ID), "expires in 2 h 13 min",
				`<dd class="proposer"><strong>rita</strong> <span class="badge kind-user">user</span></dd>`,
				"0 of 2 approvals", `value="approve"`, `value="reject"`)
			contains(t, "the expired action", article(t, body, e.seed.pending1.ID), ">expired</span>", "can no longer be approved")
			lacks(t, "the expired action", article(t, body, e.seed.pending1.ID), `action="/approvals/decide"`)
			contains(t, "the action about to expire", article(t, body, e.seed.pending2.ID), `class="expiry soon"`, "expires in 13 min")
			contains(t, "a new action", article(t, body, fresh.ID), `<span class="expiry" id="expiry-`, "expires in 3 days<", "one reviewer decides")

			// Approving without confirm=yes shows the confirmation and records nothing.
			form := url.Values{"action_id": {"act-failover-7"}, "decision": {"approve"}, "comment": {"standby is healthy"}}
			resp, body := tom.post(t, "/approvals/decide", form)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("unconfirmed approval: %d, want 200 with the confirmation", resp.StatusCode)
			}
			contains(t, "the confirmation", body, "<h1>Confirm approval</h1>", `id="confirm-risk">high`, "Fail over to the standby region",
				"standby is healthy", `<input type="hidden" name="comment" value="standby is healthy">`,
				`<button type="submit" name="confirm" value="yes" class="primary" id="confirm-approve">Yes, approve</button>`,
				fmt.Sprintf(`href="/approvals#action-%d" id="cancel-approve">Cancel</a>`, act.ID),
				"Yours is approval 1 of 2: the action stays pending")
			if a := get(); a.Status != mlops.ActionPending || len(a.Approvals) != 0 {
				t.Fatalf("the unconfirmed approval changed the action: %s", mustJSON(a))
			}

			// Confirmed, it is the first of two approvals.
			form.Set("confirm", "yes")
			resp, _ = tom.post(t, "/approvals/decide", form)
			wantRedirect(t, "tom's confirmed approval", resp, "/approvals")
			a := get()
			if a.Status != mlops.ActionPending || a.RequiredApprovals != 2 || len(a.Approvals) != 1 || a.Approvals[0].By != "tom" ||
				a.Approvals[0].Comment != "standby is healthy" {
				t.Fatalf("after tom's approval the action reads %s; want pending with tom's approval", mustJSON(a))
			}
			_, body = tom.get(t, "/approvals")
			contains(t, "after tom's approval", body, "Your approval of action act-failover-7 is recorded (1 of 2 approvals)")
			art := article(t, body, act.ID)
			contains(t, "after tom's approval", art, "1 of 2 approvals: <strong>tom</strong> at <time", "<q>standby is healthy</q>",
				fmt.Sprintf(`id="approved-by-you-%d"`, act.ID), `value="reject"`)
			lacks(t, "after tom's approval", art, `value="approve"`)
			// From a stale tab, tom's second approval is refused.
			resp, _ = tom.post(t, "/approvals/decide", form)
			wantRedirect(t, "tom's second approval", resp, "/approvals")
			_, body = tom.get(t, "/approvals")
			contains(t, "tom's second approval", body, `class="flash flash-warn"`, "You (tom) already approved action act-failover-7")
			if a := get(); len(a.Approvals) != 1 {
				t.Fatalf("tom approved twice: %s", mustJSON(a))
			}

			// The proposer sees no buttons, and a forged form changes nothing.
			rita := e.signIn(t, "rita", ritaPW)
			_, body = rita.get(t, "/approvals")
			art = article(t, body, act.ID)
			contains(t, "rita's own action", art, "You proposed this action; another reviewer must decide.")
			lacks(t, "rita's own action", art, `action="/approvals/decide"`, `value="approve"`, `value="reject"`)
			contains(t, "another's action for rita", article(t, body, e.seed.pending2.ID), `value="approve"`)
			for _, decision := range []string{"approve", "reject"} {
				resp, body := rita.post(t, "/approvals/decide", url.Values{"action_id": {"act-failover-7"}, "decision": {decision}, "confirm": {"yes"}})
				if resp.StatusCode != http.StatusForbidden {
					t.Errorf("rita's forged %s: %d, want 403", decision, resp.StatusCode)
				}
				contains(t, "rita's forged "+decision, body, "You proposed action act-failover-7, so you cannot "+decision+" it: another reviewer must decide. Nothing was recorded.",
					`<a href="/approvals" id="back">Back</a>`)
			}
			if a := get(); a.Status != mlops.ActionPending || len(a.Approvals) != 1 {
				t.Fatalf("rita's forged forms changed the action: %s", mustJSON(a))
			}

			// A second reviewer's confirmed approval approves it.
			olga := e.signIn(t, "olga", olgaPW)
			_, body = olga.post(t, "/approvals/decide", url.Values{"action_id": {"act-failover-7"}, "decision": {"approve"}})
			contains(t, "olga's confirmation", body, "Yours is approval 2 of 2: the action becomes approved", "1 of 2 approvals: <strong>tom</strong>")
			resp, _ = olga.post(t, "/approvals/decide", url.Values{"action_id": {"act-failover-7"}, "decision": {"approve"}, "confirm": {"yes"}})
			wantRedirect(t, "olga's confirmed approval", resp, "/approvals")
			if a := get(); a.Status != mlops.ActionApproved || a.ReviewedBy == nil || *a.ReviewedBy != "olga" || len(a.Approvals) != 2 {
				t.Fatalf("after olga's approval the action reads %s; want approved by olga, two approvals", mustJSON(a))
			}
			_, body = olga.get(t, "/approvals")
			contains(t, "after olga's approval", body, "Action act-failover-7 approved by olga.", "approvals 2 of 2: tom, olga")

			// A low-risk action needs neither confirmation nor a second reviewer.
			resp, _ = tom.post(t, "/approvals/decide", url.Values{"action_id": {e.seed.pending2.ActionID}, "decision": {"approve"}})
			wantRedirect(t, "low-risk approval", resp, "/approvals")
			if a, _ := e.st.ActionGet(ctx, e.seed.pending2.ActionID); a.Status != mlops.ActionApproved {
				t.Errorf("the low-risk action is %s after one approval, want approved", a.Status)
			}
			// An expired action cannot be approved, even confirmed.
			resp, _ = tom.post(t, "/approvals/decide", url.Values{"action_id": {e.seed.pending1.ActionID}, "decision": {"approve"}, "confirm": {"yes"}})
			wantRedirect(t, "approving an expired action", resp, "/approvals")
			_, body = tom.get(t, "/approvals")
			contains(t, "approving an expired action", body, `class="flash flash-warn"`, "Action act-rollback-1 expired at 2026-11-23 10:00:00 UTC",
				"your approval was not recorded", `<span class="badge st-expired">expired</span>`, "nobody decided in time", `st-expired">expired 1</span>`)
			if a, _ := e.st.ActionGet(ctx, e.seed.pending1.ActionID); a.Status != mlops.ActionExpired {
				t.Errorf("the expired action is %s", a.Status)
			}

			// Each step is in the audit log under the person who took it.
			events, err := e.st.AuditEventsOf(ctx, "action", "act-failover-7")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ev := range events {
				got = append(got, ev.Event+" by "+ev.Actor+" ("+string(ev.ActorKind)+")")
				if ev.Actor != "rita" && !strings.HasPrefix(ev.RemoteAddr, "127.0.0.1:") {
					t.Errorf("%s has remote address %q", ev.Event, ev.RemoteAddr)
				}
			}
			want := "action.proposed by rita (user), action.approval_recorded by tom (user), action.approved by olga (user)"
			if strings.Join(got, ", ") != want {
				t.Errorf("audit events of the action:\n%s\nwant\n%s", strings.Join(got, ", "), want)
			}
		})
	}
}

// TestDecideFormHasNoImplicitSubmit checks the markup that keeps Enter
// from deciding (the browser test checks the behaviour).
func TestDecideFormHasNoImplicitSubmit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, store.SQLite, true)
	_, body := e.get(t, "/approvals")
	form := article(t, body, e.seed.pending2.ID)
	form = form[strings.Index(form, "<form"):]
	first := form[strings.Index(form, "<button"):]
	first = first[:strings.Index(first, ">")]
	if !strings.Contains(first, "disabled") {
		t.Errorf("the form's first button (its default button) is not disabled: %s", first)
	}
	contains(t, "decide form", form, `<textarea name="comment"`,
		`<button type="submit" name="decision" value="approve" class="primary">Approve</button>`,
		`<button type="submit" name="decision" value="reject" class="danger">Reject</button>`)
	lacks(t, "decide form", form, `<input name="comment"`, `type="text"`)
}

// TestDecisionActor checks whom a decision is recorded under: in the open
// mode the name typed into the form, and inside the JSON API the caller
// and request id it attached.
func TestDecisionActor(t *testing.T) {
	t.Parallel()
	eachEngine(t, true, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.post(t, "/approvals/decide", url.Values{"action_id": {"act-scale-2"}, "decision": {"approve"}, "reviewer": {"kim"}})
		events, err := e.st.AuditEventsOf(ctx, "action", "act-scale-2")
		if err != nil || len(events) == 0 {
			t.Fatalf("no events (%v)", err)
		}
		if last := events[len(events)-1]; last.Event != "action.approved" || last.Actor != "kim" || last.ActorKind != mlops.KindAnonymous {
			t.Errorf("the open mode's approval is recorded as %s; want action.approved by kim (anonymous)", mustJSON(last))
		}

		ui, err := webui.New(e.st, webui.Options{Now: e.clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Request-ID", "req-outer-7")
			ui.ServeHTTP(w, r.WithContext(auth.WithCaller(r.Context(), auth.Caller{
				Principal: mlops.Principal{Name: "rex", Kind: mlops.KindUser, Role: mlops.RoleReviewer}})))
		})
		req := httptest.NewRequest(http.MethodPost, "/approvals/decide",
			strings.NewReader(url.Values{"action_id": {"act-rollback-1"}, "decision": {"reject"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("POST through the outer handler: %d\n%s", rec.Code, rec.Body.String())
		}
		events, err = e.st.AuditEventsOf(ctx, "action", "act-rollback-1")
		if err != nil || len(events) == 0 {
			t.Fatalf("no events (%v)", err)
		}
		if last := events[len(events)-1]; last.Event != "action.rejected" || last.Actor != "rex" || last.ActorKind != mlops.KindUser ||
			last.RequestID != "req-outer-7" || last.RemoteAddr != req.RemoteAddr {
			t.Errorf("the rejection is recorded as %s; want rex (user), request req-outer-7, from %s", mustJSON(last), req.RemoteAddr)
		}
	})
}
