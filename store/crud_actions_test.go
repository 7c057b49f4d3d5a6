package store_test

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
)

// TestActionWorkflow checks create (pending when approval is required,
// else approved), the pending queue (oldest first), approve/reject with
// reviewed_*, and executed/failed with executed_at and execution_result.
func TestActionWorkflow(t *testing.T) {
	t.Parallel()
	eachClock(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := t.Context()
		a1 := mustAction(t, s, "act-1")
		if a1.Status != mlops.ActionPending || !a1.RequiresApproval || a1.ReviewedBy != nil || a1.ExecutedAt != nil {
			t.Fatalf("new action: %+v", a1)
		}
		if a1.ActionType != "retrain_model" || a1.RiskLevel != mlops.RiskMedium || a1.IssueID != "issue-1" ||
			a1.IssueType != "drift" || a1.IssueSeverity != "high" || normJSON(t, a1.Parameters)["model"] != "churn" {
			t.Fatalf("round trip: %+v", a1)
		}
		c.Advance(time.Second)
		auto := newAction("act-auto")
		auto.RequiresApproval = ptr(false)
		a2, err := s.ActionCreate(ctx, auto)
		must(t, err)
		if a2.Status != mlops.ActionApproved || a2.RequiresApproval {
			t.Fatalf("action without approval: status %s requires %v, want approved false", a2.Status, a2.RequiresApproval)
		}
		c.Advance(time.Second)
		mustAction(t, s, "act-3")
		c.Advance(time.Second)
		mustAction(t, s, "act-4")

		pending, _, err := s.ActionList(ctx, store.ActionFilter{Status: mlops.ActionPending, OldestFirst: true})
		must(t, err)
		if got := actionIDs(pending); !reflect.DeepEqual(got, []string{"act-1", "act-3", "act-4"}) {
			t.Fatalf("pending queue = %v, want oldest first [act-1 act-3 act-4]", got)
		}

		// Approve with a comment; reject without one.
		tApprove := base.Add(time.Minute)
		c.Set(tApprove)
		ap, err := s.ActionApprove(ctx, "act-1", "alice", "looks right")
		must(t, err)
		if ap.Status != mlops.ActionApproved || *ap.ReviewedBy != "alice" || !ap.ReviewedAt.Equal(tApprove) ||
			*ap.ReviewComment != "looks right" || ap.ExecutedAt != nil {
			t.Fatalf("approved: %+v", ap)
		}
		rj, err := s.ActionReject(ctx, "act-3", "bob", "")
		must(t, err)
		if rj.Status != mlops.ActionRejected || *rj.ReviewedBy != "bob" || !rj.ReviewedAt.Equal(tApprove) || rj.ReviewComment != nil {
			t.Fatalf("rejected: %+v", rj)
		}
		pending, _, err = s.ActionList(ctx, store.ActionFilter{Status: mlops.ActionPending, OldestFirst: true})
		must(t, err)
		if got := actionIDs(pending); !reflect.DeepEqual(got, []string{"act-4"}) {
			t.Fatalf("pending after review = %v, want [act-4]", got)
		}

		// Execute and fail; the review fields stay.
		tExec := base.Add(2 * time.Minute)
		c.Set(tExec)
		ex, err := s.ActionMarkExecuted(ctx, "act-1", mlops.JSON(`{"new_version": "v2"}`))
		must(t, err)
		if ex.Status != mlops.ActionExecuted || !ex.ExecutedAt.Equal(tExec) || normJSON(t, ex.ExecutionResult)["new_version"] != "v2" ||
			*ex.ReviewedBy != "alice" || !ex.ReviewedAt.Equal(tApprove) {
			t.Fatalf("executed: %+v", ex)
		}
		fl, err := s.ActionMarkFailed(ctx, "act-auto", mlops.JSON(`{"error": "timeout"}`))
		must(t, err)
		if fl.Status != mlops.ActionFailed || !fl.ExecutedAt.Equal(tExec) || normJSON(t, fl.ExecutionResult)["error"] != "timeout" ||
			fl.ReviewedBy != nil {
			t.Fatalf("failed: %+v", fl)
		}
		got, err := s.ActionGet(ctx, "act-1")
		must(t, err)
		if !reflect.DeepEqual(got, ex) {
			t.Fatalf("stored %+v\nreturned %+v", got, ex)
		}
		// nil result is stored as {}.
		c.Advance(time.Second)
		mustAction(t, s, "act-5")
		_, err = s.ActionApprove(ctx, "act-5", "alice", "")
		must(t, err)
		ex, err = s.ActionMarkExecuted(ctx, "act-5", nil)
		must(t, err)
		if len(normJSON(t, ex.ExecutionResult)) != 0 {
			t.Fatalf("nil result stored as %s, want {}", ex.ExecutionResult)
		}

		// The list filters by status, newest first.
		for status, want := range map[mlops.ActionStatus][]string{
			mlops.ActionPending:  {"act-4"},
			mlops.ActionApproved: {},
			mlops.ActionRejected: {"act-3"},
			mlops.ActionExecuted: {"act-5", "act-1"},
			mlops.ActionFailed:   {"act-auto"},
			"":                   {"act-5", "act-4", "act-3", "act-auto", "act-1"},
		} {
			items, _, err := s.ActionList(ctx, store.ActionFilter{Status: status})
			must(t, err)
			if got := actionIDs(items); !reflect.DeepEqual(got, want) {
				t.Errorf("status %q: %v, want %v", status, got, want)
			}
		}
	})
}

func actionIDs(items []mlops.AgentAction) []string {
	out := []string{}
	for _, a := range items {
		out = append(out, a.ActionID)
	}
	return out
}

// TestActionTransitionsRefused tries every transition from every state.
// The allowed ones (pending→approved/rejected, approved→executed/failed)
// succeed; every other one returns an error matching
// mlops.ErrInvalidTransition, reports the state found, and changes nothing.
func TestActionTransitionsRefused(t *testing.T) {
	t.Parallel()
	eachClock(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := t.Context()
		ops := map[mlops.ActionStatus]func(id string) (mlops.AgentAction, error){
			mlops.ActionApproved: func(id string) (mlops.AgentAction, error) { return s.ActionApprove(ctx, id, "mallory", "late") },
			mlops.ActionRejected: func(id string) (mlops.AgentAction, error) { return s.ActionReject(ctx, id, "mallory", "late") },
			mlops.ActionExecuted: func(id string) (mlops.AgentAction, error) {
				return s.ActionMarkExecuted(ctx, id, mlops.JSON(`{"late": true}`))
			},
			mlops.ActionFailed: func(id string) (mlops.AgentAction, error) {
				return s.ActionMarkFailed(ctx, id, mlops.JSON(`{"late": true}`))
			},
		}
		// reach puts a fresh action into state from.
		reach := func(id string, from mlops.ActionStatus) {
			t.Helper()
			if from == mlops.ActionExpired {
				expireAction(t, s, c, id)
				return
			}
			mustAction(t, s, id)
			var err error
			switch from {
			case mlops.ActionApproved:
				_, err = s.ActionApprove(ctx, id, "alice", "")
			case mlops.ActionRejected:
				_, err = s.ActionReject(ctx, id, "alice", "")
			case mlops.ActionExecuted, mlops.ActionFailed:
				if _, err = s.ActionApprove(ctx, id, "alice", ""); err == nil {
					_, err = ops[from](id)
				}
			}
			must(t, err)
		}
		n := 0
		for _, from := range mlops.ActionStatuses {
			for _, to := range []mlops.ActionStatus{mlops.ActionApproved, mlops.ActionRejected, mlops.ActionExecuted, mlops.ActionFailed} {
				n++
				id := fmt.Sprintf("act-%s-%s", from, to)
				c.Set(base)
				reach(id, from)
				before, err := s.ActionGet(ctx, id)
				must(t, err)
				c.Set(base.Add(time.Hour))
				got, err := ops[to](id)
				if mlops.ActionTransitions[to] == from {
					if err != nil || got.Status != to {
						t.Errorf("%s → %s is allowed: status %s, %v", from, to, got.Status, err)
					}
					continue
				}
				if !errors.Is(err, mlops.ErrInvalidTransition) || !errors.Is(err, mlops.ErrConflict) {
					t.Errorf("%s → %s: error = %v, want ErrInvalidTransition (and ErrConflict)", from, to, err)
					continue
				}
				var te *mlops.TransitionError
				if !errors.As(err, &te) || te.From != string(from) || te.To != string(to) || te.Key != id {
					t.Errorf("%s → %s: transition error %+v", from, to, te)
				}
				after, err := s.ActionGet(ctx, id)
				must(t, err)
				if !reflect.DeepEqual(before, after) {
					t.Errorf("%s → %s was refused but changed the action:\nbefore %+v\nafter  %+v", from, to, before, after)
				}
			}
		}
		if n != 24 {
			t.Fatalf("tried %d transitions, want 24", n)
		}
	})
}

// TestActionQueuePages: pending actions oldest first (the approval queue),
// a page at a time, without the decided ones.
func TestActionQueuePages(t *testing.T) {
	t.Parallel()
	eachClock(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := t.Context()
		for _, id := range []string{"q1", "q2", "q3", "q4", "q5"} {
			mustAction(t, s, id)
			c.Advance(time.Second)
		}
		_, err := s.ActionReject(ctx, "q2", "bob", "")
		must(t, err)
		var got []string
		cursor := ""
		for page := 0; page < 10; page++ {
			items, next, err := s.ActionList(ctx, store.ActionFilter{Status: mlops.ActionPending, OldestFirst: true,
				Page: store.Page{Limit: 2, Cursor: cursor}})
			must(t, err)
			got = append(got, actionIDs(items)...)
			if next == "" {
				break
			}
			cursor = next
		}
		if !reflect.DeepEqual(got, []string{"q1", "q3", "q4", "q5"}) {
			t.Fatalf("queue = %v, want [q1 q3 q4 q5]", got)
		}
	})
}
