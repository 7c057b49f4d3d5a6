package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// Helpers of the closing-the-loop tests (reports, drift check, rules,
// timeline), prefixed "loop" so they never collide with other test helpers.

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
