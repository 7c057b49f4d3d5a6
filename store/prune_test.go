package store_test

import (
	"slices"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
)

// TestPruneSilences: a silence is pruned once it ended (expired, or its
// until passed) before the cutoff, however old it is, and never while it
// is in force, even with a cutoff in the future; each run is one
// prune.ran event.
func TestPruneSilences(t *testing.T) {
	t.Parallel()
	eachClock(t, func(t *testing.T, s *store.Store, c *clock) {
		ops := store.Actor{Name: "ops", Kind: mlops.KindSystem}
		ctx := store.WithActor(t.Context(), ops)
		silence := func(until time.Duration) mlops.Silence {
			t.Helper()
			sil, err := s.SilenceCreate(ctx, mlops.NewSilence{Matchers: mlops.SilenceMatchers{AlertType: ptr("drift")},
				Until: base.Add(until), Comment: "maintenance"})
			must(t, err)
			return sil
		}
		day := 24 * time.Hour
		ended := silence(time.Hour)    // ends at base+1h
		expired := silence(100 * day)  // expired at base+2h
		inForce := silence(100 * day)  // in force until base+100d
		endsLater := silence(10 * day) // ends at base+10d
		c.Set(base.Add(2 * time.Hour))
		_, err := s.SilenceExpire(ctx, expired.ID)
		must(t, err)
		c.Set(base.Add(30 * day))

		cutoff := base.Add(5 * day)
		n, err := s.PruneCount(ctx, "silences", cutoff)
		if err != nil || n != 2 {
			t.Errorf("PruneCount(silences, base+5d) = %d, %v; want 2", n, err)
		}
		var progress []int64
		var deleted int64
		e := oneEvent(t, s, func() (err error) {
			deleted, err = s.Prune(ctx, "silences", cutoff, 1, func(n int64) { progress = append(progress, n) })
			return
		})
		if deleted != 2 || !slices.Equal(progress, []int64{1, 2}) {
			t.Errorf("pruned %d silences (progress %v), want 2 (1, 2)", deleted, progress)
		}
		wantEvent(t, e, "prune.ran", "prune", "silences", ops)
		sameJSON(t, "prune.ran after", e.After, map[string]any{"deleted": map[string]any{"alert_silences": 2},
			"older_than": cutoff.Format(time.RFC3339Nano)})
		left := func() []int64 {
			items, _, err := s.SilenceList(ctx, false, store.Page{Limit: -1})
			must(t, err)
			ids := []int64{}
			for _, sil := range items {
				ids = append(ids, sil.ID)
			}
			slices.Sort(ids)
			return ids
		}
		if got := left(); !slices.Equal(got, []int64{inForce.ID, endsLater.ID}) {
			t.Errorf("silences left %v, want %d (in force) and %d (ended after the cutoff); %d and %d ended before it",
				got, inForce.ID, endsLater.ID, ended.ID, expired.ID)
		}

		// A cutoff beyond now reaches what has ended, never what is in force.
		future := base.Add(365 * day)
		if n, err := s.PruneCount(ctx, "silences", future); err != nil || n != 1 {
			t.Errorf("PruneCount(silences, a year on) = %d, %v; want 1", n, err)
		}
		deleted, err = s.Prune(ctx, "silences", future, 0, nil)
		if err != nil || deleted != 1 {
			t.Errorf("Prune(silences, a year on) = %d, %v; want 1", deleted, err)
		}
		if got := left(); !slices.Equal(got, []int64{inForce.ID}) {
			t.Errorf("silences left %v, want only %d, in force", got, inForce.ID)
		}
		if sil, found, err := s.SilenceMatch(ctx, "drift", "churn", mlops.SeverityHigh); err != nil || !found || sil.ID != inForce.ID {
			t.Errorf("the silence in force after pruning: %+v, %v, %v", sil, found, err)
		}
	})
}
