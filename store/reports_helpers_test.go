package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/monitor"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// Helpers of the closing-the-loop tests (reports, rule settings and leases,
// timeline, and the audit of what the monitor writes), prefixed "loop" so
// they never collide with other test helpers.

// loopT0 is the start of every loop test clock, on an hour and day boundary.
var loopT0 = time.Date(2026, 5, 4, 0, 0, 0, 0, time.UTC)

// loopClock is the settable test clock of helpers_test.go.
type loopClock = clock

// loopEach runs fn once per engine with a fresh store on a clock at loopT0.
func loopEach(t *testing.T, fn func(t *testing.T, s *store.Store, c *loopClock)) {
	t.Helper()
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			c := &loopClock{now: loopT0}
			fn(t, storetest.Open(t, engine, store.Options{Now: c.Now}), c)
		})
	}
}

func loopModel(t *testing.T, s *store.Store, name, version string) mlops.ModelVersion {
	t.Helper()
	m, err := s.ModelVersionCreate(context.Background(), mlops.NewModelVersion{ModelName: name, Version: version, Algorithm: "logreg"})
	if err != nil {
		t.Fatalf("register %s %s: %v", name, version, err)
	}
	return m
}

// loopPredict logs one prediction at the store clock's time.
func loopPredict(t *testing.T, s *store.Store, modelID, pred int64, actual *int64, latency *float64, features string) mlops.Prediction {
	t.Helper()
	if features == "" {
		features = "{}"
	}
	p, err := s.PredictionCreate(context.Background(), mlops.NewPrediction{ModelID: modelID, Prediction: pred,
		Actual: actual, LatencyMS: latency, Features: mlops.JSON(features)})
	if err != nil {
		t.Fatalf("log prediction: %v", err)
	}
	return p
}

func loopPtr[T any](v T) *T { return &v }

func loopNear(t *testing.T, name string, got *float64, want float64) {
	t.Helper()
	if got == nil {
		t.Errorf("%s = null, want %v", name, want)
		return
	}
	if d := *got - want; d > 1e-9 || d < -1e-9 {
		t.Errorf("%s = %.12g, want %.12g", name, *got, want)
	}
}

func loopNull(t *testing.T, name string, got *float64) {
	t.Helper()
	if got != nil {
		t.Errorf("%s = %v, want null", name, *got)
	}
}

// loopMonitor is the monitoring loop over s, for the tests that need drift
// reports, rule alerts and actions to exist.
func loopMonitor(s *store.Store) *monitor.Monitor { return monitor.New(s, monitor.Options{}) }

func loopEnableRules(t *testing.T, s *store.Store, name string, edit func(*store.RuleSettings)) store.RuleSettings {
	t.Helper()
	r, err := s.RuleSettingsGet(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	r.Enabled = true
	if edit != nil {
		edit(&r)
	}
	r, err = s.RuleSettingsPut(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func loopOpenAlerts(t *testing.T, s *store.Store) []mlops.Alert {
	t.Helper()
	var out []mlops.Alert
	for _, st := range []mlops.AlertStatus{mlops.AlertActive, mlops.AlertAcknowledged} {
		items, _, err := s.AlertList(context.Background(), store.AlertFilter{Status: st, Page: store.Page{Limit: -1}})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, items...)
	}
	return out
}

func loopActions(t *testing.T, s *store.Store, status mlops.ActionStatus) []mlops.AgentAction {
	t.Helper()
	items, _, err := s.ActionList(context.Background(), store.ActionFilter{Status: status, Page: store.Page{Limit: -1}})
	if err != nil {
		t.Fatal(err)
	}
	return items
}

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

func loopDriftOpts() monitor.DriftCheckOptions {
	return monitor.DriftCheckOptions{
		Reference:  monitor.Window{From: loopT0, To: loopT0.Add(time.Hour)},
		Current:    monitor.Window{From: loopT0.Add(time.Hour), To: loopT0.Add(2 * time.Hour)},
		MinSamples: 5, Bins: 5,
	}
}

// isField reports whether err is a *mlops.ValidationError whose first field
// is field.
func isField(err error, field string) bool {
	v, ok := mlops.AsValidation(err)
	return ok && len(v.Fields) > 0 && v.Fields[0].Field == field
}
