package store_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
)

// TestPredictionSearch checks every condition of a search, alone and
// together, its paging, the walk over the whole selection and its summary
// (confusion matrix and probability bins), on both engines.
func TestPredictionSearch(t *testing.T) {
	t.Parallel()
	eachClock(t, func(t *testing.T, s *store.Store, c *clock) {
		m, other := mustModel(t, s, "spam", "v1"), mustModel(t, s, "spam", "v2")
		ctx := t.Context()
		// One prediction a minute: prediction i%3, probability i/10 (none
		// for i = 11), ground truth for even i (i%2: right when both are 0
		// or both 1).
		type row struct {
			pred   int64
			prob   *float64
			actual *int64
		}
		var rows []row
		ids := map[int64]int{} // id -> i
		for i := range 12 {
			c.Set(base.Add(time.Duration(i) * time.Minute))
			r := row{pred: int64(i % 3)}
			if i <= 10 {
				r.prob = ptr(float64(i) / 10)
			}
			if i%2 == 0 {
				r.actual = ptr(int64(i % 4 / 2))
			}
			p, err := s.PredictionCreate(ctx, mlops.NewPrediction{ModelID: m.ID, Features: mlops.JSON(`{"x": 1}`),
				Prediction: r.pred, Probability: r.prob, Actual: r.actual})
			must(t, err)
			ids[p.ID] = i
			rows = append(rows, r)
		}
		mustPrediction(t, s, other.ID)

		// want lists, newest first, the i whose row keep accepts.
		want := func(keep func(i int, r row) bool) []int {
			var out []int
			for i := len(rows) - 1; i >= 0; i-- {
				if keep(i, rows[i]) {
					out = append(out, i)
				}
			}
			return out
		}
		list := func(f store.PredictionSearch) []int {
			t.Helper()
			f.ModelID, f.Limit = m.ID, -1
			items, _, err := s.PredictionSearchList(ctx, f)
			must(t, err)
			out := []int{}
			for _, p := range items {
				out = append(out, ids[p.ID])
			}
			return out
		}
		wrong := func(r row) bool { return r.actual != nil && *r.actual != r.pred }
		cases := []struct {
			name string
			f    store.PredictionSearch
			keep func(i int, r row) bool
		}{
			{"everything", store.PredictionSearch{}, func(int, row) bool { return true }},
			{"wrong only", store.PredictionSearch{WrongOnly: true}, func(_ int, r row) bool { return wrong(r) }},
			{"labelled only", store.PredictionSearch{LabelledOnly: true}, func(_ int, r row) bool { return r.actual != nil }},
			{"class 2", store.PredictionSearch{Class: ptr(int64(2))}, func(_ int, r row) bool { return r.pred == 2 }},
			{"probability 0.3 to 0.6", store.PredictionSearch{MinProbability: ptr(0.3), MaxProbability: ptr(0.6)},
				func(i int, r row) bool { return r.prob != nil && i >= 3 && i <= 6 }},
			{"probability from 0.9", store.PredictionSearch{MinProbability: ptr(0.9)}, func(i int, r row) bool { return i == 9 || i == 10 }},
			{"minutes 2 to 5", store.PredictionSearch{PredictionFilter: store.PredictionFilter{Since: base.Add(2 * time.Minute)},
				Until: base.Add(5 * time.Minute)}, func(i int, _ row) bool { return i >= 2 && i < 5 }},
			{"wrong, class 1, from minute 3", store.PredictionSearch{PredictionFilter: store.PredictionFilter{Since: base.Add(3 * time.Minute)},
				WrongOnly: true, Class: ptr(int64(1))}, func(i int, r row) bool { return i >= 3 && r.pred == 1 && wrong(r) }},
		}
		for _, tc := range cases {
			if got, w := list(tc.f), want(tc.keep); !slices.Equal(got, w) {
				t.Errorf("%s: rows %v, want %v", tc.name, got, w)
			}
		}

		// Pages of 4 through the labelled rows, then the walk: the same
		// rows in the same order.
		f := store.PredictionSearch{PredictionFilter: store.PredictionFilter{ModelID: m.ID, Page: store.Page{Limit: 4}}, LabelledOnly: true}
		var paged []int64
		for {
			items, next, err := s.PredictionSearchList(ctx, f)
			must(t, err)
			for _, p := range items {
				paged = append(paged, p.ID)
			}
			if next == "" {
				break
			}
			f.Cursor = next
		}
		f.Cursor = ""
		var walked []int64
		must(t, s.PredictionSearchEach(ctx, f, func(p mlops.Prediction) error {
			walked = append(walked, p.ID)
			return nil
		}))
		if len(paged) != 6 || !slices.Equal(paged, walked) {
			t.Errorf("pages %v, walk %v; want the same 6 ids", paged, walked)
		}
		stop := errors.New("stop")
		n := 0
		if err := s.PredictionSearchEach(ctx, f, func(mlops.Prediction) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
			t.Errorf("an error from fn: %v after %d rows, want it back after 1", err, n)
		}

		// The summary of everything: i even is labelled with actual i%4/2.
		sum, err := s.PredictionSearchSummary(ctx, store.PredictionSearch{PredictionFilter: store.PredictionFilter{ModelID: m.ID}})
		must(t, err)
		// Labelled (i, pred, actual): (0,0,0) (2,2,1) (4,1,0) (6,0,1) (8,2,0) (10,1,1).
		wantCells := []store.ConfusionCell{{Actual: 0, Predicted: 0, Count: 1}, {Actual: 0, Predicted: 1, Count: 1},
			{Actual: 0, Predicted: 2, Count: 1}, {Actual: 1, Predicted: 0, Count: 1}, {Actual: 1, Predicted: 1, Count: 1},
			{Actual: 1, Predicted: 2, Count: 1}}
		// Probabilities 0.0 … 1.0: one per bin, and 0.9 and 1.0 in the last.
		wantBins := [store.ProbabilityBins]int64{1, 1, 1, 1, 1, 1, 1, 1, 1, 2}
		if sum.Count != 12 || sum.Labelled != 6 || sum.Correct != 2 || sum.NoProbability != 1 ||
			!slices.Equal(sum.Confusion, wantCells) || sum.Bins != wantBins {
			t.Errorf("summary %+v\nwant count 12, labelled 6, correct 2, no probability 1, cells %v, bins %v", sum, wantCells, wantBins)
		}
		sum, err = s.PredictionSearchSummary(ctx, store.PredictionSearch{PredictionFilter: store.PredictionFilter{ModelID: m.ID}, WrongOnly: true})
		must(t, err)
		if sum.Count != 4 || sum.Labelled != 4 || sum.Correct != 0 || len(sum.Confusion) != 4 {
			t.Errorf("summary of the wrong rows %+v", sum)
		}
		sum, err = s.PredictionSearchSummary(ctx, store.PredictionSearch{PredictionFilter: store.PredictionFilter{ModelID: other.ID + 1}})
		must(t, err)
		if sum.Count != 0 || sum.Confusion != nil {
			t.Errorf("summary of nothing %+v", sum)
		}

		// Refused searches.
		_, _, err = s.PredictionSearchList(ctx, store.PredictionSearch{})
		wantInvalid(t, err, "model_id")
		_, err = s.PredictionSearchSummary(ctx, store.PredictionSearch{PredictionFilter: store.PredictionFilter{ModelID: m.ID},
			MinProbability: ptr(0.8), MaxProbability: ptr(0.2)})
		wantInvalid(t, err, "probability")
		err = s.PredictionSearchEach(ctx, store.PredictionSearch{PredictionFilter: store.PredictionFilter{ModelID: m.ID, Since: base},
			Until: base}, func(mlops.Prediction) error { return nil })
		wantInvalid(t, err, "until")
	})
}
