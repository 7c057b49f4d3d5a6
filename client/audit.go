package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/api"
)

// AuditFilter selects audit events.
type AuditFilter struct {
	EntityType string    // model_version, action, alert, drift_report, user, token, ...
	EntityID   string    // with EntityType: one record
	Actor      string    // a user or token name; system for the server's own changes
	Event      string    // model.activated, action.approved, ...
	Since      time.Time // at or after
	Until      time.Time // before
	Page
}

// AuditList returns one page of the audit log, newest first (GET
// /api/v1/audit).
func (c *Client) AuditList(ctx context.Context, f AuditFilter, opts ...CallOption) (api.List[mlops.AuditEvent], error) {
	var out api.List[mlops.AuditEvent]
	r := c.newCall(http.MethodGet, "/api/v1/audit", opts)
	q := url.Values{}
	setString(q, "entity_type", f.EntityType)
	setString(q, "entity_id", f.EntityID)
	setString(q, "actor", f.Actor)
	setString(q, "event", f.Event)
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.UTC().Format(time.RFC3339Nano))
	}
	f.Page.set(q)
	r.query = q
	return out, c.do(ctx, r, &out)
}

// AuditListAll yields every audit event f selects, newest first.
func (c *Client) AuditListAll(ctx context.Context, f AuditFilter, opts ...CallOption) iter.Seq2[mlops.AuditEvent, error] {
	return all(ctx, f.Cursor, func(ctx context.Context, cursor string) (api.List[mlops.AuditEvent], error) {
		f.Cursor = cursor
		return c.AuditList(ctx, f, opts...)
	})
}
