package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/internal/auth"
	"github.com/mlopsdev/mlops/internal/httpapi"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// approvalEnv is a server with auth required, the default approval rules
// (two reviewers from high risk, a 72 h expiry) and a clock the test moves.
type approvalEnv struct {
	*authEnv
	now *atomic.Int64 // unix nanoseconds of the store's and the authenticator's clock
}

func (e *approvalEnv) advance(d time.Duration) { e.now.Add(int64(d)) }

func startApprovals(t *testing.T, engine store.Engine) *approvalEnv {
	t.Helper()
	now := &atomic.Int64{}
	now.Store(time.Now().UTC().Truncate(time.Second).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()).UTC() }
	st := storetest.Open(t, engine, store.Options{Now: clock,
		Approvals: mlops.ApprovalPolicy{TwoPersonFrom: mlops.RiskHigh, TTL: 72 * time.Hour}})
	a := auth.New(st, auth.Options{Mode: auth.ModeRequired, Now: clock})
	e := &authEnv{c: serveWith(t, st, httpapi.Options{Auth: a}), st: st, tokens: map[mlops.Role]string{}, offset: &atomic.Int64{}}
	for _, r := range mlops.Roles {
		e.tokens[r] = e.token(t, "prog-"+string(r), r, nil)
	}
	return &approvalEnv{authEnv: e, now: now}
}

// TestApprovalRules: the reviewer is the caller; nobody decides their own
// proposal; high risk needs two different reviewers; one rejection
// rejects; a pending action expires.
func TestApprovalRules(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			e := startApprovals(t, engine)
			agent := e.c.bearer(e.tokens[mlops.RoleAgent])
			admin := e.c.bearer(e.tokens[mlops.RoleAdmin])
			rev2 := e.c.bearer(e.token(t, "second-reviewer", mlops.RoleReviewer, nil))
			reviewer := e.c.bearer(e.tokens[mlops.RoleReviewer])
			propose := func(c *client, id, risk string) map[string]any {
				t.Helper()
				a := c.must(201, "POST", "/api/v1/actions", map[string]any{"action_id": id, "action_type": "rollback", "risk_level": risk})
				if a["status"] != "pending" || a["expires_at"] == nil {
					t.Fatalf("proposed: %v", a)
				}
				return a
			}

			// Self-approval: the admin proposes, and may not decide, admin or not.
			a := propose(admin, "own", "low")
			if a["proposed_by"] != "prog-admin" || a["proposed_by_kind"] != "token" {
				t.Fatalf("proposer: %v", a)
			}
			problem(t, admin.do("POST", "/api/v1/actions/own/approve", map[string]any{}), 403)
			problem(t, admin.do("POST", "/api/v1/actions/own/reject", map[string]any{}), 403)
			if got := reviewer.must(200, "POST", "/api/v1/actions/own/approve", map[string]any{}); got["status"] != "approved" || got["reviewed_by"] != "prog-reviewer" {
				t.Fatalf("another reviewer approves: %v", got)
			}

			// Two people for high risk.
			propose(agent, "big", "high")
			first := reviewer.must(200, "POST", "/api/v1/actions/big/approve", map[string]any{"comment": "looks right"})
			approvals, _ := first["approvals"].([]any)
			if first["status"] != "pending" || first["required_approvals"] != float64(2) || len(approvals) != 1 ||
				approvals[0].(map[string]any)["by"] != "prog-reviewer" || approvals[0].(map[string]any)["comment"] != "looks right" {
				t.Fatalf("after the first of two approvals: %v", first)
			}
			problem(t, reviewer.do("POST", "/api/v1/actions/big/approve", map[string]any{}), 409) // the same reviewer again
			second := rev2.must(200, "POST", "/api/v1/actions/big/approve", map[string]any{})
			if second["status"] != "approved" || second["reviewed_by"] != "second-reviewer" || len(second["approvals"].([]any)) != 2 {
				t.Fatalf("after the second approval: %v", second)
			}

			// One rejection rejects, after one of two approvals too.
			propose(agent, "risky", "critical")
			reviewer.must(200, "POST", "/api/v1/actions/risky/approve", map[string]any{})
			if got := rev2.must(200, "POST", "/api/v1/actions/risky/reject", map[string]any{"comment": "no"}); got["status"] != "rejected" {
				t.Fatalf("reject after one approval: %v", got)
			}
			problem(t, admin.do("POST", "/api/v1/actions/risky/approve", map[string]any{}), 409)

			// Expiry, with the clock moved past the TTL: approving is 409,
			// the action reads expired, and one action.expired event exists.
			propose(agent, "slow", "medium")
			e.advance(72*time.Hour + time.Second)
			problem(t, reviewer.do("POST", "/api/v1/actions/slow/approve", map[string]any{}), 409)
			if got := agent.must(200, "GET", "/api/v1/actions/slow", nil); got["status"] != "expired" {
				t.Fatalf("after the TTL: %v", got)
			}
			if again, err := e.st.ActionsExpire(context.Background()); err != nil || len(again) != 0 {
				t.Fatalf("a second expiry pass found %d, %v; want none (exactly once)", len(again), err)
			}
			ev := admin.must(200, "GET", "/api/v1/audit?entity_type=action&entity_id=slow&event=action.expired", nil)
			if items := ev["items"].([]any); len(items) != 1 || items[0].(map[string]any)["actor_kind"] != "system" {
				t.Fatalf("expiry events: %v", ev)
			}
		})
	}
}

// TestApprovalRace: many reviewers racing on one two-person action end
// with exactly two approvals and one decision, on both engines.
func TestApprovalRace(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			e := startApprovals(t, engine)
			agent := e.c.bearer(e.tokens[mlops.RoleAgent])
			var reviewers []*client
			for i := 0; i < 8; i++ {
				reviewers = append(reviewers, e.c.bearer(e.token(t, fmt.Sprintf("r%d", i), mlops.RoleReviewer, nil)))
			}
			for round := 0; round < 5; round++ {
				id := fmt.Sprintf("race-%d", round)
				agent.must(201, "POST", "/api/v1/actions", map[string]any{"action_id": id, "action_type": "x", "risk_level": "high"})
				var wg sync.WaitGroup
				codes := make([]int, len(reviewers))
				for i, r := range reviewers {
					wg.Add(1)
					go func(i int, r *client) {
						defer wg.Done()
						path := "/api/v1/actions/" + id + "/approve"
						if i == 7 {
							path = "/api/v1/actions/" + id + "/reject"
						}
						codes[i] = r.do("POST", path, map[string]any{}).status
					}(i, r)
				}
				wg.Wait()
				got := agent.must(200, "GET", "/api/v1/actions/"+id, nil)
				n200 := 0
				for _, c := range codes {
					if c == http.StatusOK {
						n200++
					} else if c != http.StatusConflict {
						t.Fatalf("round %d: a racing reviewer got %d (codes %v)", round, c, codes)
					}
				}
				approvals := len(got["approvals"].([]any))
				switch got["status"] {
				case "approved":
					if approvals != 2 || n200 != 2 {
						t.Fatalf("round %d approved with %d approvals and %d successes: %v", round, approvals, n200, codes)
					}
				case "rejected":
					if approvals > 1 || n200 != approvals+1 {
						t.Fatalf("round %d rejected with %d approvals and %d successes: %v", round, approvals, n200, codes)
					}
				default:
					t.Fatalf("round %d: status %v after the race", round, got["status"])
				}
			}
			if _, err := e.st.AuditVerify(context.Background(), 0, nil); err != nil {
				t.Fatalf("audit chain after the race: %v", err)
			}
		})
	}
}

// TestActiveAt answers which version was active at past times from a
// scripted history of activations.
func TestActiveAt(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			e := startApprovals(t, engine)
			c := e.c.bearer(e.tokens[mlops.RoleAdmin])
			t0 := time.Unix(0, e.now.Load()).UTC()
			v1, v2 := c.model("churn", "v1"), c.model("churn", "v2")
			other := c.model("fraud", "v1")
			at := func(d time.Duration) string { return t0.Add(d).Format(time.RFC3339) }
			e.advance(time.Hour)
			c.must(200, "POST", fmt.Sprintf("/api/v1/models/%d/activate", v1), nil) // t0+1h
			e.advance(time.Hour)
			c.must(200, "POST", fmt.Sprintf("/api/v1/models/%d/activate", other), nil) // t0+2h, another model
			e.advance(time.Hour)
			c.must(200, "POST", fmt.Sprintf("/api/v1/models/%d/activate", v2), nil) // t0+3h
			e.advance(time.Hour)
			c.must(200, "POST", fmt.Sprintf("/api/v1/models/%d/activate", v1), nil) // t0+4h: back to v1
			for _, tc := range []struct {
				at   time.Duration
				want int64 // 0: none
			}{{30 * time.Minute, 0}, {time.Hour, v1}, {150 * time.Minute, v1}, {3 * time.Hour, v2}, {210 * time.Minute, v2}, {5 * time.Hour, v1}} {
				r := c.do("GET", "/api/v1/models/active?model_name=churn&at="+at(tc.at), nil)
				if tc.want == 0 {
					problem(t, r, 404)
					continue
				}
				if r.status != 200 || id(r.obj()) != tc.want {
					t.Errorf("active at t0+%v: %s, want version %d", tc.at, r, tc.want)
				}
			}
			problem(t, c.do("GET", "/api/v1/models/active?at="+at(0), nil), 422, "query.model_name")
			tl := c.must(200, "GET", fmt.Sprintf("/api/v1/models/%d/timeline", v1), nil)["items"].([]any)
			found := false
			for _, ev := range tl {
				m := ev.(map[string]any)
				if m["kind"] == "model.activated" {
					found = m["actor"] == "prog-admin"
				}
			}
			if !found {
				t.Errorf("the timeline does not say who activated version %d: %v", v1, tl)
			}
			events := c.must(200, "GET", "/api/v1/audit?event=model.activated", nil)["items"].([]any)
			if len(events) != 4 || events[0].(map[string]any)["actor"] != "prog-admin" {
				t.Fatalf("model.activated events: %v", events)
			}
		})
	}
}
