package store

import (
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/drift"
)

// Defaults of a drift check.
const (
	DefaultPSIThreshold     = 0.2
	DefaultKSThreshold      = 0.1
	DefaultDriftMinSamples  = 30
	DefaultDriftMaxSamples  = 100000
	DefaultCurrentWindow    = 24 * time.Hour
	DefaultReferenceWindow  = 7 * 24 * time.Hour
	driftMethodDescription  = "PSI over quantile bins of the reference (open-ended outer bins, shares floored at 1e-4); two-sample Kolmogorov-Smirnov D with its asymptotic p-value"
	driftDetailsFeaturesKey = "features"
)

// Window is the half-open time range [From, To).
type Window struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// DriftCheckOptions tune DriftCheck. The zero value checks the last 24
// hours against the 7 days before them with the default thresholds.
type DriftCheckOptions struct {
	// Current is the window under test. A zero To is now; a zero From is
	// 24 hours before To.
	Current Window
	// Reference is the baseline window. A zero To is Current.From; a zero
	// From is 7 days before To.
	Reference Window
	// ReferenceModelID names another model version whose predictions in
	// Reference form the baseline; 0 means the checked version itself.
	ReferenceModelID int64
	// PSIThreshold and KSThreshold: a feature drifts when its PSI or its KS
	// statistic D reaches them. 0 means 0.2 and 0.1.
	PSIThreshold float64
	KSThreshold  float64
	// MinSamples is the fewest predictions each window must hold, and the
	// fewest values a feature needs in each window to be compared. 0 means 30.
	MinSamples int
	// Bins is the number of reference quantile bins of PSI; 0 means 10.
	Bins int
	// MaxSamples bounds the values kept per feature and window: beyond it a
	// uniform reservoir sample (seeded, so reproducible) stands for the
	// window. 0 means 100,000; negative keeps every value.
	MaxSamples int
}

// FeatureDrift is the comparison of one numeric feature.
type FeatureDrift struct {
	PSI            float64 `json:"psi"`
	KS             float64 `json:"ks"`
	PValue         float64 `json:"p_value"`
	Drifted        bool    `json:"drifted"`
	ReferenceCount int64   `json:"reference_count"`
	CurrentCount   int64   `json:"current_count"`
}

// DriftDetails is the details document of a drift report DriftCheck
// stores.
type DriftDetails struct {
	Features         map[string]FeatureDrift `json:"features"`
	Skipped          map[string]string       `json:"skipped"`
	Reference        Window                  `json:"reference"`
	Current          Window                  `json:"current"`
	ReferenceModelID int64                   `json:"reference_model_id"`
	PSIThreshold     float64                 `json:"psi_threshold"`
	KSThreshold      float64                 `json:"ks_threshold"`
	Bins             int                     `json:"bins"`
	MaxSamples       int                     `json:"max_samples"`
	Method           string                  `json:"method"`
}

func (o *DriftCheckOptions) resolve(now time.Time) error {
	v := &mlops.ValidationError{}
	if o.PSIThreshold == 0 {
		o.PSIThreshold = DefaultPSIThreshold
	}
	if o.KSThreshold == 0 {
		o.KSThreshold = DefaultKSThreshold
	}
	if o.MinSamples == 0 {
		o.MinSamples = DefaultDriftMinSamples
	}
	if o.Bins == 0 {
		o.Bins = drift.DefaultBins
	}
	if o.MaxSamples == 0 {
		o.MaxSamples = DefaultDriftMaxSamples
	}
	if o.Current.To.IsZero() {
		o.Current.To = now.Add(time.Microsecond)
	}
	if o.Current.From.IsZero() {
		o.Current.From = o.Current.To.Add(-DefaultCurrentWindow)
	}
	if o.Reference.To.IsZero() {
		o.Reference.To = o.Current.From
	}
	if o.Reference.From.IsZero() {
		o.Reference.From = o.Reference.To.Add(-DefaultReferenceWindow)
	}
	for _, w := range []*Window{&o.Current, &o.Reference} {
		w.From, w.To = w.From.UTC(), w.To.UTC()
	}
	if math.IsNaN(o.PSIThreshold) || math.IsInf(o.PSIThreshold, 0) || o.PSIThreshold <= 0 {
		v.Add("psi_threshold", "must be a finite number > 0, got %v", o.PSIThreshold)
	}
	if math.IsNaN(o.KSThreshold) || o.KSThreshold <= 0 || o.KSThreshold > 1 {
		v.Add("ks_threshold", "must be within (0, 1], got %v", o.KSThreshold)
	}
	if o.MinSamples < 1 {
		v.Add("min_samples", "must be >= 1, got %d", o.MinSamples)
	}
	if o.Bins < 2 || o.Bins > 1000 {
		v.Add("bins", "must be between 2 and 1000, got %d", o.Bins)
	}
	if !o.Current.To.After(o.Current.From) {
		v.Add("current", "to (%s) must be after from (%s)", o.Current.To.Format(time.RFC3339Nano), o.Current.From.Format(time.RFC3339Nano))
	}
	if !o.Reference.To.After(o.Reference.From) {
		v.Add("reference", "to (%s) must be after from (%s)", o.Reference.To.Format(time.RFC3339Nano), o.Reference.From.Format(time.RFC3339Nano))
	}
	if o.ReferenceModelID < 0 {
		v.Add("reference_model_id", "must be the id of a registered model version, got %d", o.ReferenceModelID)
	}
	return v.Err()
}

// DriftCheck compares the numeric features of a model version's
// predictions in the current window against the reference window: per
// feature the Population Stability Index over quantile bins of the
// reference and the two-sample Kolmogorov–Smirnov statistic with its
// p-value. A feature drifts when its PSI or KS reaches the threshold. It
// stores a drift report (score: the largest PSI; sizes: the predictions in
// each window; details: DriftDetails) and returns it.
//
// Rows are read one at a time; each feature keeps at most MaxSamples values
// per window (a reservoir sample beyond), so memory is bounded whatever the
// window holds. A window with fewer than MinSamples predictions is a
// *mlops.ValidationError saying how many there are and how many are needed.
//
// When the rules of the version's model are enabled and drift is detected,
// the same transaction raises (or updates) the deduplicated drift alert and
// proposes a retrain_model action; see RulesRun. The report is recorded as
// drift_report.created, in the same transaction.
func (s *Store) DriftCheck(ctx context.Context, modelID int64, o DriftCheckOptions) (mlops.DriftReport, error) {
	rep, _, err := s.driftCheck(ctx, modelID, o, nil, nil)
	return rep, err
}

// driftCheck runs a check and, with settings (or the stored settings when
// nil) enabling the drift rule, applies it. With fx nil it records its
// events (and proposes the rule's action) at the end of its own
// transaction; otherwise it adds them to fx for the caller's.
func (s *Store) driftCheck(ctx context.Context, modelID int64, o DriftCheckOptions, settings *RuleSettings, fx *ruleEffects) (mlops.DriftReport, *RuleOutcome, error) {
	m, err := s.ModelVersionGet(ctx, modelID)
	if err != nil {
		return mlops.DriftReport{}, nil, err
	}
	if err := o.resolve(s.Now()); err != nil {
		return mlops.DriftReport{}, nil, err
	}
	refModel := m.ID
	if o.ReferenceModelID != 0 {
		if _, err := s.ModelVersionGet(ctx, o.ReferenceModelID); err != nil {
			if errors.Is(err, mlops.ErrNotFound) {
				return mlops.DriftReport{}, nil, mlops.Invalid("reference_model_id", "no model version with id %d", o.ReferenceModelID)
			}
			return mlops.DriftReport{}, nil, err
		}
		refModel = o.ReferenceModelID
	}
	refN, err := s.countPredictions(ctx, refModel, o.Reference)
	if err != nil {
		return mlops.DriftReport{}, nil, err
	}
	curN, err := s.countPredictions(ctx, m.ID, o.Current)
	if err != nil {
		return mlops.DriftReport{}, nil, err
	}
	v := &mlops.ValidationError{}
	for _, w := range []struct {
		field string
		model int64
		win   Window
		n     int64
	}{{"reference", refModel, o.Reference, refN}, {"current", m.ID, o.Current, curN}} {
		if w.n < int64(o.MinSamples) {
			v.Add(w.field, "has %d predictions of model version %d between %s and %s; at least %d are needed (widen the window or lower min_samples)",
				w.n, w.model, w.win.From.Format(time.RFC3339), w.win.To.Format(time.RFC3339), o.MinSamples)
		}
	}
	if err := v.Err(); err != nil {
		return mlops.DriftReport{}, nil, err
	}
	ref, err := s.sampleFeatures(ctx, refModel, o.Reference, o.MaxSamples)
	if err != nil {
		return mlops.DriftReport{}, nil, err
	}
	cur, err := s.sampleFeatures(ctx, m.ID, o.Current, o.MaxSamples)
	if err != nil {
		return mlops.DriftReport{}, nil, err
	}
	details := DriftDetails{Features: map[string]FeatureDrift{}, Skipped: map[string]string{},
		Reference: o.Reference, Current: o.Current, ReferenceModelID: refModel, PSIThreshold: o.PSIThreshold,
		KSThreshold: o.KSThreshold, Bins: o.Bins, MaxSamples: o.MaxSamples, Method: driftMethodDescription}
	names := map[string]bool{}
	for n := range ref {
		names[n] = true
	}
	for n := range cur {
		names[n] = true
	}
	drifted := []string{}
	score := 0.0
	for _, name := range sortedKeys(names) {
		r, c := ref[name], cur[name]
		switch {
		case r == nil || r.Seen < int64(o.MinSamples):
			details.Skipped[name] = skipReason("reference", r, o.MinSamples)
			continue
		case c == nil || c.Seen < int64(o.MinSamples):
			details.Skipped[name] = skipReason("current", c, o.MinSamples)
			continue
		}
		f := FeatureDrift{PSI: drift.PSI(r.Values, c.Values, o.Bins), ReferenceCount: r.Seen, CurrentCount: c.Seen}
		f.KS, f.PValue = drift.KS(r.Values, c.Values)
		f.Drifted = f.PSI >= o.PSIThreshold || f.KS >= o.KSThreshold
		if f.Drifted {
			drifted = append(drifted, name)
		}
		score = math.Max(score, f.PSI)
		details.Features[name] = f
	}
	if len(details.Features) == 0 {
		return mlops.DriftReport{}, nil, mlops.Invalid("features", "no numeric feature has at least %d values in both windows (%d reference and %d current predictions); log numeric features, or lower min_samples",
			o.MinSamples, refN, curN)
	}
	raw, err := json.Marshal(details)
	if err != nil {
		return mlops.DriftReport{}, nil, err
	}
	in := mlops.NewDriftReport{ModelID: m.ID, DriftDetected: len(drifted) > 0, DriftScore: &score,
		DriftedFeatures: drifted, ReferenceSize: &refN, CurrentSize: &curN, Details: raw}
	var out mlops.DriftReport
	var outcome *RuleOutcome
	if err := in.Validate(); err != nil {
		return mlops.DriftReport{}, nil, err
	}
	err = s.InTx(ctx, func(tx *Store) error {
		own := fx
		if own == nil {
			own = &ruleEffects{}
		}
		rep, err := tx.driftReportInsert(ctx, in)
		if err != nil {
			return err
		}
		out = rep
		own.changes = append(own.changes, driftReportChange(rep))
		cfg := settings
		if cfg == nil {
			got, err := tx.RuleSettingsGet(ctx, m.ModelName)
			if err != nil {
				return err
			}
			cfg = &got
		}
		if cfg.Enabled && cfg.DriftEnabled && rep.DriftDetected {
			if outcome, err = tx.applyDriftRule(ctx, m, rep, details, own); err != nil {
				return err
			}
		}
		if fx != nil {
			return nil
		}
		return own.settle(ctx, tx)
	})
	return out, outcome, err
}

func skipReason(window string, r *drift.Reservoir, need int) string {
	have := int64(0)
	if r != nil {
		have = r.Seen
	}
	return "has " + strconv.FormatInt(have, 10) + " numeric values in the " + window + " window; at least " + strconv.FormatInt(int64(need), 10) + " are needed"
}

// countPredictions counts a model version's predictions in w
// (ix_predictions_model_created).
func (s *Store) countPredictions(ctx context.Context, modelID int64, w Window) (int64, error) {
	var n int64
	err := s.reader().QueryRowContext(ctx, `SELECT count(*) FROM predictions
		WHERE model_id = $1 AND created_at >= $2 AND created_at < $3`, modelID, w.From, w.To).Scan(&n)
	return n, classify(err)
}

// sampleFeatures streams the features of a model version's predictions in
// w, one row at a time, into one reservoir per numeric feature. Values that
// are not JSON numbers (strings, booleans, null, objects) are ignored.
func (s *Store) sampleFeatures(ctx context.Context, modelID int64, w Window, maxSamples int) (map[string]*drift.Reservoir, error) {
	out := map[string]*drift.Reservoir{}
	err := s.eachRow(ctx, `SELECT features FROM predictions
		WHERE model_id = $1 AND created_at >= $2 AND created_at < $3 ORDER BY created_at, id`,
		[]any{modelID, w.From, w.To}, func(sc scanner) error {
			var raw []byte
			if err := sc.Scan(&raw); err != nil {
				return err
			}
			var feats map[string]any
			if err := json.Unmarshal(raw, &feats); err != nil {
				return nil // features is always an object; anything else holds no numeric feature
			}
			for name, val := range feats {
				f, ok := val.(float64)
				if !ok {
					continue
				}
				r := out[name]
				if r == nil {
					r = drift.NewReservoir(maxSamples, featureSeed(name))
					out[name] = r
				}
				r.Add(f)
			}
			return nil
		})
	return out, err
}

// featureSeed makes each feature's reservoir reproducible.
func featureSeed(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
