package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/api"
	"github.com/mlopsdev/mlops/store"
)

// ModelMetrics are the evaluation figures of a new model version.
type ModelMetrics = api.ModelMetrics

// NewModelVersion is the body of POST /api/v1/models.
type NewModelVersion = api.NewModelVersion

func modelVersionDomain(n NewModelVersion) (mlops.NewModelVersion, error) {
	out := mlops.NewModelVersion{
		ModelName: n.ModelName, Version: n.Version, Algorithm: n.Algorithm,
		Hyperparameters: raw(n.Hyperparameters), FeatureNames: n.FeatureNames, Status: n.Status,
		ModelPath: n.ModelPath, MetadataPath: n.MetadataPath, TrainingSamples: n.TrainingSamples,
	}
	if m := n.Metrics; m != nil {
		f1 := m.F1Score
		if m.F1 != nil {
			if f1 != nil && *f1 != *m.F1 {
				return out, mlops.Invalid("metrics.f1", "is an alias of metrics.f1_score and contradicts it (%v vs %v); give one of them", *m.F1, *f1)
			}
			f1 = m.F1
		}
		out.Metrics = mlops.Metrics{Accuracy: m.Accuracy, F1Score: f1, Precision: m.Precision, Recall: m.Recall, ROCAUC: m.ROCAUC}
	}
	return out, nil
}

type modelCreateIn struct {
	Body NewModelVersion
}

type modelListIn struct {
	ModelName string            `query:"model_name" doc:"Only versions of this model."`
	Status    mlops.ModelStatus `query:"status" enum:"training,staging,production,archived" doc:"Only versions in this status."`
	PageParams
}

type modelActiveIn struct {
	ModelName string    `query:"model_name" doc:"The model; without it, the most recently activated version of any model."`
	At        time.Time `query:"at" doc:"RFC 3339: the version that was active at that time, from the activation history (needs model_name)."`
}

func registerModels(api huma.API, s *Server) {
	tags := []string{"Model versions"}
	handle(api, s, mlops.PermIngest, huma.Operation{
		OperationID: "create-model-version", Method: http.MethodPost, Path: "/api/v1/models", Tags: tags,
		Summary:       "Register a model version",
		Description:   "A second (model_name, version) is 409.",
		DefaultStatus: http.StatusCreated, Errors: []int{http.StatusConflict},
	}, func(ctx context.Context, in *modelCreateIn) (*body[mlops.ModelVersion], error) {
		nm, err := modelVersionDomain(in.Body)
		if err != nil {
			return nil, err
		}
		m, err := s.st.ModelVersionCreate(ctx, nm)
		if errors.Is(err, mlops.ErrConflict) {
			return nil, fmt.Errorf("model %q version %q is already registered (use another version): %w",
				nm.ModelName, nm.Version, mlops.ErrConflict)
		}
		if err == nil {
			s.m.ingest("model_versions", 1)
		}
		return ok(m, err)
	})
	handle(api, s, mlops.PermRead, huma.Operation{
		OperationID: "list-model-versions", Method: http.MethodGet, Path: "/api/v1/models", Tags: tags,
		Summary: "List model versions, newest first",
	}, func(ctx context.Context, in *modelListIn) (*body[List[mlops.ModelVersion]], error) {
		return list(s.st.ModelVersionList(ctx, store.ModelVersionFilter{ModelName: in.ModelName, Status: in.Status, Page: in.page()}))
	})
	handle(api, s, mlops.PermRead, huma.Operation{
		OperationID: "get-active-model-version", Method: http.MethodGet, Path: "/api/v1/models/active", Tags: tags,
		Summary: "The active version of a model", Errors: []int{http.StatusNotFound},
		Description: "Without model_name, the most recently activated version of any model. 404 when none is active. " +
			"With at, the version that was active at that time (404 if none was).",
	}, func(ctx context.Context, in *modelActiveIn) (*body[mlops.ModelVersion], error) {
		if !in.At.IsZero() {
			if in.ModelName == "" {
				return nil, mlops.Invalid("model_name", "is required with at: the activation history is kept per model")
			}
			return ok(s.st.ModelVersionActiveAt(ctx, in.ModelName, in.At))
		}
		return ok(s.st.ModelVersionActive(ctx, in.ModelName))
	})
	handle(api, s, mlops.PermRead, huma.Operation{
		OperationID: "get-model-version", Method: http.MethodGet, Path: "/api/v1/models/{id}", Tags: tags,
		Summary: "One model version",
	}, func(ctx context.Context, in *IDPath) (*body[mlops.ModelVersion], error) {
		return ok(s.st.ModelVersionGet(ctx, in.ID))
	})
	handle(api, s, mlops.PermActivate, huma.Operation{
		OperationID: "activate-model-version", Method: http.MethodPost, Path: "/api/v1/models/{id}/activate", Tags: tags,
		Summary: "Make a version the active one of its model",
		Description: "Sets its status to production; the previously active version becomes inactive and archived, " +
			"in the same transaction. Activating the active version changes nothing.",
	}, func(ctx context.Context, in *IDPath) (*body[mlops.ModelVersion], error) {
		return ok(s.st.ModelVersionActivate(ctx, in.ID))
	})
}
