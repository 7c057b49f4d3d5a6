package store_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
)

func TestTimeline(t *testing.T) {
	loopEach(t, func(t *testing.T, s *store.Store, c *loopClock) {
		ctx := context.Background()
		at := func(d time.Duration) { c.Set(loopT0.Add(d)) }
		at(-time.Hour)
		v1 := loopModel(t, s, "fraud", "v1")
		at(-30 * time.Minute)
		must1(t)(s.ModelVersionActivate(ctx, v1.ID))
		at(-20 * time.Minute)
		v2 := loopModel(t, s, "fraud", "v2")
		loopEnableRules(t, s, "fraud", nil)
		loopDriftData(t, s, c, v1.ID, v1.ID, 0)
		at(3 * time.Hour)
		must1(t)(loopMonitor(s).DriftCheck(ctx, v1.ID, loopDriftOpts())) // report, alert, action at one instant
		alert := loopOpenAlerts(t, s)[0]
		action := loopActions(t, s, mlops.ActionPending)[0]
		at(4 * time.Hour)
		must1(t)(s.AlertAcknowledge(ctx, alert.ID, "ann"))
		at(5 * time.Hour)
		must1(t)(s.ActionApprove(ctx, action.ActionID, "bob", "go"))
		at(6 * time.Hour)
		must1(t)(s.ActionMarkExecuted(ctx, action.ActionID, mlops.JSON(`{"new_version":"v2"}`)))
		at(7 * time.Hour)
		must1(t)(s.AlertResolve(ctx, alert.ID, "ann", "retrained"))
		at(8 * time.Hour)
		must1(t)(s.ModelVersionActivate(ctx, v2.ID))
		// Noise on another version that must not appear.
		must1(t)(s.AlertCreate(ctx, mlops.NewAlert{AlertType: "x", Severity: mlops.SeverityLow, Title: "unrelated"}))

		all, next, err := s.Timeline(ctx, v1.ID, store.Page{})
		if err != nil || next != "" {
			t.Fatalf("timeline: %v, next %q", err, next)
		}
		want := []struct {
			kind string
			at   time.Duration
		}{
			{store.EventModelArchived, 8 * time.Hour},
			{store.EventAlertResolved, 7 * time.Hour},
			{store.EventActionExecuted, 6 * time.Hour},
			{store.EventActionApproved, 5 * time.Hour},
			{store.EventAlertAcknowledged, 4 * time.Hour},
			{store.EventActionProposed, 3 * time.Hour},
			{store.EventAlertRaised, 3 * time.Hour},
			{store.EventDriftReported, 3 * time.Hour},
			{store.EventModelActivated, -30 * time.Minute},
			{store.EventModelRegistered, -time.Hour},
		}
		if len(all) != len(want) {
			t.Fatalf("%d events, want %d: %+v", len(all), len(want), all)
		}
		for i, w := range want {
			if all[i].Kind != w.kind || !all[i].At.Equal(loopT0.Add(w.at)) {
				t.Errorf("event %d = %s at %v, want %s at %v", i, all[i].Kind, all[i].At, w.kind, loopT0.Add(w.at))
			}
		}
		if e := all[3]; e.Subject != "action" || e.Ref != action.ActionID || e.Actor == nil || *e.Actor != "bob" ||
			!strings.Contains(e.Summary, "retrain_model") {
			t.Errorf("approved event = %+v", e)
		}
		if e := all[7]; e.Subject != "drift_report" || !strings.Contains(e.Summary, "drift in x") {
			t.Errorf("drift event = %+v", e)
		}

		// Pages of 3 (cutting through the three events of one instant) give
		// the same stream.
		var paged []store.TimelineEvent
		cursor := ""
		for pages := 0; ; pages++ {
			items, next, err := s.Timeline(ctx, v1.ID, store.Page{Limit: 3, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			paged = append(paged, items...)
			if next == "" {
				break
			}
			if pages > 5 {
				t.Fatal("paging does not end")
			}
			cursor = next
		}
		if !slices.EqualFunc(paged, all, func(a, b store.TimelineEvent) bool {
			return a.Kind == b.Kind && a.SubjectID == b.SubjectID && a.At.Equal(b.At)
		}) {
			t.Errorf("paged timeline differs:\n%+v\n%+v", paged, all)
		}

		// v2: registered and activated only.
		v2events, _, err := s.Timeline(ctx, v2.ID, store.Page{})
		if err != nil || len(v2events) != 2 || v2events[0].Kind != store.EventModelActivated {
			t.Errorf("v2 timeline = %+v, %v", v2events, err)
		}
		if _, _, err := s.Timeline(ctx, v1.ID, store.Page{Cursor: "bm9wZQ"}); !isField(err, "cursor") {
			t.Errorf("bad cursor: %v", err)
		}
		if _, _, err := s.Timeline(ctx, 999999, store.Page{}); !errors.Is(err, mlops.ErrNotFound) {
			t.Errorf("unknown model: %v", err)
		}
	})
}
