package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
)

// NewPrediction is the body of POST /api/v1/predictions and one item of a
// batch.
type NewPrediction struct {
	ModelID     *int64   `json:"model_id" nullable:"false" minimum:"1" doc:"A registered model version (else 422)."`
	Features    Object   `json:"features,omitempty" doc:"The model's input."`
	Prediction  *int64   `json:"prediction" nullable:"false"`
	Probability *float64 `json:"probability,omitempty" minimum:"0" maximum:"1"`
	LatencyMS   *float64 `json:"latency_ms,omitempty" minimum:"0"`
	Actual      *int64   `json:"actual,omitempty" doc:"The ground truth, when already known."`
}

// domain converts the body; required fields are present (huma or
// decodeBatch checked them).
func (n NewPrediction) domain() mlops.NewPrediction {
	return mlops.NewPrediction{ModelID: deref(n.ModelID), Features: n.Features.raw(), Prediction: deref(n.Prediction),
		Probability: n.Probability, LatencyMS: n.LatencyMS, Actual: n.Actual}
}

// missing names the required fields a batch item lacks.
func (n NewPrediction) missing() []string {
	var out []string
	if n.ModelID == nil {
		out = append(out, "model_id")
	}
	if n.Prediction == nil {
		out = append(out, "prediction")
	}
	return out
}

// createPredictionsStrict decodes a batch body in one strict pass, then
// stores it.
func (s *Server) createPredictionsStrict(ctx context.Context, raw []byte) ([]int64, error) {
	batch, err := decodeBatch(raw, "predictions", func(b *PredictionBatch) []NewPrediction { return b.Predictions }, NewPrediction.missing)
	if err != nil {
		return nil, err
	}
	items := make([]mlops.NewPrediction, len(batch))
	for i, p := range batch {
		items[i] = p.domain()
	}
	return s.st.PredictionCreateBatch(ctx, items)
}

// streamPredictions stores a batch body while decoding it, with the
// one-pass decoder when the body is plain, else with encoding/json; it
// returns errNotStreamed when neither takes the body.
func (s *Server) streamPredictions(ctx context.Context, raw []byte) ([]int64, error) {
	if stream, ok := newPredictionStream(raw); ok {
		return s.st.PredictionCreateStream(ctx, stream.n, stream.next)
	}
	if stream, ok := newBatchStream(raw, "predictions", NewPrediction.missing); ok {
		return s.st.PredictionCreateStream(ctx, stream.n, func(i int) (mlops.NewPrediction, error) {
			p, err := stream.next(i)
			return p.domain(), err
		})
	}
	return nil, errNotStreamed
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// PredictionBatch is the body of POST /api/v1/predictions/batch.
type PredictionBatch struct {
	Predictions []NewPrediction `json:"predictions" maxItems:"10000" nullable:"false"`
}

// BatchResult answers a batch: the new ids in input order.
type BatchResult struct {
	Count int     `json:"count"`
	IDs   []int64 `json:"ids" nullable:"false"`
}

// Actual is the body of PUT /api/v1/predictions/{id}/actual.
type Actual struct {
	Actual int64 `json:"actual" doc:"The ground truth."`
}

type predictionCreateIn struct {
	Body NewPrediction
}

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
	handle(api, s, mlops.PermIngest, huma.Operation{
		OperationID: "create-prediction", Method: http.MethodPost, Path: "/api/v1/predictions", Tags: tags,
		Summary: "Log a prediction", DefaultStatus: http.StatusCreated,
		Middlewares: huma.Middlewares{s.fastPrediction},
	}, func(ctx context.Context, in *predictionCreateIn) (*body[mlops.Prediction], error) {
		if err := fastError(ctx); err != nil {
			return nil, err // fastPrediction tried this row already
		}
		// Concurrent single predictions share transactions (group commit);
		// each answer still comes only after its own row is committed.
		p, err := s.ing.Log(ctx, in.Body.domain())
		if err == nil {
			s.m.ingest("predictions", 1)
		}
		return ok(p, err)
	})
	handle(api, s, mlops.PermIngest, batchOperation(api, huma.Operation{
		OperationID: "create-predictions-batch", Method: http.MethodPost, Path: "/api/v1/predictions/batch", Tags: tags,
		Summary:       "Log up to 10,000 predictions, all or nothing",
		Description:   "One bad item is a 422 naming its index (body.predictions[3].probability), and nothing is stored.",
		DefaultStatus: http.StatusCreated, MaxBodyBytes: MaxBatchBodyBytes,
		Middlewares: huma.Middlewares{s.fastPredictionBatch},
	}, PredictionBatch{}), func(ctx context.Context, in *rawBatchIn) (*body[BatchResult], error) {
		// The items are decoded while the store writes them. If that is
		// refused for anything the client sent, the body is decoded again in
		// one strict pass and stored as a slice, which answers exactly (every
		// bad field, 400 or 422), or stores it if its shape was only unusual.
		// When fastPredictionBatch streamed this body already, its error
		// stands for the stream's: the body is not streamed twice.
		var ids []int64
		err := fastError(ctx)
		if err == nil {
			ids, err = s.streamPredictions(ctx, in.RawBody)
		}
		if _, invalid := mlops.AsValidation(err); invalid || errors.Is(err, errNotStreamed) {
			ids, err = s.createPredictionsStrict(ctx, in.RawBody)
		}
		if err != nil {
			return nil, err
		}
		s.m.ingest("predictions", len(ids))
		return ok(BatchResult{Count: len(ids), IDs: ids}, nil)
	})
	dropRawBodyMediaType(api, "/api/v1/predictions/batch")
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
