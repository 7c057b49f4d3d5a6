package mlops

import (
	"encoding/json"
	"time"
)

// ModelStatus is the lifecycle stage of a model version.
type ModelStatus string

// Model statuses of the seed.
const (
	ModelTraining   ModelStatus = "training"
	ModelStaging    ModelStatus = "staging"
	ModelProduction ModelStatus = "production"
	ModelArchived   ModelStatus = "archived"
)

// ModelStatuses lists every valid ModelStatus.
var ModelStatuses = []ModelStatus{ModelTraining, ModelStaging, ModelProduction, ModelArchived}

// Valid reports whether s is one of ModelStatuses.
func (s ModelStatus) Valid() bool { return oneOf(s, ModelStatuses) }

// ActionStatus is the state of an agent action in the approval workflow.
type ActionStatus string

// Action statuses of the seed.
const (
	ActionPending  ActionStatus = "pending"
	ActionApproved ActionStatus = "approved"
	ActionRejected ActionStatus = "rejected"
	ActionExecuted ActionStatus = "executed"
	ActionFailed   ActionStatus = "failed"
	// ActionExpired: nobody decided before the action's expires_at.
	ActionExpired ActionStatus = "expired"
)

// ActionStatuses lists every valid ActionStatus.
var ActionStatuses = []ActionStatus{ActionPending, ActionApproved, ActionRejected, ActionExecuted, ActionFailed, ActionExpired}

// Valid reports whether s is one of ActionStatuses.
func (s ActionStatus) Valid() bool { return oneOf(s, ActionStatuses) }

// ActionTransitions says from which state each target state can be reached.
// The store enforces it with conditional updates.
var ActionTransitions = map[ActionStatus]ActionStatus{
	ActionApproved: ActionPending,
	ActionRejected: ActionPending,
	ActionExecuted: ActionApproved,
	ActionFailed:   ActionApproved,
	ActionExpired:  ActionPending,
}

// RiskLevel is how risky an agent action is.
type RiskLevel string

// Risk levels.
const (
	RiskLow      RiskLevel = "low"
	RiskMedium   RiskLevel = "medium"
	RiskHigh     RiskLevel = "high"
	RiskCritical RiskLevel = "critical"
)

// RiskLevels lists every valid RiskLevel.
var RiskLevels = []RiskLevel{RiskLow, RiskMedium, RiskHigh, RiskCritical}

// Valid reports whether r is one of RiskLevels.
func (r RiskLevel) Valid() bool { return oneOf(r, RiskLevels) }

// AlertStatus is the state of an alert.
type AlertStatus string

// Alert statuses.
const (
	AlertActive       AlertStatus = "active"
	AlertAcknowledged AlertStatus = "acknowledged"
	AlertResolved     AlertStatus = "resolved"
)

// AlertStatuses lists every valid AlertStatus.
var AlertStatuses = []AlertStatus{AlertActive, AlertAcknowledged, AlertResolved}

// Valid reports whether s is one of AlertStatuses.
func (s AlertStatus) Valid() bool { return oneOf(s, AlertStatuses) }

// Severity is how serious an alert (or the issue behind an action) is.
type Severity string

// Severities, least to most serious.
const (
	SeverityInfo     Severity = "info"
	SeverityLow      Severity = "low"
	SeverityMedium   Severity = "medium"
	SeverityHigh     Severity = "high"
	SeverityCritical Severity = "critical"
)

// Severities lists every valid Severity, least serious first.
var Severities = []Severity{SeverityInfo, SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}

// Valid reports whether s is one of Severities.
func (s Severity) Valid() bool { return oneOf(s, Severities) }

func oneOf[T comparable](v T, all []T) bool {
	for _, a := range all {
		if a == v {
			return true
		}
	}
	return false
}

// JSON is a raw JSON document stored in a JSON column (jsonb on PostgreSQL,
// text on SQLite).
type JSON = json.RawMessage

// ModelVersion is a trained model registered with the platform. At most one
// version per ModelName is active.
type ModelVersion struct {
	ID              int64       `json:"id"`
	ModelName       string      `json:"model_name"`
	Version         string      `json:"version"`
	Algorithm       string      `json:"algorithm"`
	Accuracy        *float64    `json:"accuracy"`
	F1Score         *float64    `json:"f1_score"`
	Precision       *float64    `json:"precision"`
	Recall          *float64    `json:"recall"`
	ROCAUC          *float64    `json:"roc_auc"`
	Hyperparameters JSON        `json:"hyperparameters"`
	FeatureNames    []string    `json:"feature_names"`
	Status          ModelStatus `json:"status"`
	IsActive        bool        `json:"is_active"`
	ModelPath       string      `json:"model_path"`
	MetadataPath    string      `json:"metadata_path"`
	TrainingSamples *int64      `json:"training_samples"`
	CreatedAt       time.Time   `json:"created_at"`
	ActivatedAt     *time.Time  `json:"activated_at"`
}

// Metrics are the evaluation figures of a model version, each within [0, 1].
type Metrics struct {
	Accuracy  *float64 `json:"accuracy,omitempty"`
	F1Score   *float64 `json:"f1_score,omitempty"`
	Precision *float64 `json:"precision,omitempty"`
	Recall    *float64 `json:"recall,omitempty"`
	ROCAUC    *float64 `json:"roc_auc,omitempty"`
}

// NewModelVersion is the input of registering a model version (the seed's
// create_model_version).
type NewModelVersion struct {
	ModelName       string
	Version         string
	Algorithm       string
	Metrics         Metrics
	Hyperparameters JSON // an object; nil means {}
	FeatureNames    []string
	Status          ModelStatus // empty means training
	ModelPath       string
	MetadataPath    string
	TrainingSamples *int64
}

// Prediction is one logged model output, with its ground truth once known.
type Prediction struct {
	ID          int64     `json:"id"`
	ModelID     int64     `json:"model_id"`
	Features    JSON      `json:"features"`
	Prediction  int64     `json:"prediction"`
	Probability *float64  `json:"probability"`
	LatencyMS   *float64  `json:"latency_ms"`
	Actual      *int64    `json:"actual"`
	CreatedAt   time.Time `json:"created_at"`
}

// NewPrediction is the input of logging a prediction.
type NewPrediction struct {
	ModelID     int64
	Features    JSON // an object; nil means {}
	Prediction  int64
	Probability *float64
	LatencyMS   *float64
	Actual      *int64
	CreatedAt   *time.Time // when the prediction was made; nil: when it is stored
}

// DriftReport is the result of one drift detection run.
type DriftReport struct {
	ID               int64     `json:"id"`
	ModelID          int64     `json:"model_id"`
	DriftDetected    bool      `json:"drift_detected"`
	DriftScore       *float64  `json:"drift_score"`
	DriftedFeatures  []string  `json:"drifted_features"`
	NDriftedFeatures int       `json:"n_drifted_features"`
	ReportPath       string    `json:"report_path"`
	ReferenceSize    *int64    `json:"reference_size"`
	CurrentSize      *int64    `json:"current_size"`
	Details          JSON      `json:"details"`
	CreatedAt        time.Time `json:"created_at"`
}

// NewDriftReport is the input of storing a drift report. NDriftedFeatures,
// when set, must equal len(DriftedFeatures).
type NewDriftReport struct {
	ModelID          int64
	DriftDetected    bool
	DriftScore       *float64
	DriftedFeatures  []string
	NDriftedFeatures *int
	ReportPath       string
	ReferenceSize    *int64
	CurrentSize      *int64
	Details          JSON // optional object with per-feature figures
}

// AgentAction is something the autonomous agent wants to do, possibly
// waiting for a human's approval.
type AgentAction struct {
	ID               int64        `json:"id"`
	ActionID         string       `json:"action_id"`
	ActionType       string       `json:"action_type"`
	Description      string       `json:"description"`
	RiskLevel        RiskLevel    `json:"risk_level"`
	RequiresApproval bool         `json:"requires_approval"`
	IssueID          string       `json:"issue_id"`
	IssueType        string       `json:"issue_type"`
	IssueSeverity    string       `json:"issue_severity"`
	Status           ActionStatus `json:"status"`
	ReviewedBy       *string      `json:"reviewed_by"`
	ReviewedAt       *time.Time   `json:"reviewed_at"`
	ReviewComment    *string      `json:"review_comment"`
	ExecutedAt       *time.Time   `json:"executed_at"`
	ExecutionResult  JSON         `json:"execution_result"`
	Parameters       JSON         `json:"parameters"`
	CreatedAt        time.Time    `json:"created_at"`
	// ProposedBy and ProposedByKind name who filed the action: they may not
	// decide it.
	ProposedBy     string        `json:"proposed_by"`
	ProposedByKind PrincipalKind `json:"proposed_by_kind" enum:"user,token,anonymous,system"`
	// ExpiresAt: a pending action becomes expired then (null: never).
	ExpiresAt *time.Time `json:"expires_at"`
	// RequiredApprovals is how many different reviewers must approve (1, or
	// 2 for a two-person action); Approvals lists those so far.
	RequiredApprovals int        `json:"required_approvals"`
	Approvals         []Approval `json:"approvals" nullable:"false"`
}

// Approval is one reviewer's approval of an action.
type Approval struct {
	By      string        `json:"by"`
	Kind    PrincipalKind `json:"kind" enum:"user,token,anonymous,system"`
	At      time.Time     `json:"at"`
	Comment string        `json:"comment"`
}

// NewAgentAction is the input of filing an agent action. RequiresApproval
// nil means true.
type NewAgentAction struct {
	ActionID         string
	ActionType       string
	Description      string
	RiskLevel        RiskLevel
	RequiresApproval *bool
	IssueID          string
	IssueType        string
	IssueSeverity    string
	Parameters       JSON // an object; nil means {}
}

// PerformanceMetric is one point of a named metric time series.
type PerformanceMetric struct {
	ID          int64     `json:"id"`
	MetricName  string    `json:"metric_name"`
	MetricValue float64   `json:"metric_value"`
	ModelID     *int64    `json:"model_id"`
	Metadata    JSON      `json:"metadata"`
	CreatedAt   time.Time `json:"created_at"`
}

// NewPerformanceMetric is the input of recording a metric point.
type NewPerformanceMetric struct {
	MetricName  string
	MetricValue float64
	ModelID     *int64
	Metadata    JSON       // an object; nil means {}
	CreatedAt   *time.Time // when the value was measured; nil: when it is stored
}

// Alert is a system alert with an acknowledge/resolve lifecycle.
type Alert struct {
	ID              int64       `json:"id"`
	AlertType       string      `json:"alert_type"`
	Severity        Severity    `json:"severity"`
	Title           string      `json:"title"`
	Message         string      `json:"message"`
	Status          AlertStatus `json:"status"`
	AcknowledgedBy  *string     `json:"acknowledged_by"`
	AcknowledgedAt  *time.Time  `json:"acknowledged_at"`
	ResolvedBy      *string     `json:"resolved_by"`
	ResolvedAt      *time.Time  `json:"resolved_at"`
	ResolutionNotes *string     `json:"resolution_notes"`
	RelatedData     JSON        `json:"related_data"`
	CreatedAt       time.Time   `json:"created_at"`
	// ModelID is the model version the alert is about (set by the rules),
	// or nil.
	ModelID *int64 `json:"model_id"`
	// DedupKey identifies the condition a rule raised the alert for; while
	// the alert is open, the condition recurring updates it instead of
	// raising another. Nil for alerts raised by hand.
	DedupKey *string `json:"dedup_key"`
	// Occurrences counts how often the condition was seen while the alert
	// was open (1 for a new alert); LastSeenAt is when it was last seen.
	Occurrences int64     `json:"occurrences"`
	LastSeenAt  time.Time `json:"last_seen_at"`
}

// NewAlert is the input of raising an alert.
type NewAlert struct {
	AlertType   string
	Severity    Severity
	Title       string
	Message     string
	RelatedData JSON // an object; nil means {}
}
