package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/api"
)

// DriftReportCreate stores a drift report computed elsewhere (POST
// /api/v1/drift-reports). To have the server compute one, use DriftCheck.
func (c *Client) DriftReportCreate(ctx context.Context, in api.NewDriftReport, opts ...CallOption) (mlops.DriftReport, error) {
	var out mlops.DriftReport
	r := c.newCall(http.MethodPost, "/api/v1/drift-reports", opts)
	r.body = in
	return out, c.do(ctx, r, &out)
}

// DriftReportFilter selects drift reports.
type DriftReportFilter struct {
	ModelID int64 // only reports of this model version
	Days    int   // how many days back; 0 means the server's default, 30
	Page
}

// DriftReportList returns one page of drift reports, newest first (GET
// /api/v1/drift-reports).
func (c *Client) DriftReportList(ctx context.Context, f DriftReportFilter, opts ...CallOption) (api.List[mlops.DriftReport], error) {
	var out api.List[mlops.DriftReport]
	r := c.newCall(http.MethodGet, "/api/v1/drift-reports", opts)
	r.query = url.Values{}
	setInt(r.query, "model_id", f.ModelID)
	setInt(r.query, "days", int64(f.Days))
	f.Page.set(r.query)
	return out, c.do(ctx, r, &out)
}

// DriftReportListAll yields every drift report f selects, newest first.
func (c *Client) DriftReportListAll(ctx context.Context, f DriftReportFilter, opts ...CallOption) iter.Seq2[mlops.DriftReport, error] {
	return all(ctx, f.Cursor, func(ctx context.Context, cursor string) (api.List[mlops.DriftReport], error) {
		f.Cursor = cursor
		return c.DriftReportList(ctx, f, opts...)
	})
}

// DriftReportLatest returns the latest drift report of a model version
// (GET /api/v1/drift-reports/latest); modelID 0 means of any version. A
// 404 when there is none.
func (c *Client) DriftReportLatest(ctx context.Context, modelID int64, opts ...CallOption) (mlops.DriftReport, error) {
	var out mlops.DriftReport
	r := c.newCall(http.MethodGet, "/api/v1/drift-reports/latest", opts)
	r.query = url.Values{}
	setInt(r.query, "model_id", modelID)
	return out, c.do(ctx, r, &out)
}

// DriftCheck has the server compute the drift of a version's features,
// from its logged predictions, and store the report (POST
// /api/v1/models/{id}/drift-check): PSI and Kolmogorov-Smirnov per feature
// in the report's details. Every field of in is optional; the default
// compares the last 24 hours with the 7 days before. A 422 when a window
// holds too few predictions.
func (c *Client) DriftCheck(ctx context.Context, modelID int64, in api.DriftCheck, opts ...CallOption) (mlops.DriftReport, error) {
	var out mlops.DriftReport
	r := c.newCall(http.MethodPost, pathf("/api/v1/models/%s/drift-check", modelID), opts)
	r.body = in
	return out, c.do(ctx, r, &out)
}
