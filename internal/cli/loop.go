package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mlopsdev/mlops/monitor"
	"github.com/mlopsdev/mlops/store"
)

// runDriftCheck is `mlops drift check MODEL_ID [flags]`: a server-side drift
// check of one model version, stored as a drift report and printed.
func runDriftCheck(ctx context.Context, e *Env, args []string) error {
	fs := newFlags(e, "drift check")
	modelID := fs.Int64("model-id", 0, "the model version to check (or give it as the argument)")
	refModel := fs.Int64("reference-model-id", 0, "another version whose predictions form the reference")
	refFrom := fs.String("reference-from", "", "reference window start, RFC 3339 (default: 7 days before the current window)")
	refTo := fs.String("reference-to", "", "reference window end, RFC 3339 (default: the current window's start)")
	curFrom := fs.String("current-from", "", "current window start, RFC 3339 (default: 24 hours before its end)")
	curTo := fs.String("current-to", "", "current window end, RFC 3339 (default: now)")
	psi := fs.Float64("psi-threshold", store.DefaultPSIThreshold, "a feature drifts when its PSI reaches this")
	ks := fs.Float64("ks-threshold", store.DefaultKSThreshold, "... or its Kolmogorov-Smirnov D reaches this")
	minSamples := fs.Int("min-samples", store.DefaultDriftMinSamples, "fewest predictions each window must hold")
	bins := fs.Int("bins", 10, "reference quantile bins of PSI")
	asJSON := fs.Bool("json", false, "print the stored report as JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 1 && *modelID == 0:
		id, err := strconv.ParseInt(pos[0], 10, 64)
		if err != nil || id <= 0 {
			return usagef("drift check: %q is not a model version id; as in: mlops drift check 12", pos[0])
		}
		*modelID = id
	case len(pos) > 0:
		return usagef("drift check takes one model version id, got %q", strings.Join(pos, " "))
	case *modelID <= 0:
		return usagef("drift check needs a model version id, as in: mlops drift check 12 (or --model-id 12)")
	}
	o := monitor.DriftCheckOptions{ReferenceModelID: *refModel, PSIThreshold: *psi, KSThreshold: *ks,
		MinSamples: *minSamples, Bins: *bins}
	for _, t := range []struct {
		flag, v string
		dst     *time.Time
	}{{"reference-from", *refFrom, &o.Reference.From}, {"reference-to", *refTo, &o.Reference.To},
		{"current-from", *curFrom, &o.Current.From}, {"current-to", *curTo, &o.Current.To}} {
		if t.v == "" {
			continue
		}
		v, err := time.Parse(time.RFC3339Nano, t.v)
		if err != nil {
			return usagef("--%s %q is not an RFC 3339 time, as in 2026-05-04T00:00:00Z", t.flag, t.v)
		}
		*t.dst = v
	}
	s, err := openMigrated(ctx, e)
	if err != nil {
		return err
	}
	defer s.Close()
	rep, err := monitor.New(s, monitor.Options{Logger: e.Logger}).DriftCheck(ctx, *modelID, o)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(e.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	var d monitor.DriftDetails
	_ = json.Unmarshal(rep.Details, &d)
	verdict := "no drift"
	if rep.DriftDetected {
		verdict = "drift in " + strings.Join(rep.DriftedFeatures, ", ")
	}
	fmt.Fprintf(e.Stdout, "drift report %d for model version %d: %s (reference %d predictions, current %d)\n",
		rep.ID, rep.ModelID, verdict, *rep.ReferenceSize, *rep.CurrentSize)
	fmt.Fprintf(e.Stdout, "%-24s %10s %8s %10s  %s\n", "feature", "psi", "ks", "p_value", "drifted")
	for _, name := range sortedNames(d.Features) {
		f := d.Features[name]
		fmt.Fprintf(e.Stdout, "%-24s %10.4f %8.4f %10.4g  %v\n", name, f.PSI, f.KS, f.PValue, f.Drifted)
	}
	for _, name := range sortedNames(d.Skipped) {
		fmt.Fprintf(e.Stdout, "%-24s skipped: %s\n", name, d.Skipped[name])
	}
	if d.LeftOut != "" {
		fmt.Fprintln(e.Stdout, "note: "+d.LeftOut)
	}
	return nil
}

// runRulesRun is `mlops rules run`: evaluate every enabled rule once.
func runRulesRun(ctx context.Context, e *Env, args []string) error {
	fs := newFlags(e, "rules run")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("rules run takes only flags, got %q", strings.Join(pos, " "))
	}
	s, err := openMigrated(ctx, e)
	if err != nil {
		return err
	}
	defer s.Close()
	res, err := monitor.New(s, monitor.Options{Logger: e.Logger}).RulesRun(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(e.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	printRulesResult(e, res)
	return nil
}

func printRulesResult(e *Env, res monitor.RulesRunResult) {
	if res.Skipped {
		fmt.Fprintln(e.Stdout, "skipped: another instance is running the rules")
		return
	}
	fmt.Fprintf(e.Stdout, "rules evaluated for %d model(s)\n", res.Models)
	for _, o := range res.Outcomes {
		var state string
		switch {
		case o.SilenceID != nil:
			state = fmt.Sprintf("silenced by silence %d: no alert raised", *o.SilenceID)
		case o.NewAlert:
			state = fmt.Sprintf("alert %d raised (%s)", o.Alert.ID, o.Alert.Severity)
			if o.Action != nil {
				state += fmt.Sprintf(", action %s proposed, awaiting approval", o.Action.ActionID)
			}
		default:
			state = fmt.Sprintf("alert %d seen again (%d occurrences)", o.Alert.ID, o.Alert.Occurrences)
		}
		fmt.Fprintf(e.Stdout, "%s rule, %s (model version %d): %s\n", o.Rule, o.ModelName, o.ModelID, state)
	}
	for _, n := range res.Notes {
		fmt.Fprintln(e.Stdout, "note: "+n)
	}
}

// every runs fn every interval until ctx ends (serve's background work).
func every(ctx context.Context, interval time.Duration, fn func(ctx context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}

// rulesLoop runs the rules every interval until ctx ends. A failed run is
// logged and tried again at the next tick.
func rulesLoop(ctx context.Context, m *monitor.Monitor, interval time.Duration, log *slog.Logger) {
	every(ctx, interval, func(ctx context.Context) {
		res, err := m.RulesRun(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.WarnContext(ctx, "rules run failed", "error", err.Error())
		case err == nil && !res.Skipped:
			log.InfoContext(ctx, "rules run", "models", res.Models, "outcomes", len(res.Outcomes))
		}
	})
}

// expiryEvery is how often serve expires pending actions past their
// expires_at (a decision on one expires it at once anyway).
const expiryEvery = 10 * time.Second

// expiryLoop expires overdue pending actions every interval until ctx ends.
func expiryLoop(ctx context.Context, s *store.Store, interval time.Duration, log *slog.Logger) {
	every(ctx, interval, func(ctx context.Context) {
		expired, err := s.ActionsExpire(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.WarnContext(ctx, "expiring pending actions failed", "error", err.Error())
		case len(expired) > 0:
			log.InfoContext(ctx, "pending actions expired", "count", len(expired))
		}
	})
}

// sealEvery is how often serve seals committed audit events into the hash
// chain on PostgreSQL (SQLite seals each in its own transaction).
const sealEvery = 250 * time.Millisecond

// sealLoop seals the audit log every interval until ctx ends, and once more
// after, so the events of the last requests are sealed before the store
// closes.
func sealLoop(ctx context.Context, s *store.Store, interval time.Duration, log *slog.Logger) {
	every(ctx, interval, func(ctx context.Context) {
		if _, err := s.AuditSeal(ctx); err != nil && ctx.Err() == nil {
			log.WarnContext(ctx, "sealing the audit log failed", "error", err.Error())
		}
	})
	if _, err := s.AuditSeal(context.WithoutCancel(ctx)); err != nil {
		log.Warn("sealing the audit log at shutdown failed; mlops audit verify will seal it", "error", err.Error())
	}
}

// openMigrated opens the store and refuses to work on a database whose
// migrations are pending (the rules tables come with migration 00002).
func openMigrated(ctx context.Context, e *Env) (*store.Store, error) {
	s, err := e.OpenStore(ctx)
	if err != nil {
		return nil, err
	}
	m, err := s.Migrator()
	if err == nil {
		var pending bool
		if pending, err = m.Pending(ctx); err == nil && pending {
			err = fmt.Errorf("the database has pending migrations; run mlops migrate upgrade first")
		}
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
