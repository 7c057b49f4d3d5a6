package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/monitor"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// tables are the six tables of the seed, in an order rows can be counted.
var tables = []string{"model_versions", "predictions", "drift_reports", "agent_actions", "performance_metrics", "alerts"}

// base is the start of every injected clock: a fixed instant on a minute,
// hour and day boundary, so hand-computed buckets are easy to read.
var base = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// clock is the settable clock the tests inject through store.Options.Now.
type clock = storetest.Clock

func newClock() *clock { return storetest.NewClock(base) }

// eachClock runs fn once per engine with a fresh store whose clock the test
// controls; it starts at base.
func eachClock(t *testing.T, fn func(t *testing.T, s *store.Store, c *clock)) {
	t.Helper()
	storetest.EachClock(t, base, store.Options{Approvals: testPolicy}, fn)
}

func ptr[T any](v T) *T { return &v }

// testPolicy gives pending actions an expiry far beyond any test's clock
// moves, so expireAction can reach the expired state.
var testPolicy = mlops.ApprovalPolicy{TTL: 1000 * time.Hour}

// expireAction files action id long ago and lets it expire now.
func expireAction(t *testing.T, s *store.Store, c *clock, id string) {
	t.Helper()
	now := c.Now()
	c.Set(now.Add(-2 * testPolicy.TTL))
	mustAction(t, s, id)
	c.Set(now)
	got, err := s.ActionsExpire(t.Context(), id)
	must(t, err)
	if len(got) != 1 || got[0].Status != mlops.ActionExpired {
		t.Fatalf("expire %s: %+v", id, got)
	}
}

// newModel is a valid registration; tests change what they need.
func newModel(name, version string) mlops.NewModelVersion {
	return mlops.NewModelVersion{
		ModelName: name, Version: version, Algorithm: "RandomForest",
		Metrics:         mlops.Metrics{Accuracy: ptr(0.9), F1Score: ptr(0.85)},
		Hyperparameters: mlops.JSON(`{"n_estimators": 100}`),
		FeatureNames:    []string{"age", "income"},
		ModelPath:       "/models/" + name + "/" + version, MetadataPath: "/models/" + name + "/" + version + ".json",
		TrainingSamples: ptr(int64(1000)),
	}
}

func mustModel(t *testing.T, s *store.Store, name, version string) mlops.ModelVersion {
	t.Helper()
	m, err := s.ModelVersionCreate(t.Context(), newModel(name, version))
	if err != nil {
		t.Fatalf("ModelVersionCreate(%s %s): %v", name, version, err)
	}
	return m
}

func newAction(id string) mlops.NewAgentAction {
	return mlops.NewAgentAction{
		ActionID: id, ActionType: "retrain_model", Description: "retrain after drift",
		RiskLevel: mlops.RiskMedium, IssueID: "issue-1", IssueType: "drift", IssueSeverity: "high",
		Parameters: mlops.JSON(`{"model": "churn"}`),
	}
}

func mustAction(t *testing.T, s *store.Store, id string) mlops.AgentAction {
	t.Helper()
	a, err := s.ActionCreate(t.Context(), newAction(id))
	if err != nil {
		t.Fatalf("ActionCreate(%s): %v", id, err)
	}
	return a
}

func newAlert(title string) mlops.NewAlert {
	return mlops.NewAlert{AlertType: "drift", Severity: mlops.SeverityHigh, Title: title, Message: "features drifted",
		RelatedData: mlops.JSON(`{"model_id": 1}`)}
}

func mustAlert(t *testing.T, s *store.Store, title string) mlops.Alert {
	t.Helper()
	a, err := s.AlertCreate(t.Context(), newAlert(title))
	if err != nil {
		t.Fatalf("AlertCreate(%s): %v", title, err)
	}
	return a
}

func mustPrediction(t *testing.T, s *store.Store, modelID int64) mlops.Prediction {
	t.Helper()
	p, err := s.PredictionCreate(t.Context(), mlops.NewPrediction{ModelID: modelID, Features: mlops.JSON(`{"age": 42}`),
		Prediction: 1, Probability: ptr(0.75), LatencyMS: ptr(3.5)})
	if err != nil {
		t.Fatalf("PredictionCreate: %v", err)
	}
	return p
}

func mustDrift(t *testing.T, s *store.Store, modelID int64) mlops.DriftReport {
	t.Helper()
	d, err := s.DriftReportCreate(t.Context(), mlops.NewDriftReport{ModelID: modelID, DriftDetected: true,
		DriftScore: ptr(0.4), DriftedFeatures: []string{"age"}})
	if err != nil {
		t.Fatalf("DriftReportCreate: %v", err)
	}
	return d
}

func mustMetric(t *testing.T, s *store.Store, name string, value float64, modelID *int64) mlops.PerformanceMetric {
	t.Helper()
	m, err := s.MetricCreate(t.Context(), mlops.NewPerformanceMetric{MetricName: name, MetricValue: value, ModelID: modelID})
	if err != nil {
		t.Fatalf("MetricCreate(%s=%v): %v", name, value, err)
	}
	return m
}

// count returns the number of rows of table, read through the raw pool.
func count(t *testing.T, s *store.Store, table string) int64 {
	t.Helper()
	var n int64
	if err := s.DB().QueryRowContext(context.Background(), `SELECT count(*) FROM `+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// counts returns the row count of every table.
func counts(t *testing.T, s *store.Store) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, tb := range tables {
		out[tb] = count(t, s, tb)
	}
	return out
}

// fields returns the field names of a *mlops.ValidationError, or nil.
func fields(err error) []string {
	v, ok := mlops.AsValidation(err)
	if !ok {
		return nil
	}
	var out []string
	for _, f := range v.Fields {
		out = append(out, f.Field)
	}
	return out
}

// wantInvalid fails unless err is a *mlops.ValidationError naming exactly
// the fields want.
func wantInvalid(t *testing.T, err error, want ...string) {
	t.Helper()
	var v *mlops.ValidationError
	if !errors.As(err, &v) {
		t.Fatalf("error = %v (%T), want a *mlops.ValidationError naming %v", err, err, want)
	}
	got := fields(err)
	slices.Sort(got)
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("validation error names %v, want %v (%v)", got, want, err)
	}
}

// wantIs fails unless errors.Is(err, target).
func wantIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want one matching %v", err, target)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// What the closing-the-loop tests (reports, rule settings and leases,
// timeline, and the audit of what the monitor writes) share, prefixed
// "loop" so the names never collide with the rest of the package's.

// loopT0 is the start of every loop test clock, on an hour and day boundary.
var loopT0 = time.Date(2026, 5, 4, 0, 0, 0, 0, time.UTC)

// loopEach runs fn once per engine with a fresh store on a clock at loopT0.
func loopEach(t *testing.T, fn func(t *testing.T, s *store.Store, c *clock)) {
	t.Helper()
	storetest.EachClock(t, loopT0, store.Options{}, fn)
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

func normJSON(t *testing.T, raw mlops.JSON) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return out
}

// must1 fails the test when the second of two results is an error.
func must1(t *testing.T) func(any, error) {
	return func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
}

func must2[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
