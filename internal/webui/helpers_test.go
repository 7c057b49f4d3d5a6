package webui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/internal/auth"
	"github.com/mlopsdev/mlops/internal/webui"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// clock is a settable test clock shared by the store and the UI.
type clock = storetest.Clock

// t0 is the start of the seeded day; the clock ends at t0+5h.
var t0 = time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)

// env is one UI served over HTTP against a fresh store.
type env struct {
	st     *store.Store
	clk    *clock
	auth   *auth.Authenticator // nil: the open mode
	srv    *httptest.Server
	client *http.Client
	seed   seeded
}

// seeded names the records seed created.
type seeded struct {
	churnV1, churnV2, fraudV1 mlops.ModelVersion
	pending1, pending2        mlops.AgentAction
	executed                  mlops.AgentAction
	alertCritical, alertHigh  mlops.Alert
	alertAck, alertResolved   mlops.Alert
	metricBuckets             int
}

// eachEngine runs fn per engine with a fresh store (clocked by a test
// clock) and the UI served by an httptest server. With doSeed the store
// holds the data of seed.
func eachEngine(t *testing.T, doSeed bool, fn func(t *testing.T, e *env)) {
	t.Helper()
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			fn(t, newEnv(t, engine, doSeed))
		})
	}
}

func newEnv(t *testing.T, engine store.Engine, doSeed bool) *env {
	t.Helper()
	return newEnvAuth(t, engine, doSeed, "")
}

// newEnvAuth is newEnv with an Authenticator in mode (on the test clock),
// or without one when mode is "".
func newEnvAuth(t *testing.T, engine store.Engine, doSeed bool, mode auth.Mode) *env {
	t.Helper()
	return newEnvWith(t, engine, doSeed, mode, store.Options{})
}

// newEnvWith is newEnvAuth with a store opened with opts (its clock is the
// test clock).
func newEnvWith(t *testing.T, engine store.Engine, doSeed bool, mode auth.Mode, opts store.Options) *env {
	t.Helper()
	clk := storetest.NewClock(t0)
	opts.Now = clk.Now
	st := storetest.Open(t, engine, opts)
	e := &env{st: st, clk: clk}
	if doSeed {
		e.seed = seed(t, st, clk)
	}
	clk.Set(t0.Add(5 * time.Hour))
	if mode != "" {
		e.auth = auth.New(st, auth.Options{Mode: mode, Now: clk.Now})
	}
	h, err := webui.New(st, webui.Options{Now: clk.Now, Auth: e.auth})
	if err != nil {
		t.Fatalf("webui.New: %v", err)
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	jar, _ := cookiejar.New(nil)
	e.client = &http.Client{Jar: jar, Timeout: 30 * time.Second}
	return e
}

// must panics on a seeding error: the test fails with a stack trace that
// points at the failing call.
func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("seed: %v", err))
	}
	return v
}

func ptr[T any](v T) *T { return &v }

// seed stores two models (churn with an active v1 and a newer v2, fraud
// with one inactive version), predictions with and without ground truth,
// drift reports, actions in several states, alerts in every state and an
// "accuracy" metric spread over 5 hourly buckets.
func seed(t *testing.T, st *store.Store, clk *clock) seeded {
	t.Helper()
	ctx := context.Background()
	var s seeded
	at := func(d time.Duration) { clk.Set(t0.Add(d)) }

	at(0)
	s.churnV1 = must(st.ModelVersionCreate(ctx, mlops.NewModelVersion{ModelName: "churn", Version: "v1", Algorithm: "xgboost",
		Metrics:         mlops.Metrics{Accuracy: ptr(0.91), F1Score: ptr(0.87), ROCAUC: ptr(0.95)},
		Hyperparameters: mlops.JSON(`{"max_depth": 6, "eta": 0.3}`), FeatureNames: []string{"age", "income", "tenure"},
		ModelPath: "/models/churn/v1.bin", MetadataPath: "/models/churn/v1.json", TrainingSamples: ptr(int64(12000))}))
	at(time.Minute)
	s.churnV1 = must(st.ModelVersionActivate(ctx, s.churnV1.ID))
	at(2 * time.Minute)
	s.churnV2 = must(st.ModelVersionCreate(ctx, mlops.NewModelVersion{ModelName: "churn", Version: "v2", Algorithm: "lightgbm",
		Metrics:         mlops.Metrics{Accuracy: ptr(0.93), F1Score: ptr(0.89)},
		Hyperparameters: mlops.JSON(`{"num_leaves": 31, "learning_rate": 0.05}`), FeatureNames: []string{"age", "income", "tenure", "region"},
		ModelPath: "/models/churn/v2.bin", Status: mlops.ModelStaging}))
	s.fraudV1 = must(st.ModelVersionCreate(ctx, mlops.NewModelVersion{ModelName: "fraud", Version: "2026.11", Algorithm: "logreg"}))

	// Predictions of churn v1 in the last hours: 3 labelled (2 correct).
	at(4 * time.Hour)
	for i := 0; i < 6; i++ {
		p := mlops.NewPrediction{ModelID: s.churnV1.ID, Features: mlops.JSON(`{"age": 41, "income": 52000}`),
			Prediction: int64(i % 2), Probability: ptr(0.5 + float64(i)/20), LatencyMS: ptr(float64(10 + i))}
		if i < 3 {
			p.Actual = ptr(int64(0))
		}
		must(st.PredictionCreate(ctx, p))
	}

	at(3 * time.Hour)
	must(st.DriftReportCreate(ctx, mlops.NewDriftReport{ModelID: s.churnV1.ID, DriftDetected: false, DriftScore: ptr(0.04),
		ReferenceSize: ptr(int64(1000)), CurrentSize: ptr(int64(800))}))
	at(4*time.Hour + 30*time.Minute)
	must(st.DriftReportCreate(ctx, mlops.NewDriftReport{ModelID: s.churnV1.ID, DriftDetected: true, DriftScore: ptr(0.41),
		DriftedFeatures: []string{"income", "tenure"}, ReportPath: "/reports/drift-churn.html",
		ReferenceSize: ptr(int64(1000)), CurrentSize: ptr(int64(900))}))

	at(time.Hour)
	s.executed = must(st.ActionCreate(ctx, mlops.NewAgentAction{ActionID: "act-retrain-0", ActionType: "retrain_model",
		Description: "Retrain churn on last week's data", RiskLevel: mlops.RiskMedium, IssueID: "iss-7", IssueType: "performance",
		IssueSeverity: "medium", Parameters: mlops.JSON(`{"model_name": "churn"}`)}))
	must(st.ActionApprove(ctx, "act-retrain-0", "carol", "looks fine"))
	s.executed = must(st.ActionMarkExecuted(ctx, "act-retrain-0", mlops.JSON(`{"new_version": "v2"}`)))
	at(2 * time.Hour)
	s.pending1 = must(st.ActionCreate(ctx, mlops.NewAgentAction{ActionID: "act-rollback-1", ActionType: "rollback_model",
		Description: "Roll churn back to the previous version", RiskLevel: mlops.RiskHigh, IssueID: "iss-9", IssueType: "drift",
		IssueSeverity: "high", Parameters: mlops.JSON(`{"target_version": "v0", "reason": "drift on income"}`)}))
	at(3 * time.Hour)
	s.pending2 = must(st.ActionCreate(ctx, mlops.NewAgentAction{ActionID: "act-scale-2", ActionType: "scale_up",
		Description: "Add two replicas", RiskLevel: mlops.RiskLow, Parameters: mlops.JSON(`{"replicas": 4}`)}))

	at(90 * time.Minute)
	s.alertCritical = must(st.AlertCreate(ctx, mlops.NewAlert{AlertType: "drift", Severity: mlops.SeverityCritical,
		Title: "Drift on churn income", Message: "KS statistic 0.41 on income", RelatedData: mlops.JSON(`{"model_id": 1}`)}))
	s.alertHigh = must(st.AlertCreate(ctx, mlops.NewAlert{AlertType: "latency", Severity: mlops.SeverityHigh, Title: "p99 latency above 200 ms"}))
	s.alertAck = must(st.AlertCreate(ctx, mlops.NewAlert{AlertType: "errors", Severity: mlops.SeverityMedium, Title: "Error rate 2%"}))
	s.alertAck = must(st.AlertAcknowledge(ctx, s.alertAck.ID, "dave"))
	s.alertResolved = must(st.AlertCreate(ctx, mlops.NewAlert{AlertType: "disk", Severity: mlops.SeverityLow, Title: "Disk 80% full"}))
	s.alertResolved = must(st.AlertResolve(ctx, s.alertResolved.ID, "erin", "rotated logs"))

	// accuracy: points at 08:10, 08:20, 09:10, 10:10, 11:10, 12:10 -> 5
	// hourly buckets (08..12).
	for i, d := range []time.Duration{10 * time.Minute, 20 * time.Minute, 70 * time.Minute, 130 * time.Minute, 190 * time.Minute, 250 * time.Minute} {
		at(d)
		must(st.MetricCreate(ctx, mlops.NewPerformanceMetric{MetricName: "accuracy", MetricValue: 0.80 + float64(i)/100, ModelID: &s.churnV1.ID}))
	}
	s.metricBuckets = 5
	must(st.MetricCreate(ctx, mlops.NewPerformanceMetric{MetricName: "latency_p99", MetricValue: 180}))
	return s
}

// get fetches path and returns the status and body.
func (e *env) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := e.client.Get(e.srv.URL + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

// post submits a form (as a same-origin browser would not be needed: a
// request without Origin or Sec-Fetch-Site is allowed) and follows the
// redirect; it returns the final status, path and body.
func (e *env) post(t *testing.T, path string, form url.Values, header ...string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: read body: %v", path, err)
	}
	return resp.StatusCode, resp.Request.URL.RequestURI(), string(b)
}

// contains fails the test for every want missing from body.
func contains(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	missing := false
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s: missing %q", what, w)
			missing = true
		}
	}
	if missing {
		t.Logf("%s body:\n%s", what, body)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// artifactsEnv names the folder where tests leave files for people to look
// at after a run; .ci/run sets it and prints it, and CI keeps it.
const artifactsEnv = "MLOPS_TEST_ARTIFACTS"

// screenshotDir is the folder for t's screenshots,
// <artifacts>/screenshots/<test name>, one level per subtest. <artifacts> is
// $MLOPS_TEST_ARTIFACTS (relative to the repository root when relative), else
// .ci/artifacts at the root: not t.TempDir(), which is gone when the test ends.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(artifactsEnv)
	if dir == "" || !filepath.IsAbs(dir) {
		root := repoRoot(t)
		if dir == "" {
			dir = filepath.Join(root, ".ci", "artifacts")
		} else {
			dir = filepath.Join(root, dir)
		}
	}
	name := strings.Map(func(r rune) rune {
		if r == '/' || r == '.' || r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '-'
	}, t.Name())
	return filepath.Join(dir, "screenshots", filepath.FromSlash(strings.ReplaceAll(name, "..", "-")))
}

// repoRoot is the nearest folder above the working directory (the package's
// folder under go test) that holds go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		if filepath.Dir(dir) == dir {
			t.Fatalf("no go.mod in %s or above it: set %s to the folder for test artifacts", wd, artifactsEnv)
		}
	}
}
