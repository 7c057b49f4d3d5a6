package client

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"net/url"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/api"
)

// MaxBatchItems is the most items one batch request may carry.
const MaxBatchItems = 10000

// PredictionCreate logs one prediction (POST /api/v1/predictions). To log
// many, use a PredictionLogger, or PredictionCreateBatch.
func (c *Client) PredictionCreate(ctx context.Context, in api.NewPrediction, opts ...CallOption) (mlops.Prediction, error) {
	var out mlops.Prediction
	r := c.newCall(http.MethodPost, "/api/v1/predictions", opts)
	r.body = in
	return out, c.do(ctx, r, &out)
}

// PredictionCreateBatch logs up to MaxBatchItems predictions at once, all
// or nothing (POST /api/v1/predictions/batch): one bad item is a 422
// naming its index (body.predictions[3].probability), and nothing is
// stored. The answer holds the new ids in the items' order. The request
// carries an Idempotency-Key (a new one unless the IdempotencyKey option
// gives it), so it is retried without ever being stored twice.
func (c *Client) PredictionCreateBatch(ctx context.Context, in []api.NewPrediction, opts ...CallOption) (api.BatchResult, error) {
	var out api.BatchResult
	if len(in) > MaxBatchItems {
		return out, fmt.Errorf("mlops: a batch holds at most %d predictions, got %d: split it, or use a PredictionLogger", MaxBatchItems, len(in))
	}
	r := c.newCall(http.MethodPost, "/api/v1/predictions/batch", opts)
	if r.key == "" {
		r.key = NewIdempotencyKey()
	}
	if in == nil {
		in = []api.NewPrediction{}
	}
	r.body = api.PredictionBatch{Predictions: in}
	return out, c.do(ctx, r, &out)
}

// PredictionFilter selects the recent predictions of a model version.
type PredictionFilter struct {
	ModelID int64 // required
	Hours   int   // how many hours back; 0 means the server's default, 24
	Page
}

// PredictionList returns one page of the recent predictions of a model
// version, newest first (GET /api/v1/predictions).
func (c *Client) PredictionList(ctx context.Context, f PredictionFilter, opts ...CallOption) (api.List[mlops.Prediction], error) {
	var out api.List[mlops.Prediction]
	r := c.newCall(http.MethodGet, "/api/v1/predictions", opts)
	r.query = url.Values{}
	setInt(r.query, "model_id", f.ModelID)
	setInt(r.query, "hours", int64(f.Hours))
	f.Page.set(r.query)
	return out, c.do(ctx, r, &out)
}

// PredictionListAll yields every prediction f selects, newest first.
func (c *Client) PredictionListAll(ctx context.Context, f PredictionFilter, opts ...CallOption) iter.Seq2[mlops.Prediction, error] {
	return all(ctx, f.Cursor, func(ctx context.Context, cursor string) (api.List[mlops.Prediction], error) {
		f.Cursor = cursor
		return c.PredictionList(ctx, f, opts...)
	})
}

// PredictionGet returns one prediction (GET /api/v1/predictions/{id}).
func (c *Client) PredictionGet(ctx context.Context, id int64, opts ...CallOption) (mlops.Prediction, error) {
	var out mlops.Prediction
	return out, c.do(ctx, c.newCall(http.MethodGet, pathf("/api/v1/predictions/%s", id), opts), &out)
}

// PredictionSetActual records the ground truth of a prediction (PUT
// /api/v1/predictions/{id}/actual).
func (c *Client) PredictionSetActual(ctx context.Context, id, actual int64, opts ...CallOption) (mlops.Prediction, error) {
	var out mlops.Prediction
	r := c.newCall(http.MethodPut, pathf("/api/v1/predictions/%s/actual", id), opts)
	r.body = api.Actual{Actual: actual}
	return out, c.do(ctx, r, &out)
}
