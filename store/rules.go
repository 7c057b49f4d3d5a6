package store

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"time"

	"github.com/mlopsdev/mlops"
)

// Rule settings and rule leases: what the monitoring loop (package monitor)
// reads and holds. The settings are per model name, off by default
// (RuleSettingsPut); saving them is rules.updated. A lease (rule_leases) is
// one row per name, held by one holder until it expires, so that several
// servers evaluating the rules never work on one model at once.

// Defaults of the drift rule's settings, which are also the defaults of a
// drift check.
const (
	DefaultPSIThreshold    = 0.2
	DefaultKSThreshold     = 0.1
	DefaultDriftMinSamples = 30
	DefaultCurrentWindow   = 24 * time.Hour
	DefaultReferenceWindow = 7 * 24 * time.Hour
)

// RuleSettings are the rule settings of one model name. A model without
// stored settings has DefaultRuleSettings: everything off.
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

// DefaultRuleSettings returns the settings of a model with no stored row:
// rules off, the drift rule ready with the default thresholds and windows.
func DefaultRuleSettings(modelName string) RuleSettings {
	return RuleSettings{ModelName: modelName, DriftEnabled: true, PSIThreshold: DefaultPSIThreshold,
		KSThreshold: DefaultKSThreshold, MinSamples: DefaultDriftMinSamples,
		CurrentWindowSeconds: int64(DefaultCurrentWindow / time.Second), ReferenceWindowSeconds: int64(DefaultReferenceWindow / time.Second),
		Metric: "accuracy", MetricWindowSeconds: 86400, MetricMinLabeled: 30, PositiveClass: 1}
}

// Validate checks rule settings.
func (r *RuleSettings) Validate() error {
	v := &mlops.ValidationError{}
	if r.ModelName == "" || len(r.ModelName) > mlops.MaxNameLen {
		v.Add("model_name", "must be 1 to %d bytes", mlops.MaxNameLen)
	}
	if math.IsNaN(r.PSIThreshold) || math.IsInf(r.PSIThreshold, 0) || r.PSIThreshold <= 0 {
		v.Add("psi_threshold", "must be a finite number > 0, got %v", r.PSIThreshold)
	}
	if math.IsNaN(r.KSThreshold) || r.KSThreshold <= 0 || r.KSThreshold > 1 {
		v.Add("ks_threshold", "must be within (0, 1], got %v", r.KSThreshold)
	}
	if r.MinSamples < 1 {
		v.Add("min_samples", "must be >= 1, got %d", r.MinSamples)
	}
	for _, f := range []struct {
		name string
		v    int64
	}{{"current_window_seconds", r.CurrentWindowSeconds}, {"reference_window_seconds", r.ReferenceWindowSeconds}, {"metric_window_seconds", r.MetricWindowSeconds}} {
		if f.v <= 0 || f.v > 10*366*86400 {
			v.Add(f.name, "must be between 1 and %d seconds, got %d", 10*366*86400, f.v)
		}
	}
	if _, ok := (PerformanceRow{}).Metric(r.Metric); !ok {
		v.Add("metric", "must be one of accuracy, precision, recall, f1, got %q", r.Metric)
	}
	if r.MetricThreshold != nil && !(*r.MetricThreshold >= 0 && *r.MetricThreshold <= 1) {
		v.Add("metric_threshold", "must be within [0, 1] (or null to turn the performance rule off), got %v", *r.MetricThreshold)
	}
	if r.MetricMinLabeled < 1 {
		v.Add("metric_min_labeled", "must be >= 1, got %d", r.MetricMinLabeled)
	}
	return v.Err()
}

const ruleColumns = `model_name, enabled, drift_enabled, psi_threshold, ks_threshold, min_samples,
	current_window_seconds, reference_window_seconds, metric, metric_threshold, metric_window_seconds,
	metric_min_labeled, positive_class, updated_at`

func scanRule(sc scanner) (RuleSettings, error) {
	var r RuleSettings
	var thr sql.NullFloat64
	err := sc.Scan(&r.ModelName, &r.Enabled, &r.DriftEnabled, &r.PSIThreshold, &r.KSThreshold, &r.MinSamples,
		&r.CurrentWindowSeconds, &r.ReferenceWindowSeconds, &r.Metric, &thr, &r.MetricWindowSeconds,
		&r.MetricMinLabeled, &r.PositiveClass, &r.UpdatedAt)
	r.MetricThreshold = nullFloat(thr)
	r.UpdatedAt = r.UpdatedAt.UTC()
	return r, err
}

// RuleSettingsGet returns the rule settings of a model name, or
// DefaultRuleSettings when none are stored.
func (s *Store) RuleSettingsGet(ctx context.Context, modelName string) (RuleSettings, error) {
	r, err := scanRule(s.primary().QueryRowContext(ctx, `SELECT `+ruleColumns+` FROM model_rules WHERE model_name = $1`, modelName))
	if errors.Is(err, sql.ErrNoRows) {
		return DefaultRuleSettings(modelName), nil
	}
	return r, classify(err)
}

// RuleSettingsPut stores the rule settings of a model name (insert or
// replace), records rules.updated (entity model_rules/<model name>, before:
// the stored settings or null when there were none) and returns them.
func (s *Store) RuleSettingsPut(ctx context.Context, r RuleSettings) (RuleSettings, error) {
	if err := r.Validate(); err != nil {
		return r, err
	}
	var out RuleSettings
	err := s.audited(ctx, func(tx *Store) ([]change, error) {
		c := change{event: "rules.updated", entityType: "model_rules", entityID: r.ModelName}
		prev, err := scanRule(tx.writer().QueryRowContext(ctx, `SELECT `+ruleColumns+` FROM model_rules
			WHERE model_name = $1`+tx.forUpdate(), r.ModelName))
		switch {
		case err == nil:
			c.before = prev
		case !errors.Is(err, sql.ErrNoRows):
			return nil, classify(err)
		}
		if out, err = tx.ruleSettingsUpsert(ctx, r); err != nil {
			return nil, err
		}
		c.after = out
		return []change{c}, nil
	})
	return out, err
}

func (s *Store) ruleSettingsUpsert(ctx context.Context, r RuleSettings) (RuleSettings, error) {
	out, err := scanRule(s.writer().QueryRowContext(ctx, `INSERT INTO model_rules (`+ruleColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
		ON CONFLICT (model_name) DO UPDATE SET enabled = excluded.enabled, drift_enabled = excluded.drift_enabled,
			psi_threshold = excluded.psi_threshold, ks_threshold = excluded.ks_threshold,
			min_samples = excluded.min_samples, current_window_seconds = excluded.current_window_seconds,
			reference_window_seconds = excluded.reference_window_seconds, metric = excluded.metric,
			metric_threshold = excluded.metric_threshold, metric_window_seconds = excluded.metric_window_seconds,
			metric_min_labeled = excluded.metric_min_labeled, positive_class = excluded.positive_class,
			updated_at = excluded.updated_at
		RETURNING `+ruleColumns,
		r.ModelName, r.Enabled, r.DriftEnabled, r.PSIThreshold, r.KSThreshold, r.MinSamples, r.CurrentWindowSeconds,
		r.ReferenceWindowSeconds, r.Metric, r.MetricThreshold, r.MetricWindowSeconds, r.MetricMinLabeled,
		r.PositiveClass, s.Now()))
	return out, classify(err)
}

// RuleSettingsList returns every stored rule setting, by model name.
func (s *Store) RuleSettingsList(ctx context.Context) ([]RuleSettings, error) {
	rows, err := s.reader().QueryContext(ctx, `SELECT `+ruleColumns+` FROM model_rules ORDER BY model_name`)
	return collect(rows, err, scanRule)
}

// LeaseAcquire takes the lease name for holder until the store's clock
// reads now + ttl, and reports whether holder has it. A lease that holder
// already has is renewed; one that another holder has is taken only once it
// has expired. One statement on both engines: the insert, or the update of
// an expired or own row, returns the row; a live lease of another holder
// returns none. Inside a transaction, on PostgreSQL, the row stays locked
// until the transaction ends, so no other holder can take the lease while
// the work it guards commits.
func (s *Store) LeaseAcquire(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if name == "" || holder == "" || ttl <= 0 {
		return false, mlops.Invalid("lease", "needs a name, a holder and a positive duration, got %q, %q, %v", name, holder, ttl)
	}
	now := s.Now()
	var got string
	err := s.writer().QueryRowContext(ctx, `INSERT INTO rule_leases (name, holder, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE rule_leases.expires_at <= $4 OR rule_leases.holder = excluded.holder
		RETURNING holder`, name, holder, now.Add(ttl), now).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, classify(err)
	}
	return true, nil
}

// LeaseRelease gives up the lease name if holder has it; otherwise it does
// nothing.
func (s *Store) LeaseRelease(ctx context.Context, name, holder string) error {
	_, err := s.writer().ExecContext(ctx, `DELETE FROM rule_leases WHERE name = $1 AND holder = $2`, name, holder)
	return classify(err)
}

// LeaseHolder returns the holder of the lease name and when it expires, or
// ErrNotFound when nobody holds it. Expired leases are returned as they are.
func (s *Store) LeaseHolder(ctx context.Context, name string) (string, time.Time, error) {
	var holder string
	var expires time.Time
	err := s.primary().QueryRowContext(ctx, `SELECT holder, expires_at FROM rule_leases WHERE name = $1`, name).Scan(&holder, &expires)
	if err != nil {
		return "", time.Time{}, notFound(err, "lease %q", name)
	}
	return holder, expires.UTC(), nil
}
