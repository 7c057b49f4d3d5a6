package httpapi

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/api"
	"github.com/mlopsdev/mlops/store"
)

// NewAlert is the body of POST /api/v1/alerts.
type NewAlert = api.NewAlert

// Acknowledgement is the body of POST /api/v1/alerts/{id}/acknowledge.
type Acknowledgement = api.Acknowledgement

// Resolution is the body of POST /api/v1/alerts/{id}/resolve.
type Resolution = api.Resolution

type alertCreateIn struct {
	Body NewAlert
}

type alertListIn struct {
	Status   mlops.AlertStatus `query:"status" enum:"active,acknowledged,resolved" doc:"Only alerts in this status."`
	Severity mlops.Severity    `query:"severity" enum:"info,low,medium,high,critical" doc:"Only alerts of this severity."`
	PageParams
}

type alertAckIn struct {
	IDPath
	Body *Acknowledgement `required:"false"`
}

type alertResolveIn struct {
	IDPath
	Body *Resolution `required:"false"`
}

func registerAlerts(api huma.API, s *Server) {
	tags := []string{"Alerts"}
	conflict := []int{http.StatusConflict}
	handle(api, s, mlops.PermAct, huma.Operation{
		OperationID: "create-alert", Method: http.MethodPost, Path: "/api/v1/alerts", Tags: tags,
		Summary: "Raise an alert (status active)", DefaultStatus: http.StatusCreated,
	}, func(ctx context.Context, in *alertCreateIn) (*body[mlops.Alert], error) {
		b := in.Body
		a, err := s.st.AlertCreate(ctx, mlops.NewAlert{AlertType: b.AlertType, Severity: b.Severity, Title: b.Title,
			Message: b.Message, RelatedData: raw(b.RelatedData)})
		if err == nil {
			s.m.ingest("alerts", 1)
		}
		return ok(a, err)
	})
	handle(api, s, mlops.PermRead, huma.Operation{
		OperationID: "list-alerts", Method: http.MethodGet, Path: "/api/v1/alerts", Tags: tags,
		Summary: "List alerts, newest first",
	}, func(ctx context.Context, in *alertListIn) (*body[List[mlops.Alert]], error) {
		return list(s.st.AlertList(ctx, store.AlertFilter{Status: in.Status, Severity: in.Severity, Page: in.page()}))
	})
	handle(api, s, mlops.PermRead, huma.Operation{
		OperationID: "get-alert", Method: http.MethodGet, Path: "/api/v1/alerts/{id}", Tags: tags,
		Summary: "One alert",
	}, func(ctx context.Context, in *IDPath) (*body[mlops.Alert], error) {
		return ok(s.st.AlertGet(ctx, in.ID))
	})
	handle(api, s, mlops.PermReview, huma.Operation{
		OperationID: "acknowledge-alert", Method: http.MethodPost, Path: "/api/v1/alerts/{id}/acknowledge", Tags: tags,
		Summary: "Acknowledge an active alert", Errors: conflict,
		Description: "Only an active alert can be acknowledged; anything else is 409.",
	}, func(ctx context.Context, in *alertAckIn) (*body[mlops.Alert], error) {
		var b Acknowledgement
		if in.Body != nil {
			b = *in.Body
		}
		user, err := callerName(ctx, "user", b.User)
		if err != nil {
			return nil, err
		}
		return ok(s.st.AlertAcknowledge(ctx, in.ID, user))
	})
	handle(api, s, mlops.PermReview, huma.Operation{
		OperationID: "resolve-alert", Method: http.MethodPost, Path: "/api/v1/alerts/{id}/resolve", Tags: tags,
		Summary: "Resolve an active or acknowledged alert", Errors: conflict,
		Description: "Resolving a resolved alert is 409.",
	}, func(ctx context.Context, in *alertResolveIn) (*body[mlops.Alert], error) {
		var b Resolution
		if in.Body != nil {
			b = *in.Body
		}
		user, err := callerName(ctx, "user", b.User)
		if err != nil {
			return nil, err
		}
		return ok(s.st.AlertResolve(ctx, in.ID, user, b.Notes))
	})
}
