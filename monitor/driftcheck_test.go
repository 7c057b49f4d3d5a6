package monitor_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/drift"
	"github.com/mlopsdev/mlops/monitor"
	"github.com/mlopsdev/mlops/store"
)

func TestDriftCheckHandComputed(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store, mon *monitor.Monitor, c *clock) {
		ctx := context.Background()
		m := model(t, s, "fraud", "v1")
		driftData(t, s, c, m.ID, m.ID, 0)
		c.Set(t0.Add(3 * time.Hour))

		rep, err := mon.DriftCheck(ctx, m.ID, driftOpts())
		if err != nil {
			t.Fatal(err)
		}
		// Quantile bins of 1..10 in 5: (-inf,2.8] (2.8,4.6] (4.6,6.4] (6.4,8.2]
		// (8.2,inf); reference shares 0.2 each, current 0.4 0.1 0.1 0.1 0.3.
		wantPSI := 0.2*math.Log(2) + 3*0.1*math.Log(2) + 0.1*math.Log(1.5)
		// ECDFs differ most at x = 1: 0.4 - 0.1.
		wantD := 0.3
		wantP := drift.KolmogorovQ(math.Sqrt(10.0*10/20) * wantD)
		if !rep.DriftDetected || len(rep.DriftedFeatures) != 1 || rep.DriftedFeatures[0] != "x" || rep.NDriftedFeatures != 1 {
			t.Fatalf("report = %+v, want drift in x only", rep)
		}
		near(t, "drift score", rep.DriftScore, wantPSI)
		if *rep.ReferenceSize != 10 || *rep.CurrentSize != 10 {
			t.Errorf("sizes = %d, %d; want 10, 10", *rep.ReferenceSize, *rep.CurrentSize)
		}
		var d monitor.DriftDetails
		if err := json.Unmarshal(rep.Details, &d); err != nil {
			t.Fatalf("details %s: %v", rep.Details, err)
		}
		x, y := d.Features["x"], d.Features["y"]
		near(t, "x psi", &x.PSI, wantPSI)
		near(t, "x ks", &x.KS, wantD)
		near(t, "x p_value", &x.PValue, wantP)
		if !x.Drifted || y.Drifted || y.PSI != 0 || y.KS != 0 || y.PValue != 1 {
			t.Errorf("x = %+v, y = %+v; want x drifted, y identical", x, y)
		}
		if len(d.Features) != 2 || !strings.Contains(d.Skipped["z"], "has 0 numeric values in the reference window") {
			t.Errorf("features %v, skipped %v; want x, y compared and z skipped", d.Features, d.Skipped)
		}
		if d.FeaturesLeftOut != 0 || d.LeftOut != "" || d.MaxFeatures != monitor.MaxFeatures {
			t.Errorf("left out %d (%q), max features %d", d.FeaturesLeftOut, d.LeftOut, d.MaxFeatures)
		}
		// The stored report is the returned one.
		got, err := s.DriftReportGet(ctx, rep.ID)
		if err != nil || !got.DriftDetected || string(got.Details) == "" {
			t.Errorf("stored report = %+v, %v", got, err)
		}
		var generic struct {
			Features map[string]map[string]any `json:"features"`
		}
		if err := json.Unmarshal(got.Details, &generic); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"psi", "ks", "p_value", "drifted"} {
			if _, ok := generic.Features["x"][k]; !ok {
				t.Errorf("details.features.x has no %q: %s", k, got.Details)
			}
		}

		// The histogram of x is what PSI compared; y, constant, has one
		// inner edge and everything in its first bin.
		wantHist(t, "x", x.Histogram, []float64{2.8, 4.6, 6.4, 8.2}, []float64{0.2, 0.2, 0.2, 0.2, 0.2}, []float64{0.4, 0.1, 0.1, 0.1, 0.3})
		wantHist(t, "y", y.Histogram, []float64{5}, []float64{1, 0}, []float64{1, 0})

		// A higher PSI threshold and KS threshold above 0.3: no drift.
		o := driftOpts()
		o.PSIThreshold, o.KSThreshold = 0.5, 0.31
		rep2, err := mon.DriftCheck(ctx, m.ID, o)
		if err != nil || rep2.DriftDetected {
			t.Errorf("with thresholds 0.5/0.31: %+v, %v; want no drift", rep2, err)
		}
	})
}

func wantHist(t *testing.T, name string, h *monitor.Histogram, edges, ref, cur []float64) {
	t.Helper()
	if h == nil {
		t.Errorf("%s: no histogram", name)
		return
	}
	for _, c := range []struct {
		what      string
		got, want []float64
	}{{"edges", h.Edges, edges}, {"reference shares", h.Reference, ref}, {"current shares", h.Current, cur}} {
		if len(c.got) != len(c.want) {
			t.Errorf("%s %s = %v, want %v", name, c.what, c.got, c.want)
			continue
		}
		for i := range c.got {
			if math.Abs(c.got[i]-c.want[i]) > 1e-9 {
				t.Errorf("%s %s = %v, want %v", name, c.what, c.got, c.want)
				break
			}
		}
	}
}

// TestDriftCheckHistogramBound: with more than MaxHistogramBins bins a
// check stores no histogram, and the largest details a check can write,
// histograms included, stay under the 1 MiB bound of a report.
func TestDriftCheckHistogramBound(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store, mon *monitor.Monitor, c *clock) {
		m := model(t, s, "fraud", "v1")
		driftData(t, s, c, m.ID, m.ID, 0)
		c.Set(t0.Add(3 * time.Hour))
		o := driftOpts()
		o.Bins = monitor.MaxHistogramBins + 1
		rep, err := mon.DriftCheck(context.Background(), m.ID, o)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(rep.Details), `"histogram"`) {
			t.Errorf("%d bins stored a histogram: %s", o.Bins, rep.Details)
		}
	})

	// Every name as long as a name can be, of characters JSON escapes
	// six-fold; every edge as long as a float64 prints.
	hist := &monitor.Histogram{}
	for i := 0; i < monitor.MaxHistogramBins; i++ {
		if i > 0 {
			hist.Edges = append(hist.Edges, -1.2345678901234567e+300)
		}
		hist.Reference = append(hist.Reference, 0.1234)
		hist.Current = append(hist.Current, 0.0001)
	}
	d := monitor.DriftDetails{Features: map[string]monitor.FeatureDrift{}, Skipped: map[string]string{},
		FeaturesLeftOut: math.MaxInt64, LeftOut: strings.Repeat("x", 600), Method: strings.Repeat("x", 200)}
	name := func(i int) string { return fmt.Sprintf("%03d", i) + strings.Repeat("<", mlops.MaxNameLen-3) }
	for i := 0; i < monitor.MaxFeatures; i++ {
		d.Features[name(i)] = monitor.FeatureDrift{PSI: -math.MaxFloat64, KS: 0.12345678901234567, PValue: 0.12345678901234567,
			Drifted: true, ReferenceCount: math.MaxInt64, CurrentCount: math.MaxInt64, Histogram: hist}
		d.Skipped[name(i+monitor.MaxFeatures)] = "has 100000 numeric values in the reference window; at least 100000 are needed"
	}
	raw, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) >= 1<<20 {
		t.Errorf("the largest details are %d bytes, over the 1 MiB bound of a report", len(raw))
	}
	t.Logf("the largest details: %d bytes", len(raw))
}

func TestDriftCheckTooFewAndReferenceModel(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store, mon *monitor.Monitor, c *clock) {
		ctx := context.Background()
		v1 := model(t, s, "fraud", "v1")
		v2 := model(t, s, "fraud", "v2")
		driftData(t, s, c, v1.ID, v2.ID, 100)
		c.Set(t0.Add(3 * time.Hour))

		o := driftOpts()
		o.MinSamples = 30
		_, err := mon.DriftCheck(ctx, v1.ID, o)
		v, ok := mlops.AsValidation(err)
		if !ok || len(v.Fields) != 2 {
			t.Fatalf("err = %v, want a validation error on both windows", err)
		}
		if msg := v.Fields[0].Message; v.Fields[0].Field != "current" || !strings.Contains(msg, "has 0 predictions") || !strings.Contains(msg, "at least 30") {
			t.Errorf("current: %q", msg)
		}
		if msg := v.Fields[1].Message; v.Fields[1].Field != "reference" || !strings.Contains(msg, "has 10 predictions") || !strings.Contains(msg, "at least 30") {
			t.Errorf("reference: %q", msg)
		}
		if n, _, _ := s.DriftReportList(ctx, store.DriftReportFilter{Page: store.Page{Limit: -1}}); len(n) != 0 {
			t.Errorf("a refused check stored %d reports", len(n))
		}

		// v2's current window against v1's reference: x shifted by 100 drifts
		// completely (D = 1).
		o = driftOpts()
		o.ReferenceModelID = v1.ID
		rep, err := mon.DriftCheck(ctx, v2.ID, o)
		if err != nil {
			t.Fatal(err)
		}
		var d monitor.DriftDetails
		_ = json.Unmarshal(rep.Details, &d)
		if d.Features["x"].KS != 1 || d.ReferenceModelID != v1.ID || rep.ModelID != v2.ID {
			t.Errorf("details = %+v", d)
		}

		o.ReferenceModelID = 424242
		if _, err := mon.DriftCheck(ctx, v2.ID, o); !isField(err, "reference_model_id") {
			t.Errorf("unknown reference model: %v", err)
		}
		if _, err := mon.DriftCheck(ctx, 424242, driftOpts()); !errors.Is(err, mlops.ErrNotFound) {
			t.Errorf("unknown model: %v, want ErrNotFound", err)
		}
		o = driftOpts()
		o.KSThreshold = 2
		if _, err := mon.DriftCheck(ctx, v1.ID, o); !isField(err, "ks_threshold") {
			t.Errorf("ks_threshold 2: %v", err)
		}
	})
}

// TestDriftCheckBoundedSample streams more rows than the per-feature cap:
// the sizes count every prediction while the sample stays bounded.
func TestDriftCheckBoundedSample(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store, mon *monitor.Monitor, c *clock) {
		ctx := context.Background()
		m := model(t, s, "big", "v1")
		batch := make([]mlops.NewPrediction, 0, 500)
		for i := 0; i < 500; i++ {
			batch = append(batch, mlops.NewPrediction{ModelID: m.ID, Features: mlops.JSON(fmt.Sprintf(`{"x": %d}`, i%100))})
		}
		c.Set(t0.Add(time.Minute))
		if _, err := s.PredictionCreateBatch(ctx, batch); err != nil {
			t.Fatal(err)
		}
		c.Set(t0.Add(time.Hour + time.Minute))
		if _, err := s.PredictionCreateBatch(ctx, batch); err != nil {
			t.Fatal(err)
		}
		o := driftOpts()
		o.MaxSamples = 50
		rep, err := mon.DriftCheck(ctx, m.ID, o)
		if err != nil {
			t.Fatal(err)
		}
		var d monitor.DriftDetails
		_ = json.Unmarshal(rep.Details, &d)
		if *rep.ReferenceSize != 500 || d.Features["x"].ReferenceCount != 500 || d.MaxSamples != 50 {
			t.Errorf("sizes %d, feature count %d, cap %d", *rep.ReferenceSize, d.Features["x"].ReferenceCount, d.MaxSamples)
		}
		// Same seeds on both windows' identical streams: identical samples.
		if d.Features["x"].PSI != 0 || d.Features["x"].KS != 0 {
			t.Errorf("identical windows sampled differently: %+v", d.Features["x"])
		}
	})
}

// wideFeatures is a features object with n numeric keys of three
// characters (base 62), under 1 MiB however large n is up to 238,328.
func wideFeatures(n int) string {
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var b strings.Builder
	b.Grow(8*n + 2)
	b.WriteByte('{')
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + string(digits[i/(62*62)]) + string(digits[i/62%62]) + string(digits[i%62]) + `":0`)
	}
	b.WriteByte('}')
	return b.String()
}

// ordinaryRows logs n predictions of model at the clock's next minutes from
// at, x = offset + i/n.
func ordinaryRows(t *testing.T, s *store.Store, c *clock, modelID int64, at time.Time, n int, offset float64) {
	t.Helper()
	for i := 0; i < n; i++ {
		c.Set(at.Add(time.Duration(i) * time.Minute))
		predict(t, s, modelID, 0, nil, fmt.Sprintf(`{"x": %v, "segment": "retail"}`, offset+float64(i)/float64(n)))
	}
}

// TestDriftCheckWideFeatures: one prediction with 100,000 numeric feature
// keys, the first of the current window, among ordinary ones. The check
// compares x, lists MaxFeatures of the one-row keys as skipped, counts the
// rest as left out, and its details stay far below the 1 MiB bound.
func TestDriftCheckWideFeatures(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store, mon *monitor.Monitor, c *clock) {
		ctx := context.Background()
		m := model(t, s, "fraud", "v1")
		ordinaryRows(t, s, c, m.ID, t0, 40, 0)
		c.Set(t0.Add(time.Hour))
		predict(t, s, m.ID, 0, nil, wideFeatures(100000))
		ordinaryRows(t, s, c, m.ID, t0.Add(time.Hour+time.Minute), 40, 0.5)
		c.Set(t0.Add(2 * time.Hour))

		o := driftOpts()
		o.MinSamples = 30
		rep, err := mon.DriftCheck(ctx, m.ID, o)
		if err != nil {
			t.Fatalf("drift check: %v", err)
		}
		if len(rep.Details) > 1<<20/2 {
			t.Errorf("details are %d bytes", len(rep.Details))
		}
		var d monitor.DriftDetails
		if err := json.Unmarshal(rep.Details, &d); err != nil {
			t.Fatal(err)
		}
		x, ok := d.Features["x"]
		if !ok || len(d.Features) != 1 || x.ReferenceCount != 40 || x.CurrentCount != 40 || !x.Drifted || !rep.DriftDetected {
			t.Fatalf("features %+v, drifted %v", d.Features, rep.DriftedFeatures)
		}
		// The wide row's keys fill the sample (400 of them); x, in the next
		// row, takes the place of one. 399 are left with 1 value each.
		if len(d.Skipped) != monitor.MaxFeatures || d.FeaturesLeftOut != 100000-monitor.MaxFeatures {
			t.Errorf("%d skipped, %d left out; want %d and %d", len(d.Skipped), d.FeaturesLeftOut, monitor.MaxFeatures, 100000-monitor.MaxFeatures)
		}
		for name, why := range d.Skipped {
			if !strings.Contains(why, "has 0 numeric values in the reference window") {
				t.Errorf("skipped %s: %q", name, why)
				break
			}
		}
		if !strings.Contains(d.LeftOut, "99800 numeric feature keys") {
			t.Errorf("left out: %q", d.LeftOut)
		}
		if got, err := s.DriftReportGet(ctx, rep.ID); err != nil || string(got.Details) == "" {
			t.Errorf("stored report: %v", err)
		}
	})
}

// TestDriftCheckWideRowLater: a wide row after x has been seen twice
// cannot push x out of the sample, nor cost it a value.
func TestDriftCheckWideRowLater(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store, mon *monitor.Monitor, c *clock) {
		m := model(t, s, "fraud", "v1")
		ordinaryRows(t, s, c, m.ID, t0, 10, 0)
		ordinaryRows(t, s, c, m.ID, t0.Add(time.Hour), 5, 0)
		c.Set(t0.Add(time.Hour + 10*time.Minute))
		predict(t, s, m.ID, 0, nil, wideFeatures(5000))
		ordinaryRows(t, s, c, m.ID, t0.Add(time.Hour+20*time.Minute), 5, 0)
		c.Set(t0.Add(2 * time.Hour))
		rep, err := mon.DriftCheck(context.Background(), m.ID, driftOpts())
		if err != nil {
			t.Fatal(err)
		}
		var d monitor.DriftDetails
		_ = json.Unmarshal(rep.Details, &d)
		if x := d.Features["x"]; x.ReferenceCount != 10 || x.CurrentCount != 10 {
			t.Errorf("x = %+v, want 10 and 10 values", x)
		}
		if d.FeaturesLeftOut != 5000-monitor.MaxFeatures {
			t.Errorf("%d left out, want %d", d.FeaturesLeftOut, 5000-monitor.MaxFeatures)
		}
	})
}

// TestDriftCheckFeatureNamesFirst: with more numeric features than a check
// compares, the version's feature_names come first, then the keys present
// in the most rows, then by name; the rest are counted as left out.
// Unstorable names (empty, too long) are never compared.
func TestDriftCheckFeatureNamesFirst(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store, mon *monitor.Monitor, c *clock) {
		m := model(t, s, "wide", "v1", "b", "a", "never-logged")
		long := strings.Repeat("l", mlops.MaxNameLen+1)
		for w := 0; w < 2; w++ {
			for i := 0; i < 10; i++ {
				c.Set(t0.Add(time.Duration(w)*time.Hour + time.Duration(i)*time.Minute))
				f := map[string]any{"a": i, "b": i, "": i, long: i}
				for k := 0; k < 300; k++ {
					if k < 150 || i%2 == 0 { // f150.. are in half the rows
						f[fmt.Sprintf("f%03d", k)] = i + w
					}
				}
				raw, _ := json.Marshal(f)
				predict(t, s, m.ID, 0, nil, string(raw))
			}
		}
		c.Set(t0.Add(3 * time.Hour))
		rep, err := mon.DriftCheck(context.Background(), m.ID, driftOpts())
		if err != nil {
			t.Fatal(err)
		}
		var d monitor.DriftDetails
		_ = json.Unmarshal(rep.Details, &d)
		want := []string{"a", "b"}
		for k := 0; k < 198; k++ {
			want = append(want, fmt.Sprintf("f%03d", k))
		}
		if got := slices.Sorted(maps.Keys(d.Features)); !slices.Equal(got, want) {
			t.Errorf("compared %d features %v..., want %d", len(got), got[:min(5, len(got))], len(want))
		}
		// 304 numeric keys: 200 compared, none skipped, 104 left out.
		if len(d.Skipped) != 0 || d.FeaturesLeftOut != 104 || d.LeftOut == "" {
			t.Errorf("skipped %v, left out %d (%q)", d.Skipped, d.FeaturesLeftOut, d.LeftOut)
		}
		for _, f := range rep.DriftedFeatures {
			if f == "" || len(f) > mlops.MaxNameLen {
				t.Errorf("drifted feature %q", f)
			}
		}
	})
}
