package client

import (
	"context"
	"net/http"

	"github.com/mlopsdev/mlops/api"
)

// Health reports whether the server process runs (GET /healthz).
func (c *Client) Health(ctx context.Context, opts ...CallOption) (api.Health, error) {
	var out api.Health
	return out, c.do(ctx, c.newCall(http.MethodGet, "/healthz", opts), &out)
}

// Ready reports whether the server can serve: its database answers and no
// migration is pending (GET /readyz). A server that is not ready answers
// 503, which is retried as the client's policy says.
func (c *Client) Ready(ctx context.Context, opts ...CallOption) (api.Health, error) {
	var out api.Health
	return out, c.do(ctx, c.newCall(http.MethodGet, "/readyz", opts), &out)
}

// OpenAPI returns the server's OpenAPI 3.1 document (GET /openapi.json).
func (c *Client) OpenAPI(ctx context.Context, opts ...CallOption) ([]byte, error) {
	var out []byte
	return out, c.do(ctx, c.newCall(http.MethodGet, "/openapi.json", opts), &out)
}

// PrometheusMetrics returns the server's metrics in the Prometheus text
// format (GET /metrics): requests, latencies, database pool, rows ingested.
func (c *Client) PrometheusMetrics(ctx context.Context, opts ...CallOption) (string, error) {
	var out []byte
	err := c.do(ctx, c.newCall(http.MethodGet, "/metrics", opts), &out)
	return string(out), err
}
