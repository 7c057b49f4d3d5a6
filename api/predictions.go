package api

import "time"

// NewPrediction is the body of POST /api/v1/predictions and one item of a
// batch. The server checks the same ranges as mlops.NewPrediction.Validate.
type NewPrediction struct {
	ModelID     int64      `json:"model_id" minimum:"1" doc:"A registered model version (else 422)."`
	Features    Object     `json:"features,omitempty" doc:"The model's input."`
	Prediction  int64      `json:"prediction"`
	Probability *float64   `json:"probability,omitempty" minimum:"0" maximum:"1"`
	LatencyMS   *float64   `json:"latency_ms,omitempty" minimum:"0" maximum:"86400000" doc:"At most a day."`
	Actual      *int64     `json:"actual,omitempty" doc:"The ground truth, when already known."`
	CreatedAt   *time.Time `json:"created_at,omitempty" doc:"When the prediction was made, to load history; at most 5 minutes in the future. Default: when it is stored."`
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
