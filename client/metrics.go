package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/api"
)

// MetricCreate records one point of a metric (POST /api/v1/metrics).
func (c *Client) MetricCreate(ctx context.Context, in api.NewMetric, opts ...CallOption) (mlops.PerformanceMetric, error) {
	var out mlops.PerformanceMetric
	r := c.newCall(http.MethodPost, "/api/v1/metrics", opts)
	r.body = in
	return out, c.do(ctx, r, &out)
}

// MetricCreateBatch records up to MaxBatchItems points at once, all or
// nothing (POST /api/v1/metrics/batch), with an Idempotency-Key as
// PredictionCreateBatch does.
func (c *Client) MetricCreateBatch(ctx context.Context, in []api.NewMetric, opts ...CallOption) (api.BatchResult, error) {
	var out api.BatchResult
	if len(in) > MaxBatchItems {
		return out, fmt.Errorf("mlops: a batch holds at most %d metric points, got %d: split it", MaxBatchItems, len(in))
	}
	r := c.newCall(http.MethodPost, "/api/v1/metrics/batch", opts)
	if r.key == "" {
		r.key = NewIdempotencyKey()
	}
	if in == nil {
		in = []api.NewMetric{}
	}
	r.body = api.MetricBatch{Metrics: in}
	return out, c.do(ctx, r, &out)
}

// SeriesOptions select a metric series.
type SeriesOptions struct {
	Days    int    // how many days back; 0 means the server's default, 7
	ModelID int64  // only points of this model version
	Bucket  string // "1m", "5m", "1h" or "1d": one point per bucket; "": raw points
}

// Series is a metric's time series, oldest first: Points when raw,
// Buckets when aggregated per Bucket.
type Series struct {
	MetricName string
	Bucket     string // "" for raw points
	Points     []api.MetricPoint
	Buckets    []api.MetricBucket
}

// MetricSeries returns a metric's time series (GET
// /api/v1/metrics/{metric_name}).
func (c *Client) MetricSeries(ctx context.Context, name string, o SeriesOptions, opts ...CallOption) (Series, error) {
	var wire struct {
		MetricName string          `json:"metric_name"`
		Bucket     *string         `json:"bucket"`
		Points     json.RawMessage `json:"points"`
	}
	r := c.newCall(http.MethodGet, pathf("/api/v1/metrics/%s", name), opts)
	r.query = url.Values{}
	setInt(r.query, "days", int64(o.Days))
	setInt(r.query, "model_id", o.ModelID)
	setString(r.query, "bucket", o.Bucket)
	if err := c.do(ctx, r, &wire); err != nil {
		return Series{}, err
	}
	s := Series{MetricName: wire.MetricName}
	var err error
	if wire.Bucket != nil {
		s.Bucket = *wire.Bucket
		err = json.Unmarshal(wire.Points, &s.Buckets)
	} else {
		err = json.Unmarshal(wire.Points, &s.Points)
	}
	if err != nil {
		return Series{}, fmt.Errorf("mlops: GET %s: read the points: %w", r.path, err)
	}
	return s, nil
}
