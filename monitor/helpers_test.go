package monitor_test

import (
	"context"
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
type clock = storetest.Clock

// each runs fn once per engine with a fresh store on a clock at t0 and a
// monitor over it.
func each(t *testing.T, fn func(t *testing.T, s *store.Store, mon *monitor.Monitor, c *clock)) {
	t.Helper()
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			c := storetest.NewClock(t0)
			s := storetest.Open(t, engine, store.Options{Now: c.Now})
			fn(t, s, monitor.New(s, monitor.Options{}), c)
		})
	}
}

// The fixtures of the monitoring tests, shared with the store's own.
var (
	model       = storetest.Model
	enableRules = storetest.EnableRules
	openAlerts  = storetest.OpenAlerts
	actions     = storetest.Actions
)

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

// hourWindows sets rules that compare the last hour with the hour before,
// with at least 5 predictions each.
func hourWindows(r *store.RuleSettings) {
	r.MinSamples, r.CurrentWindowSeconds, r.ReferenceWindowSeconds = 5, 3600, 3600
}

// driftData logs storetest.DriftData's predictions from t0.
func driftData(t *testing.T, s *store.Store, c *clock, refModel, curModel int64, shift float64) {
	t.Helper()
	storetest.DriftData(t, s, c, t0, refModel, curModel, shift)
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
