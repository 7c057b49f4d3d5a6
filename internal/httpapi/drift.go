package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/api"
	"github.com/mlopsdev/mlops/store"
)

// NewDriftReport is the body of POST /api/v1/drift-reports.
type NewDriftReport = api.NewDriftReport

type driftCreateIn struct {
	Body NewDriftReport
}

type driftListIn struct {
	ModelID int64 `query:"model_id" minimum:"1" doc:"Only reports of this model version."`
	Days    int   `query:"days" minimum:"0" maximum:"36500" default:"30" doc:"How many days back."`
	PageParams
}

type driftLatestIn struct {
	ModelID int64 `query:"model_id" minimum:"1" doc:"The model version; without it, the latest report of any."`
}

func registerDrift(api huma.API, s *Server) {
	tags := []string{"Drift reports"}
	handle(api, s, mlops.PermIngest, huma.Operation{
		OperationID: "create-drift-report", Method: http.MethodPost, Path: "/api/v1/drift-reports", Tags: tags,
		Summary: "Store a drift report", DefaultStatus: http.StatusCreated,
	}, func(ctx context.Context, in *driftCreateIn) (*body[mlops.DriftReport], error) {
		b := in.Body
		d, err := s.st.DriftReportCreate(ctx, mlops.NewDriftReport{
			ModelID: b.ModelID, DriftDetected: b.DriftDetected, DriftScore: b.DriftScore,
			DriftedFeatures: b.DriftedFeatures, NDriftedFeatures: b.NDriftedFeatures, ReportPath: b.ReportPath,
			ReferenceSize: b.ReferenceSize, CurrentSize: b.CurrentSize, Details: raw(b.Details),
		})
		if err == nil {
			s.m.ingest("drift_reports", 1)
		}
		return ok(d, err)
	})
	handle(api, s, mlops.PermRead, huma.Operation{
		OperationID: "list-drift-reports", Method: http.MethodGet, Path: "/api/v1/drift-reports", Tags: tags,
		Summary: "Drift report history, newest first",
	}, func(ctx context.Context, in *driftListIn) (*body[List[mlops.DriftReport]], error) {
		since := s.st.Now().Add(-time.Duration(in.Days) * 24 * time.Hour)
		return list(s.st.DriftReportList(ctx, store.DriftReportFilter{ModelID: in.ModelID, Since: since, Page: in.page()}))
	})
	handle(api, s, mlops.PermRead, huma.Operation{
		OperationID: "get-latest-drift-report", Method: http.MethodGet, Path: "/api/v1/drift-reports/latest", Tags: tags,
		Summary: "The latest drift report", Errors: []int{http.StatusNotFound},
	}, func(ctx context.Context, in *driftLatestIn) (*body[mlops.DriftReport], error) {
		return ok(s.st.DriftReportLatest(ctx, in.ModelID))
	})
}
