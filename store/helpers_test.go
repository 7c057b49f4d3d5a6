package store_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// tables are the six tables of the seed, in an order rows can be counted.
var tables = []string{"model_versions", "predictions", "drift_reports", "agent_actions", "performance_metrics", "alerts"}

// base is the start of every injected clock: a fixed instant on a minute,
// hour and day boundary, so hand-computed buckets are easy to read.
var base = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// clock is a settable clock injected through store.Options.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: base} }

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

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// eachClock runs fn once per engine with a fresh store whose clock the test
// controls; it starts at base.
func eachClock(t *testing.T, fn func(t *testing.T, s *store.Store, c *clock)) {
	t.Helper()
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			c := newClock()
			fn(t, storetest.Open(t, engine, store.Options{Now: c.Now, Approvals: testPolicy}), c)
		})
	}
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
