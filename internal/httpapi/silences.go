package httpapi

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/api"
)

// NewSilenceMatchers are the matchers of POST /api/v1/alerts/silences: a
// matcher left out matches any value.
type NewSilenceMatchers = api.NewSilenceMatchers

// NewSilence is the body of POST /api/v1/alerts/silences.
type NewSilence = api.NewSilence

type silenceCreateIn struct {
	Body NewSilence
}

type silenceListIn struct {
	Active bool `query:"active" doc:"Only the silences in force now (not expired, until in the future)."`
	PageParams
}

func registerSilences(api huma.API, s *Server) {
	tags := []string{"Alerts"}
	handle(api, s, mlops.PermReview, huma.Operation{
		OperationID: "create-alert-silence", Method: http.MethodPost, Path: "/api/v1/alerts/silences", Tags: tags,
		Summary: "Silence the alerts that match, until a time", DefaultStatus: http.StatusCreated,
		Description: "While the silence lasts, the rules raise no new alert that matches it and propose no action for one; " +
			"an open alert it matches is left as it is. The caller is recorded as created_by.",
	}, func(ctx context.Context, in *silenceCreateIn) (*body[mlops.Silence], error) {
		b := in.Body
		return ok(s.st.SilenceCreate(ctx, mlops.NewSilence{Matchers: mlops.SilenceMatchers{AlertType: b.Matchers.AlertType,
			ModelName: b.Matchers.ModelName, Severity: b.Matchers.Severity}, Until: b.Until, Comment: b.Comment}))
	})
	handle(api, s, mlops.PermRead, huma.Operation{
		OperationID: "list-alert-silences", Method: http.MethodGet, Path: "/api/v1/alerts/silences", Tags: tags,
		Summary: "List silences, newest first",
	}, func(ctx context.Context, in *silenceListIn) (*body[List[mlops.Silence]], error) {
		return list(s.st.SilenceList(ctx, in.Active, in.page()))
	})
	handle(api, s, mlops.PermReview, huma.Operation{
		OperationID: "expire-alert-silence", Method: http.MethodDelete, Path: "/api/v1/alerts/silences/{id}", Tags: tags,
		Summary: "End a silence now", Errors: []int{http.StatusConflict},
		Description: "Answers the expired silence. A silence that has ended already (expired, or past its until) is 409.",
	}, func(ctx context.Context, in *IDPath) (*body[mlops.Silence], error) {
		return ok(s.st.SilenceExpire(ctx, in.ID))
	})
}
