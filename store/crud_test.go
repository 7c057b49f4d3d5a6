package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// Create, read, update and list, table by table: model versions,
// predictions, drift reports, performance metrics, agent actions, alerts.

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

// TestModelVersionList checks the filters (name, status, limit) and the
// newest-first order.
func TestModelVersionList(t *testing.T) {
	t.Parallel()
	eachClock(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := t.Context()
		var ids []int64
		for i, nv := range [][2]string{{"churn", "v1"}, {"fraud", "v1"}, {"churn", "v2"}, {"churn", "v3"}, {"fraud", "v2"}} {
			in := newModel(nv[0], nv[1])
			if i%2 == 1 {
				in.Status = mlops.ModelStaging
			}
			m, err := s.ModelVersionCreate(ctx, in)
			must(t, err)
			ids = append(ids, m.ID)
			c.Advance(time.Second)
		}
		list := func(f store.ModelVersionFilter) []int64 {
			t.Helper()
			items, _, err := s.ModelVersionList(ctx, f)
			must(t, err)
			out := []int64{}
			for _, m := range items {
				out = append(out, m.ID)
			}
			return out
		}
		cases := []struct {
			name string
			f    store.ModelVersionFilter
			want []int64
		}{
			{"all, newest first", store.ModelVersionFilter{}, []int64{ids[4], ids[3], ids[2], ids[1], ids[0]}},
			{"by name", store.ModelVersionFilter{ModelName: "churn"}, []int64{ids[3], ids[2], ids[0]}},
			{"by status", store.ModelVersionFilter{Status: mlops.ModelStaging}, []int64{ids[3], ids[1]}},
			{"by name and status", store.ModelVersionFilter{ModelName: "fraud", Status: mlops.ModelTraining}, []int64{ids[4]}},
			{"limit", store.ModelVersionFilter{Page: store.Page{Limit: 2}}, []int64{ids[4], ids[3]}},
			{"no match", store.ModelVersionFilter{ModelName: "nope"}, []int64{}},
		}
		for _, tc := range cases {
			if got := list(tc.f); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s: ids %v, want %v", tc.name, got, tc.want)
			}
		}
		// The status filter follows activation.
		_, err := s.ModelVersionActivate(ctx, ids[0])
		must(t, err)
		if got := list(store.ModelVersionFilter{Status: mlops.ModelProduction}); !reflect.DeepEqual(got, []int64{ids[0]}) {
			t.Errorf("production after activation: %v, want [%d]", got, ids[0])
		}
	})
}

// TestModelVersionActivate checks set_model_active: the previous active
// version of the same model is demoted to archived, the new one promoted to
// production with activated_at; other models are untouched; re-activating
// the active version changes nothing; get_active_model by name and without
// a name (the most recently activated of any model).
func TestModelVersionActivate(t *testing.T) {
	t.Parallel()
	eachClock(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := t.Context()
		v1 := mustModel(t, s, "churn", "v1")
		v2 := mustModel(t, s, "churn", "v2")
		in := newModel("churn", "v3")
		in.Status = mlops.ModelStaging
		v3, err := s.ModelVersionCreate(ctx, in)
		must(t, err)
		f1 := mustModel(t, s, "fraud", "v1")

		get := func(id int64) mlops.ModelVersion {
			t.Helper()
			m, err := s.ModelVersionGet(ctx, id)
			must(t, err)
			return m
		}
		wantActive := func(name string, id int64) {
			t.Helper()
			m, err := s.ModelVersionActive(ctx, name)
			if err != nil || m.ID != id {
				t.Fatalf("ModelVersionActive(%q) = id %d, %v; want id %d", name, m.ID, err, id)
			}
		}
		activate := func(id int64, at time.Time) mlops.ModelVersion {
			t.Helper()
			c.Set(at)
			m, err := s.ModelVersionActivate(ctx, id)
			must(t, err)
			return m
		}

		t1 := base.Add(time.Minute)
		m := activate(v1.ID, t1)
		if !m.IsActive || m.Status != mlops.ModelProduction || m.ActivatedAt == nil || !m.ActivatedAt.Equal(t1) {
			t.Fatalf("activated v1: active %v status %s activated_at %v", m.IsActive, m.Status, m.ActivatedAt)
		}
		wantActive("churn", v1.ID)
		wantActive("", v1.ID)

		t2 := base.Add(2 * time.Minute)
		m = activate(v2.ID, t2)
		if !m.IsActive || m.Status != mlops.ModelProduction || !m.ActivatedAt.Equal(t2) {
			t.Fatalf("activated v2: %+v", m)
		}
		if old := get(v1.ID); old.IsActive || old.Status != mlops.ModelArchived {
			t.Fatalf("previous active v1 after activating v2: active %v status %s, want inactive archived", old.IsActive, old.Status)
		}
		if other := get(v3.ID); other.IsActive || other.Status != mlops.ModelStaging {
			t.Fatalf("v3 (never active) changed: active %v status %s", other.IsActive, other.Status)
		}
		wantActive("churn", v2.ID)

		// Another model: its activation does not touch churn, and becomes
		// the most recently activated.
		activate(f1.ID, base.Add(3*time.Minute))
		wantActive("fraud", f1.ID)
		wantActive("churn", v2.ID)
		wantActive("", f1.ID)
		if got := get(v2.ID); !got.IsActive || got.Status != mlops.ModelProduction {
			t.Fatalf("churn v2 was changed by activating fraud v1: %+v", got)
		}

		// Re-activating the active version changes nothing at all.
		before, _, err := s.ModelVersionList(ctx, store.ModelVersionFilter{})
		must(t, err)
		again := activate(v2.ID, base.Add(4*time.Minute))
		if !again.ActivatedAt.Equal(t2) {
			t.Fatalf("re-activation moved activated_at from %v to %v", t2, again.ActivatedAt)
		}
		after, _, err := s.ModelVersionList(ctx, store.ModelVersionFilter{})
		must(t, err)
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("re-activating the active version changed rows:\nbefore %+v\nafter  %+v", before, after)
		}
		wantActive("", f1.ID) // still fraud: nothing was re-activated

		// An archived version can come back; the one it replaces is archived.
		t5 := base.Add(5 * time.Minute)
		m = activate(v1.ID, t5)
		if !m.IsActive || m.Status != mlops.ModelProduction || !m.ActivatedAt.Equal(t5) {
			t.Fatalf("re-activated archived v1: %+v", m)
		}
		if old := get(v2.ID); old.IsActive || old.Status != mlops.ModelArchived {
			t.Fatalf("v2 after v1 came back: active %v status %s", old.IsActive, old.Status)
		}
		wantActive("churn", v1.ID)
		wantActive("", v1.ID)
		items, _, err := s.ModelVersionList(ctx, store.ModelVersionFilter{Status: mlops.ModelProduction})
		must(t, err)
		if len(items) != 2 {
			t.Fatalf("production versions = %d, want 2 (one per model)", len(items))
		}
	})
}

// TestPredictionCRUD checks create/get, the seed's get_recent_predictions
// (by hours, newest first, one model only) and update_prediction_actual.
func TestPredictionCRUD(t *testing.T) {
	t.Parallel()
	eachClock(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := t.Context()
		m := mustModel(t, s, "churn", "v1")
		other := mustModel(t, s, "churn", "v2")

		p, err := s.PredictionCreate(ctx, mlops.NewPrediction{ModelID: m.ID, Features: mlops.JSON(`{"age": 42, "city": "Oslo"}`),
			Prediction: 1, Probability: ptr(0.0), LatencyMS: ptr(12.25)})
		must(t, err)
		got, err := s.PredictionGet(ctx, p.ID)
		must(t, err)
		if !reflect.DeepEqual(normJSON(t, got.Features), map[string]any{"age": float64(42), "city": "Oslo"}) {
			t.Fatalf("features = %s", got.Features)
		}
		if got.ModelID != m.ID || got.Prediction != 1 || got.Probability == nil || *got.Probability != 0 ||
			*got.LatencyMS != 12.25 || got.Actual != nil || !got.CreatedAt.Equal(base) {
			t.Fatalf("round trip: %+v", got)
		}
		bare, err := s.PredictionCreate(ctx, mlops.NewPrediction{ModelID: m.ID, Prediction: 0})
		must(t, err)
		if bare.Probability != nil || bare.LatencyMS != nil || string(bare.Features) == "" {
			t.Fatalf("optional fields: probability %v latency %v features %q", bare.Probability, bare.LatencyMS, bare.Features)
		}

		// Predictions 0h, 1h, 2h ... 5h old at query time, plus one of another model.
		var byAge []int64 // byAge[h] is the id of the prediction h hours old
		ages := map[int64]int{}
		for h := 5; h >= 0; h-- {
			c.Set(base.Add(time.Duration(-h) * time.Hour))
			id := mustPrediction(t, s, m.ID).ID
			byAge = append([]int64{id}, byAge...)
			ages[id] = h
		}
		mustPrediction(t, s, other.ID)
		c.Set(base)
		recent := func(hours int) []int64 {
			t.Helper()
			items, _, err := s.PredictionList(ctx, store.PredictionFilter{ModelID: m.ID,
				Since: s.Now().Add(-time.Duration(hours) * time.Hour), Page: store.Page{Limit: -1}})
			must(t, err)
			out := []int64{}
			for _, p := range items {
				if p.ModelID != m.ID {
					t.Fatalf("recent predictions of model %d include model %d", m.ID, p.ModelID)
				}
				if _, ok := ages[p.ID]; ok {
					out = append(out, p.ID)
				}
			}
			return out
		}
		// The window is inclusive: a prediction exactly `hours` old is in it.
		if got, want := recent(2), byAge[:3]; !reflect.DeepEqual(got, want) {
			t.Errorf("last 2 hours: %v, want %v (newest first)", got, want)
		}
		if got := recent(0); !reflect.DeepEqual(got, byAge[:1]) {
			t.Errorf("last 0 hours: %v, want %v", got, byAge[:1])
		}
		if got := recent(24); !reflect.DeepEqual(got, byAge) {
			t.Errorf("last 24 hours: %v, want %v", got, byAge)
		}
		// The two predictions logged at base (p and bare) are in every window.
		items, _, err := s.PredictionList(ctx, store.PredictionFilter{ModelID: m.ID, Since: s.Now().Add(-time.Hour), Page: store.Page{Limit: -1}})
		must(t, err)
		if len(items) != 4 { // p, bare, 0h, 1h
			t.Errorf("last hour: %d predictions, want 4", len(items))
		}

		// update_prediction_actual.
		upd, err := s.PredictionSetActual(ctx, p.ID, 0)
		must(t, err)
		if upd.Actual == nil || *upd.Actual != 0 {
			t.Fatalf("actual after update = %v, want 0", upd.Actual)
		}
		upd, err = s.PredictionSetActual(ctx, p.ID, 1)
		must(t, err)
		got, err = s.PredictionGet(ctx, p.ID)
		must(t, err)
		if got.Actual == nil || *got.Actual != 1 || *upd.Actual != 1 {
			t.Fatalf("stored actual = %v, want 1", got.Actual)
		}
		if !got.CreatedAt.Equal(base) || got.Prediction != 1 {
			t.Fatalf("update_prediction_actual changed other fields: %+v", got)
		}
	})
}

// TestPredictionCreateBatch checks that a batch is stored in order with
// ids in input order.
func TestPredictionCreateBatch(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		m := mustModel(t, s, "churn", "v1")
		in := make([]mlops.NewPrediction, 500)
		for i := range in {
			in[i] = mlops.NewPrediction{ModelID: m.ID, Prediction: int64(i % 2), Probability: ptr(float64(i) / 1000),
				Features: mlops.JSON(`{"i": ` + strconv.Itoa(i) + `}`)}
		}
		ids, err := s.PredictionCreateBatch(ctx, in)
		must(t, err)
		if len(ids) != len(in) {
			t.Fatalf("%d ids for %d predictions", len(ids), len(in))
		}
		for _, i := range []int{0, 1, 250, 499} {
			p, err := s.PredictionGet(ctx, ids[i])
			must(t, err)
			if *p.Probability != float64(i)/1000 || normJSON(t, p.Features)["i"] != float64(i) {
				t.Fatalf("ids[%d] = %d holds %+v", i, ids[i], p)
			}
		}
		if n := count(t, s, "predictions"); n != 500 {
			t.Fatalf("stored %d, want 500", n)
		}
		empty, err := s.PredictionCreateBatch(ctx, nil)
		if err != nil || len(empty) != 0 {
			t.Fatalf("empty batch: %v, %v", empty, err)
		}
	})
}

// TestPredictionWindowReads: PredictionCount and PredictionFeaturesEach read
// one version's predictions of [from, to), oldest first, and an error from
// the callback stops the walk.
func TestPredictionWindowReads(t *testing.T) {
	loopEach(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := context.Background()
		m := storetest.Model(t, s, "fraud", "v1")
		other := storetest.Model(t, s, "fraud", "v2")
		for i := 0; i < 6; i++ {
			c.Set(loopT0.Add(time.Duration(i) * time.Minute))
			loopPredict(t, s, m.ID, 0, nil, nil, fmt.Sprintf(`{"i": %d}`, i))
			loopPredict(t, s, other.ID, 0, nil, nil, `{"i": -1}`)
		}
		from, to := loopT0.Add(time.Minute), loopT0.Add(5*time.Minute) // i = 1..4
		n, err := s.PredictionCount(ctx, m.ID, from, to)
		if err != nil || n != 4 {
			t.Fatalf("count = %d, %v; want 4", n, err)
		}
		var got []string
		err = s.PredictionFeaturesEach(ctx, m.ID, from, to, func(raw []byte) error {
			got = append(got, string(raw))
			return nil
		})
		if err != nil || !slices.Equal(got, []string{`{"i": 1}`, `{"i": 2}`, `{"i": 3}`, `{"i": 4}`}) {
			t.Fatalf("features = %q, %v", got, err)
		}
		stop := errors.New("stop")
		calls := 0
		err = s.PredictionFeaturesEach(ctx, m.ID, from, to, func([]byte) error { calls++; return stop })
		if !errors.Is(err, stop) || calls != 1 {
			t.Errorf("walk after an error: %d calls, %v", calls, err)
		}
	})
}

// TestDriftReportCRUD checks create/get (n_drifted_features derived),
// get_latest_drift_report per model and for any model, and the history by
// days.
func TestDriftReportCRUD(t *testing.T) {
	t.Parallel()
	eachClock(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := t.Context()
		m := mustModel(t, s, "churn", "v1")
		other := mustModel(t, s, "churn", "v2")

		c.Set(base.Add(-10 * 24 * time.Hour))
		d, err := s.DriftReportCreate(ctx, mlops.NewDriftReport{ModelID: m.ID, DriftDetected: true, DriftScore: ptr(-0.5),
			DriftedFeatures: []string{"age", "income"}, NDriftedFeatures: ptr(2), ReportPath: "/reports/1.html",
			ReferenceSize: ptr(int64(1000)), CurrentSize: ptr(int64(0)), Details: mlops.JSON(`{"age": {"psi": 0.3}}`)})
		must(t, err)
		got, err := s.DriftReportGet(ctx, d.ID)
		must(t, err)
		if got.ModelID != m.ID || !got.DriftDetected || *got.DriftScore != -0.5 || got.NDriftedFeatures != 2 ||
			!reflect.DeepEqual(got.DriftedFeatures, []string{"age", "income"}) || got.ReportPath != "/reports/1.html" ||
			*got.ReferenceSize != 1000 || *got.CurrentSize != 0 || !got.CreatedAt.Equal(base.Add(-10*24*time.Hour)) {
			t.Fatalf("round trip: %+v", got)
		}
		if normJSON(t, got.Details)["age"].(map[string]any)["psi"] != 0.3 {
			t.Fatalf("details = %s", got.Details)
		}
		bare, err := s.DriftReportCreate(ctx, mlops.NewDriftReport{ModelID: m.ID})
		must(t, err)
		if bare.NDriftedFeatures != 0 || bare.DriftedFeatures == nil || len(bare.DriftedFeatures) != 0 || bare.Details != nil || bare.DriftScore != nil {
			t.Fatalf("bare report: %+v", bare)
		}

		// One report per day for the last 5 days (days 4..0 ago), then one of another model.
		var byAge []int64
		for day := 4; day >= 0; day-- {
			c.Set(base.Add(time.Duration(-day) * 24 * time.Hour))
			byAge = append([]int64{mustDrift(t, s, m.ID).ID}, byAge...)
		}
		c.Set(base.Add(time.Minute))
		latestOther := mustDrift(t, s, other.ID)
		c.Set(base.Add(time.Hour))

		latest, err := s.DriftReportLatest(ctx, m.ID)
		must(t, err)
		if latest.ID != byAge[0] {
			t.Fatalf("latest of model %d = %d, want %d", m.ID, latest.ID, byAge[0])
		}
		latest, err = s.DriftReportLatest(ctx, 0)
		must(t, err)
		if latest.ID != latestOther.ID {
			t.Fatalf("latest of any model = %d, want %d", latest.ID, latestOther.ID)
		}

		history := func(days int) []int64 {
			t.Helper()
			items, _, err := s.DriftReportList(ctx, store.DriftReportFilter{ModelID: m.ID,
				Since: s.Now().Add(-time.Duration(days) * 24 * time.Hour), Page: store.Page{Limit: -1}})
			must(t, err)
			out := []int64{}
			for _, d := range items {
				out = append(out, d.ID)
			}
			return out
		}
		// Now is base+1h: "last 2 days" reaches back to base-47h, which
		// holds the reports of days 0 and 1.
		if got := history(2); !reflect.DeepEqual(got, byAge[:2]) {
			t.Errorf("last 2 days: %v, want %v", got, byAge[:2])
		}
		if got := history(7); !reflect.DeepEqual(got, byAge) {
			t.Errorf("last 7 days: %v, want %v", got, byAge)
		}
		if got := history(30); len(got) != 7 { // 5 daily + d + bare (10 days ago)
			t.Errorf("last 30 days: %d reports, want 7", len(got))
		}
		all, _, err := s.DriftReportList(ctx, store.DriftReportFilter{})
		must(t, err)
		if len(all) != 8 || all[0].ID != latestOther.ID {
			t.Errorf("every model: %d reports, newest %d; want 8, newest %d", len(all), all[0].ID, latestOther.ID)
		}
	})
}

// TestMetricSeries checks create/get and get_metrics_timeseries: oldest
// first, the days window (Since), Until, and the optional model filter.
func TestMetricSeries(t *testing.T) {
	t.Parallel()
	eachClock(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := t.Context()
		m1 := mustModel(t, s, "churn", "v1")
		m2 := mustModel(t, s, "churn", "v2")
		day := 24 * time.Hour
		at := func(d time.Duration, name string, v float64, model *int64) {
			t.Helper()
			c.Set(base.Add(d))
			mustMetric(t, s, name, v, model)
		}
		at(-10*day, "accuracy", 0.5, &m1.ID)
		at(-3*day, "accuracy", 0.6, &m1.ID)
		at(-2*day, "accuracy", 0.1, &m2.ID)
		at(-1*day, "accuracy", 0.2, nil)
		at(-time.Hour, "accuracy", 0.7, &m1.ID)
		at(0, "latency_ms", 5, &m1.ID)
		c.Set(base)
		meta, err := s.MetricCreate(ctx, mlops.NewPerformanceMetric{MetricName: "accuracy", MetricValue: 0.8, ModelID: &m1.ID,
			Metadata: mlops.JSON(`{"window": "1h"}`)})
		must(t, err)
		got, err := s.MetricGet(ctx, meta.ID)
		must(t, err)
		if got.MetricName != "accuracy" || got.MetricValue != 0.8 || *got.ModelID != m1.ID || !got.CreatedAt.Equal(base) ||
			normJSON(t, got.Metadata)["window"] != "1h" {
			t.Fatalf("round trip: %+v", got)
		}
		if plain := mustMetric(t, s, "cpu", 1, nil); plain.ModelID != nil || len(normJSON(t, plain.Metadata)) != 0 {
			t.Fatalf("metric without model: %+v", plain)
		}

		series := func(f store.MetricFilter) []float64 {
			t.Helper()
			pts, err := s.MetricSeries(ctx, f)
			must(t, err)
			out := []float64{}
			for i, p := range pts {
				if i > 0 && p.CreatedAt.Before(pts[i-1].CreatedAt) {
					t.Fatalf("series not oldest first at %d", i)
				}
				out = append(out, p.Value)
			}
			return out
		}
		days := func(n int) time.Time { return s.Now().Add(-time.Duration(n) * day) }
		for _, tc := range []struct {
			name string
			f    store.MetricFilter
			want []float64
		}{
			{"all", store.MetricFilter{Name: "accuracy"}, []float64{0.5, 0.6, 0.1, 0.2, 0.7, 0.8}},
			{"7 days", store.MetricFilter{Name: "accuracy", Since: days(7)}, []float64{0.6, 0.1, 0.2, 0.7, 0.8}},
			{"1 day (inclusive)", store.MetricFilter{Name: "accuracy", Since: days(1)}, []float64{0.2, 0.7, 0.8}},
			{"model 1, 7 days", store.MetricFilter{Name: "accuracy", Since: days(7), ModelID: &m1.ID}, []float64{0.6, 0.7, 0.8}},
			{"model 2", store.MetricFilter{Name: "accuracy", ModelID: &m2.ID}, []float64{0.1}},
			{"until (exclusive)", store.MetricFilter{Name: "accuracy", Since: days(7), Until: base}, []float64{0.6, 0.1, 0.2, 0.7}},
			{"other name", store.MetricFilter{Name: "latency_ms"}, []float64{5}},
			{"unknown name", store.MetricFilter{Name: "nope"}, []float64{}},
		} {
			if got := series(tc.f); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
			}
		}
		pts, err := s.MetricSeries(ctx, store.MetricFilter{Name: "accuracy", ModelID: &m1.ID})
		must(t, err)
		if !pts[0].CreatedAt.Equal(base.Add(-10 * day)) {
			t.Errorf("first point at %v, want %v", pts[0].CreatedAt, base.Add(-10*day))
		}

		// MetricSeriesEach stops at the callback's error and returns it.
		stop := errors.New("stop")
		calls := 0
		err = s.MetricSeriesEach(ctx, store.MetricFilter{Name: "accuracy"}, func(store.MetricPoint) error {
			calls++
			if calls == 2 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || calls != 2 {
			t.Fatalf("MetricSeriesEach: %v after %d calls, want stop after 2", err, calls)
		}
		_, err = s.MetricSeries(ctx, store.MetricFilter{})
		wantInvalid(t, err, "metric_name")
	})
}

// TestMetricBuckets checks count/avg/min/max per 1m, 5m, 1h and 1d bucket
// against hand-computed values, including points on and just before
// bucket edges, and the model filter.
func TestMetricBuckets(t *testing.T) {
	t.Parallel()
	eachClock(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := t.Context()
		m1 := mustModel(t, s, "churn", "v1")
		m2 := mustModel(t, s, "churn", "v2")
		us := time.Microsecond
		points := []struct {
			at time.Duration // from base, 2026-03-01 00:00:00 UTC
			v  float64
		}{
			{-us, -1},             // 2026-02-28 23:59:59.999999
			{0, 1},                // 00:00:00
			{time.Minute - us, 3}, // 00:00:59.999999
			{time.Minute, 2},      // 00:01:00
			{5*time.Minute - 500*time.Millisecond, 5}, // 00:04:59.5
			{5 * time.Minute, 7},                      // 00:05:00
			{time.Hour - us, 4},                       // 00:59:59.999999
			{time.Hour, 10},                           // 01:00:00
			{24*time.Hour - time.Second, 6},           // 23:59:59
			{24 * time.Hour, 20},                      // 2026-03-02 00:00:00
		}
		for _, p := range points {
			c.Set(base.Add(p.at))
			mustMetric(t, s, "latency_ms", p.v, &m1.ID)
		}
		c.Set(base.Add(30 * time.Second))
		mustMetric(t, s, "latency_ms", 100, &m2.ID) // another model, in the 00:00 minute
		mustMetric(t, s, "other", 1000, &m1.ID)     // another metric

		type b struct {
			start         time.Time
			n             int64
			avg, min, max float64
		}
		at := func(s string) time.Time {
			t.Helper()
			v, err := time.Parse("2006-01-02 15:04", s)
			must(t, err)
			return v
		}
		cases := []struct {
			bucket store.Bucket
			model  *int64
			want   []b
		}{
			{"1m", &m1.ID, []b{
				{at("2026-02-28 23:59"), 1, -1, -1, -1},
				{at("2026-03-01 00:00"), 2, 2, 1, 3},
				{at("2026-03-01 00:01"), 1, 2, 2, 2},
				{at("2026-03-01 00:04"), 1, 5, 5, 5},
				{at("2026-03-01 00:05"), 1, 7, 7, 7},
				{at("2026-03-01 00:59"), 1, 4, 4, 4},
				{at("2026-03-01 01:00"), 1, 10, 10, 10},
				{at("2026-03-01 23:59"), 1, 6, 6, 6},
				{at("2026-03-02 00:00"), 1, 20, 20, 20},
			}},
			{"5m", &m1.ID, []b{
				{at("2026-02-28 23:55"), 1, -1, -1, -1},
				{at("2026-03-01 00:00"), 4, 2.75, 1, 5},
				{at("2026-03-01 00:05"), 1, 7, 7, 7},
				{at("2026-03-01 00:55"), 1, 4, 4, 4},
				{at("2026-03-01 01:00"), 1, 10, 10, 10},
				{at("2026-03-01 23:55"), 1, 6, 6, 6},
				{at("2026-03-02 00:00"), 1, 20, 20, 20},
			}},
			{"1h", &m1.ID, []b{
				{at("2026-02-28 23:00"), 1, -1, -1, -1},
				{at("2026-03-01 00:00"), 6, 22.0 / 6, 1, 7},
				{at("2026-03-01 01:00"), 1, 10, 10, 10},
				{at("2026-03-01 23:00"), 1, 6, 6, 6},
				{at("2026-03-02 00:00"), 1, 20, 20, 20},
			}},
			{"1d", &m1.ID, []b{
				{at("2026-02-28 00:00"), 1, -1, -1, -1},
				{at("2026-03-01 00:00"), 8, 38.0 / 8, 1, 10},
				{at("2026-03-02 00:00"), 1, 20, 20, 20},
			}},
			{"1d", nil, []b{ // every model: the 100 of model 2 joins 2026-03-01
				{at("2026-02-28 00:00"), 1, -1, -1, -1},
				{at("2026-03-01 00:00"), 9, 138.0 / 9, 1, 100},
				{at("2026-03-02 00:00"), 1, 20, 20, 20},
			}},
			{"1m", &m2.ID, []b{{at("2026-03-01 00:00"), 1, 100, 100, 100}}},
		}
		for _, tc := range cases {
			got, err := s.MetricBuckets(ctx, store.MetricFilter{Name: "latency_ms", ModelID: tc.model}, tc.bucket)
			must(t, err)
			if len(got) != len(tc.want) {
				t.Errorf("%s (model %v): %d buckets %+v, want %d", tc.bucket, tc.model != nil, len(got), got, len(tc.want))
				continue
			}
			for i, w := range tc.want {
				g := got[i]
				if !g.BucketStart.Equal(w.start) || g.Count != w.n || math.Abs(g.Avg-w.avg) > 1e-9 || g.Min != w.min || g.Max != w.max {
					t.Errorf("%s bucket %d = {%v n=%d avg=%v min=%v max=%v}, want {%v n=%d avg=%v min=%v max=%v}",
						tc.bucket, i, g.BucketStart, g.Count, g.Avg, g.Min, g.Max, w.start, w.n, w.avg, w.min, w.max)
				}
			}
		}
		// The window applies before bucketing.
		got, err := s.MetricBuckets(ctx, store.MetricFilter{Name: "latency_ms", ModelID: &m1.ID,
			Since: base.Add(time.Minute), Until: base.Add(time.Hour)}, "1h")
		must(t, err)
		if len(got) != 1 || got[0].Count != 4 || got[0].Min != 2 || got[0].Max != 7 {
			t.Errorf("windowed 1h buckets: %+v, want one bucket of 2, 5, 7, 4", got)
		}
		_, err = s.MetricBuckets(ctx, store.MetricFilter{Name: "latency_ms"}, "2m")
		wantInvalid(t, err, "bucket")
	})
}

// TestActionWorkflow checks create (pending when approval is required,
// else approved), the pending queue (oldest first), approve/reject with
// reviewed_*, and executed/failed with executed_at and execution_result.
func TestActionWorkflow(t *testing.T) {
	t.Parallel()
	eachClock(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := t.Context()
		a1 := mustAction(t, s, "act-1")
		if a1.Status != mlops.ActionPending || !a1.RequiresApproval || a1.ReviewedBy != nil || a1.ExecutedAt != nil {
			t.Fatalf("new action: %+v", a1)
		}
		if a1.ActionType != "retrain_model" || a1.RiskLevel != mlops.RiskMedium || a1.IssueID != "issue-1" ||
			a1.IssueType != "drift" || a1.IssueSeverity != "high" || normJSON(t, a1.Parameters)["model"] != "churn" {
			t.Fatalf("round trip: %+v", a1)
		}
		c.Advance(time.Second)
		auto := newAction("act-auto")
		auto.RequiresApproval = ptr(false)
		a2, err := s.ActionCreate(ctx, auto)
		must(t, err)
		if a2.Status != mlops.ActionApproved || a2.RequiresApproval {
			t.Fatalf("action without approval: status %s requires %v, want approved false", a2.Status, a2.RequiresApproval)
		}
		c.Advance(time.Second)
		mustAction(t, s, "act-3")
		c.Advance(time.Second)
		mustAction(t, s, "act-4")

		pending, _, err := s.ActionList(ctx, store.ActionFilter{Status: mlops.ActionPending, OldestFirst: true})
		must(t, err)
		if got := actionIDs(pending); !reflect.DeepEqual(got, []string{"act-1", "act-3", "act-4"}) {
			t.Fatalf("pending queue = %v, want oldest first [act-1 act-3 act-4]", got)
		}

		// Approve with a comment; reject without one.
		tApprove := base.Add(time.Minute)
		c.Set(tApprove)
		ap, err := s.ActionApprove(ctx, "act-1", "alice", "looks right")
		must(t, err)
		if ap.Status != mlops.ActionApproved || *ap.ReviewedBy != "alice" || !ap.ReviewedAt.Equal(tApprove) ||
			*ap.ReviewComment != "looks right" || ap.ExecutedAt != nil {
			t.Fatalf("approved: %+v", ap)
		}
		rj, err := s.ActionReject(ctx, "act-3", "bob", "")
		must(t, err)
		if rj.Status != mlops.ActionRejected || *rj.ReviewedBy != "bob" || !rj.ReviewedAt.Equal(tApprove) || rj.ReviewComment != nil {
			t.Fatalf("rejected: %+v", rj)
		}
		pending, _, err = s.ActionList(ctx, store.ActionFilter{Status: mlops.ActionPending, OldestFirst: true})
		must(t, err)
		if got := actionIDs(pending); !reflect.DeepEqual(got, []string{"act-4"}) {
			t.Fatalf("pending after review = %v, want [act-4]", got)
		}

		// Execute and fail; the review fields stay.
		tExec := base.Add(2 * time.Minute)
		c.Set(tExec)
		ex, err := s.ActionMarkExecuted(ctx, "act-1", mlops.JSON(`{"new_version": "v2"}`))
		must(t, err)
		if ex.Status != mlops.ActionExecuted || !ex.ExecutedAt.Equal(tExec) || normJSON(t, ex.ExecutionResult)["new_version"] != "v2" ||
			*ex.ReviewedBy != "alice" || !ex.ReviewedAt.Equal(tApprove) {
			t.Fatalf("executed: %+v", ex)
		}
		fl, err := s.ActionMarkFailed(ctx, "act-auto", mlops.JSON(`{"error": "timeout"}`))
		must(t, err)
		if fl.Status != mlops.ActionFailed || !fl.ExecutedAt.Equal(tExec) || normJSON(t, fl.ExecutionResult)["error"] != "timeout" ||
			fl.ReviewedBy != nil {
			t.Fatalf("failed: %+v", fl)
		}
		got, err := s.ActionGet(ctx, "act-1")
		must(t, err)
		if !reflect.DeepEqual(got, ex) {
			t.Fatalf("stored %+v\nreturned %+v", got, ex)
		}
		// nil result is stored as {}.
		c.Advance(time.Second)
		mustAction(t, s, "act-5")
		_, err = s.ActionApprove(ctx, "act-5", "alice", "")
		must(t, err)
		ex, err = s.ActionMarkExecuted(ctx, "act-5", nil)
		must(t, err)
		if len(normJSON(t, ex.ExecutionResult)) != 0 {
			t.Fatalf("nil result stored as %s, want {}", ex.ExecutionResult)
		}

		// The list filters by status, newest first.
		for status, want := range map[mlops.ActionStatus][]string{
			mlops.ActionPending:  {"act-4"},
			mlops.ActionApproved: {},
			mlops.ActionRejected: {"act-3"},
			mlops.ActionExecuted: {"act-5", "act-1"},
			mlops.ActionFailed:   {"act-auto"},
			"":                   {"act-5", "act-4", "act-3", "act-auto", "act-1"},
		} {
			items, _, err := s.ActionList(ctx, store.ActionFilter{Status: status})
			must(t, err)
			if got := actionIDs(items); !reflect.DeepEqual(got, want) {
				t.Errorf("status %q: %v, want %v", status, got, want)
			}
		}
	})
}

func actionIDs(items []mlops.AgentAction) []string {
	out := []string{}
	for _, a := range items {
		out = append(out, a.ActionID)
	}
	return out
}

// TestActionTransitionsRefused tries every transition from every state.
// The allowed ones (pending→approved/rejected, approved→executed/failed)
// succeed; every other one returns an error matching
// mlops.ErrInvalidTransition, reports the state found, and changes nothing.
func TestActionTransitionsRefused(t *testing.T) {
	t.Parallel()
	eachClock(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := t.Context()
		ops := map[mlops.ActionStatus]func(id string) (mlops.AgentAction, error){
			mlops.ActionApproved: func(id string) (mlops.AgentAction, error) { return s.ActionApprove(ctx, id, "mallory", "late") },
			mlops.ActionRejected: func(id string) (mlops.AgentAction, error) { return s.ActionReject(ctx, id, "mallory", "late") },
			mlops.ActionExecuted: func(id string) (mlops.AgentAction, error) {
				return s.ActionMarkExecuted(ctx, id, mlops.JSON(`{"late": true}`))
			},
			mlops.ActionFailed: func(id string) (mlops.AgentAction, error) {
				return s.ActionMarkFailed(ctx, id, mlops.JSON(`{"late": true}`))
			},
		}
		// reach puts a fresh action into state from.
		reach := func(id string, from mlops.ActionStatus) {
			t.Helper()
			if from == mlops.ActionExpired {
				expireAction(t, s, c, id)
				return
			}
			mustAction(t, s, id)
			var err error
			switch from {
			case mlops.ActionApproved:
				_, err = s.ActionApprove(ctx, id, "alice", "")
			case mlops.ActionRejected:
				_, err = s.ActionReject(ctx, id, "alice", "")
			case mlops.ActionExecuted, mlops.ActionFailed:
				if _, err = s.ActionApprove(ctx, id, "alice", ""); err == nil {
					_, err = ops[from](id)
				}
			}
			must(t, err)
		}
		n := 0
		for _, from := range mlops.ActionStatuses {
			for _, to := range []mlops.ActionStatus{mlops.ActionApproved, mlops.ActionRejected, mlops.ActionExecuted, mlops.ActionFailed} {
				n++
				id := fmt.Sprintf("act-%s-%s", from, to)
				c.Set(base)
				reach(id, from)
				before, err := s.ActionGet(ctx, id)
				must(t, err)
				c.Set(base.Add(time.Hour))
				got, err := ops[to](id)
				if mlops.ActionTransitions[to] == from {
					if err != nil || got.Status != to {
						t.Errorf("%s → %s is allowed: status %s, %v", from, to, got.Status, err)
					}
					continue
				}
				if !errors.Is(err, mlops.ErrInvalidTransition) || !errors.Is(err, mlops.ErrConflict) {
					t.Errorf("%s → %s: error = %v, want ErrInvalidTransition (and ErrConflict)", from, to, err)
					continue
				}
				var te *mlops.TransitionError
				if !errors.As(err, &te) || te.From != string(from) || te.To != string(to) || te.Key != id {
					t.Errorf("%s → %s: transition error %+v", from, to, te)
				}
				after, err := s.ActionGet(ctx, id)
				must(t, err)
				if !reflect.DeepEqual(before, after) {
					t.Errorf("%s → %s was refused but changed the action:\nbefore %+v\nafter  %+v", from, to, before, after)
				}
			}
		}
		if n != 24 {
			t.Fatalf("tried %d transitions, want 24", n)
		}
	})
}

// TestAlertWorkflow checks create, the active alerts (newest first),
// acknowledge and resolve with their *_by/*_at fields, the list filters,
// and the refused transitions: acknowledging an acknowledged or resolved
// alert and resolving a resolved one are errors that change nothing.
func TestAlertWorkflow(t *testing.T) {
	t.Parallel()
	eachClock(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := t.Context()
		a1 := mustAlert(t, s, "first")
		if a1.Status != mlops.AlertActive || a1.AcknowledgedBy != nil || a1.ResolvedAt != nil || a1.Severity != mlops.SeverityHigh ||
			a1.AlertType != "drift" || a1.Message != "features drifted" || normJSON(t, a1.RelatedData)["model_id"] != float64(1) {
			t.Fatalf("new alert: %+v", a1)
		}
		c.Advance(time.Second)
		a2 := mustAlert(t, s, "second")
		c.Advance(time.Second)
		in := newAlert("third")
		in.Severity = mlops.SeverityInfo
		a3, err := s.AlertCreate(ctx, in)
		must(t, err)

		active, _, err := s.AlertList(ctx, store.AlertFilter{Status: mlops.AlertActive})
		must(t, err)
		if got := alertIDs(active); !reflect.DeepEqual(got, []int64{a3.ID, a2.ID, a1.ID}) {
			t.Fatalf("active alerts = %v, want newest first", got)
		}

		tAck := base.Add(time.Minute)
		c.Set(tAck)
		ack, err := s.AlertAcknowledge(ctx, a1.ID, "ops")
		must(t, err)
		if ack.Status != mlops.AlertAcknowledged || *ack.AcknowledgedBy != "ops" || !ack.AcknowledgedAt.Equal(tAck) || ack.ResolvedAt != nil {
			t.Fatalf("acknowledged: %+v", ack)
		}
		tRes := base.Add(2 * time.Minute)
		c.Set(tRes)
		res, err := s.AlertResolve(ctx, a1.ID, "ops2", "restarted")
		must(t, err)
		if res.Status != mlops.AlertResolved || *res.ResolvedBy != "ops2" || !res.ResolvedAt.Equal(tRes) ||
			*res.ResolutionNotes != "restarted" || *res.AcknowledgedBy != "ops" {
			t.Fatalf("resolved from acknowledged: %+v", res)
		}
		// Active → resolved directly, without notes.
		res2, err := s.AlertResolve(ctx, a2.ID, "ops", "")
		must(t, err)
		if res2.Status != mlops.AlertResolved || res2.ResolutionNotes != nil || res2.AcknowledgedAt != nil {
			t.Fatalf("resolved from active: %+v", res2)
		}
		_, err = s.AlertAcknowledge(ctx, a3.ID, "ops")
		must(t, err)

		active, _, err = s.AlertList(ctx, store.AlertFilter{Status: mlops.AlertActive})
		must(t, err)
		if len(active) != 0 {
			t.Fatalf("active alerts = %v, want none", alertIDs(active))
		}
		for _, f := range []struct {
			f    store.AlertFilter
			want []int64
		}{
			{store.AlertFilter{Status: mlops.AlertResolved}, []int64{a2.ID, a1.ID}},
			{store.AlertFilter{Status: mlops.AlertAcknowledged}, []int64{a3.ID}},
			{store.AlertFilter{Severity: mlops.SeverityHigh}, []int64{a2.ID, a1.ID}},
			{store.AlertFilter{Severity: mlops.SeverityInfo, Status: mlops.AlertResolved}, []int64{}},
			{store.AlertFilter{Since: base.Add(time.Second)}, []int64{a3.ID, a2.ID}},
		} {
			items, _, err := s.AlertList(ctx, f.f)
			must(t, err)
			if got := alertIDs(items); !reflect.DeepEqual(got, f.want) {
				t.Errorf("filter %+v: %v, want %v", f.f, got, f.want)
			}
		}

		// Refused transitions: error, typed, nothing changed.
		c.Set(base.Add(time.Hour))
		for _, tc := range []struct {
			name string
			id   int64
			call func(id int64) error
			from mlops.AlertStatus
		}{
			{"acknowledge acknowledged", a3.ID, func(id int64) error { _, err := s.AlertAcknowledge(ctx, id, "late"); return err }, mlops.AlertAcknowledged},
			{"acknowledge resolved", a1.ID, func(id int64) error { _, err := s.AlertAcknowledge(ctx, id, "late"); return err }, mlops.AlertResolved},
			{"resolve resolved", a1.ID, func(id int64) error { _, err := s.AlertResolve(ctx, id, "late", "again"); return err }, mlops.AlertResolved},
			{"resolve resolved (never acknowledged)", a2.ID, func(id int64) error { _, err := s.AlertResolve(ctx, id, "late", ""); return err }, mlops.AlertResolved},
		} {
			before, err := s.AlertGet(ctx, tc.id)
			must(t, err)
			err = tc.call(tc.id)
			if !errors.Is(err, mlops.ErrInvalidTransition) {
				t.Errorf("%s: error = %v, want ErrInvalidTransition", tc.name, err)
				continue
			}
			var te *mlops.TransitionError
			if !errors.As(err, &te) || te.From != string(tc.from) {
				t.Errorf("%s: transition error %+v, want From %s", tc.name, te, tc.from)
			}
			after, err := s.AlertGet(ctx, tc.id)
			must(t, err)
			if !reflect.DeepEqual(before, after) {
				t.Errorf("%s was refused but changed the alert:\nbefore %+v\nafter  %+v", tc.name, before, after)
			}
		}
	})
}

func alertIDs(items []mlops.Alert) []int64 {
	out := []int64{}
	for _, a := range items {
		out = append(out, a.ID)
	}
	return out
}

// TestActionQueuePages: pending actions oldest first (the approval queue),
// a page at a time, without the decided ones.
func TestActionQueuePages(t *testing.T) {
	t.Parallel()
	eachClock(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := t.Context()
		for _, id := range []string{"q1", "q2", "q3", "q4", "q5"} {
			mustAction(t, s, id)
			c.Advance(time.Second)
		}
		_, err := s.ActionReject(ctx, "q2", "bob", "")
		must(t, err)
		var got []string
		cursor := ""
		for page := 0; page < 10; page++ {
			items, next, err := s.ActionList(ctx, store.ActionFilter{Status: mlops.ActionPending, OldestFirst: true,
				Page: store.Page{Limit: 2, Cursor: cursor}})
			must(t, err)
			got = append(got, actionIDs(items)...)
			if next == "" {
				break
			}
			cursor = next
		}
		if !reflect.DeepEqual(got, []string{"q1", "q3", "q4", "q5"}) {
			t.Fatalf("queue = %v, want [q1 q3 q4 q5]", got)
		}
	})
}
