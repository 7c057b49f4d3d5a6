package mlops

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxNameLen bounds identifiers such as model_name, version, action_id and
// metric_name; MaxTextLen bounds free text (descriptions, messages, paths).
const (
	MaxNameLen = 255
	MaxTextLen = 64 << 10
)

// Bounds of measured values, so that every value the service accepts can
// be summed and averaged by either engine without overflowing: a latency
// of more than a day is not a latency, and a metric value beyond ±1e15 is
// past the integers a float64 holds exactly.
const (
	MaxLatencyMS       = 86_400_000
	MaxMetricMagnitude = 1e15
)

// Validate checks a model version registration.
func (m *NewModelVersion) Validate() error {
	v := &ValidationError{}
	requiredName(v, "model_name", m.ModelName)
	requiredName(v, "version", m.Version)
	requiredName(v, "algorithm", m.Algorithm)
	unit(v, "metrics.accuracy", m.Metrics.Accuracy)
	unit(v, "metrics.f1_score", m.Metrics.F1Score)
	unit(v, "metrics.precision", m.Metrics.Precision)
	unit(v, "metrics.recall", m.Metrics.Recall)
	unit(v, "metrics.roc_auc", m.Metrics.ROCAUC)
	object(v, "hyperparameters", m.Hyperparameters)
	for i, f := range m.FeatureNames {
		if f == "" {
			v.Add("feature_names", "item %d is empty; every feature name must be a non-empty string", i)
		}
		text(v, "feature_names", f, MaxNameLen)
	}
	if m.Status != "" && !m.Status.Valid() {
		v.Add("status", "must be one of %s, got %q", list(ModelStatuses), m.Status)
	}
	text(v, "model_path", m.ModelPath, MaxTextLen)
	text(v, "metadata_path", m.MetadataPath, MaxTextLen)
	if m.TrainingSamples != nil && *m.TrainingSamples < 0 {
		v.Add("training_samples", "must be >= 0, got %d", *m.TrainingSamples)
	}
	return v.Err()
}

// Validate checks a prediction. Whether ModelID exists is checked by the
// store.
func (p *NewPrediction) Validate() error {
	v := &ValidationError{}
	if p.ModelID <= 0 {
		v.Add("model_id", "must be the id of a registered model version (a positive integer)")
	}
	object(v, "features", p.Features)
	if p.Probability != nil && !inUnit(*p.Probability) {
		v.Add("probability", "must be within [0, 1], got %v", *p.Probability)
	}
	if p.LatencyMS != nil && !(*p.LatencyMS >= 0 && *p.LatencyMS <= MaxLatencyMS) {
		v.Add("latency_ms", "must be within [0, %d] (milliseconds; at most a day), got %v", MaxLatencyMS, *p.LatencyMS)
	}
	return v.Err()
}

// MaxFutureSkew is how far in the future a created_at may lie (clocks of
// clients and server differ a little); history of any age is accepted.
const MaxFutureSkew = 5 * time.Minute

// ValidateAt checks a prediction as Validate does, and its CreatedAt
// against the server's time now.
func (p *NewPrediction) ValidateAt(now time.Time) error {
	return createdAt(p.Validate(), p.CreatedAt, now)
}

// ValidateAt checks a metric point as Validate does, and its CreatedAt
// against the server's time now.
func (m *NewPerformanceMetric) ValidateAt(now time.Time) error {
	return createdAt(m.Validate(), m.CreatedAt, now)
}

// createdAt adds to err (a *ValidationError or nil) the check of a
// client-supplied creation time.
func createdAt(err error, t *time.Time, now time.Time) error {
	if t == nil || !t.After(now.Add(MaxFutureSkew)) {
		return err
	}
	v, ok := AsValidation(err)
	if !ok {
		v = &ValidationError{}
	}
	v.Add("created_at", "is %s in the future (server time %s); at most %s ahead is accepted: send the time the value was produced",
		t.Sub(now).Round(time.Second), now.UTC().Format(time.RFC3339), MaxFutureSkew)
	return v.Err()
}

// Validate checks a drift report and derives NDriftedFeatures.
func (d *NewDriftReport) Validate() error {
	v := &ValidationError{}
	if d.ModelID <= 0 {
		v.Add("model_id", "must be the id of a registered model version (a positive integer)")
	}
	if d.DriftScore != nil && !finite(*d.DriftScore) {
		v.Add("drift_score", "must be a finite number, got %v", *d.DriftScore)
	}
	for i, f := range d.DriftedFeatures {
		if f == "" {
			v.Add("drifted_features", "item %d is empty", i)
		}
		text(v, "drifted_features", f, MaxNameLen)
	}
	if d.NDriftedFeatures != nil && *d.NDriftedFeatures != len(d.DriftedFeatures) {
		v.Add("n_drifted_features", "is derived from drifted_features and must be %d (or left out), got %d",
			len(d.DriftedFeatures), *d.NDriftedFeatures)
	}
	text(v, "report_path", d.ReportPath, MaxTextLen)
	nonNegative(v, "reference_size", d.ReferenceSize)
	nonNegative(v, "current_size", d.CurrentSize)
	object(v, "details", d.Details)
	return v.Err()
}

// Validate checks an agent action.
func (a *NewAgentAction) Validate() error {
	v := &ValidationError{}
	requiredName(v, "action_id", a.ActionID)
	requiredName(v, "action_type", a.ActionType)
	text(v, "description", a.Description, MaxTextLen)
	if !a.RiskLevel.Valid() {
		v.Add("risk_level", "must be one of %s, got %q", list(RiskLevels), a.RiskLevel)
	}
	text(v, "issue_id", a.IssueID, MaxNameLen)
	text(v, "issue_type", a.IssueType, MaxNameLen)
	text(v, "issue_severity", a.IssueSeverity, MaxNameLen)
	object(v, "parameters", a.Parameters)
	return v.Err()
}

// Validate checks a metric point.
func (m *NewPerformanceMetric) Validate() error {
	v := &ValidationError{}
	requiredName(v, "metric_name", m.MetricName)
	if !(math.Abs(m.MetricValue) <= MaxMetricMagnitude) {
		v.Add("metric_value", "must be a finite number within ±1e15, got %v", m.MetricValue)
	}
	if m.ModelID != nil && *m.ModelID <= 0 {
		v.Add("model_id", "must be the id of a registered model version (a positive integer) or left out")
	}
	object(v, "metadata", m.Metadata)
	return v.Err()
}

// Validate checks an alert.
func (a *NewAlert) Validate() error {
	v := &ValidationError{}
	requiredName(v, "alert_type", a.AlertType)
	if !a.Severity.Valid() {
		v.Add("severity", "must be one of %s, got %q", list(Severities), a.Severity)
	}
	requiredName(v, "title", a.Title)
	text(v, "message", a.Message, MaxTextLen)
	object(v, "related_data", a.RelatedData)
	return v.Err()
}

// ValidateActor checks the name of a person acting on a record (a reviewer,
// the user acknowledging an alert).
func ValidateActor(field, name string) error {
	v := &ValidationError{}
	requiredName(v, field, name)
	return v.Err()
}

// ValidateText checks optional free text such as a comment or notes.
func ValidateText(field, s string) error {
	v := &ValidationError{}
	text(v, field, s, MaxTextLen)
	return v.Err()
}

// ValidateObject checks that raw is absent or a JSON object.
func ValidateObject(field string, raw JSON) error {
	v := &ValidationError{}
	object(v, field, raw)
	return v.Err()
}

func requiredName(v *ValidationError, field, s string) {
	if strings.TrimSpace(s) == "" {
		v.Add(field, "is required and must not be blank")
		return
	}
	text(v, field, s, MaxNameLen)
}

// text checks length and encoding. NUL is refused because PostgreSQL text
// cannot hold it; refusing it on both engines keeps them identical.
func text(v *ValidationError, field, s string, max int) {
	switch {
	case len(s) > max:
		v.Add(field, "must be at most %d bytes, got %d", max, len(s))
	case !utf8.ValidString(s):
		v.Add(field, "must be valid UTF-8")
	case strings.IndexByte(s, 0) >= 0:
		v.Add(field, "must not contain the NUL character (\\u0000)")
	}
}

func unit(v *ValidationError, field string, f *float64) {
	if f != nil && !inUnit(*f) {
		v.Add(field, "must be within [0, 1], got %v", *f)
	}
}

func nonNegative(v *ValidationError, field string, n *int64) {
	if n != nil && *n < 0 {
		v.Add(field, "must be >= 0, got %d", *n)
	}
}

// object accepts nil (meaning {}) or a JSON object. JSON text containing an
// escaped NUL is refused: PostgreSQL's jsonb cannot store it.
func object(v *ValidationError, field string, raw JSON) {
	if raw == nil {
		return
	}
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '{' || !json.Valid(t) {
		v.Add(field, "must be a JSON object")
		return
	}
	if bytes.Contains(t, []byte(`\u0000`)) {
		v.Add(field, "must not contain the NUL character (\\u0000)")
	}
	if len(t) > 1<<20 {
		v.Add(field, "must be at most 1 MiB of JSON, got %d bytes", len(t))
	}
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func inUnit(f float64) bool { return finite(f) && f >= 0 && f <= 1 }

func list[T ~string](all []T) string {
	s := make([]string, len(all))
	for i, a := range all {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}
