package monitor_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/monitor"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// t0 is the start of every test clock, on an hour and day boundary.
var t0 = time.Date(2026, 5, 4, 0, 0, 0, 0, time.UTC)

// clock is a settable clock injected through store.Options.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// each runs fn once per engine with a fresh store on a clock at t0 and a
// monitor over it.
func each(t *testing.T, fn func(t *testing.T, s *store.Store, mon *monitor.Monitor, c *clock)) {
	t.Helper()
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			c := &clock{now: t0}
			s := storetest.Open(t, engine, store.Options{Now: c.Now})
			fn(t, s, monitor.New(s, monitor.Options{}), c)
		})
	}
}

func model(t *testing.T, s *store.Store, name, version string, features ...string) mlops.ModelVersion {
	t.Helper()
	m, err := s.ModelVersionCreate(context.Background(), mlops.NewModelVersion{ModelName: name, Version: version,
		Algorithm: "logreg", FeatureNames: features})
	if err != nil {
		t.Fatalf("register %s %s: %v", name, version, err)
	}
	return m
}

// predict logs one prediction at the store clock's time.
func predict(t *testing.T, s *store.Store, modelID, pred int64, actual *int64, features string) mlops.Prediction {
	t.Helper()
	if features == "" {
		features = "{}"
	}
	p, err := s.PredictionCreate(context.Background(), mlops.NewPrediction{ModelID: modelID, Prediction: pred,
		Actual: actual, Features: mlops.JSON(features)})
	if err != nil {
		t.Fatalf("log prediction: %v", err)
	}
	return p
}

func ptr[T any](v T) *T { return &v }

func near(t *testing.T, name string, got *float64, want float64) {
	t.Helper()
	if got == nil {
		t.Errorf("%s = null, want %v", name, want)
		return
	}
	if d := *got - want; d > 1e-9 || d < -1e-9 {
		t.Errorf("%s = %.12g, want %.12g", name, *got, want)
	}
}

func enableRules(t *testing.T, s *store.Store, name string, edit func(*store.RuleSettings)) store.RuleSettings {
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

// hourWindows sets rules that compare the last hour with the hour before,
// with at least 5 predictions each.
func hourWindows(r *store.RuleSettings) {
	r.MinSamples, r.CurrentWindowSeconds, r.ReferenceWindowSeconds = 5, 3600, 3600
}

func openAlerts(t *testing.T, s *store.Store) []mlops.Alert {
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

func actions(t *testing.T, s *store.Store, status mlops.ActionStatus) []mlops.AgentAction {
	t.Helper()
	items, _, err := s.ActionList(context.Background(), store.ActionFilter{Status: status, Page: store.Page{Limit: -1}})
	if err != nil {
		t.Fatal(err)
	}
	return items
}

// driftData logs the fixed drift data: ten reference predictions in the
// hour from t0 with x = 1..10, and ten current ones in the next hour with
// x = 1,1,1,1,3,5,7,9,9,9 (or shifted by shift). y is 5 throughout; "name"
// and "flag" are not numbers; z appears only in the current window.
func driftData(t *testing.T, s *store.Store, c *clock, refModel, curModel int64, shift float64) {
	t.Helper()
	for i := 1; i <= 10; i++ {
		c.Set(t0.Add(time.Duration(i) * time.Minute))
		predict(t, s, refModel, 0, nil, fmt.Sprintf(`{"x": %d, "y": 5, "name": "a", "flag": true}`, i))
	}
	for i, x := range []float64{1, 1, 1, 1, 3, 5, 7, 9, 9, 9} {
		c.Set(t0.Add(time.Hour + time.Duration(i+1)*time.Minute))
		predict(t, s, curModel, 0, nil, fmt.Sprintf(`{"x": %v, "y": 5, "z": 1.5, "name": "b"}`, x+shift))
	}
}

func driftOpts() monitor.DriftCheckOptions {
	return monitor.DriftCheckOptions{
		Reference:  monitor.Window{From: t0, To: t0.Add(time.Hour)},
		Current:    monitor.Window{From: t0.Add(time.Hour), To: t0.Add(2 * time.Hour)},
		MinSamples: 5, Bins: 5,
	}
}

func isField(err error, field string) bool {
	v, ok := mlops.AsValidation(err)
	return ok && len(v.Fields) > 0 && v.Fields[0].Field == field
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
