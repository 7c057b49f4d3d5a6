package api

import (
	"time"

	"github.com/mlopsdev/mlops"
)

// The answers below are computed by the server's store and monitor
// packages, which define their own Go types for them; these are their wire
// shapes under the same schema names. The client's tests hold each equal to
// the schema the server publishes in /openapi.json.

// MetricPoint is one raw point of a metric series.
type MetricPoint struct {
	CreatedAt time.Time `json:"created_at"`
	Value     float64   `json:"value"`
}

// MetricBucket aggregates the points of one time bucket of a series.
type MetricBucket struct {
	BucketStart time.Time `json:"bucket_start"`
	Count       int64     `json:"count"`
	Avg         float64   `json:"avg"`
	Min         float64   `json:"min"`
	Max         float64   `json:"max"`
}

// PerformanceRow is the realized performance of one bucket, or of the
// whole range (PerformanceReport.Total). A figure is null when nothing is
// behind it: accuracy with no labeled prediction, precision with no
// predicted positive, recall with no actual positive, a latency percentile
// with no latency recorded.
type PerformanceRow struct {
	BucketStart  time.Time `json:"bucket_start"`
	Predictions  int64     `json:"predictions"`
	Labeled      int64     `json:"labeled"`
	LabeledShare *float64  `json:"labeled_share"`
	Accuracy     *float64  `json:"accuracy"`
	Precision    *float64  `json:"precision"`
	Recall       *float64  `json:"recall"`
	F1           *float64  `json:"f1"`
	LatencyP50MS *float64  `json:"latency_p50_ms"`
	LatencyP95MS *float64  `json:"latency_p95_ms"`
	LatencyP99MS *float64  `json:"latency_p99_ms"`
	// The confusion counts behind the ratios, over labeled predictions.
	Correct        int64 `json:"correct"`
	TruePositives  int64 `json:"true_positives"`
	FalsePositives int64 `json:"false_positives"`
	FalseNegatives int64 `json:"false_negatives"`
}

// PerformanceReport is the realized performance of one model version per
// time bucket (oldest first, only buckets with predictions) and in total.
type PerformanceReport struct {
	ModelID       int64            `json:"model_id"`
	ModelName     string           `json:"model_name"`
	Version       string           `json:"version"`
	Bucket        string           `json:"bucket"`
	From          time.Time        `json:"from"`
	To            time.Time        `json:"to"`
	PositiveClass int64            `json:"positive_class"`
	Buckets       []PerformanceRow `json:"buckets"`
	Total         PerformanceRow   `json:"total"`
}

// DurationStats summarises durations in seconds. Mean and P90 (nearest
// rank) are null when Count is 0.
type DurationStats struct {
	Count       int64    `json:"count"`
	MeanSeconds *float64 `json:"mean_seconds"`
	P90Seconds  *float64 `json:"p90_seconds"`
}

// AlertReport summarises the alerts raised in a range.
type AlertReport struct {
	From              time.Time        `json:"from"`
	To                time.Time        `json:"to"`
	Total             int64            `json:"total"`
	BySeverity        map[string]int64 `json:"by_severity"`
	ByType            map[string]int64 `json:"by_type"`
	ByStatus          map[string]int64 `json:"by_status"`
	TimeToAcknowledge DurationStats    `json:"time_to_acknowledge"`
	TimeToResolve     DurationStats    `json:"time_to_resolve"`
}

// ApprovalTypeStats are the decisions on one action type.
type ApprovalTypeStats struct {
	ActionType string `json:"action_type"`
	Proposed   int64  `json:"proposed"`
	Pending    int64  `json:"pending"`
	Approved   int64  `json:"approved"` // reviewed and approved (including those since executed or failed)
	Rejected   int64  `json:"rejected"`
	Executed   int64  `json:"executed"`
	Failed     int64  `json:"failed"`
	// ApproveRatio is approved / (approved + rejected); null before any decision.
	ApproveRatio *float64 `json:"approve_ratio"`
}

// ApprovalReport summarises the approval workflow of agent actions.
type ApprovalReport struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Pending and the oldest pending action describe the queue now,
	// whatever the range.
	Pending                 int64      `json:"pending"`
	OldestPendingAt         *time.Time `json:"oldest_pending_at"`
	OldestPendingAgeSeconds *float64   `json:"oldest_pending_age_seconds"`
	// Turnaround is the time from proposal to review of the actions
	// proposed in the range and reviewed.
	Turnaround DurationStats       `json:"turnaround"`
	ByType     []ApprovalTypeStats `json:"by_action_type"`
}

// TimelineEvent is one thing that happened to a model version.
type TimelineEvent struct {
	At   time.Time `json:"at"`
	Kind string    `json:"kind"`
	// Subject is the record the event is about: model_version,
	// drift_report, alert or action; SubjectID its id, and Ref how the API
	// addresses it (the action_id for actions, else the id).
	Subject   string  `json:"subject"`
	SubjectID int64   `json:"subject_id"`
	Ref       string  `json:"ref"`
	Actor     *string `json:"actor"`
	Summary   string  `json:"summary"`
}

// RuleSettings are the rule settings of one model name (all its versions).
type RuleSettings struct {
	ModelName              string    `json:"model_name"`
	Enabled                bool      `json:"enabled"`
	DriftEnabled           bool      `json:"drift_enabled"`
	PSIThreshold           float64   `json:"psi_threshold"`
	KSThreshold            float64   `json:"ks_threshold"`
	MinSamples             int64     `json:"min_samples"`
	CurrentWindowSeconds   int64     `json:"current_window_seconds"`
	ReferenceWindowSeconds int64     `json:"reference_window_seconds"`
	Metric                 string    `json:"metric"`           // accuracy, precision, recall or f1
	MetricThreshold        *float64  `json:"metric_threshold"` // nil: the performance rule is off
	MetricWindowSeconds    int64     `json:"metric_window_seconds"`
	MetricMinLabeled       int64     `json:"metric_min_labeled"`
	PositiveClass          int64     `json:"positive_class"`
	UpdatedAt              time.Time `json:"updated_at"`
}

// RuleOutcome is what one rule found for one model in a rules run.
type RuleOutcome struct {
	Rule          string             `json:"rule"` // drift or performance
	ModelName     string             `json:"model_name"`
	ModelID       int64              `json:"model_id"`
	DriftReportID *int64             `json:"drift_report_id,omitempty"`
	Alert         *mlops.Alert       `json:"alert,omitempty"`
	NewAlert      bool               `json:"new_alert"`
	Action        *mlops.AgentAction `json:"action,omitempty"`
	// SilenceID is the silence that kept the rule from raising its alert.
	SilenceID *int64 `json:"silence_id,omitempty"`
}

// RulesRunResult answers POST /api/v1/rules/run.
type RulesRunResult struct {
	// Skipped is true when other instances were evaluating the rules of
	// every model that has them enabled: nothing was evaluated.
	Skipped  bool          `json:"skipped"`
	Models   int           `json:"models"` // model names with rules enabled
	Outcomes []RuleOutcome `json:"outcomes"`
	// Notes say why a rule did not evaluate (no active version, too few
	// predictions, another instance evaluating that model), per model name.
	Notes []string `json:"notes"`
}
