package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
)

type auditListIn struct {
	EntityType string    `query:"entity_type" doc:"Only events about this kind of record: model_version, action, alert, drift_report, user, token, ..."`
	EntityID   string    `query:"entity_id" doc:"Only events about this record (with entity_type)."`
	Actor      string    `query:"actor" doc:"Only events by this user or token name (system for the server's own changes)."`
	Event      string    `query:"event" doc:"Only this event: model.activated, action.approved, ..."`
	Since      time.Time `query:"since" doc:"RFC 3339: only events at or after this time."`
	Until      time.Time `query:"until" doc:"RFC 3339: only events before this time."`
	PageParams
}

func registerAudit(api huma.API, s *Server) {
	handle(api, s, mlops.PermAudit, huma.Operation{
		OperationID: "list-audit-events", Method: http.MethodGet, Path: "/api/v1/audit", Tags: []string{"Audit log"},
		Summary: "The audit log, newest first",
		Description: "Every change of state, recorded in the same transaction as the change: who (actor, actor_kind), " +
			"what (event, entity_type, entity_id, before, after), from where (request_id, remote_addr). " +
			"Each event's hash covers the previous event's hash and its own canonical JSON; mlops audit verify checks the chain.",
	}, func(ctx context.Context, in *auditListIn) (*body[List[mlops.AuditEvent]], error) {
		return list(s.st.AuditList(ctx, store.AuditFilter{EntityType: in.EntityType, EntityID: in.EntityID, Actor: in.Actor,
			Event: in.Event, Since: in.Since, Until: in.Until, Page: in.page()}))
	})
}
