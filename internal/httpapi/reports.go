package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/api"
	"github.com/mlopsdev/mlops/monitor"
	"github.com/mlopsdev/mlops/store"
)

// Closing the loop: reports, server-side drift checks, rules and the model
// timeline (docs/loop.md). Drift checks and rule runs are the monitor's
// (package monitor); this server's checks and runs share one lease holder.

type performanceIn struct {
	IDPath
	Bucket        string `query:"bucket" enum:"1m,5m,1h,1d" default:"1h" doc:"Bucket width."`
	Days          int    `query:"days" minimum:"0" maximum:"36500" default:"7" doc:"How many days back; 0 means the version's whole lifetime."`
	PositiveClass int64  `query:"positive_class" default:"1" doc:"The class counted as positive for precision, recall and F1."`
}

type activePerformanceIn struct {
	ModelName     string `query:"model_name" required:"true" doc:"The model whose active version to report on."`
	Bucket        string `query:"bucket" enum:"1m,5m,1h,1d" default:"1d" doc:"Bucket width."`
	Days          int    `query:"days" minimum:"0" maximum:"36500" default:"0" doc:"How many days back; 0 (the default) means the active version's whole lifetime."`
	PositiveClass int64  `query:"positive_class" default:"1" doc:"The class counted as positive for precision, recall and F1."`
}

type reportDaysIn struct {
	Days int `query:"days" minimum:"0" maximum:"36500" default:"30" doc:"How many days back."`
}

// TimeWindow is a half-open time range; either end may be left out.
type TimeWindow = api.TimeWindow

func window(w *TimeWindow) monitor.Window {
	var out monitor.Window
	if w == nil {
		return out
	}
	if w.From != nil {
		out.From = *w.From
	}
	if w.To != nil {
		out.To = *w.To
	}
	return out
}

// DriftCheck is the body of POST /api/v1/models/{id}/drift-check. Every
// field is optional.
type DriftCheck = api.DriftCheck

type driftCheckIn struct {
	IDPath
	Body *DriftCheck
}

type timelineIn struct {
	IDPath
	PageParams
}

// ModelNamePath is a model name in the path.
type ModelNamePath struct {
	ModelName string `path:"model_name" doc:"The model name (all its versions share the settings)."`
}

type rulesPutIn struct {
	ModelNamePath
	Body RuleSettingsUpdate
}

// RuleSettingsUpdate is the body of PUT /api/v1/rules/{model_name}; a field left
// out keeps its current (or default) value.
type RuleSettingsUpdate = api.RuleSettingsUpdate

// applyRules sets the fields b gives on r.
func applyRules(b RuleSettingsUpdate, r *store.RuleSettings) {
	set := func(dst *int64, src *int64) {
		if src != nil {
			*dst = *src
		}
	}
	if b.Enabled != nil {
		r.Enabled = *b.Enabled
	}
	if b.DriftEnabled != nil {
		r.DriftEnabled = *b.DriftEnabled
	}
	if b.PSIThreshold != nil {
		r.PSIThreshold = *b.PSIThreshold
	}
	if b.KSThreshold != nil {
		r.KSThreshold = *b.KSThreshold
	}
	if b.Metric != nil {
		r.Metric = *b.Metric
	}
	if b.MetricThreshold != nil {
		r.MetricThreshold = b.MetricThreshold
	}
	set(&r.MinSamples, b.MinSamples)
	set(&r.CurrentWindowSeconds, b.CurrentWindowSeconds)
	set(&r.ReferenceWindowSeconds, b.ReferenceWindowSeconds)
	set(&r.MetricWindowSeconds, b.MetricWindowSeconds)
	set(&r.MetricMinLabeled, b.MetricMinLabeled)
	set(&r.PositiveClass, b.PositiveClass)
}

func registerReports(api huma.API, s *Server) {
	mon := monitor.New(s.st, monitor.Options{Logger: s.log})
	reports := []string{"Reports"}
	days := func(n int) time.Time { return s.st.Now().Add(-time.Duration(n) * 24 * time.Hour) }
	handle(api, s, mlops.PermRead, huma.Operation{
		OperationID: "report-model-performance", Method: http.MethodGet, Path: "/api/v1/reports/models/{id}/performance",
		Tags: reports, Summary: "Realized performance of a model version per time bucket",
		Description: "Per bucket and in total: predictions, labeled (with ground truth), realized accuracy, precision, " +
			"recall and F1 over the labeled predictions, and nearest-rank latency p50/p95/p99. A figure with no " +
			"data behind it is null. Counts and ratios are exact. With buckets of 1m or 5m the percentiles are " +
			"exact stored values; with 1h or 1d buckets they come from hourly latency histograms and lie within " +
			"2 % of the exact value (exact when the rank falls on a value no other latency is within 2 % of).",
	}, func(ctx context.Context, in *performanceIn) (*body[store.PerformanceReport], error) {
		o := store.PerformanceOptions{Bucket: store.Bucket(in.Bucket), PositiveClass: &in.PositiveClass}
		if in.Days > 0 {
			o.Since = days(in.Days)
		}
		return ok(s.st.PerformanceReport(ctx, in.ID, o))
	})
	handle(api, s, mlops.PermRead, huma.Operation{
		OperationID: "report-active-model-performance", Method: http.MethodGet, Path: "/api/v1/reports/models/active/performance",
		Tags: reports, Summary: "Realized performance of the active version of a model, by default over its lifetime",
		Errors: []int{http.StatusNotFound},
	}, func(ctx context.Context, in *activePerformanceIn) (*body[store.PerformanceReport], error) {
		o := store.PerformanceOptions{Bucket: store.Bucket(in.Bucket), PositiveClass: &in.PositiveClass}
		if in.Days > 0 {
			o.Since = days(in.Days)
		}
		return ok(s.st.PerformanceReportActive(ctx, in.ModelName, o))
	})
	handle(api, s, mlops.PermRead, huma.Operation{
		OperationID: "report-alerts", Method: http.MethodGet, Path: "/api/v1/reports/alerts", Tags: reports,
		Summary: "Alerts raised: counts by severity, type and status; time to acknowledge and to resolve",
	}, func(ctx context.Context, in *reportDaysIn) (*body[store.AlertReport], error) {
		return ok(s.st.AlertReport(ctx, days(in.Days), time.Time{}))
	})
	handle(api, s, mlops.PermRead, huma.Operation{
		OperationID: "report-approvals", Method: http.MethodGet, Path: "/api/v1/reports/approvals", Tags: reports,
		Summary: "Approval queue and decisions: pending, oldest pending age, turnaround, approve/reject by action type",
	}, func(ctx context.Context, in *reportDaysIn) (*body[store.ApprovalReport], error) {
		return ok(s.st.ApprovalReport(ctx, days(in.Days), time.Time{}))
	})

	models := []string{"Model versions"}
	handle(api, s, mlops.PermIngest, huma.Operation{
		OperationID: "check-model-drift", Method: http.MethodPost, Path: "/api/v1/models/{id}/drift-check", Tags: models,
		Summary: "Compute drift of a version's features server-side and store the report", DefaultStatus: http.StatusCreated,
		Description: "Compares the numeric features of the version's predictions in the current window against the " +
			"reference window: per feature the PSI over quantile bins of the reference and the two-sample " +
			"Kolmogorov-Smirnov statistic with its p-value, in details.features: at most 200 features, the " +
			"version's feature_names first, then the keys present in the most rows (details.features_left_out " +
			"counts the rest). 422 when a window holds too few predictions. With the model's rules enabled, " +
			"detected drift also raises a deduplicated alert and proposes a retrain_model action.",
	}, func(ctx context.Context, in *driftCheckIn) (*body[mlops.DriftReport], error) {
		var o monitor.DriftCheckOptions
		if b := in.Body; b != nil {
			o = monitor.DriftCheckOptions{Reference: window(b.Reference), Current: window(b.Current),
				ReferenceModelID: b.ReferenceModelID, PSIThreshold: b.PSIThreshold, KSThreshold: b.KSThreshold,
				MinSamples: b.MinSamples, Bins: b.Bins}
		}
		return ok(mon.DriftCheck(ctx, in.ID, o))
	})
	handle(api, s, mlops.PermRead, huma.Operation{
		OperationID: "get-model-timeline", Method: http.MethodGet, Path: "/api/v1/models/{id}/timeline", Tags: models,
		Summary: "What happened to a model version, oldest first",
		Description: "Registered, activated, archived; drift reports; alerts raised, acknowledged, resolved; actions " +
			"about them proposed, approved, rejected, executed, failed. Events of one instant come in that order, " +
			"then by the id of what they are about; next_cursor continues after the last event of the page.",
	}, func(ctx context.Context, in *timelineIn) (*body[List[store.TimelineEvent]], error) {
		return list(s.st.Timeline(ctx, in.ID, in.page()))
	})

	rules := []string{"Rules"}
	handle(api, s, mlops.PermRead, huma.Operation{
		OperationID: "get-rules", Method: http.MethodGet, Path: "/api/v1/rules/{model_name}", Tags: rules,
		Summary: "Rule settings of a model (defaults, rules off, when never set)",
	}, func(ctx context.Context, in *ModelNamePath) (*body[store.RuleSettings], error) {
		return ok(s.st.RuleSettingsGet(ctx, in.ModelName))
	})
	handle(api, s, mlops.PermAdmin, huma.Operation{
		OperationID: "put-rules", Method: http.MethodPut, Path: "/api/v1/rules/{model_name}", Tags: rules,
		Summary: "Change the rule settings of a model",
	}, func(ctx context.Context, in *rulesPutIn) (*body[store.RuleSettings], error) {
		cur, err := s.st.RuleSettingsGet(ctx, in.ModelName)
		if err != nil {
			return nil, err
		}
		applyRules(in.Body, &cur)
		return ok(s.st.RuleSettingsPut(ctx, cur))
	})
	handle(api, s, mlops.PermAdmin, huma.Operation{
		OperationID: "run-rules", Method: http.MethodPost, Path: "/api/v1/rules/run", Tags: rules,
		Summary: "Evaluate every enabled rule now",
		Description: "Idempotent, and safe when several servers run it at once: each model's rules run under a lease " +
			"of their own; a model another instance is evaluating is skipped with a note, and skipped is true when " +
			"that was every model.",
	}, func(ctx context.Context, _ *struct{}) (*body[monitor.RulesRunResult], error) {
		return ok(mon.RulesRun(ctx))
	})
}
