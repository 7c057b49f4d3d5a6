package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mlopsdev/mlops"
)

const actionColumns = `id, action_id, action_type, description, risk_level, requires_approval, issue_id,
	issue_type, issue_severity, status, reviewed_by, reviewed_at, review_comment, executed_at,
	execution_result, parameters, created_at, proposed_by, proposed_by_kind, expires_at`

func scanAction(sc scanner) (mlops.AgentAction, error) {
	var (
		a                    mlops.AgentAction
		reviewedBy, comment  sql.NullString
		reviewedAt, executed sql.NullTime
		expires              sql.NullTime
		result, params       []byte
	)
	err := sc.Scan(&a.ID, &a.ActionID, &a.ActionType, &a.Description, &a.RiskLevel, &a.RequiresApproval,
		&a.IssueID, &a.IssueType, &a.IssueSeverity, &a.Status, &reviewedBy, &reviewedAt, &comment,
		&executed, &result, &params, &a.CreatedAt, &a.ProposedBy, &a.ProposedByKind, &expires)
	if err != nil {
		return a, err
	}
	a.ReviewedBy, a.ReviewedAt, a.ReviewComment = nullString(reviewedBy), nullTime(reviewedAt), nullString(comment)
	a.ExecutedAt, a.ExecutionResult, a.Parameters = nullTime(executed), rawJSON(result), rawJSON(params)
	a.CreatedAt, a.ExpiresAt = utc(a.CreatedAt), nullTime(expires)
	a.Approvals = []mlops.Approval{}
	return a, nil
}

// withApprovals fills in the approvals of actions (one query on db, where
// the actions were read) and the number each needs under the store's
// policy.
func (s *Store) withApprovals(ctx context.Context, db querier, actions []mlops.AgentAction) error {
	if len(actions) == 0 {
		return nil
	}
	byID := make(map[int64]*mlops.AgentAction, len(actions))
	ids := make([]string, 0, len(actions))
	for i := range actions {
		a := &actions[i]
		a.RequiredApprovals = s.policy.RequiredApprovals(a.RiskLevel)
		if !a.RequiresApproval {
			a.RequiredApprovals = 0
		}
		byID[a.ID] = a
		ids = append(ids, strconv.FormatInt(a.ID, 10))
	}
	rows, err := db.QueryContext(ctx, `SELECT action_id, by_name, by_kind, at, comment FROM action_approvals
		WHERE action_id IN (`+strings.Join(ids, ",")+`) ORDER BY at, id`)
	if err != nil {
		return classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id int64
			ap mlops.Approval
		)
		if err := rows.Scan(&id, &ap.By, &ap.Kind, &ap.At, &ap.Comment); err != nil {
			return classify(err)
		}
		ap.At = utc(ap.At)
		if a := byID[id]; a != nil {
			a.Approvals = append(a.Approvals, ap)
		}
	}
	return classify(rows.Err())
}

// withApproval is withApprovals for one action read on the primary.
func (s *Store) withApproval(ctx context.Context, a mlops.AgentAction) (mlops.AgentAction, error) {
	one := []mlops.AgentAction{a}
	if err := s.withApprovals(ctx, s.primary(), one); err != nil {
		return a, err
	}
	return one[0], nil
}

// ActionCreate files an agent action (the seed's create_agent_action). It
// starts pending when it requires approval, else approved. The actor of ctx
// is recorded as its proposer, who may not decide it; under a TTL policy a
// pending action gets an expires_at. A duplicate action_id is ErrConflict.
func (s *Store) ActionCreate(ctx context.Context, in mlops.NewAgentAction) (mlops.AgentAction, error) {
	if err := in.Validate(); err != nil {
		return mlops.AgentAction{}, err
	}
	requires := in.RequiresApproval == nil || *in.RequiresApproval
	status := mlops.ActionApproved
	if requires {
		status = mlops.ActionPending
	}
	proposer := ActorFrom(ctx)
	now := s.Now()
	var expires any
	if requires && s.policy.TTL > 0 {
		expires = now.Add(s.policy.TTL)
	}
	return auditedRow(ctx, s, func(tx *Store) (mlops.AgentAction, []change, error) {
		a, err := scanAction(tx.writer().QueryRowContext(ctx, `
			INSERT INTO agent_actions (action_id, action_type, description, risk_level, requires_approval,
				issue_id, issue_type, issue_severity, status, parameters, created_at, proposed_by, proposed_by_kind, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING `+actionColumns,
			in.ActionID, in.ActionType, in.Description, string(in.RiskLevel), requires, in.IssueID, in.IssueType,
			in.IssueSeverity, string(status), jsonArg(in.Parameters, "{}"), now, proposer.Name, string(proposer.Kind), expires))
		if err != nil {
			return a, nil, conflict(err, "action_id %q already exists", in.ActionID)
		}
		if a, err = tx.withApproval(ctx, a); err != nil {
			return a, nil, err
		}
		return a, []change{{event: "action.proposed", entityType: "action", entityID: a.ActionID, after: a}}, nil
	})
}

// ActionGet returns one action by its action_id.
func (s *Store) ActionGet(ctx context.Context, actionID string) (mlops.AgentAction, error) {
	a, err := scanAction(s.primary().QueryRowContext(ctx, `SELECT `+actionColumns+` FROM agent_actions WHERE action_id = $1`, actionID))
	if err != nil {
		return a, notFound(err, "action %q", actionID)
	}
	return s.withApproval(ctx, a)
}

// ActionFilter selects actions for ActionList.
type ActionFilter struct {
	Status mlops.ActionStatus // empty: every status
	Since  time.Time          // zero: no lower bound
	// OldestFirst lists oldest first instead of newest first: with Status
	// pending, the approval queue in the order it should be worked through.
	OldestFirst bool
	Page
}

// ActionList lists actions newest first, or oldest first with OldestFirst
// (the seed's get_pending_actions is Status pending, OldestFirst, no limit).
func (s *Store) ActionList(ctx context.Context, f ActionFilter) ([]mlops.AgentAction, string, error) {
	limit, cur, err := f.Page.resolve()
	if err != nil {
		return nil, "", err
	}
	var q query
	if err := whereOneOf(&q, "status", f.Status, mlops.ActionStatuses); err != nil {
		return nil, "", err
	}
	if !f.Since.IsZero() {
		q.add("created_at >= ?", f.Since.UTC())
	}
	if f.OldestFirst {
		if cur != nil {
			q.add("(created_at > ? OR (created_at = ? AND id > ?))", cur.CreatedAt, cur.CreatedAt, cur.ID)
		}
		return s.actionPage(ctx, q, "created_at, id", limit)
	}
	q.keyset(cur)
	return s.actionPage(ctx, q, newestFirst, limit)
}

// actionPage runs one page of a query over agent_actions, ordered by
// order, and fills in each action's approvals.
func (s *Store) actionPage(ctx context.Context, q query, order string, limit int) ([]mlops.AgentAction, string, error) {
	db := s.reader()
	items, next, err := listPage(ctx, db, `SELECT `+actionColumns+` FROM agent_actions`, q, order, limit, scanAction,
		func(a mlops.AgentAction) Cursor { return Cursor{a.CreatedAt, a.ID} })
	if err != nil {
		return nil, "", err
	}
	if err := s.withApprovals(ctx, db, items); err != nil {
		return nil, "", err
	}
	return items, next, nil
}

// ActionApprove records reviewer's approval of a pending action (the seed's
// approve_action). An action that needs one approval becomes approved; a
// two-person action (see mlops.ApprovalPolicy) stays pending with the
// approval listed until a second, different reviewer approves. The
// proposer may not approve (ErrForbidden); the same reviewer twice is
// ErrConflict; an expired or decided action is a *mlops.TransitionError.
// Of two reviewers racing, the decision is made once.
//
// The reviewer's kind (user, token) is the ctx actor's when its name is
// reviewer, else anonymous (auth off: the name typed in the form).
func (s *Store) ActionApprove(ctx context.Context, actionID, reviewer, comment string) (mlops.AgentAction, error) {
	return s.actionReview(ctx, actionID, mlops.ActionApproved, reviewer, comment)
}

// ActionReject moves a pending action to rejected (the seed's
// reject_action), even after a first approval of two. The proposer may not
// reject it.
func (s *Store) ActionReject(ctx context.Context, actionID, reviewer, comment string) (mlops.AgentAction, error) {
	return s.actionReview(ctx, actionID, mlops.ActionRejected, reviewer, comment)
}

func (s *Store) actionReview(ctx context.Context, actionID string, to mlops.ActionStatus, reviewer, comment string) (mlops.AgentAction, error) {
	if err := errors.Join(mlops.ValidateActor("reviewer", reviewer), mlops.ValidateText("comment", comment)); err != nil {
		return mlops.AgentAction{}, firstValidation(err)
	}
	kind := mlops.KindAnonymous
	if a := ActorFrom(ctx); a.Name == reviewer && a.Kind != mlops.KindSystem {
		kind = a.Kind
	}
	var (
		out     mlops.AgentAction
		refused error // a refusal whose transaction still commits (an expiry)
	)
	err := s.audited(ctx, func(tx *Store) ([]change, error) {
		before, err := tx.actionForUpdate(ctx, actionID)
		if err != nil {
			return nil, err
		}
		if before.Status == mlops.ActionPending && before.ExpiresAt != nil && !tx.Now().Before(*before.ExpiresAt) {
			// Past its expiry: it expires now, and the decision is refused.
			c, err := tx.expireLocked(ctx, before)
			refused = transitionError(c.after.(mlops.AgentAction), to)
			return []change{c}, err
		}
		if before.Status != mlops.ActionPending {
			return nil, transitionError(before, to)
		}
		if (kind == mlops.KindUser || kind == mlops.KindToken) && before.ProposedByKind == kind && before.ProposedBy == reviewer {
			return nil, fmt.Errorf("%s %s proposed action %s and cannot %s it: another reviewer must decide: %w",
				kind, reviewer, actionID, verb(to), mlops.ErrForbidden)
		}
		now := tx.Now()
		w := tx.writer()
		event := "action." + string(to)
		if to == mlops.ActionApproved {
			if _, err := w.ExecContext(ctx, `INSERT INTO action_approvals (action_id, by_name, by_kind, at, comment)
				VALUES ($1, $2, $3, $4, $5)`, before.ID, reviewer, string(kind), now, comment); err != nil {
				return nil, conflict(err, "%s already approved action %s; a second approval must come from another reviewer",
					reviewer, actionID)
			}
			if len(before.Approvals)+1 < before.RequiredApprovals {
				event = "action.approval_recorded"
				if out, err = tx.ActionGet(ctx, actionID); err != nil {
					return nil, err
				}
				return []change{{event: event, entityType: "action", entityID: actionID, before: before, after: out}}, nil
			}
		}
		var c *string
		if comment != "" {
			c = &comment
		}
		a, err := scanAction(w.QueryRowContext(ctx, `UPDATE agent_actions SET status = $2, reviewed_by = $3,
			reviewed_at = $4, review_comment = $5 WHERE action_id = $1 AND status = 'pending' RETURNING `+actionColumns,
			actionID, string(to), reviewer, now, c))
		if err != nil {
			return nil, classify(err)
		}
		// The row is locked: its approvals are the ones read, and this one.
		a.RequiredApprovals, a.Approvals = before.RequiredApprovals, before.Approvals
		if to == mlops.ActionApproved {
			a.Approvals = append(slices.Clip(a.Approvals), mlops.Approval{By: reviewer, Kind: kind, At: now, Comment: comment})
		}
		out = a
		return []change{{event: event, entityType: "action", entityID: actionID, before: before, after: out}}, nil
	})
	if err == nil && refused != nil {
		return mlops.AgentAction{}, refused
	}
	return out, err
}

// expireLocked expires a pending action whose row the transaction holds.
func (s *Store) expireLocked(ctx context.Context, before mlops.AgentAction) (change, error) {
	a, err := scanAction(s.writer().QueryRowContext(ctx, `UPDATE agent_actions SET status = 'expired'
		WHERE action_id = $1 AND status = 'pending' RETURNING `+actionColumns, before.ActionID))
	if err == nil {
		a, err = s.withApproval(ctx, a)
	}
	return change{event: "action.expired", entityType: "action", entityID: a.ActionID, before: before, after: a, by: &System}, classify(err)
}

func verb(to mlops.ActionStatus) string {
	if to == mlops.ActionApproved {
		return "approve"
	}
	return "reject"
}

// actionForUpdate reads an action inside a transaction and, on PostgreSQL,
// locks its row until the commit, so decisions on one action run one at a
// time (SQLite's single writer already does that).
func (s *Store) actionForUpdate(ctx context.Context, actionID string) (mlops.AgentAction, error) {
	lock := ``
	if s.engine == Postgres {
		lock = ` FOR UPDATE`
	}
	a, err := scanAction(s.writer().QueryRowContext(ctx, `SELECT `+actionColumns+` FROM agent_actions WHERE action_id = $1`+lock, actionID))
	if err != nil {
		return a, notFound(err, "action %q", actionID)
	}
	if a.Status == mlops.ActionPending && a.RequiresApproval && s.policy.RequiredApprovals(a.RiskLevel) == 1 {
		// One approval decides it: a pending one has none yet.
		a.RequiredApprovals = 1
		return a, nil
	}
	return s.withApproval(ctx, a)
}

// transitionError explains why action a cannot move to state to.
func transitionError(a mlops.AgentAction, to mlops.ActionStatus) error {
	from := mlops.ActionTransitions[to]
	te := &mlops.TransitionError{Kind: "action", Key: a.ActionID, From: string(a.Status), To: string(to)}
	switch {
	case a.ReviewedBy != nil && (a.Status == mlops.ActionApproved || a.Status == mlops.ActionRejected):
		te.By = *a.ReviewedBy
		if a.ReviewedAt != nil {
			te.At = a.ReviewedAt.Format(time.RFC3339)
		}
	case a.Status == mlops.ActionExpired && a.ExpiresAt != nil:
		te.At = a.ExpiresAt.Format(time.RFC3339)
		te.By = "nobody: it expired"
	}
	te.Detail = fmt.Sprintf("only a %s action can become %s", from, to)
	return te
}

// ActionMarkExecuted moves an approved action to executed with its result
// (the seed's mark_action_executed).
func (s *Store) ActionMarkExecuted(ctx context.Context, actionID string, result mlops.JSON) (mlops.AgentAction, error) {
	return s.actionFinish(ctx, actionID, mlops.ActionExecuted, result)
}

// ActionMarkFailed moves an approved action to failed with its result.
func (s *Store) ActionMarkFailed(ctx context.Context, actionID string, result mlops.JSON) (mlops.AgentAction, error) {
	return s.actionFinish(ctx, actionID, mlops.ActionFailed, result)
}

func (s *Store) actionFinish(ctx context.Context, actionID string, to mlops.ActionStatus, result mlops.JSON) (mlops.AgentAction, error) {
	if err := mlops.ValidateObject("result", result); err != nil {
		return mlops.AgentAction{}, err
	}
	var out mlops.AgentAction
	err := s.audited(ctx, func(tx *Store) ([]change, error) {
		before, err := tx.actionForUpdate(ctx, actionID)
		if err != nil {
			return nil, err
		}
		if before.Status != mlops.ActionApproved {
			return nil, transitionError(before, to)
		}
		a, err := scanAction(tx.writer().QueryRowContext(ctx, `UPDATE agent_actions SET status = $2, executed_at = $3,
			execution_result = $4 WHERE action_id = $1 AND status = 'approved' RETURNING `+actionColumns,
			actionID, string(to), tx.Now(), jsonArg(result, "{}")))
		if err != nil {
			return nil, classify(err)
		}
		if out, err = tx.withApproval(ctx, a); err != nil {
			return nil, err
		}
		return []change{{event: "action." + string(to), entityType: "action", entityID: actionID, before: before, after: out}}, nil
	})
	return out, err
}

// ActionsExpire moves pending actions past their expires_at to expired,
// each with an action.expired event by the system; with actionIDs, only
// those. Each expires exactly once, whichever server gets there first (a
// conditional update). It returns the expired actions.
func (s *Store) ActionsExpire(ctx context.Context, actionIDs ...string) ([]mlops.AgentAction, error) {
	var out []mlops.AgentAction
	err := s.audited(WithActor(ctx, System), func(tx *Store) ([]change, error) {
		q := query{}
		q.add("status = 'pending'")
		q.add("expires_at IS NOT NULL")
		q.add("expires_at <= ?", tx.Now())
		if len(actionIDs) > 0 {
			ph := make([]string, len(actionIDs))
			for i := range actionIDs {
				ph[i] = "?"
			}
			args := make([]any, len(actionIDs))
			for i, id := range actionIDs {
				args[i] = id
			}
			q.add("action_id IN ("+strings.Join(ph, ", ")+")", args...)
		}
		rows, err := tx.writer().QueryContext(ctx, `UPDATE agent_actions SET status = 'expired'`+q.sql()+` RETURNING `+actionColumns, q.args...)
		expired, err := collect(rows, err, scanAction)
		if err != nil {
			return nil, err
		}
		if err := tx.withApprovals(ctx, tx.primary(), expired); err != nil {
			return nil, err
		}
		changes := make([]change, len(expired))
		for i, a := range expired {
			before := a
			before.Status = mlops.ActionPending
			changes[i] = change{event: "action.expired", entityType: "action", entityID: a.ActionID, before: before, after: a}
		}
		out = expired
		return changes, nil
	})
	return out, err
}

// firstValidation merges the ValidationErrors joined in err.
func firstValidation(err error) error {
	out := &mlops.ValidationError{}
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		if v, ok := mlops.AsValidation(e); ok {
			out.Fields = append(out.Fields, v.Fields...)
		}
	}
	walk(err)
	return out.Err()
}
