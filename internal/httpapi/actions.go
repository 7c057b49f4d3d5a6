package httpapi

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/api"
	"github.com/mlopsdev/mlops/store"
)

// NewAgentAction is the body of POST /api/v1/actions.
type NewAgentAction = api.NewAgentAction

// Review is the body of approve and reject.
type Review = api.Review

// Outcome is the body of executed and failed.
type Outcome = api.Outcome

type actionCreateIn struct {
	Body NewAgentAction
}

type ActionPath struct {
	ActionID string `path:"action_id" doc:"The action's action_id."`
}

type actionListIn struct {
	Status mlops.ActionStatus `query:"status" enum:"pending,approved,rejected,executed,failed,expired" doc:"Only actions in this status; pending is the approval queue."`
	PageParams
}

type actionReviewIn struct {
	ActionPath
	Body *Review `required:"false"`
}

func (in *actionReviewIn) review() Review {
	if in.Body == nil {
		return Review{}
	}
	return *in.Body
}

type actionOutcomeIn struct {
	ActionPath
	Body *Outcome `required:"false"`
}

func (in *actionOutcomeIn) result() mlops.JSON {
	if in.Body == nil {
		return nil
	}
	return raw(in.Body.Result)
}

func registerActions(api huma.API, s *Server) {
	tags := []string{"Agent actions"}
	conflict := []int{http.StatusConflict}
	handle(api, s, mlops.PermAct, huma.Operation{
		OperationID: "create-action", Method: http.MethodPost, Path: "/api/v1/actions", Tags: tags,
		Summary: "File an agent action", DefaultStatus: http.StatusCreated, Errors: conflict,
	}, func(ctx context.Context, in *actionCreateIn) (*body[mlops.AgentAction], error) {
		b := in.Body
		a, err := s.st.ActionCreate(ctx, mlops.NewAgentAction{
			ActionID: b.ActionID, ActionType: b.ActionType, Description: b.Description, RiskLevel: b.RiskLevel,
			RequiresApproval: b.RequiresApproval, IssueID: b.IssueID, IssueType: b.IssueType,
			IssueSeverity: b.IssueSeverity, Parameters: raw(b.Parameters),
		})
		if err == nil {
			s.m.ingest("agent_actions", 1)
		}
		return ok(a, err)
	})
	handle(api, s, mlops.PermRead, huma.Operation{
		OperationID: "list-actions", Method: http.MethodGet, Path: "/api/v1/actions", Tags: tags,
		Summary: "List actions, newest first",
	}, func(ctx context.Context, in *actionListIn) (*body[List[mlops.AgentAction]], error) {
		return list(s.st.ActionList(ctx, store.ActionFilter{Status: in.Status, Page: in.page()}))
	})
	handle(api, s, mlops.PermRead, huma.Operation{
		OperationID: "get-action", Method: http.MethodGet, Path: "/api/v1/actions/{action_id}", Tags: tags,
		Summary: "One action",
	}, func(ctx context.Context, in *ActionPath) (*body[mlops.AgentAction], error) {
		return ok(s.st.ActionGet(ctx, in.ActionID))
	})
	transition := func(id, path, summary string, fn func(ctx context.Context, actionID string, in Review) (mlops.AgentAction, error)) {
		handle(api, s, mlops.PermReview, huma.Operation{
			OperationID: id, Method: http.MethodPost, Path: "/api/v1/actions/{action_id}/" + path, Tags: tags,
			Summary: summary, Errors: conflict,
			Description: "Any other transition is 409 and changes nothing; of two reviewers racing, one wins and the other gets 409.",
		}, func(ctx context.Context, in *actionReviewIn) (*body[mlops.AgentAction], error) {
			r := in.review()
			var err error
			if r.Reviewer, err = callerName(ctx, "reviewer", r.Reviewer); err != nil {
				return nil, err
			}
			return ok(fn(ctx, in.ActionID, r))
		})
	}
	transition("approve-action", "approve", "Approve a pending action", func(ctx context.Context, id string, r Review) (mlops.AgentAction, error) {
		return s.st.ActionApprove(ctx, id, r.Reviewer, r.Comment)
	})
	transition("reject-action", "reject", "Reject a pending action", func(ctx context.Context, id string, r Review) (mlops.AgentAction, error) {
		return s.st.ActionReject(ctx, id, r.Reviewer, r.Comment)
	})
	finish := func(id, path, summary string, fn func(ctx context.Context, actionID string, result mlops.JSON) (mlops.AgentAction, error)) {
		handle(api, s, mlops.PermAct, huma.Operation{
			OperationID: id, Method: http.MethodPost, Path: "/api/v1/actions/{action_id}/" + path, Tags: tags,
			Summary: summary, Errors: conflict,
			Description: "Sets executed_at and execution_result. Only an approved action can finish; anything else is 409.",
		}, func(ctx context.Context, in *actionOutcomeIn) (*body[mlops.AgentAction], error) {
			return ok(fn(ctx, in.ActionID, in.result()))
		})
	}
	finish("mark-action-executed", "executed", "Mark an approved action executed", s.st.ActionMarkExecuted)
	finish("mark-action-failed", "failed", "Mark an approved action failed", s.st.ActionMarkFailed)
}
