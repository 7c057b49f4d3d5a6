package mlops

import (
	"strings"
	"time"
)

// A silence mutes the alert rules for the alerts it matches until a given
// time, as an Alertmanager silence does: while it is active, the rules raise
// no new alert that it matches and propose no action for one. It ends by
// itself when Until passes, or earlier when someone expires it.

// SilenceMatchers select the alerts a silence covers: an alert matches when
// it equals every matcher given; a nil matcher matches any value. An alert
// without a model (one raised by hand) matches no model_name matcher.
type SilenceMatchers struct {
	AlertType *string   `json:"alert_type" doc:"null: any alert type."`
	ModelName *string   `json:"model_name" doc:"null: any model (and alerts about none)."`
	Severity  *Severity `json:"severity" enum:"info,low,medium,high,critical" doc:"null: any severity."`
}

// Silence is a stored silence.
type Silence struct {
	ID        int64           `json:"id"`
	Matchers  SilenceMatchers `json:"matchers"`
	Until     time.Time       `json:"until" doc:"When the silence ends by itself."`
	Comment   string          `json:"comment"`
	CreatedBy string          `json:"created_by"`
	CreatedAt time.Time       `json:"created_at"`
	// ExpiredBy and ExpiredAt say who ended the silence before Until, and
	// when; nil for a silence that was not expired early.
	ExpiredBy *string    `json:"expired_by" doc:"Who expired it early; null unless expired early."`
	ExpiredAt *time.Time `json:"expired_at" doc:"When it was expired early; null unless expired early."`
	// Active is true while the silence mutes the rules: not expired, and
	// Until not reached, at the time the record was read.
	Active bool `json:"active" doc:"Whether it mutes the rules now: not expired and until in the future."`
}

// ActiveAt reports whether the silence mutes the rules at now.
func (s Silence) ActiveAt(now time.Time) bool {
	return s.ExpiredAt == nil && now.Before(s.Until)
}

// NewSilence is the input of creating a silence.
type NewSilence struct {
	Matchers SilenceMatchers
	Until    time.Time
	Comment  string
}

// Validate checks the matchers (at least one, none blank), that Until is
// set and that the comment says why.
func (n *NewSilence) Validate() error {
	v := &ValidationError{}
	m := n.Matchers
	if m.AlertType == nil && m.ModelName == nil && m.Severity == nil {
		v.Add("matchers", "needs at least one of alert_type, model_name, severity: a silence of every alert would mute the rules altogether")
	}
	matcherName(v, "matchers.alert_type", m.AlertType)
	matcherName(v, "matchers.model_name", m.ModelName)
	if m.Severity != nil && !m.Severity.Valid() {
		v.Add("matchers.severity", "must be one of %s, got %q", list(Severities), *m.Severity)
	}
	if n.Until.IsZero() {
		v.Add("until", "is required: the time (RFC 3339) the silence ends")
	}
	requiredText(v, "comment", n.Comment)
	return v.Err()
}

// ValidateAt checks the silence as Validate does, and that Until lies after
// now: a silence that has already ended would mute nothing.
func (n *NewSilence) ValidateAt(now time.Time) error {
	err := n.Validate()
	if n.Until.IsZero() || n.Until.After(now) {
		return err
	}
	v, ok := AsValidation(err)
	if !ok {
		v = &ValidationError{}
	}
	v.Add("until", "must be in the future (server time %s), got %s", now.UTC().Format(time.RFC3339), n.Until.UTC().Format(time.RFC3339))
	return v.Err()
}

// matcherName checks an optional matcher: absent, or a name.
func matcherName(v *ValidationError, field string, s *string) {
	if s == nil {
		return
	}
	if strings.TrimSpace(*s) == "" {
		v.Add(field, "must not be blank; leave it out to match any value")
		return
	}
	text(v, field, *s, MaxNameLen)
}

// requiredText checks free text that must say something.
func requiredText(v *ValidationError, field, s string) {
	if strings.TrimSpace(s) == "" {
		v.Add(field, "is required and must not be blank: say why")
		return
	}
	text(v, field, s, MaxTextLen)
}
