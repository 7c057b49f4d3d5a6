package api

import "time"

// NewDriftReport is the body of POST /api/v1/drift-reports.
type NewDriftReport struct {
	ModelID          int64    `json:"model_id" minimum:"1"`
	DriftDetected    bool     `json:"drift_detected"`
	DriftScore       *float64 `json:"drift_score,omitempty"`
	DriftedFeatures  []string `json:"drifted_features,omitempty"`
	NDriftedFeatures *int     `json:"n_drifted_features,omitempty" doc:"Derived from drifted_features; a contradicting value is 422."`
	ReportPath       string   `json:"report_path,omitempty"`
	ReferenceSize    *int64   `json:"reference_size,omitempty" minimum:"0"`
	CurrentSize      *int64   `json:"current_size,omitempty" minimum:"0"`
	Details          Object   `json:"details,omitempty" doc:"Per-feature figures."`
}

// TimeWindow is a half-open time range; either end may be left out.
type TimeWindow struct {
	From *time.Time `json:"from,omitempty" doc:"Start (inclusive), RFC 3339."`
	To   *time.Time `json:"to,omitempty" doc:"End (exclusive), RFC 3339."`
}

// DriftCheck is the body of POST /api/v1/models/{id}/drift-check. Every
// field is optional.
type DriftCheck struct {
	Reference        *TimeWindow `json:"reference,omitempty" doc:"Baseline window; defaults to the 7 days before current."`
	Current          *TimeWindow `json:"current,omitempty" doc:"Window under test; defaults to the last 24 hours."`
	ReferenceModelID int64       `json:"reference_model_id,omitempty" minimum:"0" doc:"Another version whose predictions in the reference window form the baseline."`
	PSIThreshold     float64     `json:"psi_threshold,omitempty" minimum:"0" doc:"A feature drifts when its PSI reaches this (default 0.2)."`
	KSThreshold      float64     `json:"ks_threshold,omitempty" minimum:"0" maximum:"1" doc:"... or its Kolmogorov-Smirnov D reaches this (default 0.1)."`
	MinSamples       int         `json:"min_samples,omitempty" minimum:"0" doc:"Fewest predictions per window (default 30)."`
	Bins             int         `json:"bins,omitempty" minimum:"0" maximum:"1000" doc:"Reference quantile bins of PSI (default 10)."`
}

// RuleSettingsUpdate is the body of PUT /api/v1/rules/{model_name}; a field left
// out keeps its current (or default) value.
type RuleSettingsUpdate struct {
	Enabled                *bool    `json:"enabled,omitempty" doc:"Rules are off until enabled."`
	DriftEnabled           *bool    `json:"drift_enabled,omitempty"`
	PSIThreshold           *float64 `json:"psi_threshold,omitempty"`
	KSThreshold            *float64 `json:"ks_threshold,omitempty"`
	MinSamples             *int64   `json:"min_samples,omitempty"`
	CurrentWindowSeconds   *int64   `json:"current_window_seconds,omitempty"`
	ReferenceWindowSeconds *int64   `json:"reference_window_seconds,omitempty"`
	Metric                 *string  `json:"metric,omitempty" enum:"accuracy,precision,recall,f1"`
	MetricThreshold        *float64 `json:"metric_threshold,omitempty" doc:"The performance rule fires below this; left out (and never set) means off."`
	MetricWindowSeconds    *int64   `json:"metric_window_seconds,omitempty"`
	MetricMinLabeled       *int64   `json:"metric_min_labeled,omitempty"`
	PositiveClass          *int64   `json:"positive_class,omitempty"`
}
