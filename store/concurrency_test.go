package store_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// TestActivateConcurrently is set_model_active under a storm: 16
// goroutines activate random versions of one model 300 times in total
// while another goroutine keeps counting the active (and production)
// versions. The count is exactly 1 every time it is read (never 2, never
// 0: demote and promote commit together) and no call fails, which on
// PostgreSQL means no deadlock.
func TestActivateConcurrently(t *testing.T) {
	t.Parallel()
	const workers, total, versions = 16, 300, 8
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		ids := make([]int64, versions)
		for i := range ids {
			ids[i] = mustModel(t, s, "churn", fmt.Sprintf("v%d", i)).ID
		}
		other := mustModel(t, s, "fraud", "v1")
		_, err := s.ModelVersionActivate(ctx, other.ID)
		must(t, err)
		_, err = s.ModelVersionActivate(ctx, ids[0])
		must(t, err)

		done := make(chan struct{})
		var samples, bad atomic.Int64
		var firstBad atomic.Value
		var counter sync.WaitGroup
		counter.Go(func() {
			for {
				var active, production int64
				err := s.DB().QueryRowContext(context.Background(), `SELECT
					coalesce(sum(CASE WHEN is_active THEN 1 ELSE 0 END), 0),
					coalesce(sum(CASE WHEN status = 'production' THEN 1 ELSE 0 END), 0)
					FROM model_versions WHERE model_name = $1`, "churn").Scan(&active, &production)
				samples.Add(1)
				if err != nil || active != 1 || production != 1 {
					bad.Add(1)
					firstBad.CompareAndSwap(nil, fmt.Sprintf("active=%d production=%d err=%v", active, production, err))
				}
				select {
				case <-done:
					return
				default:
				}
			}
		})

		var calls atomic.Int64
		var mu sync.Mutex
		var errs []error
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Go(func() {
				for calls.Add(1) <= total {
					id := ids[rand.IntN(versions)]
					m, err := s.ModelVersionActivate(ctx, id)
					if err == nil && (!m.IsActive || m.ID != id || m.Status != mlops.ModelProduction) {
						err = fmt.Errorf("activate %d returned %+v", id, m)
					}
					if err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		close(done)
		counter.Wait()

		for i, err := range errs {
			if i < 5 {
				t.Errorf("activation failed: %v", err)
			}
		}
		if len(errs) > 0 {
			t.Fatalf("%d of %d activations failed", len(errs), total)
		}
		if bad.Load() > 0 {
			t.Fatalf("%d of %d reads did not see exactly one active version; first: %v", bad.Load(), samples.Load(), firstBad.Load())
		}
		t.Logf("%d activations, %d concurrent reads, all saw exactly one active version", total, samples.Load())

		active, err := s.ModelVersionActive(ctx, "churn")
		must(t, err)
		list, _, err := s.ModelVersionList(ctx, store.ModelVersionFilter{ModelName: "churn"})
		must(t, err)
		for _, m := range list {
			switch {
			case m.ID == active.ID:
				if !m.IsActive || m.Status != mlops.ModelProduction {
					t.Errorf("active version %d: %+v", m.ID, m)
				}
			case m.IsActive || m.Status == mlops.ModelProduction:
				t.Errorf("version %d is %s/active=%v beside active %d", m.ID, m.Status, m.IsActive, active.ID)
			}
		}
		if f, err := s.ModelVersionActive(ctx, "fraud"); err != nil || f.ID != other.ID {
			t.Errorf("the other model's active version changed: %+v, %v", f, err)
		}
	})
}

// TestReviewRace runs 100 trials of approve racing reject on one pending
// action: exactly one succeeds each time, the loser gets
// ErrInvalidTransition naming the winner's state, and the stored action
// matches the winner. Then two users racing to resolve one alert: one wins.
func TestReviewRace(t *testing.T) {
	t.Parallel()
	const trials = 100
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		wins := map[mlops.ActionStatus]int{}
		for i := 0; i < trials; i++ {
			id := fmt.Sprintf("race-%d", i)
			mustAction(t, s, id)
			start := make(chan struct{})
			var approveErr, rejectErr error
			var wg sync.WaitGroup
			wg.Go(func() { <-start; _, approveErr = s.ActionApprove(ctx, id, "approver", "yes") })
			wg.Go(func() { <-start; _, rejectErr = s.ActionReject(ctx, id, "rejecter", "no") })
			close(start)
			wg.Wait()

			var winner mlops.ActionStatus
			var reviewer string
			var loserErr error
			switch {
			case approveErr == nil && rejectErr == nil:
				t.Fatalf("trial %d: both approve and reject succeeded", i)
			case approveErr != nil && rejectErr != nil:
				t.Fatalf("trial %d: both failed: %v / %v", i, approveErr, rejectErr)
			case approveErr == nil:
				winner, reviewer, loserErr = mlops.ActionApproved, "approver", rejectErr
			default:
				winner, reviewer, loserErr = mlops.ActionRejected, "rejecter", approveErr
			}
			wins[winner]++
			var te *mlops.TransitionError
			if !errors.Is(loserErr, mlops.ErrInvalidTransition) || !errors.As(loserErr, &te) || te.From != string(winner) {
				t.Fatalf("trial %d: loser's error = %v, want ErrInvalidTransition from %s", i, loserErr, winner)
			}
			got, err := s.ActionGet(ctx, id)
			must(t, err)
			if got.Status != winner || got.ReviewedBy == nil || *got.ReviewedBy != reviewer {
				t.Fatalf("trial %d: stored status %s by %v, want %s by %s", i, got.Status, got.ReviewedBy, winner, reviewer)
			}
		}
		t.Logf("%d trials: approve won %d, reject won %d", trials, wins[mlops.ActionApproved], wins[mlops.ActionRejected])

		for i := 0; i < trials/4; i++ {
			a := mustAlert(t, s, fmt.Sprintf("race %d", i))
			start := make(chan struct{})
			var errA, errB error
			var wg sync.WaitGroup
			wg.Go(func() { <-start; _, errA = s.AlertResolve(ctx, a.ID, "a", "") })
			wg.Go(func() { <-start; _, errB = s.AlertResolve(ctx, a.ID, "b", "") })
			close(start)
			wg.Wait()
			if (errA == nil) == (errB == nil) {
				t.Fatalf("alert trial %d: want exactly one resolve to succeed, got %v / %v", i, errA, errB)
			}
			by := "a"
			if errA != nil {
				by = "b"
				wantIs(t, errA, mlops.ErrInvalidTransition)
			} else {
				wantIs(t, errB, mlops.ErrInvalidTransition)
			}
			got, err := s.AlertGet(ctx, a.ID)
			must(t, err)
			if got.Status != mlops.AlertResolved || *got.ResolvedBy != by {
				t.Fatalf("alert trial %d: stored %s by %v, want resolved by %s", i, got.Status, got.ResolvedBy, by)
			}
		}
	})
}
