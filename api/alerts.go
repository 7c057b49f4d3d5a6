package api

import (
	"time"

	"github.com/mlopsdev/mlops"
)

// NewAlert is the body of POST /api/v1/alerts.
type NewAlert struct {
	AlertType   string         `json:"alert_type"`
	Severity    mlops.Severity `json:"severity" enum:"info,low,medium,high,critical"`
	Title       string         `json:"title"`
	Message     string         `json:"message,omitempty"`
	RelatedData Object         `json:"related_data,omitempty"`
}

// Acknowledgement is the body of POST /api/v1/alerts/{id}/acknowledge.
type Acknowledgement struct {
	User string `json:"user,omitempty" doc:"Who acknowledges. With authentication on it is the caller: leave it out, or give the caller's own name (anything else is 422). With it off, required."`
}

// Resolution is the body of POST /api/v1/alerts/{id}/resolve.
type Resolution struct {
	User  string `json:"user,omitempty" doc:"Who resolves; as for acknowledge."`
	Notes string `json:"notes,omitempty"`
}

// NewSilenceMatchers are the matchers of POST /api/v1/alerts/silences: a
// matcher left out matches any value.
type NewSilenceMatchers struct {
	AlertType *string         `json:"alert_type,omitempty" doc:"Only alerts of this type."`
	ModelName *string         `json:"model_name,omitempty" doc:"Only alerts about this model, any version."`
	Severity  *mlops.Severity `json:"severity,omitempty" enum:"info,low,medium,high,critical" doc:"Only alerts of this severity."`
}

// NewSilence is the body of POST /api/v1/alerts/silences.
type NewSilence struct {
	Matchers NewSilenceMatchers `json:"matchers" doc:"At least one matcher."`
	Until    time.Time          `json:"until" doc:"RFC 3339, in the future: when the silence ends by itself."`
	Comment  string             `json:"comment" doc:"Why the alerts are silenced."`
}
