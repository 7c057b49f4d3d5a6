package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

func TestRuleSettings(t *testing.T) {
	loopEach(t, func(t *testing.T, s *store.Store, c *loopClock) {
		ctx := context.Background()
		r, err := s.RuleSettingsGet(ctx, "fraud")
		if err != nil || r.Enabled || r.PSIThreshold != 0.2 || r.KSThreshold != 0.1 || r != store.DefaultRuleSettings("fraud") {
			t.Fatalf("default settings = %+v, %v", r, err)
		}
		on := loopEnableRules(t, s, "fraud", func(r *store.RuleSettings) { r.MetricThreshold = loopPtr(0.8) })
		if got, err := s.RuleSettingsGet(ctx, "fraud"); err != nil || !got.Enabled || got.MetricThreshold == nil ||
			*got.MetricThreshold != 0.8 || !got.UpdatedAt.Equal(on.UpdatedAt) {
			t.Errorf("stored settings = %+v, %v; want %+v", got, err, on)
		}
		bad := store.DefaultRuleSettings("fraud")
		bad.Metric = "auc"
		bad.KSThreshold = 0
		err = func() error { _, err := s.RuleSettingsPut(ctx, bad); return err }()
		wantInvalid(t, err, "ks_threshold", "metric")
		all, err := s.RuleSettingsList(ctx)
		if err != nil || len(all) != 1 || all[0].ModelName != "fraud" {
			t.Errorf("list = %+v, %v", all, err)
		}
	})
}

// TestLease: a lease is the holder's until it expires; the holder renews
// it; another holder takes it once expired; only the holder releases it.
func TestLease(t *testing.T) {
	loopEach(t, func(t *testing.T, s *store.Store, c *loopClock) {
		ctx := context.Background()
		take := func(holder string, ttl time.Duration) bool {
			t.Helper()
			ok, err := s.LeaseAcquire(ctx, "rules/fraud", holder, ttl)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if !take("a", time.Minute) || take("b", time.Minute) {
			t.Fatal("a should hold the lease and b be refused")
		}
		c.Set(loopT0.Add(50 * time.Second))
		if !take("a", time.Minute) { // renewed: now until 1m50s
			t.Fatal("a could not renew its lease")
		}
		if h, exp, err := s.LeaseHolder(ctx, "rules/fraud"); err != nil || h != "a" || !exp.Equal(loopT0.Add(110*time.Second)) {
			t.Fatalf("holder %q until %v, %v", h, exp, err)
		}
		c.Set(loopT0.Add(100 * time.Second)) // past the first expiry, not the renewed one
		if take("b", time.Minute) {
			t.Fatal("b took a renewed lease")
		}
		if ok, _ := s.LeaseAcquire(ctx, "rules/churn", "b", time.Minute); !ok {
			t.Fatal("b could not take another model's lease")
		}
		c.Set(loopT0.Add(110 * time.Second)) // expired
		if !take("b", time.Minute) || take("a", time.Minute) {
			t.Fatal("b should have taken the expired lease from a")
		}
		must(t, s.LeaseRelease(ctx, "rules/fraud", "a")) // not a's: nothing happens
		if h, _, err := s.LeaseHolder(ctx, "rules/fraud"); err != nil || h != "b" {
			t.Fatalf("after a's release: holder %q, %v", h, err)
		}
		must(t, s.LeaseRelease(ctx, "rules/fraud", "b"))
		if _, _, err := s.LeaseHolder(ctx, "rules/fraud"); !errors.Is(err, mlops.ErrNotFound) {
			t.Fatalf("after b's release: %v, want ErrNotFound", err)
		}
		if !take("a", time.Minute) {
			t.Fatal("a could not take a released lease")
		}
		_, err := s.LeaseAcquire(ctx, "rules/fraud", "", time.Minute)
		wantInvalid(t, err, "lease")
	})
}

// TestLeaseConcurrent: holders racing for one free lease from two stores
// on one database (two servers): exactly one gets it.
func TestLeaseConcurrent(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			c := &loopClock{now: loopT0}
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

// TestClosingTheLoopMigration rolls migration 00002 back and forth on a
// database that holds alerts.
func TestClosingTheLoopMigration(t *testing.T) {
	loopEach(t, func(t *testing.T, s *store.Store, c *loopClock) {
		ctx := context.Background()
		a := must2[mlops.Alert](t)(s.AlertCreate(ctx, mlops.NewAlert{AlertType: "x", Severity: mlops.SeverityLow, Title: "t"}))
		if a.Occurrences != 1 || !a.LastSeenAt.Equal(a.CreatedAt) || a.DedupKey != nil || a.ModelID != nil {
			t.Errorf("hand-raised alert = %+v", a)
		}
		mig, err := s.Migrator()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := mig.Down(ctx, 1); err != nil {
			t.Fatalf("down to 1: %v", err)
		}
		if _, err := mig.Up(ctx, 0); err != nil {
			t.Fatalf("up again: %v", err)
		}
		if diff, err := mig.Check(ctx); err != nil || len(diff) != 0 {
			t.Errorf("schema after down/up differs: %v, %v", diff, err)
		}
		got, err := s.AlertGet(ctx, a.ID)
		if err != nil || got.Occurrences != 1 || !got.LastSeenAt.Equal(a.CreatedAt) {
			t.Errorf("alert after down/up = %+v, %v", got, err)
		}
	})
}

func must2[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
