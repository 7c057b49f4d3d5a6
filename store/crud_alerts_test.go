package store_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
)

// TestAlertWorkflow checks create, get_active_alerts (newest first),
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

		active, err := s.AlertsActive(ctx)
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

		active, err = s.AlertsActive(ctx)
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
