package store_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// TestCreateModelVersion is the twin of the seed's test_create_model_version:
// the new version has an id and keeps its name.
func TestCreateModelVersion(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		m, err := s.ModelVersionCreate(t.Context(), mlops.NewModelVersion{
			ModelName:       "test_model",
			Version:         "1.0.0",
			Algorithm:       "RandomForest",
			Metrics:         mlops.Metrics{F1Score: ptr(0.85)},
			Hyperparameters: mlops.JSON(`{}`),
			FeatureNames:    []string{},
			ModelPath:       "/test",
			MetadataPath:    "/test",
			TrainingSamples: ptr(int64(100)),
		})
		if err != nil {
			t.Fatal(err)
		}
		if m.ID == 0 {
			t.Fatal("model.id is not set")
		}
		if m.ModelName != "test_model" {
			t.Fatalf("model_name = %q, want test_model", m.ModelName)
		}
	})
}

// TestModelVersionRoundTrip checks that every field survives a round trip
// and that the defaults (status training, inactive) apply.
func TestModelVersionRoundTrip(t *testing.T) {
	t.Parallel()
	eachClock(t, func(t *testing.T, s *store.Store, c *clock) {
		in := newModel("churn", "v1")
		in.Metrics = mlops.Metrics{Accuracy: ptr(0.91), F1Score: ptr(0.8), Precision: ptr(0.7), Recall: ptr(0.6), ROCAUC: ptr(1.0)}
		created, err := s.ModelVersionCreate(t.Context(), in)
		must(t, err)
		got, err := s.ModelVersionGet(t.Context(), created.ID)
		must(t, err)
		for _, m := range []mlops.ModelVersion{created, got} {
			if m.ModelName != "churn" || m.Version != "v1" || m.Algorithm != "RandomForest" {
				t.Fatalf("identity fields: %+v", m)
			}
			if *m.Accuracy != 0.91 || *m.F1Score != 0.8 || *m.Precision != 0.7 || *m.Recall != 0.6 || *m.ROCAUC != 1.0 {
				t.Fatalf("metrics: %v %v %v %v %v", *m.Accuracy, *m.F1Score, *m.Precision, *m.Recall, *m.ROCAUC)
			}
			var hp map[string]any
			must(t, json.Unmarshal(m.Hyperparameters, &hp))
			if hp["n_estimators"] != float64(100) {
				t.Fatalf("hyperparameters = %s", m.Hyperparameters)
			}
			if len(m.FeatureNames) != 2 || m.FeatureNames[0] != "age" || m.FeatureNames[1] != "income" {
				t.Fatalf("feature_names = %v", m.FeatureNames)
			}
			if m.Status != mlops.ModelTraining || m.IsActive || m.ActivatedAt != nil {
				t.Fatalf("new version: status %s active %v activated_at %v", m.Status, m.IsActive, m.ActivatedAt)
			}
			if m.ModelPath != "/models/churn/v1" || m.MetadataPath != "/models/churn/v1.json" || *m.TrainingSamples != 1000 {
				t.Fatalf("paths/samples: %+v", m)
			}
			if !m.CreatedAt.Equal(base) {
				t.Fatalf("created_at = %v, want the injected clock %v", m.CreatedAt, base)
			}
		}
		// Unset metrics stay NULL, not 0.
		bare, err := s.ModelVersionCreate(t.Context(), mlops.NewModelVersion{ModelName: "churn", Version: "v2", Algorithm: "LR",
			Status: mlops.ModelStaging})
		must(t, err)
		if bare.Accuracy != nil || bare.TrainingSamples != nil || bare.Status != mlops.ModelStaging || len(bare.FeatureNames) != 0 {
			t.Fatalf("bare version: %+v", bare)
		}
	})
}

// TestConflicts checks the unique constraints: (model_name, version) and
// action_id.
func TestConflicts(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		mustModel(t, s, "churn", "v1")
		_, err := s.ModelVersionCreate(t.Context(), newModel("churn", "v1"))
		wantIs(t, err, mlops.ErrConflict)
		mustModel(t, s, "fraud", "v1") // same version, other model: fine
		mustAction(t, s, "act-1")
		_, err = s.ActionCreate(t.Context(), newAction("act-1"))
		wantIs(t, err, mlops.ErrConflict)
		if n := count(t, s, "model_versions"); n != 2 {
			t.Fatalf("model_versions = %d, want 2", n)
		}
		if n := count(t, s, "agent_actions"); n != 1 {
			t.Fatalf("agent_actions = %d, want 1", n)
		}
	})
}

// TestNotFound checks that every lookup of a missing record is ErrNotFound.
func TestNotFound(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		calls := map[string]func() error{
			"ModelVersionGet":      func() error { _, err := s.ModelVersionGet(ctx, 999); return err },
			"ModelVersionActive":   func() error { _, err := s.ModelVersionActive(ctx, "churn"); return err },
			"ModelVersionActive*":  func() error { _, err := s.ModelVersionActive(ctx, ""); return err },
			"ModelVersionActivate": func() error { _, err := s.ModelVersionActivate(ctx, 999); return err },
			"PredictionGet":        func() error { _, err := s.PredictionGet(ctx, 999); return err },
			"PredictionSetActual":  func() error { _, err := s.PredictionSetActual(ctx, 999, 1); return err },
			"DriftReportGet":       func() error { _, err := s.DriftReportGet(ctx, 999); return err },
			"DriftReportLatest":    func() error { _, err := s.DriftReportLatest(ctx, 999); return err },
			"DriftReportLatest*":   func() error { _, err := s.DriftReportLatest(ctx, 0); return err },
			"ActionGet":            func() error { _, err := s.ActionGet(ctx, "nope"); return err },
			"ActionApprove":        func() error { _, err := s.ActionApprove(ctx, "nope", "alice", ""); return err },
			"ActionReject":         func() error { _, err := s.ActionReject(ctx, "nope", "alice", ""); return err },
			"ActionMarkExecuted":   func() error { _, err := s.ActionMarkExecuted(ctx, "nope", nil); return err },
			"ActionMarkFailed":     func() error { _, err := s.ActionMarkFailed(ctx, "nope", nil); return err },
			"MetricGet":            func() error { _, err := s.MetricGet(ctx, 999); return err },
			"AlertGet":             func() error { _, err := s.AlertGet(ctx, 999); return err },
			"AlertAcknowledge":     func() error { _, err := s.AlertAcknowledge(ctx, 999, "bob"); return err },
			"AlertResolve":         func() error { _, err := s.AlertResolve(ctx, 999, "bob", ""); return err },
		}
		// A model that exists but has no active version and no drift report.
		mustModel(t, s, "churn", "v1")
		for name, call := range calls {
			err := call()
			if !errors.Is(err, mlops.ErrNotFound) {
				t.Errorf("%s: error = %v, want ErrNotFound", name, err)
			}
			if errors.Is(err, mlops.ErrConflict) {
				t.Errorf("%s: ErrNotFound must not also match ErrConflict", name)
			}
		}
	})
}

// TestInTx checks the transaction helper (the seed's get_session()): commit
// when fn returns nil, roll back when it returns an error or panics, and
// writes visible inside the transaction before the commit.
func TestInTx(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		var id int64
		err := s.InTx(ctx, func(tx *store.Store) error {
			m, err := tx.ModelVersionCreate(ctx, newModel("churn", "v1"))
			if err != nil {
				return err
			}
			id = m.ID
			if _, err := tx.ModelVersionActivate(ctx, m.ID); err != nil { // nested InTx joins
				return err
			}
			if _, err := tx.PredictionCreate(ctx, mlops.NewPrediction{ModelID: m.ID, Prediction: 1}); err != nil {
				return err
			}
			got, err := tx.ModelVersionGet(ctx, m.ID) // reads see the transaction's writes
			if err != nil || !got.IsActive {
				t.Errorf("inside the transaction: %+v, %v", got, err)
			}
			return nil
		})
		must(t, err)
		if m, err := s.ModelVersionGet(ctx, id); err != nil || !m.IsActive {
			t.Fatalf("after commit: %+v, %v", m, err)
		}
		if n := count(t, s, "predictions"); n != 1 {
			t.Fatalf("predictions after commit = %d, want 1", n)
		}

		// An error rolls everything back, and InTx returns that error.
		boom := errors.New("boom")
		err = s.InTx(ctx, func(tx *store.Store) error {
			m, err := tx.ModelVersionCreate(ctx, newModel("churn", "v2"))
			if err != nil {
				return err
			}
			if _, err := tx.ModelVersionActivate(ctx, m.ID); err != nil {
				return err
			}
			mustAction(t, tx, "act-rolled-back")
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx error = %v, want the callback's error", err)
		}
		want := map[string]int64{"model_versions": 1, "predictions": 1, "drift_reports": 0, "agent_actions": 0,
			"performance_metrics": 0, "alerts": 0}
		if got := counts(t, s); !equalCounts(got, want) {
			t.Fatalf("after rollback: %v, want %v", got, want)
		}
		if m, err := s.ModelVersionActive(ctx, "churn"); err != nil || m.ID != id {
			t.Fatalf("the rolled-back activation is visible: active %+v, %v", m, err)
		}

		// A panic rolls back too and is re-raised.
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("InTx swallowed the panic")
				}
			}()
			_ = s.InTx(ctx, func(tx *store.Store) error {
				mustAlert(t, tx, "rolled back by panic")
				panic("boom")
			})
		}()
		if n := count(t, s, "alerts"); n != 0 {
			t.Fatalf("alerts after panic = %d, want 0", n)
		}
		// The store still works after a rollback (the connection was returned).
		mustAlert(t, s, "after")
	})
}

func equalCounts(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// recordTB records Fatalf and Skipf instead of stopping the test.
type recordTB struct {
	testing.TB
	fatal, skip string
}

func (r *recordTB) Fatalf(format string, args ...any) { r.fatal = fmt.Sprintf(format, args...) }
func (r *recordTB) Skipf(format string, args ...any)  { r.skip = fmt.Sprintf(format, args...) }

// TestPostgresHalfInCI checks the rule of the suite: without
// MLOPS_TEST_DATABASE_URL the PostgreSQL half skips locally but fails
// under CI=true.
func TestPostgresHalfInCI(t *testing.T) {
	t.Setenv(storetest.EnvURL, "")
	t.Setenv("CI", "")
	local := &recordTB{TB: t}
	storetest.PostgresURL(local)
	if local.fatal != "" || local.skip == "" {
		t.Fatalf("locally: fatal %q skip %q, want a skip", local.fatal, local.skip)
	}
	t.Setenv("CI", "true")
	ci := &recordTB{TB: t}
	storetest.PostgresURL(ci)
	if ci.fatal == "" || !strings.Contains(ci.fatal, storetest.EnvURL) {
		t.Fatalf("under CI=true: fatal %q, want a failure naming %s", ci.fatal, storetest.EnvURL)
	}
	t.Setenv(storetest.EnvURL, "postgres://u@localhost/db")
	set := &recordTB{TB: t}
	if got := storetest.PostgresURL(set); got != "postgres://u@localhost/db" || set.fatal != "" || set.skip != "" {
		t.Fatalf("with the variable set: %q, fatal %q, skip %q", got, set.fatal, set.skip)
	}
}

// TestTimesUTCMicroseconds checks that both engines store the clock's
// reading in UTC, truncated to microseconds, and give back the same instant.
func TestTimesUTCMicroseconds(t *testing.T) {
	t.Parallel()
	eachClock(t, func(t *testing.T, s *store.Store, c *clock) {
		at := time.Date(2026, 3, 1, 13, 0, 0, 123456789, time.FixedZone("CET", 3600))
		want := time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)
		c.Set(at)
		m := mustModel(t, s, "churn", "v1")
		act, err := s.ModelVersionActivate(t.Context(), m.ID)
		must(t, err)
		got, err := s.ModelVersionGet(t.Context(), m.ID)
		must(t, err)
		for name, v := range map[string]time.Time{"created": m.CreatedAt, "activated": *act.ActivatedAt,
			"stored created": got.CreatedAt, "stored activated": *got.ActivatedAt} {
			if !v.Equal(want) || v.Location() != time.UTC {
				t.Errorf("%s_at = %v, want %v in UTC", name, v, want)
			}
		}
	})
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestEcho checks DATABASE_ECHO: each statement is logged with its
// duration, and argument values never are.
func TestEcho(t *testing.T) {
	t.Parallel()
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			var buf syncBuffer
			s := storetest.Open(t, engine, store.Options{Echo: true, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
			_, err := s.ModelVersionCreate(t.Context(), newModel("s3cr3t-model-name", "v-hidden"))
			must(t, err)
			_, _, err = s.ModelVersionList(t.Context(), store.ModelVersionFilter{ModelName: "s3cr3t-model-name"})
			must(t, err)
			out := buf.String()
			if !strings.Contains(out, "INSERT INTO model_versions") || !strings.Contains(out, "FROM model_versions") ||
				!strings.Contains(out, "duration=") {
				t.Fatalf("echo output lacks the statements or durations:\n%s", out)
			}
			if strings.Contains(out, "s3cr3t") || strings.Contains(out, "v-hidden") {
				t.Fatalf("echo output contains argument values:\n%s", out)
			}
		})
	}
}
