package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/api"
)

// ActionCreate files an agent action (POST /api/v1/actions): pending when
// it requires approval, else approved. A taken action_id is a 409.
func (c *Client) ActionCreate(ctx context.Context, in api.NewAgentAction, opts ...CallOption) (mlops.AgentAction, error) {
	var out mlops.AgentAction
	r := c.newCall(http.MethodPost, "/api/v1/actions", opts)
	r.body = in
	return out, c.do(ctx, r, &out)
}

// ActionFilter selects actions.
type ActionFilter struct {
	Status mlops.ActionStatus // only actions in this status; pending is the approval queue
	Page
}

// ActionList returns one page of actions, newest first (GET
// /api/v1/actions).
func (c *Client) ActionList(ctx context.Context, f ActionFilter, opts ...CallOption) (api.List[mlops.AgentAction], error) {
	var out api.List[mlops.AgentAction]
	r := c.newCall(http.MethodGet, "/api/v1/actions", opts)
	r.query = url.Values{}
	setString(r.query, "status", string(f.Status))
	f.Page.set(r.query)
	return out, c.do(ctx, r, &out)
}

// ActionListAll yields every action f selects, newest first.
func (c *Client) ActionListAll(ctx context.Context, f ActionFilter, opts ...CallOption) iter.Seq2[mlops.AgentAction, error] {
	return all(ctx, f.Cursor, func(ctx context.Context, cursor string) (api.List[mlops.AgentAction], error) {
		f.Cursor = cursor
		return c.ActionList(ctx, f, opts...)
	})
}

// ActionGet returns one action by its action_id (GET
// /api/v1/actions/{action_id}).
func (c *Client) ActionGet(ctx context.Context, actionID string, opts ...CallOption) (mlops.AgentAction, error) {
	var out mlops.AgentAction
	return out, c.do(ctx, c.newCall(http.MethodGet, pathf("/api/v1/actions/%s", actionID), opts), &out)
}

// ActionApprove approves a pending action (POST
// /api/v1/actions/{action_id}/approve). A high or critical action needs
// two reviewers: the first approval answers the action still pending. A
// 409 from any other status, or from the same reviewer twice; a 403 on
// one's own proposal. With authentication on, the reviewer is the caller:
// leave Reviewer empty.
func (c *Client) ActionApprove(ctx context.Context, actionID string, in api.Review, opts ...CallOption) (mlops.AgentAction, error) {
	return c.actionStep(ctx, actionID, "approve", in, opts)
}

// ActionReject rejects a pending action (POST
// /api/v1/actions/{action_id}/reject); a 409 from any other status.
func (c *Client) ActionReject(ctx context.Context, actionID string, in api.Review, opts ...CallOption) (mlops.AgentAction, error) {
	return c.actionStep(ctx, actionID, "reject", in, opts)
}

// ActionMarkExecuted reports that an approved action was carried out, with
// what it produced (POST /api/v1/actions/{action_id}/executed); a 409 from
// any other status.
func (c *Client) ActionMarkExecuted(ctx context.Context, actionID string, result api.Object, opts ...CallOption) (mlops.AgentAction, error) {
	return c.actionStep(ctx, actionID, "executed", api.Outcome{Result: result}, opts)
}

// ActionMarkFailed reports that carrying out an approved action failed
// (POST /api/v1/actions/{action_id}/failed); a 409 from any other status.
func (c *Client) ActionMarkFailed(ctx context.Context, actionID string, result api.Object, opts ...CallOption) (mlops.AgentAction, error) {
	return c.actionStep(ctx, actionID, "failed", api.Outcome{Result: result}, opts)
}

func (c *Client) actionStep(ctx context.Context, actionID, step string, body any, opts []CallOption) (mlops.AgentAction, error) {
	var out mlops.AgentAction
	r := c.newCall(http.MethodPost, pathf("/api/v1/actions/%s/", actionID)+step, opts)
	r.body = body
	return out, c.do(ctx, r, &out)
}
