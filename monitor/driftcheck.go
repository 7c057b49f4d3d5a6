package monitor

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/drift"
	"github.com/mlopsdev/mlops/store"
)

// DefaultMaxSamples is the values a drift check keeps per feature and
// window unless told otherwise.
const DefaultMaxSamples = 100000

const driftMethod = "PSI over quantile bins of the reference (open-ended outer bins, shares floored at 1e-4); two-sample Kolmogorov-Smirnov D with its asymptotic p-value"

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
	// statistic D reaches them. 0 means store.DefaultPSIThreshold (0.2) and
	// store.DefaultKSThreshold (0.1).
	PSIThreshold float64
	KSThreshold  float64
	// MinSamples is the fewest predictions each window must hold, and the
	// fewest values a feature needs in each window to be compared. 0 means
	// store.DefaultDriftMinSamples (30).
	MinSamples int
	// Bins is the number of reference quantile bins of PSI; 0 means 10.
	Bins int
	// MaxSamples bounds the values kept per feature and window: beyond it a
	// uniform reservoir sample (seeded, so reproducible) stands for the
	// window. 0 means DefaultMaxSamples; negative keeps every value.
	MaxSamples int
}

// MaxHistogramBins is the most bins a check stores a histogram for: with
// more, FeatureDrift.Histogram is left out, so that MaxFeatures histograms
// stay within about 0.2 MB of details.
const MaxHistogramBins = 20

// FeatureDrift is the comparison of one numeric feature.
type FeatureDrift struct {
	PSI            float64 `json:"psi"`
	KS             float64 `json:"ks"`
	PValue         float64 `json:"p_value"`
	Drifted        bool    `json:"drifted"`
	ReferenceCount int64   `json:"reference_count"`
	CurrentCount   int64   `json:"current_count"`
	// Histogram is what PSI compared, for drawing; nil when the check has
	// more than MaxHistogramBins bins.
	Histogram *Histogram `json:"histogram,omitempty"`
}

// Histogram is a feature's reference quantile bins and the share of each
// window's sampled values in each: bin i is (Edges[i-1], Edges[i]], the
// outer bins open-ended, so Reference and Current have len(Edges)+1 shares.
// Shares are rounded to 4 decimals and not floored as PSI floors them.
type Histogram struct {
	Edges     []float64 `json:"edges"`
	Reference []float64 `json:"reference"`
	Current   []float64 `json:"current"`
}

// DriftDetails is the details document of a drift report DriftCheck
// stores.
type DriftDetails struct {
	// Features are the compared features, at most MaxFeatures.
	Features map[string]FeatureDrift `json:"features"`
	// Skipped are features seen with too few values in a window, and why;
	// at most MaxFeatures are listed.
	Skipped map[string]string `json:"skipped"`
	// FeaturesLeftOut counts the other numeric feature keys seen in the
	// windows: past MaxFeatures, seen in only one row while the sample was
	// full, or with a name a report cannot hold. LeftOut says so in words.
	FeaturesLeftOut  int64   `json:"features_left_out"`
	LeftOut          string  `json:"left_out,omitempty"`
	Reference        Window  `json:"reference"`
	Current          Window  `json:"current"`
	ReferenceModelID int64   `json:"reference_model_id"`
	PSIThreshold     float64 `json:"psi_threshold"`
	KSThreshold      float64 `json:"ks_threshold"`
	Bins             int     `json:"bins"`
	MaxSamples       int     `json:"max_samples"`
	MaxFeatures      int     `json:"max_features"`
	Method           string  `json:"method"`
}

func (o *DriftCheckOptions) resolve(now time.Time) error {
	v := &mlops.ValidationError{}
	if o.PSIThreshold == 0 {
		o.PSIThreshold = store.DefaultPSIThreshold
	}
	if o.KSThreshold == 0 {
		o.KSThreshold = store.DefaultKSThreshold
	}
	if o.MinSamples == 0 {
		o.MinSamples = store.DefaultDriftMinSamples
	}
	if o.Bins == 0 {
		o.Bins = drift.DefaultBins
	}
	if o.MaxSamples == 0 {
		o.MaxSamples = DefaultMaxSamples
	}
	if o.Current.To.IsZero() {
		o.Current.To = now.Add(time.Microsecond)
	}
	if o.Current.From.IsZero() {
		o.Current.From = o.Current.To.Add(-store.DefaultCurrentWindow)
	}
	if o.Reference.To.IsZero() {
		o.Reference.To = o.Current.From
	}
	if o.Reference.From.IsZero() {
		o.Reference.From = o.Reference.To.Add(-store.DefaultReferenceWindow)
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
// predictions in o.Current with those in o.Reference (of the same version,
// or of o.ReferenceModelID): per feature, PSI over quantile bins of the
// reference and the two-sample Kolmogorov–Smirnov statistic with its
// p-value. A feature drifts when its PSI reaches o.PSIThreshold or its D
// reaches o.KSThreshold; the report's drift_score is the largest PSI.
//
// Rows are read one at a time; each feature keeps at most MaxSamples values
// per window (a reservoir sample beyond), and at most MaxFeatures features
// are compared (see sample.go), so memory and the report's size are bounded
// whatever the windows hold. A window with fewer than MinSamples
// predictions is a *mlops.ValidationError saying how many there are and
// how many are needed.
//
// The report is stored, and recorded as drift_report.created, in one
// transaction which, when the rules of the version's model are enabled and
// drift is detected, also raises (or counts one more occurrence on) the
// deduplicated drift alert and proposes a retrain_model action; see
// RulesRun.
func (m *Monitor) DriftCheck(ctx context.Context, modelID int64, o DriftCheckOptions) (mlops.DriftReport, error) {
	c, err := m.driftCompute(ctx, modelID, o)
	if err != nil {
		return mlops.DriftReport{}, err
	}
	var rep mlops.DriftReport
	err = m.st.InTx(ctx, func(tx *store.Store) error {
		cfg, err := tx.RuleSettingsGet(ctx, c.model.ModelName)
		if err != nil {
			return err
		}
		rep, _, err = fileDrift(ctx, tx, c, cfg)
		return err
	})
	return rep, err
}

// driftCheck is a computed check, ready to be filed.
type driftCheck struct {
	model   mlops.ModelVersion
	in      mlops.NewDriftReport
	details DriftDetails
}

// driftCompute reads the windows and computes a check, without writing.
func (m *Monitor) driftCompute(ctx context.Context, modelID int64, o DriftCheckOptions) (*driftCheck, error) {
	mv, err := m.st.ModelVersionGet(ctx, modelID)
	if err != nil {
		return nil, err
	}
	if err := o.resolve(m.st.Now()); err != nil {
		return nil, err
	}
	refModel := mv.ID
	if o.ReferenceModelID != 0 {
		if _, err := m.st.ModelVersionGet(ctx, o.ReferenceModelID); err != nil {
			if errors.Is(err, mlops.ErrNotFound) {
				return nil, mlops.Invalid("reference_model_id", "no model version with id %d", o.ReferenceModelID)
			}
			return nil, err
		}
		refModel = o.ReferenceModelID
	}
	refN, err := m.st.PredictionCount(ctx, refModel, o.Reference.From, o.Reference.To)
	if err != nil {
		return nil, err
	}
	curN, err := m.st.PredictionCount(ctx, mv.ID, o.Current.From, o.Current.To)
	if err != nil {
		return nil, err
	}
	v := &mlops.ValidationError{}
	for _, w := range []struct {
		field string
		model int64
		win   Window
		n     int64
	}{{"reference", refModel, o.Reference, refN}, {"current", mv.ID, o.Current, curN}} {
		if w.n < int64(o.MinSamples) {
			v.Add(w.field, "has %d predictions of model version %d between %s and %s; at least %d are needed (widen the window or lower min_samples)",
				w.n, w.model, w.win.From.Format(time.RFC3339), w.win.To.Format(time.RFC3339), o.MinSamples)
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	declared := declaredFeatures(mv.FeatureNames)
	count := newKeyCount()
	ref, cur := newSample(declared, o.MaxSamples, count), newSample(declared, o.MaxSamples, count)
	for _, w := range []struct {
		s     *sample
		model int64
		win   Window
	}{{ref, refModel, o.Reference}, {cur, mv.ID, o.Current}} {
		err := m.st.PredictionFeaturesEach(ctx, w.model, w.win.From, w.win.To, func(raw []byte) error {
			w.s.add(raw)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	d := compare(ref, cur, declared, count, o)
	d.Reference, d.Current, d.ReferenceModelID = o.Reference, o.Current, refModel
	if len(d.Features) == 0 {
		return nil, mlops.Invalid("features", "no numeric feature has at least %d values in both windows (%d reference and %d current predictions); log numeric features, or lower min_samples",
			o.MinSamples, refN, curN)
	}
	drifted := []string{}
	score := 0.0
	for _, name := range slices.Sorted(maps.Keys(d.Features)) {
		f := d.Features[name]
		if f.Drifted {
			drifted = append(drifted, name)
		}
		score = math.Max(score, f.PSI)
	}
	raw, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode drift details: %w", err)
	}
	in := mlops.NewDriftReport{ModelID: mv.ID, DriftDetected: len(drifted) > 0, DriftScore: &score,
		DriftedFeatures: drifted, ReferenceSize: &refN, CurrentSize: &curN, Details: raw}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	return &driftCheck{model: mv, in: in, details: d}, nil
}

// compare chooses the features to compare (feature_names first, then the
// keys present in the most rows) and compares them.
func compare(ref, cur *sample, declared []string, count *keyCount, o DriftCheckOptions) DriftDetails {
	d := DriftDetails{Features: map[string]FeatureDrift{}, Skipped: map[string]string{},
		PSIThreshold: o.PSIThreshold, KSThreshold: o.KSThreshold, Bins: o.Bins, MaxSamples: o.MaxSamples,
		MaxFeatures: MaxFeatures, Method: driftMethod}
	rank := make(map[string]int, len(declared))
	for i, n := range declared {
		rank[n] = i
	}
	type candidate struct {
		name     string
		r, c     *drift.Reservoir
		rows     int64
		declared bool
	}
	names := make(map[string]bool, len(ref.keys)+len(cur.keys))
	for n := range ref.keys {
		names[n] = true
	}
	for n := range cur.keys {
		names[n] = true
	}
	cands := make([]candidate, 0, len(names))
	for name := range names {
		k := candidate{name: name, r: ref.seen(name), c: cur.seen(name)}
		if k.r == nil && k.c == nil {
			continue // a declared feature never logged as a number
		}
		_, k.declared = rank[name]
		for _, r := range []*drift.Reservoir{k.r, k.c} {
			if r != nil {
				k.rows += r.Seen
			}
		}
		cands = append(cands, k)
	}
	slices.SortFunc(cands, func(a, b candidate) int {
		switch {
		case a.declared && b.declared:
			return cmp.Compare(rank[a.name], rank[b.name])
		case a.declared != b.declared:
			if a.declared {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(b.rows, a.rows); c != 0 {
			return c
		}
		return cmp.Compare(a.name, b.name)
	})
	need := int64(o.MinSamples)
	for _, k := range cands {
		reason := ""
		switch {
		case k.r == nil || k.r.Seen < need:
			reason = skipReason("reference", k.r, o.MinSamples)
		case k.c == nil || k.c.Seen < need:
			reason = skipReason("current", k.c, o.MinSamples)
		}
		if reason == "" && len(d.Features) < MaxFeatures {
			// The sample is complete: sorted once here, it is in order for
			// the sorts inside PSI and KS, and for the histogram's bins.
			slices.Sort(k.r.Values)
			f := FeatureDrift{PSI: drift.PSI(k.r.Values, k.c.Values, o.Bins), ReferenceCount: k.r.Seen, CurrentCount: k.c.Seen}
			f.KS, f.PValue = drift.KS(k.r.Values, k.c.Values)
			if finite(f.PSI) && finite(f.KS) && finite(f.PValue) {
				f.Drifted = f.PSI >= o.PSIThreshold || f.KS >= o.KSThreshold
				if o.Bins <= MaxHistogramBins {
					f.Histogram = histogram(k.r.Values, k.c.Values, o.Bins)
				}
				d.Features[k.name] = f
				continue
			}
			reason = "its values are too extreme for PSI and KS to be computed"
		}
		if reason != "" && len(d.Skipped) < MaxFeatures {
			d.Skipped[k.name] = reason
		}
	}
	listed := int64(len(d.Features) + len(d.Skipped))
	d.FeaturesLeftOut = max(int64(len(count.seen))-listed, 0)
	if d.FeaturesLeftOut > 0 || count.full {
		atLeast := ""
		if count.full {
			atLeast = "at least "
		}
		d.LeftOut = fmt.Sprintf("%s%d numeric feature keys are neither compared nor listed as skipped: a check compares at most %d features "+
			"(the model version's feature_names first, then the keys present in the most rows), lists at most %d skipped ones, "+
			"keeps at most %d keys outside feature_names at a time (a key seen in only one row gives way to new ones), "+
			"and leaves out names that are empty or longer than %d bytes",
			atLeast, d.FeaturesLeftOut, MaxFeatures, MaxFeatures, maxTracked, mlops.MaxNameLen)
	}
	return d
}

// histogram bins ref (sorted) and cur on the quantile edges of ref, as PSI
// does.
func histogram(ref, cur []float64, bins int) *Histogram {
	edges := drift.QuantileEdges(ref, bins)
	share := func(x []float64) []float64 {
		counts := make([]float64, len(edges)+1)
		for _, v := range x {
			counts[sort.SearchFloat64s(edges, v)]++
		}
		for i := range counts {
			counts[i] = math.Round(counts[i]/float64(len(x))*1e4) / 1e4
		}
		return counts
	}
	return &Histogram{Edges: edges, Reference: share(ref), Current: share(cur)}
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func skipReason(window string, r *drift.Reservoir, need int) string {
	have := int64(0)
	if r != nil {
		have = r.Seen
	}
	return "has " + strconv.FormatInt(have, 10) + " numeric values in the " + window + " window; at least " + strconv.FormatInt(int64(need), 10) + " are needed"
}
