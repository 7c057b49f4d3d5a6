package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/mlopsdev/mlops"
)

// Rules that act. They are off by default and enabled per model name
// (RuleSettingsPut). Two rules exist:
//
//   - drift: after a drift check of the model's active version (RulesRun, or
//     any DriftCheck) detects drift, raise the alert "drift/<model id>";
//   - performance: when the realized metric (accuracy, precision, recall or
//     F1) of the active version over the last MetricWindowSeconds falls below
//     MetricThreshold, with at least MetricMinLabeled labeled predictions,
//     raise the alert "performance/<metric>/<model id>".
//
// The alert is deduplicated by that key: while it is open (active or
// acknowledged) the condition recurring increments its occurrences and
// moves last_seen_at; the partial unique index ux_alerts_dedup_open makes
// sure concurrent raisers cannot create two. A new alert also proposes one
// agent action (retrain_model, requiring approval, risk from the alert's
// severity) whose issue_type is "alert" and issue_id the alert's id; its
// parameters name the model and the drift report. The action_id is derived
// from the alert id, so it can never be proposed twice. Once the alert is
// resolved, the next occurrence raises a new alert and a new action.
//
// Audit: a stored drift report is drift_report.created under the caller's
// actor; the alerts and actions the rules raise are alert.created,
// alert.repeated and the action's own event under System (keeping the
// caller's request id and address). Saving settings is rules.updated.

// Rule action and alert vocabulary.
const (
	RuleActionType       = "retrain_model"
	AlertTypeDrift       = "drift_detected"
	AlertTypePerformance = "performance_degraded"
	IssueTypeAlert       = "alert"
	rulesLeaseName       = "rules"
	rulesLeaseTTL        = 5 * time.Minute
)

// rulesLockKey is the PostgreSQL advisory lock key of RulesRun.
var rulesLockKey = int64(0x6d6c6f70732d72) // "mlops-r"

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
	if _, ok := metricOf[r.Metric]; !ok {
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

var metricOf = map[string]func(PerformanceRow) *float64{
	"accuracy":  func(r PerformanceRow) *float64 { return r.Accuracy },
	"precision": func(r PerformanceRow) *float64 { return r.Precision },
	"recall":    func(r PerformanceRow) *float64 { return r.Recall },
	"f1":        func(r PerformanceRow) *float64 { return r.F1 },
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
	r, err := scanRule(s.reader().QueryRowContext(ctx, `SELECT `+ruleColumns+` FROM model_rules WHERE model_name = $1`, modelName))
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

// RuleOutcome is what one rule did for one model version.
type RuleOutcome struct {
	Rule          string             `json:"rule"` // drift or performance
	ModelName     string             `json:"model_name"`
	ModelID       int64              `json:"model_id"`
	DriftReportID *int64             `json:"drift_report_id,omitempty"`
	Alert         *mlops.Alert       `json:"alert,omitempty"`
	NewAlert      bool               `json:"new_alert"`
	Action        *mlops.AgentAction `json:"action,omitempty"`
}

// RulesRunResult reports one RulesRun.
type RulesRunResult struct {
	// Skipped is true when another instance held the rules lock: nothing
	// was evaluated.
	Skipped  bool          `json:"skipped"`
	Models   int           `json:"models"` // model names with rules enabled
	Outcomes []RuleOutcome `json:"outcomes"`
	// Notes say why a rule did not evaluate (no active version, too few
	// predictions), per model name.
	Notes []string `json:"notes"`
}

// RulesRun evaluates the rules of every model name whose rules are
// enabled, against its active version. It is idempotent (an open alert is
// updated, never duplicated; each run stores one drift report per drift
// rule evaluated) and safe with several instances: on PostgreSQL it runs in
// one transaction holding pg_try_advisory_xact_lock, on SQLite it holds a
// lease row (rule_leases, 5 minutes) while it runs; a run that finds the
// lock or lease taken returns Skipped without doing anything.
func (s *Store) RulesRun(ctx context.Context) (RulesRunResult, error) {
	if s.engine == Postgres {
		var res RulesRunResult
		err := s.InTx(ctx, func(tx *Store) error {
			var ok bool
			if err := tx.writer().QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock($1)`, rulesLockKey).Scan(&ok); err != nil {
				return classify(err)
			}
			if !ok {
				res = RulesRunResult{Skipped: true, Outcomes: []RuleOutcome{}, Notes: []string{}}
				return nil
			}
			var err error
			res, err = tx.rulesEvaluate(ctx)
			return err
		})
		return res, err
	}
	holder, err := s.leaseAcquire(ctx, rulesLeaseName, rulesLeaseTTL)
	if err != nil {
		return RulesRunResult{}, err
	}
	if holder == "" {
		return RulesRunResult{Skipped: true, Outcomes: []RuleOutcome{}, Notes: []string{}}, nil
	}
	defer s.leaseRelease(context.WithoutCancel(ctx), rulesLeaseName, holder)
	return s.rulesEvaluate(ctx)
}

// leaseAcquire takes the named lease for ttl unless another holder has it
// and it has not expired. It returns the holder token, or "" when taken.
func (s *Store) leaseAcquire(ctx context.Context, name string, ttl time.Duration) (string, error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	holder := hex.EncodeToString(b[:])
	now := s.Now()
	var got string
	err := s.writer().QueryRowContext(ctx, `INSERT INTO rule_leases (name, holder, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE rule_leases.expires_at <= $4
		RETURNING holder`, name, holder, now.Add(ttl), now).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", classify(err)
	}
	return got, nil
}

func (s *Store) leaseRelease(ctx context.Context, name, holder string) {
	if _, err := s.writer().ExecContext(ctx, `DELETE FROM rule_leases WHERE name = $1 AND holder = $2`, name, holder); err != nil {
		s.log.WarnContext(ctx, "release rules lease", "error", err.Error())
	}
}

// rulesEvaluate evaluates every enabled rule. Inside a transaction (the
// PostgreSQL run) the evaluations' events and proposals wait for the end of
// the run; on their own, each evaluation is a transaction that settles its
// effects itself.
func (s *Store) rulesEvaluate(ctx context.Context) (RulesRunResult, error) {
	res := RulesRunResult{Outcomes: []RuleOutcome{}, Notes: []string{}}
	var fx *ruleEffects
	if s.tx != nil {
		fx = &ruleEffects{}
	}
	var outs []*RuleOutcome // filled in when their actions are proposed
	all, err := s.RuleSettingsList(ctx)
	if err != nil {
		return res, err
	}
	now := s.Now()
	for _, cfg := range all {
		if !cfg.Enabled {
			continue
		}
		res.Models++
		m, err := s.ModelVersionActive(ctx, cfg.ModelName)
		if errors.Is(err, mlops.ErrNotFound) {
			res.Notes = append(res.Notes, fmt.Sprintf("%s: no active version; activate one to evaluate its rules", cfg.ModelName))
			continue
		}
		if err != nil {
			return res, err
		}
		if cfg.DriftEnabled {
			cur := Window{From: now.Add(-time.Duration(cfg.CurrentWindowSeconds) * time.Second), To: now.Add(time.Microsecond)}
			opts := DriftCheckOptions{Current: cur,
				Reference:    Window{From: cur.From.Add(-time.Duration(cfg.ReferenceWindowSeconds) * time.Second), To: cur.From},
				PSIThreshold: cfg.PSIThreshold, KSThreshold: cfg.KSThreshold, MinSamples: int(cfg.MinSamples)}
			_, out, err := s.driftCheck(ctx, m.ID, opts, &cfg, fx)
			switch {
			case err == nil:
				if out != nil {
					outs = append(outs, out)
				}
			case isValidation(err):
				res.Notes = append(res.Notes, fmt.Sprintf("%s (model version %d): drift rule not evaluated: %v", cfg.ModelName, m.ID, err))
			default:
				return res, err
			}
		}
		if cfg.MetricThreshold != nil {
			out, note, err := s.performanceRule(ctx, m, cfg, now, fx)
			if err != nil {
				return res, err
			}
			if note != "" {
				res.Notes = append(res.Notes, note)
			}
			if out != nil {
				outs = append(outs, out)
			}
		}
	}
	if fx != nil {
		if err := fx.settle(ctx, s); err != nil {
			return res, err
		}
	}
	for _, o := range outs {
		res.Outcomes = append(res.Outcomes, *o)
	}
	return res, nil
}

func isValidation(err error) bool {
	_, ok := mlops.AsValidation(err)
	return ok
}

// performanceRule evaluates the realized-metric rule of one version. With
// fx nil it settles its effects in its own transaction; otherwise it adds
// them to fx.
func (s *Store) performanceRule(ctx context.Context, m mlops.ModelVersion, cfg RuleSettings, now time.Time, fx *ruleEffects) (*RuleOutcome, string, error) {
	since := now.Add(-time.Duration(cfg.MetricWindowSeconds) * time.Second)
	rep, err := s.PerformanceReport(ctx, m.ID, PerformanceOptions{Bucket: "1d", Since: since,
		Until: now.Add(time.Microsecond), PositiveClass: &cfg.PositiveClass})
	if err != nil {
		return nil, "", err
	}
	if rep.Total.Labeled < cfg.MetricMinLabeled {
		return nil, fmt.Sprintf("%s (model version %d): performance rule not evaluated: %d labeled predictions in the window, at least %d are needed",
			cfg.ModelName, m.ID, rep.Total.Labeled, cfg.MetricMinLabeled), nil
	}
	value := metricOf[cfg.Metric](rep.Total)
	if value == nil || *value >= *cfg.MetricThreshold {
		return nil, "", nil
	}
	thr := *cfg.MetricThreshold
	sev := mlops.SeverityMedium
	switch {
	case *value < thr-0.2:
		sev = mlops.SeverityCritical
	case *value < thr-0.1:
		sev = mlops.SeverityHigh
	}
	var out *RuleOutcome
	err = s.InTx(ctx, func(tx *Store) error {
		own := fx
		if own == nil {
			own = &ruleEffects{}
		}
		related := map[string]any{"model_id": m.ID, "model_name": m.ModelName, "version": m.Version,
			"metric": cfg.Metric, "value": *value, "threshold": thr, "labeled": rep.Total.Labeled,
			"window_from": since, "window_to": now}
		o, err := tx.raiseRuleAlert(ctx, m, ruleAlert{
			key:       fmt.Sprintf("performance/%s/%d", cfg.Metric, m.ID),
			alertType: AlertTypePerformance, severity: sev,
			title: truncate(fmt.Sprintf("%s %s: realized %s %.3f below %.3f", m.ModelName, m.Version, cfg.Metric, *value, thr), mlops.MaxNameLen),
			message: fmt.Sprintf("Realized %s of model %s version %s (id %d) over the last %s is %.4f on %d labeled predictions, below the threshold %.4f.",
				cfg.Metric, m.ModelName, m.Version, m.ID, time.Duration(cfg.MetricWindowSeconds)*time.Second, *value, rep.Total.Labeled, thr),
			related: related,
			action:  fmt.Sprintf("Retrain %s (version %s): realized %s %.4f fell below %.4f", m.ModelName, m.Version, cfg.Metric, *value, thr),
		}, own)
		o.Rule = "performance"
		out = o
		if err != nil || fx != nil {
			return err
		}
		return own.settle(ctx, tx)
	})
	return out, "", err
}

// applyDriftRule raises the drift alert of a report that detected drift,
// adding its effects to fx.
func (s *Store) applyDriftRule(ctx context.Context, m mlops.ModelVersion, rep mlops.DriftReport, d DriftDetails, fx *ruleEffects) (*RuleOutcome, error) {
	score := 0.0
	if rep.DriftScore != nil {
		score = *rep.DriftScore
	}
	sev := mlops.SeverityMedium
	if score >= 2*d.PSIThreshold || 2*len(rep.DriftedFeatures) >= len(d.Features) {
		sev = mlops.SeverityHigh
	}
	related := map[string]any{"model_id": m.ID, "model_name": m.ModelName, "version": m.Version,
		"drift_report_id": rep.ID, "drift_score": score, "drifted_features": rep.DriftedFeatures}
	o, err := s.raiseRuleAlert(ctx, m, ruleAlert{
		key: fmt.Sprintf("drift/%d", m.ID), alertType: AlertTypeDrift, severity: sev,
		title: truncate(fmt.Sprintf("%s %s: drift in %d of %d features", m.ModelName, m.Version, len(rep.DriftedFeatures), len(d.Features)), mlops.MaxNameLen),
		message: fmt.Sprintf("Drift report %d on model %s version %s (id %d): drifted features %s; largest PSI %.4f (threshold %.2f, KS threshold %.2f).",
			rep.ID, m.ModelName, m.Version, m.ID, strings.Join(rep.DriftedFeatures, ", "), score, d.PSIThreshold, d.KSThreshold),
		related: related, driftReportID: &rep.ID,
		action: fmt.Sprintf("Retrain %s (version %s): drift in %s (drift report %d)", m.ModelName, m.Version, strings.Join(rep.DriftedFeatures, ", "), rep.ID),
	}, fx)
	o.Rule = "drift"
	return o, err
}

type ruleAlert struct {
	key, alertType, title, message, action string
	severity                               mlops.Severity
	related                                map[string]any
	driftReportID                          *int64
}

// ruleEffects is what rule evaluations owe their transaction at its end:
// the events of their changes and the actions their new alerts propose.
// Kept for the end, the events are the transaction's last statements, in
// the order of cause and effect: drift reports, then the alerts they
// raised, then the actions those proposed.
type ruleEffects struct {
	changes   []change // under the caller's actor (drift reports)
	raised    []change // under System (the alerts the rules raise)
	proposals []proposal
}

// proposal is an action a new alert proposes, and the outcome that reports
// it.
type proposal struct {
	in  mlops.NewAgentAction
	out *RuleOutcome
}

// settle records fx's events and proposes its actions in tx, as the
// transaction's last statements.
func (fx *ruleEffects) settle(ctx context.Context, tx *Store) error {
	if err := tx.audit(ctx, fx.changes...); err != nil {
		return err
	}
	sys := ruleActor(ctx)
	if err := tx.audit(sys, fx.raised...); err != nil {
		return err
	}
	for _, p := range fx.proposals {
		act, err := tx.ActionCreate(sys, p.in)
		if err != nil {
			return err
		}
		p.out.Action = &act
	}
	*fx = ruleEffects{}
	return nil
}

// ruleActor is ctx with System as the actor, keeping the request that ran
// the rules.
func ruleActor(ctx context.Context) context.Context {
	a := ActorFrom(ctx)
	return WithActor(ctx, Actor{Name: System.Name, Kind: System.Kind, RequestID: a.RequestID, RemoteAddr: a.RemoteAddr})
}

// raiseRuleAlert inserts the alert of a condition, or, while one is open,
// counts one more occurrence on it, and adds the event (alert.created or
// alert.repeated) to fx; a new alert also adds the retrain_model action it
// proposes. It must run inside a transaction (InTx). The open alert is read
// (and on PostgreSQL locked) first, so the event carries it as it was.
func (s *Store) raiseRuleAlert(ctx context.Context, m mlops.ModelVersion, in ruleAlert, fx *ruleEffects) (*RuleOutcome, error) {
	out := &RuleOutcome{ModelName: m.ModelName, ModelID: m.ID, DriftReportID: in.driftReportID}
	now := s.Now()
	related := mustJSON(in.related)
	var a mlops.Alert
	for attempt := 0; ; attempt++ {
		prev, err := scanAlert(s.writer().QueryRowContext(ctx, `SELECT `+alertColumns+` FROM alerts
			WHERE dedup_key = $1 AND status <> 'resolved'`+s.forUpdate(), in.key))
		if err == nil {
			a, err = scanAlert(s.writer().QueryRowContext(ctx, `UPDATE alerts
				SET occurrences = occurrences + 1, last_seen_at = $2, message = $3, related_data = $4
				WHERE id = $1 RETURNING `+alertColumns, prev.ID, now, in.message, related))
			if err != nil {
				return out, classify(err)
			}
			out.Alert = &a
			fx.raised = append(fx.raised, alertChange("alert.repeated", &prev, a))
			return out, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return out, classify(err)
		}
		a, err = scanAlert(s.writer().QueryRowContext(ctx, `
			INSERT INTO alerts (alert_type, severity, title, message, status, related_data, created_at,
				model_id, dedup_key, occurrences, last_seen_at)
			VALUES ($1, $2, $3, $4, 'active', $5, $6, $7, $8, 1, $6)
			ON CONFLICT (dedup_key) WHERE status <> 'resolved' DO NOTHING
			RETURNING `+alertColumns,
			in.alertType, string(in.severity), in.title, in.message, related, now, m.ID, in.key))
		if err == nil {
			break
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return out, classify(err)
		}
		// Another transaction raised it since the read: count on that one.
		if attempt == 2 {
			return out, fmt.Errorf("%w: alert %q keeps being raised and resolved concurrently (retry)", mlops.ErrConflict, in.key)
		}
	}
	out.Alert = &a
	out.NewAlert = true
	fx.raised = append(fx.raised, alertChange("alert.created", nil, a))
	params := map[string]any{"model_id": m.ID, "model_name": m.ModelName, "version": m.Version,
		"alert_id": a.ID, "dedup_key": in.key, "reason": in.alertType}
	if in.driftReportID != nil {
		params["drift_report_id"] = *in.driftReportID
	}
	fx.proposals = append(fx.proposals, proposal{out: out, in: mlops.NewAgentAction{
		ActionID:      fmt.Sprintf("rule-alert-%d-%s", a.ID, RuleActionType),
		ActionType:    RuleActionType,
		Description:   in.action,
		RiskLevel:     riskOf(in.severity),
		IssueID:       strconv.FormatInt(a.ID, 10),
		IssueType:     IssueTypeAlert,
		IssueSeverity: string(in.severity),
		Parameters:    mlops.JSON(mustJSON(params)),
	}})
	return out, nil
}

// riskOf maps an alert severity to the risk of the action it proposes.
func riskOf(sev mlops.Severity) mlops.RiskLevel {
	switch sev {
	case mlops.SeverityCritical:
		return mlops.RiskCritical
	case mlops.SeverityHigh:
		return mlops.RiskHigh
	case mlops.SeverityMedium:
		return mlops.RiskMedium
	}
	return mlops.RiskLow
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
