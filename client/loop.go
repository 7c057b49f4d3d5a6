package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"strconv"

	"github.com/mlopsdev/mlops/api"
)

// Closing the loop: performance and workflow reports, the model timeline
// and the alert rules (docs/loop.md). DriftCheck is in drift.go.

// PerformanceOptions select the range and buckets of a performance
// report.
type PerformanceOptions struct {
	// Bucket is the bucket width: "1m", "5m", "1h" or "1d"; "" means the
	// server's default (1h for a version, 1d for a model's active one).
	Bucket string
	// Days is how many days back; 0 means the server's default (7 for a
	// version, its whole lifetime for a model's active one).
	Days int
	// Lifetime reports over the version's whole lifetime (Days is then
	// ignored).
	Lifetime bool
	// PositiveClass is the class counted as positive for precision, recall
	// and F1; nil means 1.
	PositiveClass *int64
}

func (o PerformanceOptions) query() url.Values {
	q := url.Values{}
	setString(q, "bucket", o.Bucket)
	if o.Lifetime {
		q.Set("days", "0")
	} else {
		setInt(q, "days", int64(o.Days))
	}
	if o.PositiveClass != nil {
		q.Set("positive_class", strconv.FormatInt(*o.PositiveClass, 10))
	}
	return q
}

// PerformanceReport returns the realized performance of a model version
// from its ground truth, per bucket and in total (GET
// /api/v1/reports/models/{id}/performance).
func (c *Client) PerformanceReport(ctx context.Context, modelID int64, o PerformanceOptions, opts ...CallOption) (api.PerformanceReport, error) {
	var out api.PerformanceReport
	r := c.newCall(http.MethodGet, pathf("/api/v1/reports/models/%s/performance", modelID), opts)
	r.query = o.query()
	return out, c.do(ctx, r, &out)
}

// PerformanceReportActive returns the same for the active version of a
// model (GET /api/v1/reports/models/active/performance); a 404 when none
// is active.
func (c *Client) PerformanceReportActive(ctx context.Context, modelName string, o PerformanceOptions, opts ...CallOption) (api.PerformanceReport, error) {
	var out api.PerformanceReport
	r := c.newCall(http.MethodGet, "/api/v1/reports/models/active/performance", opts)
	r.query = o.query()
	r.query.Set("model_name", modelName)
	return out, c.do(ctx, r, &out)
}

// AlertReport counts the alerts of the last days by severity, type and
// status, with the times to acknowledge and to resolve (GET
// /api/v1/reports/alerts); days 0 means the server's default, 30.
func (c *Client) AlertReport(ctx context.Context, days int, opts ...CallOption) (api.AlertReport, error) {
	var out api.AlertReport
	r := c.newCall(http.MethodGet, "/api/v1/reports/alerts", opts)
	r.query = url.Values{}
	setInt(r.query, "days", int64(days))
	return out, c.do(ctx, r, &out)
}

// ApprovalReport reports the approval queue now, the turnaround and the
// decisions by action type over the last days (GET
// /api/v1/reports/approvals); days 0 means the server's default, 30.
func (c *Client) ApprovalReport(ctx context.Context, days int, opts ...CallOption) (api.ApprovalReport, error) {
	var out api.ApprovalReport
	r := c.newCall(http.MethodGet, "/api/v1/reports/approvals", opts)
	r.query = url.Values{}
	setInt(r.query, "days", int64(days))
	return out, c.do(ctx, r, &out)
}

// TimelineList returns one page of a model version's history, oldest
// first: registration, activations, drift reports, alerts, actions and
// decisions (GET /api/v1/models/{id}/timeline).
func (c *Client) TimelineList(ctx context.Context, modelID int64, p Page, opts ...CallOption) (api.List[api.TimelineEvent], error) {
	var out api.List[api.TimelineEvent]
	r := c.newCall(http.MethodGet, pathf("/api/v1/models/%s/timeline", modelID), opts)
	r.query = url.Values{}
	p.set(r.query)
	return out, c.do(ctx, r, &out)
}

// TimelineListAll yields a model version's whole history, oldest first.
func (c *Client) TimelineListAll(ctx context.Context, modelID int64, p Page, opts ...CallOption) iter.Seq2[api.TimelineEvent, error] {
	return all(ctx, p.Cursor, func(ctx context.Context, cursor string) (api.List[api.TimelineEvent], error) {
		p.Cursor = cursor
		return c.TimelineList(ctx, modelID, p, opts...)
	})
}

// RuleSettingsGet returns the rule settings of a model (GET
// /api/v1/rules/{model_name}): the defaults, rules off, when never set.
func (c *Client) RuleSettingsGet(ctx context.Context, modelName string, opts ...CallOption) (api.RuleSettings, error) {
	var out api.RuleSettings
	return out, c.do(ctx, c.newCall(http.MethodGet, pathf("/api/v1/rules/%s", modelName), opts), &out)
}

// RuleSettingsPut changes the rule settings of a model (PUT
// /api/v1/rules/{model_name}); a field left nil keeps its value.
func (c *Client) RuleSettingsPut(ctx context.Context, modelName string, in api.RuleSettingsUpdate, opts ...CallOption) (api.RuleSettings, error) {
	var out api.RuleSettings
	r := c.newCall(http.MethodPut, pathf("/api/v1/rules/%s", modelName), opts)
	r.body = in
	return out, c.do(ctx, r, &out)
}

// RulesRun evaluates every enabled rule now (POST /api/v1/rules/run). A
// run is idempotent (a repeat finding updates its open alert), so the call
// is retried like a GET.
func (c *Client) RulesRun(ctx context.Context, opts ...CallOption) (api.RulesRunResult, error) {
	var out api.RulesRunResult
	r := c.newCall(http.MethodPost, "/api/v1/rules/run", opts)
	r.safe = true
	return out, c.do(ctx, r, &out)
}
