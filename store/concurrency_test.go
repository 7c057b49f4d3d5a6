package store_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// TestAuditConcurrentAppends: writers appending at once (creating and
// acknowledging alerts from 8 goroutines) form one chain whose positions
// run 1..N without a gap, one per event.
func TestAuditConcurrentAppends(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		const workers, each = 8, 5
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx := store.WithActor(context.Background(), store.Actor{Name: fmt.Sprint("worker-", w), Kind: mlops.KindToken})
				for i := range each {
					a, err := s.AlertCreate(ctx, newAlert(fmt.Sprintf("w%d-%d", w, i)))
					if err == nil {
						_, err = s.AlertAcknowledge(ctx, a.ID, "worker")
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		const n = workers * each * 2
		if got, err := s.AuditVerify(t.Context(), 0, nil); err != nil || got != n {
			t.Fatalf("AuditVerify = %d, %v; want %d, nil", got, err, n)
		}
		evs := sealed(t, s)
		if len(evs) != n {
			t.Fatalf("%d events, want %d", len(evs), n)
		}
		ids := map[int64]bool{}
		for i, e := range evs {
			if *e.Seq != int64(i+1) {
				t.Fatalf("chain position %d holds seq %d: the chain has a gap", i+1, *e.Seq)
			}
			ids[e.ID] = true
		}
		if len(ids) != n {
			t.Errorf("%d distinct event ids, want %d", len(ids), n)
		}
	})
}

// TestLeaseConcurrent: holders racing for one free lease from two stores
// on one database (two servers): exactly one gets it.
func TestLeaseConcurrent(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			c := storetest.NewClock(loopT0)
			url := storetest.URL(t, engine)
			stores := []*store.Store{storetest.OpenURL(t, url, store.Options{Now: c.Now}), storetest.OpenURL(t, url, store.Options{Now: c.Now})}
			for round := 0; round < 5; round++ {
				name := fmt.Sprintf("rules/m%d", round)
				var wg sync.WaitGroup
				won := make([]bool, 8)
				for i := range won {
					wg.Add(1)
					go func() {
						defer wg.Done()
						ok, err := stores[i%2].LeaseAcquire(ctx, name, fmt.Sprintf("holder-%d", i), time.Minute)
						if err != nil {
							t.Error(err)
						}
						won[i] = ok
					}()
				}
				wg.Wait()
				n := 0
				for _, w := range won {
					if w {
						n++
					}
				}
				if n != 1 {
					t.Fatalf("round %d: %d holders got the lease, want 1", round, n)
				}
			}
		})
	}
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

// TestAlertRaiseByKey: the first raise of a condition creates an alert,
// the next ones count occurrences on it while it is open, and after it is
// resolved the next raise opens a new one. Raisers racing from two stores
// on one database (two servers) open exactly one alert.
func TestAlertRaiseByKey(t *testing.T) {
	t.Parallel()
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := t.Context()
			c := newClock()
			url := storetest.URL(t, engine)
			s := storetest.OpenURL(t, url, store.Options{Now: c.Now})
			other := storetest.OpenURL(t, url, store.Options{Now: c.Now})
			m := mustModel(t, s, "churn", "v1")
			in := newAlert("drift on churn")
			a, created, err := s.AlertRaiseByKey(ctx, "drift/1", m.ID, in)
			must(t, err)
			if !created || a.Occurrences != 1 || *a.DedupKey != "drift/1" || *a.ModelID != m.ID || !a.LastSeenAt.Equal(base) {
				t.Fatalf("first raise: %+v, created %v", a, created)
			}
			c.Advance(time.Minute)
			in.Message = "still drifting"
			a2, created, err := s.AlertRaiseByKey(ctx, "drift/1", m.ID, in)
			must(t, err)
			if created || a2.ID != a.ID || a2.Occurrences != 2 || a2.Message != "still drifting" ||
				!a2.LastSeenAt.Equal(base.Add(time.Minute)) || !a2.CreatedAt.Equal(base) {
				t.Fatalf("second raise: %+v, created %v", a2, created)
			}
			_, err = s.AlertResolve(ctx, a.ID, "ops", "")
			must(t, err)

			const raisers = 8
			var wg sync.WaitGroup
			made := make([]bool, raisers)
			for i := range raisers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					st := []*store.Store{s, other}[i%2]
					_, c, err := st.AlertRaiseByKey(ctx, "drift/1", m.ID, in)
					if err != nil {
						t.Error(err)
					}
					made[i] = c
				}()
			}
			wg.Wait()
			open, _, err := s.AlertList(ctx, store.AlertFilter{Status: mlops.AlertActive})
			must(t, err)
			createdN := 0
			for _, c := range made {
				if c {
					createdN++
				}
			}
			if len(open) != 1 || open[0].ID == a.ID || open[0].Occurrences != raisers || createdN != 1 {
				t.Fatalf("after %d racing raises: open %+v, %d created", raisers, open, createdN)
			}

			_, _, err = s.AlertRaiseByKey(ctx, "drift/9", 424242, in)
			wantInvalid(t, err, "model_id")
			_, _, err = s.AlertRaiseByKey(ctx, "", m.ID, in)
			wantInvalid(t, err, "dedup_key")
		})
	}
}
