package api

import "time"

// NewMetric is the body of POST /api/v1/metrics and one item of a batch.
type NewMetric struct {
	MetricName  string     `json:"metric_name"`
	MetricValue float64    `json:"metric_value" minimum:"-1e15" maximum:"1e15"`
	ModelID     *int64     `json:"model_id,omitempty" minimum:"1" doc:"The model version the point belongs to, if any."`
	Metadata    Object     `json:"metadata,omitempty"`
	CreatedAt   *time.Time `json:"created_at,omitempty" doc:"When the value was measured, to load history; at most 5 minutes in the future. Default: when it is stored."`
}

// MetricBatch is the body of POST /api/v1/metrics/batch.
type MetricBatch struct {
	Metrics []NewMetric `json:"metrics" maxItems:"10000" nullable:"false"`
}

// MetricSeries is the answer of GET /api/v1/metrics/{metric_name}: raw
// points (MetricPoint), or with bucket one point per bucket (MetricBucket);
// oldest first either way.
type MetricSeries struct {
	MetricName string  `json:"metric_name"`
	Bucket     *string `json:"bucket" doc:"The bucket width asked for (1m, 5m, 1h or 1d); null for raw points."`
	Points     []any   `json:"points" nullable:"false"`
}
