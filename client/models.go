package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/api"
)

// ModelVersionCreate registers a model version (POST /api/v1/models). A
// (model_name, version) that is taken is a 409.
func (c *Client) ModelVersionCreate(ctx context.Context, in api.NewModelVersion, opts ...CallOption) (mlops.ModelVersion, error) {
	var out mlops.ModelVersion
	r := c.newCall(http.MethodPost, "/api/v1/models", opts)
	r.body = in
	return out, c.do(ctx, r, &out)
}

// ModelVersionFilter selects model versions.
type ModelVersionFilter struct {
	ModelName string            // only versions of this model
	Status    mlops.ModelStatus // only versions in this status
	Page
}

func (f ModelVersionFilter) query() url.Values {
	q := url.Values{}
	setString(q, "model_name", f.ModelName)
	setString(q, "status", string(f.Status))
	f.Page.set(q)
	return q
}

// ModelVersionList returns one page of model versions, newest first (GET
// /api/v1/models).
func (c *Client) ModelVersionList(ctx context.Context, f ModelVersionFilter, opts ...CallOption) (api.List[mlops.ModelVersion], error) {
	var out api.List[mlops.ModelVersion]
	r := c.newCall(http.MethodGet, "/api/v1/models", opts)
	r.query = f.query()
	return out, c.do(ctx, r, &out)
}

// ModelVersionListAll yields every model version f selects, newest first,
// fetching page after page.
func (c *Client) ModelVersionListAll(ctx context.Context, f ModelVersionFilter, opts ...CallOption) iter.Seq2[mlops.ModelVersion, error] {
	return all(ctx, f.Cursor, func(ctx context.Context, cursor string) (api.List[mlops.ModelVersion], error) {
		f.Cursor = cursor
		return c.ModelVersionList(ctx, f, opts...)
	})
}

// ModelVersionGet returns one model version (GET /api/v1/models/{id}).
func (c *Client) ModelVersionGet(ctx context.Context, id int64, opts ...CallOption) (mlops.ModelVersion, error) {
	var out mlops.ModelVersion
	return out, c.do(ctx, c.newCall(http.MethodGet, pathf("/api/v1/models/%s", id), opts), &out)
}

// ModelVersionActive returns the active version of a model (GET
// /api/v1/models/active); with modelName "", the most recently activated
// version of any model. A 404 when none is active.
func (c *Client) ModelVersionActive(ctx context.Context, modelName string, opts ...CallOption) (mlops.ModelVersion, error) {
	var out mlops.ModelVersion
	r := c.newCall(http.MethodGet, "/api/v1/models/active", opts)
	r.query = url.Values{}
	setString(r.query, "model_name", modelName)
	return out, c.do(ctx, r, &out)
}

// ModelVersionActiveAt returns the version of a model that was active at
// a time, from the activation history; a 404 when none was.
func (c *Client) ModelVersionActiveAt(ctx context.Context, modelName string, at time.Time, opts ...CallOption) (mlops.ModelVersion, error) {
	var out mlops.ModelVersion
	r := c.newCall(http.MethodGet, "/api/v1/models/active", opts)
	r.query = url.Values{"model_name": {modelName}, "at": {at.UTC().Format(time.RFC3339Nano)}}
	return out, c.do(ctx, r, &out)
}

// ModelVersionActivate makes a version the active one of its model (POST
// /api/v1/models/{id}/activate): it becomes production, and the version
// active before becomes inactive and archived in the same transaction.
// Activating the active version changes nothing, so the call is retried
// like a GET.
func (c *Client) ModelVersionActivate(ctx context.Context, id int64, opts ...CallOption) (mlops.ModelVersion, error) {
	var out mlops.ModelVersion
	r := c.newCall(http.MethodPost, pathf("/api/v1/models/%s/activate", id), opts)
	r.safe = true
	return out, c.do(ctx, r, &out)
}
