package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mlopsdev/mlops"
)

const actionColumns = `id, action_id, action_type, description, risk_level, requires_approval, issue_id,
	issue_type, issue_severity, status, reviewed_by, reviewed_at, review_comment, executed_at,
	execution_result, parameters, created_at`

func scanAction(sc scanner) (mlops.AgentAction, error) {
	var (
		a                    mlops.AgentAction
		reviewedBy, comment  sql.NullString
		reviewedAt, executed sql.NullTime
		result, params       []byte
	)
	err := sc.Scan(&a.ID, &a.ActionID, &a.ActionType, &a.Description, &a.RiskLevel, &a.RequiresApproval,
		&a.IssueID, &a.IssueType, &a.IssueSeverity, &a.Status, &reviewedBy, &reviewedAt, &comment,
		&executed, &result, &params, &a.CreatedAt)
	if err != nil {
		return a, err
	}
	a.ReviewedBy, a.ReviewedAt, a.ReviewComment = nullString(reviewedBy), nullTime(reviewedAt), nullString(comment)
	a.ExecutedAt, a.ExecutionResult, a.Parameters = nullTime(executed), rawJSON(result), rawJSON(params)
	a.CreatedAt = utc(a.CreatedAt)
	return a, nil
}

// ActionCreate files an agent action (the seed's create_agent_action). It
// starts pending when it requires approval, else approved. A duplicate
// action_id is ErrConflict.
func (s *Store) ActionCreate(ctx context.Context, in mlops.NewAgentAction) (mlops.AgentAction, error) {
	if err := in.Validate(); err != nil {
		return mlops.AgentAction{}, err
	}
	requires := in.RequiresApproval == nil || *in.RequiresApproval
	status := mlops.ActionApproved
	if requires {
		status = mlops.ActionPending
	}
	a, err := scanAction(s.writer().QueryRowContext(ctx, `
		INSERT INTO agent_actions (action_id, action_type, description, risk_level, requires_approval,
			issue_id, issue_type, issue_severity, status, parameters, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING `+actionColumns,
		in.ActionID, in.ActionType, in.Description, string(in.RiskLevel), requires, in.IssueID, in.IssueType,
		in.IssueSeverity, string(status), jsonArg(in.Parameters, "{}"), s.Now()))
	if err != nil {
		err = classify(err)
		if errors.Is(err, mlops.ErrConflict) {
			return a, fmt.Errorf("action_id %q already exists: %w", in.ActionID, mlops.ErrConflict)
		}
		return a, err
	}
	return a, nil
}

// ActionGet returns one action by its action_id.
func (s *Store) ActionGet(ctx context.Context, actionID string) (mlops.AgentAction, error) {
	a, err := scanAction(s.reader().QueryRowContext(ctx, `SELECT `+actionColumns+` FROM agent_actions WHERE action_id = $1`, actionID))
	if err != nil {
		return a, notFound(err, "action %q", actionID)
	}
	return a, nil
}

// ActionFilter selects actions for ActionList.
type ActionFilter struct {
	Status mlops.ActionStatus // empty: every status
	Since  time.Time          // zero: no lower bound
	Page
}

// ActionList lists actions newest first; Status pending is the approval
// queue.
func (s *Store) ActionList(ctx context.Context, f ActionFilter) ([]mlops.AgentAction, string, error) {
	limit, cur, err := f.Page.resolve()
	if err != nil {
		return nil, "", err
	}
	if f.Status != "" && !f.Status.Valid() {
		return nil, "", mlops.Invalid("status", "must be one of pending, approved, rejected, executed, failed, got %q", f.Status)
	}
	var q query
	if f.Status != "" {
		q.add("status = ?", string(f.Status))
	}
	if !f.Since.IsZero() {
		q.add("created_at >= ?", f.Since.UTC())
	}
	q.keyset(cur)
	rows, err := s.reader().QueryContext(ctx, `SELECT `+actionColumns+` FROM agent_actions`+q.sql()+
		` ORDER BY created_at DESC, id DESC`+limitSQL(limit), q.args...)
	items, err := collect(rows, err, scanAction)
	if err != nil {
		return nil, "", err
	}
	items, next := trimPage(items, limit, func(a mlops.AgentAction) Cursor { return Cursor{a.CreatedAt, a.ID} })
	return items, next, nil
}

// ActionsPending returns the approval queue, oldest first (the seed's
// get_pending_actions).
func (s *Store) ActionsPending(ctx context.Context) ([]mlops.AgentAction, error) {
	rows, err := s.reader().QueryContext(ctx, `SELECT `+actionColumns+` FROM agent_actions
		WHERE status = 'pending' ORDER BY created_at, id`)
	return collect(rows, err, scanAction)
}

// ActionApprove moves a pending action to approved (the seed's
// approve_action). Of two reviewers racing, exactly one wins; the other gets
// a *mlops.TransitionError (ErrInvalidTransition).
func (s *Store) ActionApprove(ctx context.Context, actionID, reviewer, comment string) (mlops.AgentAction, error) {
	return s.actionReview(ctx, actionID, mlops.ActionApproved, reviewer, comment)
}

// ActionReject moves a pending action to rejected (the seed's reject_action).
func (s *Store) ActionReject(ctx context.Context, actionID, reviewer, comment string) (mlops.AgentAction, error) {
	return s.actionReview(ctx, actionID, mlops.ActionRejected, reviewer, comment)
}

func (s *Store) actionReview(ctx context.Context, actionID string, to mlops.ActionStatus, reviewer, comment string) (mlops.AgentAction, error) {
	if err := errors.Join(mlops.ValidateActor("reviewer", reviewer), mlops.ValidateText("comment", comment)); err != nil {
		return mlops.AgentAction{}, firstValidation(err)
	}
	var c *string
	if comment != "" {
		c = &comment
	}
	return s.actionTransition(ctx, actionID, to, `reviewed_by = $3, reviewed_at = $4, review_comment = $5`,
		reviewer, s.Now(), c)
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
	return s.actionTransition(ctx, actionID, to, `executed_at = $3, execution_result = $4`,
		s.Now(), jsonArg(result, "{}"))
}

// actionTransition runs one conditional UPDATE: it changes the row only
// when it is in the state `to` may be reached from. set uses $3 onwards.
func (s *Store) actionTransition(ctx context.Context, actionID string, to mlops.ActionStatus, set string, args ...any) (mlops.AgentAction, error) {
	from := mlops.ActionTransitions[to]
	a, err := scanAction(s.writer().QueryRowContext(ctx, `UPDATE agent_actions SET status = $2, `+set+`
		WHERE action_id = $1 AND status = '`+string(from)+`' RETURNING `+actionColumns,
		append([]any{actionID, string(to)}, args...)...))
	if err == nil {
		return a, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return a, classify(err)
	}
	// No row changed: either the action does not exist or it is in another
	// state (a racing reviewer got there first).
	cur, gerr := s.ActionGet(ctx, actionID)
	if gerr != nil {
		return a, gerr
	}
	te := &mlops.TransitionError{Kind: "action", Key: actionID, From: string(cur.Status), To: string(to)}
	if cur.ReviewedBy != nil && (cur.Status == mlops.ActionApproved || cur.Status == mlops.ActionRejected) {
		te.By = *cur.ReviewedBy
		if cur.ReviewedAt != nil {
			te.At = cur.ReviewedAt.Format(time.RFC3339)
		}
	}
	te.Detail = fmt.Sprintf("only a %s action can become %s", from, to)
	return a, te
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
