package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
)

// Rules that act. They are off by default and enabled per model name
// (store.RuleSettingsPut). Two rules exist:
//
//   - drift: after a drift check of the model's active version (RulesRun, or
//     any DriftCheck) detects drift, raise the alert "drift/<model id>";
//   - performance: when the realized metric (accuracy, precision, recall or
//     F1) of the active version over the last MetricWindowSeconds falls below
//     MetricThreshold, with at least MetricMinLabeled labeled predictions,
//     raise the alert "performance/<metric>/<model id>".
//
// The alert is deduplicated by that key (store.AlertRaiseByKey): while it
// is open (active or acknowledged) the condition recurring increments its
// occurrences and moves last_seen_at. A new alert also proposes one agent
// action (retrain_model, requiring approval, risk from the alert's
// severity) whose issue_type is "alert" and issue_id the alert's id; its
// parameters name the model and the drift report. The action_id is derived
// from the alert id, so it can never be proposed twice. Once the alert is
// resolved, the next occurrence raises a new alert and a new action.
//
// Silences: while a silence in force matches the alert (its type, the
// model's name, its severity: store.SilenceMatch), the rule raises nothing
// and proposes nothing: no new alert, and an open one is left as it is, its
// occurrences not counted. The outcome names the silence.
//
// Audit: a stored drift report is drift_report.created under the caller's
// actor; the alerts and actions the rules raise are alert.created,
// alert.repeated and action.proposed under System (keeping the caller's
// request id and address), in that order, in the transaction that stores
// the report.

// Rule action and alert vocabulary.
const (
	RuleActionType       = "retrain_model"
	AlertTypeDrift       = "drift_detected"
	AlertTypePerformance = "performance_degraded"
	IssueTypeAlert       = "alert"
)

// maxListed bounds the feature names an alert's message or an action's
// description spells out.
const maxListed = 20

// RuleOutcome is what one rule did for one model version.
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

// RulesRunResult reports one RulesRun.
type RulesRunResult struct {
	// Skipped is true when other holders were evaluating the rules of every
	// model that has them enabled: nothing was evaluated.
	Skipped  bool          `json:"skipped"`
	Models   int           `json:"models"` // model names with rules enabled
	Outcomes []RuleOutcome `json:"outcomes"`
	// Notes say why a rule did not evaluate (no active version, too few
	// predictions, another holder evaluating that model), per model name.
	Notes []string `json:"notes"`
}

// RulesRun evaluates the rules of every model name whose rules are
// enabled, against its active version, one model at a time. It is
// idempotent (an open alert is updated, never duplicated; each run stores
// one drift report per drift rule evaluated) and safe with several servers:
// each model's rules run under the model's lease (see lease.go) and write
// in one short transaction of their own; a model whose lease another holder
// has is skipped, with a note. A model evaluated before an error keeps what
// it wrote.
func (m *Monitor) RulesRun(ctx context.Context) (RulesRunResult, error) {
	res := RulesRunResult{Outcomes: []RuleOutcome{}, Notes: []string{}}
	all, err := m.st.RuleSettingsList(ctx)
	if err != nil {
		return res, err
	}
	skipped := 0
	for _, cfg := range all {
		if !cfg.Enabled {
			continue
		}
		res.Models++
		held, err := m.modelRules(ctx, cfg, &res)
		if err != nil {
			return res, err
		}
		if !held {
			skipped++
			res.Notes = append(res.Notes, fmt.Sprintf("%s: skipped: another instance is evaluating its rules", cfg.ModelName))
		}
	}
	res.Skipped = res.Models > 0 && skipped == res.Models
	return res, nil
}

// modelRules evaluates the rules of one model under its lease, adding
// outcomes and notes to res. held is false when another holder had the
// lease, or took it before the writes.
func (m *Monitor) modelRules(ctx context.Context, cfg store.RuleSettings, res *RulesRunResult) (held bool, err error) {
	l, err := m.hold(ctx, leaseName(cfg.ModelName))
	if err != nil || l == nil {
		return false, err
	}
	defer l.release(ctx)
	mv, err := m.st.ModelVersionActive(ctx, cfg.ModelName)
	if errors.Is(err, mlops.ErrNotFound) {
		res.Notes = append(res.Notes, fmt.Sprintf("%s: no active version; activate one to evaluate its rules", cfg.ModelName))
		return true, nil
	}
	if err != nil {
		return true, err
	}
	now := m.st.Now()
	var check *driftCheck
	if cfg.DriftEnabled {
		cur := Window{From: now.Add(-time.Duration(cfg.CurrentWindowSeconds) * time.Second), To: now.Add(time.Microsecond)}
		o := DriftCheckOptions{Current: cur,
			Reference:    Window{From: cur.From.Add(-time.Duration(cfg.ReferenceWindowSeconds) * time.Second), To: cur.From},
			PSIThreshold: cfg.PSIThreshold, KSThreshold: cfg.KSThreshold, MinSamples: int(cfg.MinSamples)}
		check, err = m.driftCompute(ctx, mv.ID, o)
		if _, invalid := mlops.AsValidation(err); invalid {
			res.Notes = append(res.Notes, fmt.Sprintf("%s (model version %d): drift rule not evaluated: %v", cfg.ModelName, mv.ID, err))
			check, err = nil, nil
		}
		if err != nil {
			return true, err
		}
	}
	var perf *ruleAlert
	if cfg.MetricThreshold != nil {
		var note string
		if perf, note, err = m.performanceRule(ctx, mv, cfg, now); err != nil {
			return true, err
		}
		if note != "" {
			res.Notes = append(res.Notes, note)
		}
	}
	if check == nil && perf == nil {
		return true, nil
	}
	if m.beforeFile != nil {
		m.beforeFile(cfg.ModelName)
	}
	var outs []RuleOutcome
	err = m.st.InTx(ctx, func(tx *store.Store) error {
		outs = outs[:0]
		if err := l.fence(ctx, tx); err != nil {
			return err
		}
		if check != nil {
			_, o, err := fileDrift(ctx, tx, check, cfg)
			if err != nil {
				return err
			}
			if o != nil {
				outs = append(outs, *o)
			}
		}
		if perf != nil {
			o, err := raise(ctx, tx, mv, *perf)
			if err != nil {
				return err
			}
			o.Rule = "performance"
			outs = append(outs, *o)
		}
		return nil
	})
	if errors.Is(err, errLeaseLost) {
		return false, nil
	}
	if err != nil {
		return true, err
	}
	res.Outcomes = append(res.Outcomes, outs...)
	return true, nil
}

// fileDrift stores a computed check in tx and, with cfg enabling the drift
// rule and drift detected, raises the drift alert.
func fileDrift(ctx context.Context, tx *store.Store, c *driftCheck, cfg store.RuleSettings) (mlops.DriftReport, *RuleOutcome, error) {
	rep, err := tx.DriftReportCreate(ctx, c.in)
	if err != nil {
		return rep, nil, err
	}
	if !cfg.Enabled || !cfg.DriftEnabled || !rep.DriftDetected {
		return rep, nil, nil
	}
	o, err := raise(ctx, tx, c.model, driftAlert(c.model, rep, c.details))
	if err != nil {
		return rep, nil, err
	}
	o.Rule = "drift"
	return rep, o, nil
}

// driftAlert is the alert of a report that detected drift: high when the
// largest PSI is twice the threshold or half the compared features drifted,
// else medium.
func driftAlert(m mlops.ModelVersion, rep mlops.DriftReport, d DriftDetails) ruleAlert {
	score := 0.0
	if rep.DriftScore != nil {
		score = *rep.DriftScore
	}
	sev := mlops.SeverityMedium
	if score >= 2*d.PSIThreshold || 2*len(rep.DriftedFeatures) >= len(d.Features) {
		sev = mlops.SeverityHigh
	}
	names := listNames(rep.DriftedFeatures)
	return ruleAlert{
		key: fmt.Sprintf("drift/%d", m.ID), alertType: AlertTypeDrift, severity: sev,
		title: truncate(fmt.Sprintf("%s %s: drift in %d of %d features", m.ModelName, m.Version, len(rep.DriftedFeatures), len(d.Features)), mlops.MaxNameLen),
		message: fmt.Sprintf("Drift report %d on model %s version %s (id %d): drifted features %s; largest PSI %.4f (threshold %.2f, KS threshold %.2f).",
			rep.ID, m.ModelName, m.Version, m.ID, names, score, d.PSIThreshold, d.KSThreshold),
		related: map[string]any{"model_id": m.ID, "model_name": m.ModelName, "version": m.Version,
			"drift_report_id": rep.ID, "drift_score": score, "drifted_features": rep.DriftedFeatures},
		driftReportID: &rep.ID,
		action:        fmt.Sprintf("Retrain %s (version %s): drift in %s (drift report %d)", m.ModelName, m.Version, names, rep.ID),
	}
}

// performanceRule evaluates the realized-metric rule of one version: the
// alert to raise, or nil with a note saying why the rule could not judge.
func (m *Monitor) performanceRule(ctx context.Context, mv mlops.ModelVersion, cfg store.RuleSettings, now time.Time) (*ruleAlert, string, error) {
	since := now.Add(-time.Duration(cfg.MetricWindowSeconds) * time.Second)
	rep, err := m.st.PerformanceReport(ctx, mv.ID, store.PerformanceOptions{Bucket: "1d", Since: since,
		Until: now.Add(time.Microsecond), PositiveClass: &cfg.PositiveClass})
	if err != nil {
		return nil, "", err
	}
	if rep.Total.Labeled < cfg.MetricMinLabeled {
		return nil, fmt.Sprintf("%s (model version %d): performance rule not evaluated: %d labeled predictions in the window, at least %d are needed",
			cfg.ModelName, mv.ID, rep.Total.Labeled, cfg.MetricMinLabeled), nil
	}
	value, _ := rep.Total.Metric(cfg.Metric)
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
	return &ruleAlert{
		key:       fmt.Sprintf("performance/%s/%d", cfg.Metric, mv.ID),
		alertType: AlertTypePerformance, severity: sev,
		title: truncate(fmt.Sprintf("%s %s: realized %s %.3f below %.3f", mv.ModelName, mv.Version, cfg.Metric, *value, thr), mlops.MaxNameLen),
		message: fmt.Sprintf("Realized %s of model %s version %s (id %d) over the last %s is %.4f on %d labeled predictions, below the threshold %.4f.",
			cfg.Metric, mv.ModelName, mv.Version, mv.ID, time.Duration(cfg.MetricWindowSeconds)*time.Second, *value, rep.Total.Labeled, thr),
		related: map[string]any{"model_id": mv.ID, "model_name": mv.ModelName, "version": mv.Version,
			"metric": cfg.Metric, "value": *value, "threshold": thr, "labeled": rep.Total.Labeled,
			"window_from": since, "window_to": now},
		action: fmt.Sprintf("Retrain %s (version %s): realized %s %.4f fell below %.4f", mv.ModelName, mv.Version, cfg.Metric, *value, thr),
	}, "", nil
}

// ruleAlert is the alert a rule raises and the action a new one proposes.
type ruleAlert struct {
	key, alertType, title, message, action string
	severity                               mlops.Severity
	related                                map[string]any
	driftReportID                          *int64
}

// raise raises in's alert in tx under System (keeping ctx's request) and,
// when the alert is new, proposes its retrain_model action; a silence that
// matches the alert stops both.
func raise(ctx context.Context, tx *store.Store, m mlops.ModelVersion, in ruleAlert) (*RuleOutcome, error) {
	sil, silenced, err := tx.SilenceMatch(ctx, in.alertType, m.ModelName, in.severity)
	if err != nil {
		return nil, err
	}
	if silenced {
		return &RuleOutcome{ModelName: m.ModelName, ModelID: m.ID, DriftReportID: in.driftReportID, SilenceID: &sil.ID}, nil
	}
	sys := ruleActor(ctx)
	related, err := jsonObject(in.related)
	if err != nil {
		return nil, err
	}
	a, created, err := tx.AlertRaiseByKey(sys, in.key, m.ID, mlops.NewAlert{AlertType: in.alertType,
		Severity: in.severity, Title: in.title, Message: in.message, RelatedData: related})
	if err != nil {
		return nil, err
	}
	out := &RuleOutcome{ModelName: m.ModelName, ModelID: m.ID, DriftReportID: in.driftReportID, Alert: &a, NewAlert: created}
	if !created {
		return out, nil
	}
	params := map[string]any{"model_id": m.ID, "model_name": m.ModelName, "version": m.Version,
		"alert_id": a.ID, "dedup_key": in.key, "reason": in.alertType}
	if in.driftReportID != nil {
		params["drift_report_id"] = *in.driftReportID
	}
	raw, err := jsonObject(params)
	if err != nil {
		return nil, err
	}
	act, err := tx.ActionCreate(sys, mlops.NewAgentAction{
		ActionID:      fmt.Sprintf("rule-alert-%d-%s", a.ID, RuleActionType),
		ActionType:    RuleActionType,
		Description:   in.action,
		RiskLevel:     riskOf(in.severity),
		IssueID:       fmt.Sprint(a.ID),
		IssueType:     IssueTypeAlert,
		IssueSeverity: string(in.severity),
		Parameters:    raw,
	})
	if err != nil {
		return nil, err
	}
	out.Action = &act
	return out, nil
}

// ruleActor is ctx with System as the actor, keeping the request that ran
// the rules.
func ruleActor(ctx context.Context) context.Context {
	a := store.ActorFrom(ctx)
	return store.WithActor(ctx, store.Actor{Name: store.System.Name, Kind: store.System.Kind, RequestID: a.RequestID, RemoteAddr: a.RemoteAddr})
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

// listNames joins names for a message, the first maxListed of them.
func listNames(names []string) string {
	if len(names) <= maxListed {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:maxListed], ", ") + fmt.Sprintf(" and %d more", len(names)-maxListed)
}

// truncate cuts s to at most n bytes, on a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func jsonObject(v map[string]any) (mlops.JSON, error) {
	raw, err := json.Marshal(v)
	return mlops.JSON(raw), err
}
