package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/drift"
	"github.com/mlopsdev/mlops/store"
)

// loopDriftData logs the fixed drift data: ten reference predictions in the
// hour from loopT0 with x = 1..10, and ten current ones in the next hour
// with x = 1,1,1,1,3,5,7,9,9,9 (or shifted by shift). y is 5 throughout;
// "name" and "flag" are not numbers; z appears only in the current window.
func loopDriftData(t *testing.T, s *store.Store, c *loopClock, refModel, curModel int64, shift float64) {
	t.Helper()
	for i := 1; i <= 10; i++ {
		c.Set(loopT0.Add(time.Duration(i) * time.Minute))
		loopPredict(t, s, refModel, 0, nil, nil, fmt.Sprintf(`{"x": %d, "y": 5, "name": "a", "flag": true}`, i))
	}
	for i, x := range []float64{1, 1, 1, 1, 3, 5, 7, 9, 9, 9} {
		c.Set(loopT0.Add(time.Hour + time.Duration(i+1)*time.Minute))
		loopPredict(t, s, curModel, 0, nil, nil, fmt.Sprintf(`{"x": %v, "y": 5, "z": 1.5, "name": "b"}`, x+shift))
	}
}

func loopDriftOpts() store.DriftCheckOptions {
	return store.DriftCheckOptions{
		Reference:  store.Window{From: loopT0, To: loopT0.Add(time.Hour)},
		Current:    store.Window{From: loopT0.Add(time.Hour), To: loopT0.Add(2 * time.Hour)},
		MinSamples: 5, Bins: 5,
	}
}

func TestDriftCheckHandComputed(t *testing.T) {
	loopEach(t, func(t *testing.T, s *store.Store, c *loopClock) {
		ctx := context.Background()
		m := loopModel(t, s, "fraud", "v1")
		loopDriftData(t, s, c, m.ID, m.ID, 0)
		c.Set(loopT0.Add(3 * time.Hour))

		rep, err := s.DriftCheck(ctx, m.ID, loopDriftOpts())
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
		loopNear(t, "drift score", rep.DriftScore, wantPSI)
		if *rep.ReferenceSize != 10 || *rep.CurrentSize != 10 {
			t.Errorf("sizes = %d, %d; want 10, 10", *rep.ReferenceSize, *rep.CurrentSize)
		}
		var d store.DriftDetails
		if err := json.Unmarshal(rep.Details, &d); err != nil {
			t.Fatalf("details %s: %v", rep.Details, err)
		}
		x, y := d.Features["x"], d.Features["y"]
		loopNear(t, "x psi", &x.PSI, wantPSI)
		loopNear(t, "x ks", &x.KS, wantD)
		loopNear(t, "x p_value", &x.PValue, wantP)
		if !x.Drifted || y.Drifted || y.PSI != 0 || y.KS != 0 || y.PValue != 1 {
			t.Errorf("x = %+v, y = %+v; want x drifted, y identical", x, y)
		}
		if len(d.Features) != 2 || !strings.Contains(d.Skipped["z"], "has 0 numeric values in the reference window") {
			t.Errorf("features %v, skipped %v; want x, y compared and z skipped", d.Features, d.Skipped)
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

		// A higher PSI threshold and KS threshold above 0.3: no drift.
		o := loopDriftOpts()
		o.PSIThreshold, o.KSThreshold = 0.5, 0.31
		rep2, err := s.DriftCheck(ctx, m.ID, o)
		if err != nil || rep2.DriftDetected {
			t.Errorf("with thresholds 0.5/0.31: %+v, %v; want no drift", rep2, err)
		}
	})
}

func TestDriftCheckTooFewAndReferenceModel(t *testing.T) {
	loopEach(t, func(t *testing.T, s *store.Store, c *loopClock) {
		ctx := context.Background()
		v1 := loopModel(t, s, "fraud", "v1")
		v2 := loopModel(t, s, "fraud", "v2")
		loopDriftData(t, s, c, v1.ID, v2.ID, 100)
		c.Set(loopT0.Add(3 * time.Hour))

		o := loopDriftOpts()
		o.MinSamples = 30
		_, err := s.DriftCheck(ctx, v1.ID, o)
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
		o = loopDriftOpts()
		o.ReferenceModelID = v1.ID
		rep, err := s.DriftCheck(ctx, v2.ID, o)
		if err != nil {
			t.Fatal(err)
		}
		var d store.DriftDetails
		_ = json.Unmarshal(rep.Details, &d)
		if d.Features["x"].KS != 1 || d.ReferenceModelID != v1.ID || rep.ModelID != v2.ID {
			t.Errorf("details = %+v", d)
		}

		o.ReferenceModelID = 424242
		if _, err := s.DriftCheck(ctx, v2.ID, o); !isField(err, "reference_model_id") {
			t.Errorf("unknown reference model: %v", err)
		}
		if _, err := s.DriftCheck(ctx, 424242, loopDriftOpts()); !errors.Is(err, mlops.ErrNotFound) {
			t.Errorf("unknown model: %v, want ErrNotFound", err)
		}
		o = loopDriftOpts()
		o.KSThreshold = 2
		if _, err := s.DriftCheck(ctx, v1.ID, o); !isField(err, "ks_threshold") {
			t.Errorf("ks_threshold 2: %v", err)
		}
	})
}

func isField(err error, field string) bool {
	v, ok := mlops.AsValidation(err)
	return ok && len(v.Fields) > 0 && v.Fields[0].Field == field
}

// TestDriftCheckBoundedSample streams more rows than the per-feature cap:
// the sizes count every prediction while the sample stays bounded.
func TestDriftCheckBoundedSample(t *testing.T) {
	loopEach(t, func(t *testing.T, s *store.Store, c *loopClock) {
		ctx := context.Background()
		m := loopModel(t, s, "big", "v1")
		batch := make([]mlops.NewPrediction, 0, 500)
		for i := 0; i < 500; i++ {
			batch = append(batch, mlops.NewPrediction{ModelID: m.ID, Features: mlops.JSON(fmt.Sprintf(`{"x": %d}`, i%100))})
		}
		c.Set(loopT0.Add(time.Minute))
		if _, err := s.PredictionCreateBatch(ctx, batch); err != nil {
			t.Fatal(err)
		}
		c.Set(loopT0.Add(time.Hour + time.Minute))
		if _, err := s.PredictionCreateBatch(ctx, batch); err != nil {
			t.Fatal(err)
		}
		o := loopDriftOpts()
		o.MaxSamples = 50
		rep, err := s.DriftCheck(ctx, m.ID, o)
		if err != nil {
			t.Fatal(err)
		}
		var d store.DriftDetails
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
