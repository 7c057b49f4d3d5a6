package store_test

import (
	"context"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

var (
	longName = strings.Repeat("n", mlops.MaxNameLen+1)
	longText = strings.Repeat("t", mlops.MaxTextLen+1)
	badUTF8  = "bad\xffutf8"
	withNUL  = "a\x00b"
	nan      = math.NaN()
	inf      = math.Inf(1)
)

// fixture is what the bad-input cases refer to: an existing model version.
type fixture struct {
	s     *store.Store
	model int64
}

// badInput is one validation rule: call breaks it, field is the name the
// error must carry.
type badInput struct {
	name  string
	field string
	call  func(ctx context.Context, f fixture) error
}

func modelCase(name, field string, change func(*mlops.NewModelVersion)) badInput {
	return badInput{"model: " + name, field, func(ctx context.Context, f fixture) error {
		in := newModel("churn", "bad")
		change(&in)
		_, err := f.s.ModelVersionCreate(ctx, in)
		return err
	}}
}

func predictionCase(name, field string, change func(*mlops.NewPrediction)) badInput {
	return badInput{"prediction: " + name, field, func(ctx context.Context, f fixture) error {
		in := mlops.NewPrediction{ModelID: f.model, Prediction: 1, Probability: ptr(0.5), LatencyMS: ptr(1.0)}
		change(&in)
		_, err := f.s.PredictionCreate(ctx, in)
		return err
	}}
}

// batchCase builds 6 valid predictions, lets change break some, and
// stores them in one call.
func batchCase(name, field string, change func(in []mlops.NewPrediction)) badInput {
	return badInput{"prediction batch: " + name, field, func(ctx context.Context, f fixture) error {
		in := make([]mlops.NewPrediction, 6)
		for i := range in {
			in[i] = mlops.NewPrediction{ModelID: f.model, Prediction: int64(i), Probability: ptr(0.5)}
		}
		change(in)
		_, err := f.s.PredictionCreateBatch(ctx, in)
		return err
	}}
}

func driftCase(name, field string, change func(*mlops.NewDriftReport)) badInput {
	return badInput{"drift: " + name, field, func(ctx context.Context, f fixture) error {
		in := mlops.NewDriftReport{ModelID: f.model, DriftDetected: true, DriftScore: ptr(0.3), DriftedFeatures: []string{"age"}}
		change(&in)
		_, err := f.s.DriftReportCreate(ctx, in)
		return err
	}}
}

func actionCase(name, field string, change func(*mlops.NewAgentAction)) badInput {
	return badInput{"action: " + name, field, func(ctx context.Context, f fixture) error {
		in := newAction("act-bad")
		change(&in)
		_, err := f.s.ActionCreate(ctx, in)
		return err
	}}
}

func metricCase(name, field string, change func(*mlops.NewPerformanceMetric)) badInput {
	return badInput{"metric: " + name, field, func(ctx context.Context, f fixture) error {
		in := mlops.NewPerformanceMetric{MetricName: "accuracy", MetricValue: 0.9, ModelID: &f.model}
		change(&in)
		_, err := f.s.MetricCreate(ctx, in)
		return err
	}}
}

func metricBatchCase(name, field string, change func(in []mlops.NewPerformanceMetric)) badInput {
	return badInput{"metric batch: " + name, field, func(ctx context.Context, f fixture) error {
		in := make([]mlops.NewPerformanceMetric, 4)
		for i := range in {
			in[i] = mlops.NewPerformanceMetric{MetricName: "accuracy", MetricValue: float64(i), ModelID: &f.model}
		}
		change(in)
		_, err := f.s.MetricCreateBatch(ctx, in)
		return err
	}}
}

func alertCase(name, field string, change func(*mlops.NewAlert)) badInput {
	return badInput{"alert: " + name, field, func(ctx context.Context, f fixture) error {
		in := newAlert("bad")
		change(&in)
		_, err := f.s.AlertCreate(ctx, in)
		return err
	}}
}

func badInputs() []badInput {
	const unknown = 987654
	return []badInput{
		modelCase("model_name empty", "model_name", func(m *mlops.NewModelVersion) { m.ModelName = "" }),
		modelCase("model_name blank", "model_name", func(m *mlops.NewModelVersion) { m.ModelName = " \t " }),
		modelCase("model_name too long", "model_name", func(m *mlops.NewModelVersion) { m.ModelName = longName }),
		modelCase("model_name not UTF-8", "model_name", func(m *mlops.NewModelVersion) { m.ModelName = badUTF8 }),
		modelCase("model_name with NUL", "model_name", func(m *mlops.NewModelVersion) { m.ModelName = withNUL }),
		modelCase("version empty", "version", func(m *mlops.NewModelVersion) { m.Version = "" }),
		modelCase("version too long", "version", func(m *mlops.NewModelVersion) { m.Version = longName }),
		modelCase("algorithm empty", "algorithm", func(m *mlops.NewModelVersion) { m.Algorithm = "" }),
		modelCase("accuracy above 1", "metrics.accuracy", func(m *mlops.NewModelVersion) { m.Metrics.Accuracy = ptr(1.5) }),
		modelCase("f1_score below 0", "metrics.f1_score", func(m *mlops.NewModelVersion) { m.Metrics.F1Score = ptr(-0.1) }),
		modelCase("precision NaN", "metrics.precision", func(m *mlops.NewModelVersion) { m.Metrics.Precision = ptr(nan) }),
		modelCase("recall infinite", "metrics.recall", func(m *mlops.NewModelVersion) { m.Metrics.Recall = ptr(inf) }),
		modelCase("roc_auc 2", "metrics.roc_auc", func(m *mlops.NewModelVersion) { m.Metrics.ROCAUC = ptr(2.0) }),
		modelCase("hyperparameters array", "hyperparameters", func(m *mlops.NewModelVersion) { m.Hyperparameters = mlops.JSON(`[1]`) }),
		modelCase("hyperparameters not JSON", "hyperparameters", func(m *mlops.NewModelVersion) { m.Hyperparameters = mlops.JSON(`{oops`) }),
		modelCase("hyperparameters with NUL", "hyperparameters", func(m *mlops.NewModelVersion) { m.Hyperparameters = mlops.JSON(`{"a": "\u0000"}`) }),
		modelCase("feature_names empty item", "feature_names", func(m *mlops.NewModelVersion) { m.FeatureNames = []string{"age", ""} }),
		modelCase("feature_names long item", "feature_names", func(m *mlops.NewModelVersion) { m.FeatureNames = []string{longName} }),
		modelCase("status unknown", "status", func(m *mlops.NewModelVersion) { m.Status = "deployed" }),
		modelCase("model_path too long", "model_path", func(m *mlops.NewModelVersion) { m.ModelPath = longText }),
		modelCase("metadata_path not UTF-8", "metadata_path", func(m *mlops.NewModelVersion) { m.MetadataPath = badUTF8 }),
		modelCase("training_samples negative", "training_samples", func(m *mlops.NewModelVersion) { m.TrainingSamples = ptr(int64(-1)) }),

		predictionCase("model_id zero", "model_id", func(p *mlops.NewPrediction) { p.ModelID = 0 }),
		predictionCase("model_id negative", "model_id", func(p *mlops.NewPrediction) { p.ModelID = -1 }),
		predictionCase("model_id unknown", "model_id", func(p *mlops.NewPrediction) { p.ModelID = unknown }),
		predictionCase("features array", "features", func(p *mlops.NewPrediction) { p.Features = mlops.JSON(`[1, 2]`) }),
		predictionCase("features string", "features", func(p *mlops.NewPrediction) { p.Features = mlops.JSON(`"x"`) }),
		predictionCase("features empty", "features", func(p *mlops.NewPrediction) { p.Features = mlops.JSON(` `) }),
		predictionCase("probability above 1", "probability", func(p *mlops.NewPrediction) { p.Probability = ptr(1.01) }),
		predictionCase("probability below 0", "probability", func(p *mlops.NewPrediction) { p.Probability = ptr(-0.01) }),
		predictionCase("probability NaN", "probability", func(p *mlops.NewPrediction) { p.Probability = ptr(nan) }),
		predictionCase("latency_ms negative", "latency_ms", func(p *mlops.NewPrediction) { p.LatencyMS = ptr(-1.0) }),
		predictionCase("latency_ms infinite", "latency_ms", func(p *mlops.NewPrediction) { p.LatencyMS = ptr(inf) }),

		batchCase("bad probability at 3", "predictions[3].probability", func(in []mlops.NewPrediction) { in[3].Probability = ptr(2.0) }),
		batchCase("bad features at 3", "predictions[3].features", func(in []mlops.NewPrediction) { in[3].Features = mlops.JSON(`[]`) }),
		batchCase("unknown model_id at 3", "predictions[3].model_id", func(in []mlops.NewPrediction) { in[3].ModelID = unknown }),
		batchCase("zero model_id at 3", "predictions[3].model_id", func(in []mlops.NewPrediction) { in[3].ModelID = 0 }),
		batchCase("last item bad", "predictions[5].latency_ms", func(in []mlops.NewPrediction) { in[5].LatencyMS = ptr(-5.0) }),

		driftCase("model_id zero", "model_id", func(d *mlops.NewDriftReport) { d.ModelID = 0 }),
		driftCase("model_id unknown", "model_id", func(d *mlops.NewDriftReport) { d.ModelID = unknown }),
		driftCase("drift_score NaN", "drift_score", func(d *mlops.NewDriftReport) { d.DriftScore = ptr(nan) }),
		driftCase("drift_score infinite", "drift_score", func(d *mlops.NewDriftReport) { d.DriftScore = ptr(math.Inf(-1)) }),
		driftCase("drifted_features empty item", "drifted_features", func(d *mlops.NewDriftReport) { d.DriftedFeatures = []string{""} }),
		driftCase("drifted_features long item", "drifted_features", func(d *mlops.NewDriftReport) { d.DriftedFeatures = []string{longName} }),
		driftCase("n_drifted_features disagrees", "n_drifted_features", func(d *mlops.NewDriftReport) { d.NDriftedFeatures = ptr(3) }),
		driftCase("report_path too long", "report_path", func(d *mlops.NewDriftReport) { d.ReportPath = longText }),
		driftCase("reference_size negative", "reference_size", func(d *mlops.NewDriftReport) { d.ReferenceSize = ptr(int64(-1)) }),
		driftCase("current_size negative", "current_size", func(d *mlops.NewDriftReport) { d.CurrentSize = ptr(int64(-1)) }),
		driftCase("details array", "details", func(d *mlops.NewDriftReport) { d.Details = mlops.JSON(`[]`) }),

		actionCase("action_id empty", "action_id", func(a *mlops.NewAgentAction) { a.ActionID = "" }),
		actionCase("action_id too long", "action_id", func(a *mlops.NewAgentAction) { a.ActionID = longName }),
		actionCase("action_type blank", "action_type", func(a *mlops.NewAgentAction) { a.ActionType = "  " }),
		actionCase("description too long", "description", func(a *mlops.NewAgentAction) { a.Description = longText }),
		actionCase("risk_level empty", "risk_level", func(a *mlops.NewAgentAction) { a.RiskLevel = "" }),
		actionCase("risk_level unknown", "risk_level", func(a *mlops.NewAgentAction) { a.RiskLevel = "extreme" }),
		actionCase("issue_id too long", "issue_id", func(a *mlops.NewAgentAction) { a.IssueID = longName }),
		actionCase("issue_type with NUL", "issue_type", func(a *mlops.NewAgentAction) { a.IssueType = withNUL }),
		actionCase("issue_severity not UTF-8", "issue_severity", func(a *mlops.NewAgentAction) { a.IssueSeverity = badUTF8 }),
		actionCase("parameters array", "parameters", func(a *mlops.NewAgentAction) { a.Parameters = mlops.JSON(`[]`) }),

		metricCase("metric_name empty", "metric_name", func(m *mlops.NewPerformanceMetric) { m.MetricName = "" }),
		metricCase("metric_name too long", "metric_name", func(m *mlops.NewPerformanceMetric) { m.MetricName = longName }),
		metricCase("metric_value NaN", "metric_value", func(m *mlops.NewPerformanceMetric) { m.MetricValue = nan }),
		metricCase("metric_value +Inf", "metric_value", func(m *mlops.NewPerformanceMetric) { m.MetricValue = inf }),
		metricCase("metric_value -Inf", "metric_value", func(m *mlops.NewPerformanceMetric) { m.MetricValue = math.Inf(-1) }),
		metricCase("model_id zero", "model_id", func(m *mlops.NewPerformanceMetric) { m.ModelID = ptr(int64(0)) }),
		metricCase("model_id unknown", "model_id", func(m *mlops.NewPerformanceMetric) { m.ModelID = ptr(int64(unknown)) }),
		metricCase("metadata number", "metadata", func(m *mlops.NewPerformanceMetric) { m.Metadata = mlops.JSON(`1`) }),
		metricBatchCase("NaN at 2", "metrics[2].metric_value", func(in []mlops.NewPerformanceMetric) { in[2].MetricValue = nan }),
		metricBatchCase("unknown model_id at 2", "metrics[2].model_id", func(in []mlops.NewPerformanceMetric) {
			in[2].ModelID = ptr(int64(unknown))
		}),

		alertCase("alert_type empty", "alert_type", func(a *mlops.NewAlert) { a.AlertType = "" }),
		alertCase("severity empty", "severity", func(a *mlops.NewAlert) { a.Severity = "" }),
		alertCase("severity unknown", "severity", func(a *mlops.NewAlert) { a.Severity = "urgent" }),
		alertCase("title blank", "title", func(a *mlops.NewAlert) { a.Title = " " }),
		alertCase("title too long", "title", func(a *mlops.NewAlert) { a.Title = longName }),
		alertCase("message not UTF-8", "message", func(a *mlops.NewAlert) { a.Message = badUTF8 }),
		alertCase("related_data array", "related_data", func(a *mlops.NewAlert) { a.RelatedData = mlops.JSON(`[]`) }),
	}
}

// TestBadInput checks every validation rule: the error is a
// *mlops.ValidationError naming the field, and no row of any table was
// stored. Batches are all or nothing: one bad item names its index and
// nothing of the batch is stored.
func TestBadInput(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		f := fixture{s: s, model: mustModel(t, s, "churn", "v1").ID}
		mustPrediction(t, s, f.model)
		mustAlert(t, s, "existing")
		for _, tc := range badInputs() {
			t.Run(tc.name, func(t *testing.T) {
				before := counts(t, s)
				err := tc.call(t.Context(), f)
				wantInvalid(t, err, tc.field)
				if after := counts(t, s); !reflect.DeepEqual(before, after) {
					t.Fatalf("rows were stored: before %v, after %v", before, after)
				}
			})
		}
		// Two bad items are both named; still nothing is stored.
		before := counts(t, s)
		err := batchCase("", "", func(in []mlops.NewPrediction) {
			in[1].Probability = ptr(-1.0)
			in[4].Features = mlops.JSON(`7`)
		}).call(t.Context(), f)
		wantInvalid(t, err, "predictions[1].probability", "predictions[4].features")
		if after := counts(t, s); !reflect.DeepEqual(before, after) {
			t.Fatalf("rows were stored: before %v, after %v", before, after)
		}
	})
}

// TestBadTransitionInput checks the validation of reviewer, comment,
// result, user and notes: the error names the field and the record is
// unchanged.
func TestBadTransitionInput(t *testing.T) {
	t.Parallel()
	eachClock(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := t.Context()
		mustAction(t, s, "pending")
		mustAction(t, s, "approved")
		_, err := s.ActionApprove(ctx, "approved", "alice", "")
		must(t, err)
		al := mustAlert(t, s, "open")
		c.Advance(time.Hour)
		for _, tc := range []struct {
			name, field string
			call        func() error
		}{
			{"approve without reviewer", "reviewer", func() error { _, err := s.ActionApprove(ctx, "pending", "", ""); return err }},
			{"reject with blank reviewer", "reviewer", func() error { _, err := s.ActionReject(ctx, "pending", "  ", ""); return err }},
			{"reviewer too long", "reviewer", func() error { _, err := s.ActionApprove(ctx, "pending", longName, ""); return err }},
			{"comment with NUL", "comment", func() error { _, err := s.ActionApprove(ctx, "pending", "alice", withNUL); return err }},
			{"comment too long", "comment", func() error { _, err := s.ActionReject(ctx, "pending", "alice", longText); return err }},
			{"executed result array", "result", func() error {
				_, err := s.ActionMarkExecuted(ctx, "approved", mlops.JSON(`[]`))
				return err
			}},
			{"failed result not JSON", "result", func() error {
				_, err := s.ActionMarkFailed(ctx, "approved", mlops.JSON(`oops`))
				return err
			}},
			{"acknowledge without user", "user", func() error { _, err := s.AlertAcknowledge(ctx, al.ID, ""); return err }},
			{"resolve without user", "user", func() error { _, err := s.AlertResolve(ctx, al.ID, "", "notes"); return err }},
			{"resolve notes not UTF-8", "notes", func() error { _, err := s.AlertResolve(ctx, al.ID, "ops", badUTF8); return err }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p0, _ := s.ActionGet(ctx, "pending")
				a0, _ := s.ActionGet(ctx, "approved")
				l0, _ := s.AlertGet(ctx, al.ID)
				wantInvalid(t, tc.call(), tc.field)
				p1, _ := s.ActionGet(ctx, "pending")
				a1, _ := s.ActionGet(ctx, "approved")
				l1, _ := s.AlertGet(ctx, al.ID)
				if !reflect.DeepEqual(p0, p1) || !reflect.DeepEqual(a0, a1) || !reflect.DeepEqual(l0, l1) {
					t.Fatalf("a refused call changed a record")
				}
			})
		}
	})
}

// TestBadQuery checks that list filters with unknown values are
// validation errors naming the parameter.
func TestBadQuery(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		_, _, err := s.ModelVersionList(ctx, store.ModelVersionFilter{Status: "deployed"})
		wantInvalid(t, err, "status")
		_, _, err = s.ActionList(ctx, store.ActionFilter{Status: "done"})
		wantInvalid(t, err, "status")
		_, _, err = s.AlertList(ctx, store.AlertFilter{Status: "open"})
		wantInvalid(t, err, "status")
		_, _, err = s.AlertList(ctx, store.AlertFilter{Severity: "urgent"})
		wantInvalid(t, err, "severity")
		_, err = store.ParseBucket("7m")
		wantInvalid(t, err, "bucket")
	})
}

// TestDatabaseConstraints bypasses the Go validation with raw SQL: the
// database itself refuses a second active version of a model, an
// out-of-range probability, an unknown status and a dangling model_id.
func TestDatabaseConstraints(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		db := s.DB()
		v1 := mustModel(t, s, "churn", "v1")
		v2 := mustModel(t, s, "churn", "v2")
		_, err := s.ModelVersionActivate(ctx, v1.ID)
		must(t, err)
		now := time.Now().UTC()
		for name, stmt := range map[string]struct {
			q    string
			args []any
		}{
			"second active version":     {`UPDATE model_versions SET is_active = $1, status = 'production' WHERE id = $2`, []any{true, v2.ID}},
			"active but not production": {`UPDATE model_versions SET status = 'archived' WHERE id = $1`, []any{v1.ID}},
			"probability 1.5": {`INSERT INTO predictions (model_id, features, prediction, probability, created_at)
				VALUES ($1, '{}', 1, 1.5, $2)`, []any{v1.ID, now}},
			"unknown model_id": {`INSERT INTO predictions (model_id, features, prediction, created_at)
				VALUES ($1, '{}', 1, $2)`, []any{int64(987654), now}},
			"unknown action status": {`INSERT INTO agent_actions (action_id, action_type, risk_level, status, created_at)
				VALUES ('x', 'y', 'low', 'done', $1)`, []any{now}},
			"negative training_samples": {`UPDATE model_versions SET training_samples = -1 WHERE id = $1`, []any{v2.ID}},
			"duplicate action_id": {`INSERT INTO agent_actions (action_id, action_type, risk_level, created_at)
				VALUES ('dup', 'y', 'low', $1), ('dup', 'y', 'low', $1)`, []any{now}},
		} {
			before := counts(t, s)
			if _, err := db.ExecContext(ctx, stmt.q, stmt.args...); err == nil {
				t.Errorf("%s: the database accepted it", name)
			}
			if after := counts(t, s); !reflect.DeepEqual(before, after) {
				t.Errorf("%s: rows changed: %v → %v", name, before, after)
			}
		}
		if m, err := s.ModelVersionActive(ctx, "churn"); err != nil || m.ID != v1.ID || m.Status != mlops.ModelProduction {
			t.Fatalf("active version after refused updates: %+v, %v", m, err)
		}
	})
}
