package httpapi

import (
	"context"
	"errors"
	"iter"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/api"
	"github.com/mlopsdev/mlops/store"
)

// NewPrediction documents the body of POST /api/v1/predictions and one
// item of a batch (the OpenAPI schema); decodePrediction reads it. The
// ranges are the domain's (mlops.NewPrediction.Validate), repeated in its
// tags for the document only (TestSchemaBoundsMatchDomain holds them
// together).
type NewPrediction = api.NewPrediction

const predictionFields = "model_id, features, prediction, probability, latency_ms, actual, created_at"

// decodePrediction reads one prediction object at at (field{} for the body
// itself, field{list: "predictions", index: 3} for an item).
func decodePrediction(d *decoder, at field) (mlops.NewPrediction, error) {
	var (
		p                       mlops.NewPrediction
		hasModel, hasPrediction bool
	)
	isObject, err := d.object(at, func(name []byte) error {
		var err error
		switch string(name) {
		case "model_id":
			var v *int64
			v, err = d.integer(at.member("model_id"), false)
			if v != nil {
				p.ModelID, hasModel = *v, true
			}
		case "prediction":
			var v *int64
			v, err = d.integer(at.member("prediction"), false)
			if v != nil {
				p.Prediction, hasPrediction = *v, true
			}
		case "features":
			p.Features, err = d.rawObject(at.member("features"))
		case "probability":
			p.Probability, err = d.number(at.member("probability"), true)
		case "latency_ms":
			p.LatencyMS, err = d.number(at.member("latency_ms"), true)
		case "actual":
			p.Actual, err = d.integer(at.member("actual"), true)
		case "created_at":
			p.CreatedAt, err = d.time(at.member("created_at"))
		default:
			return d.unknown(at, name, predictionFields)
		}
		return err
	})
	if err != nil || !isObject {
		return p, err
	}
	if !hasModel && !d.failedAt(at.member("model_id")) {
		d.fail(at.member("model_id"), "is required: the id of a registered model version")
	}
	if !hasPrediction && !d.failedAt(at.member("prediction")) {
		d.fail(at.member("prediction"), "is required: the predicted class (an integer)")
	}
	return p, nil
}

// errStopped ends the decoding of a batch whose consumer stopped reading.
var errStopped = errors.New("httpapi: batch consumer stopped")

// predictionItems yields the items of a batch body as d decodes them, so
// the store writes each while the next is decoded. The first item with a
// field error, or the first syntax error, ends the sequence with an error;
// predictionBatchError then says exactly what is wrong.
func predictionItems(d *decoder) iter.Seq2[mlops.NewPrediction, error] {
	return func(yield func(mlops.NewPrediction, error) bool) {
		err := d.list("predictions", MaxBatchItems, func(at field) error {
			p, err := decodePrediction(d, at)
			if err == nil {
				err = d.err()
			}
			if err == nil && !yield(p, nil) {
				err = errStopped
			}
			return err
		})
		if err == nil {
			err = d.end()
		}
		if err == nil {
			err = d.err() // a missing list
		}
		if err != nil && err != errStopped {
			yield(mlops.NewPrediction{}, bodyError{err})
		}
	}
}

// predictionBatchError is the answer to a batch the store refused with err:
// the body is decoded again, whole, so that the answer lists every bad field
// of every item (decoding, then ranges), or err itself when the items are
// all valid (an unknown model_id, the database).
func predictionBatchError(st *store.Store, d *decoder, err error) error {
	var be bodyError
	if _, invalid := mlops.AsValidation(err); !invalid && !errors.As(err, &be) {
		return err
	}
	items, derr := decodeAll(d, "predictions", decodePrediction)
	if derr != nil {
		return derr
	}
	if verr := st.PredictionsCheck(items); verr != nil {
		return verr
	}
	return decodeFailure(err, MaxBatchBodyBytes)
}

// PredictionBatch documents the body of POST /api/v1/predictions/batch.
type PredictionBatch = api.PredictionBatch

// BatchResult answers a batch: the new ids in input order.
type BatchResult = api.BatchResult

// Actual is the body of PUT /api/v1/predictions/{id}/actual.
type Actual = api.Actual

type predictionListIn struct {
	ModelID int64 `query:"model_id" required:"true" minimum:"1" doc:"The model version."`
	Hours   int   `query:"hours" minimum:"0" maximum:"876000" default:"24" doc:"How many hours back."`
	PageParams
}

type predictionActualIn struct {
	IDPath
	Body Actual
}

func registerPredictions(api huma.API, s *Server) {
	tags := []string{"Predictions"}
	registerIngest(api, s, ingestRoutes[mlops.NewPrediction, mlops.Prediction]{
		path: "/api/v1/predictions", table: "predictions", tags: tags,
		one: huma.Operation{OperationID: "create-prediction", Summary: "Log a prediction"},
		batch: huma.Operation{OperationID: "create-predictions-batch", Summary: "Log up to 10,000 predictions, all or nothing",
			Description: "One bad item is a 422 naming its index (body.predictions[3].probability), and nothing is stored."},
		oneBody: NewPrediction{}, batchBody: PredictionBatch{},
		item: decodePrediction,
		// Concurrent single predictions share transactions (group commit);
		// each answer still comes only after its own row is committed.
		store: s.ing.Log,
		storeBatch: func(ctx context.Context, body func() *decoder) ([]int64, error) {
			ids, err := s.st.PredictionCreateSeq(ctx, predictionItems(body()))
			if err != nil {
				return nil, predictionBatchError(s.st, body(), err)
			}
			return ids, nil
		},
	})
	handle(api, s, mlops.PermRead, huma.Operation{
		OperationID: "list-predictions", Method: http.MethodGet, Path: "/api/v1/predictions", Tags: tags,
		Summary: "Recent predictions of a model, newest first",
	}, func(ctx context.Context, in *predictionListIn) (*body[List[mlops.Prediction]], error) {
		since := s.st.Now().Add(-time.Duration(in.Hours) * time.Hour)
		return list(s.st.PredictionList(ctx, store.PredictionFilter{ModelID: in.ModelID, Since: since, Page: in.page()}))
	})
	handle(api, s, mlops.PermRead, huma.Operation{
		OperationID: "get-prediction", Method: http.MethodGet, Path: "/api/v1/predictions/{id}", Tags: tags,
		Summary: "One prediction",
	}, func(ctx context.Context, in *IDPath) (*body[mlops.Prediction], error) {
		return ok(s.st.PredictionGet(ctx, in.ID))
	})
	handle(api, s, mlops.PermIngest, huma.Operation{
		OperationID: "set-prediction-actual", Method: http.MethodPut, Path: "/api/v1/predictions/{id}/actual", Tags: tags,
		Summary: "Record the ground truth of a prediction",
	}, func(ctx context.Context, in *predictionActualIn) (*body[mlops.Prediction], error) {
		return ok(s.st.PredictionSetActual(ctx, in.ID, in.Body.Actual))
	})
}
