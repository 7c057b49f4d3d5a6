package store_test

import (
	"encoding/json"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

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

// TestPredictionCreateBatchBesideWriters checks a batch while other
// writers draw ids from the same sequence (each PredictionCreate commits at
// once): the ids come back in input order, and none of them is another
// writer's. It also checks that a batch whose items carry their own
// created_at keeps them.
func TestPredictionCreateBatchBesideWriters(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		m := mustModel(t, s, "churn", "v1")
		const n, batches = 3000, 3
		var (
			wg     sync.WaitGroup
			done   = make(chan struct{})
			mu     sync.Mutex
			others = map[int64]bool{}
		)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-done:
						return
					default:
					}
					p, err := s.PredictionCreate(ctx, mlops.NewPrediction{ModelID: m.ID, Prediction: -1})
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					others[p.ID] = true
					mu.Unlock()
				}
			}()
		}
		past := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		in := make([]mlops.NewPrediction, n)
		for i := range in {
			in[i] = mlops.NewPrediction{ModelID: m.ID, Prediction: int64(i)}
			if i%2 == 0 {
				in[i].CreatedAt = &past
			}
		}
		var all [][]int64
		for range batches {
			ids, err := s.PredictionCreateBatch(ctx, in)
			must(t, err)
			all = append(all, ids)
		}
		close(done)
		wg.Wait()
		for _, ids := range all {
			if len(ids) != n {
				t.Fatalf("%d ids for %d predictions", len(ids), n)
			}
			for i, id := range ids {
				if others[id] {
					t.Fatalf("ids[%d] = %d is another writer's row", i, id)
				}
				if i%97 != 0 {
					continue
				}
				p, err := s.PredictionGet(ctx, id)
				must(t, err)
				if p.Prediction != int64(i) {
					t.Fatalf("ids[%d] = %d holds prediction %d", i, id, p.Prediction)
				}
				if (i%2 == 0) != p.CreatedAt.Equal(past) {
					t.Fatalf("ids[%d]: created_at %v, sent %v", i, p.CreatedAt, in[i].CreatedAt)
				}
			}
		}
		if got, want := count(t, s, "predictions"), int64(n*batches+len(others)); got != want {
			t.Fatalf("stored %d rows, want %d", got, want)
		}
	})
}

func normJSON(t *testing.T, raw mlops.JSON) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return out
}
