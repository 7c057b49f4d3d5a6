package store_test

import (
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

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
