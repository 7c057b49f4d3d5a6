package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mlopsdev/mlops/store"
)

// TestPredictionWindowReads: PredictionCount and PredictionFeaturesEach read
// one version's predictions of [from, to), oldest first, and an error from
// the callback stops the walk.
func TestPredictionWindowReads(t *testing.T) {
	loopEach(t, func(t *testing.T, s *store.Store, c *loopClock) {
		ctx := context.Background()
		m := loopModel(t, s, "fraud", "v1")
		other := loopModel(t, s, "fraud", "v2")
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
