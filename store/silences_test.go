package store_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
)

// newSilence is a silence of drift alerts on churn for an hour from now.
func newSilence(c *clock) mlops.NewSilence {
	return mlops.NewSilence{Matchers: mlops.SilenceMatchers{AlertType: ptr("drift"), ModelName: ptr("churn")},
		Until: c.Now().Add(time.Hour), Comment: "retraining churn this afternoon"}
}

// TestSilenceCreateListExpire: a silence is stored with its creator, listed
// newest first (all, or those in force), expired once under the expiring
// actor, and ends by itself when its until passes; each change writes one
// audit event, and a refused change none.
func TestSilenceCreateListExpire(t *testing.T) {
	t.Parallel()
	eachClock(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := store.WithActor(t.Context(), alice)
		var s1 mlops.Silence
		ev := oneEvent(t, s, func() (err error) { s1, err = s.SilenceCreate(ctx, newSilence(c)); return })
		wantEvent(t, ev, "silence.created", "silence", id(s1.ID), alice)
		sameJSON(t, "silence.created after", ev.After, s1)
		if s1.CreatedBy != "alice" || !s1.CreatedAt.Equal(base) || !s1.Until.Equal(base.Add(time.Hour)) || !s1.Active ||
			*s1.Matchers.AlertType != "drift" || *s1.Matchers.ModelName != "churn" || s1.Matchers.Severity != nil ||
			s1.ExpiredAt != nil || s1.ExpiredBy != nil || s1.Comment != "retraining churn this afternoon" {
			t.Fatalf("new silence: %+v", s1)
		}

		c.Advance(time.Minute)
		in := mlops.NewSilence{Matchers: mlops.SilenceMatchers{Severity: ptr(mlops.SeverityLow)},
			Until: c.Now().Add(2 * time.Minute), Comment: "noisy"}
		s2, err := s.SilenceCreate(t.Context(), in)
		must(t, err)
		if s2.CreatedBy != store.System.Name {
			t.Errorf("created without an actor: created_by %q, want %q", s2.CreatedBy, store.System.Name)
		}
		c.Advance(time.Minute)
		s3, err := s.SilenceCreate(ctx, newSilence(c))
		must(t, err)

		list := func(activeOnly bool, limit int) []int64 {
			t.Helper()
			var ids []int64
			cursor := ""
			for {
				items, next, err := s.SilenceList(t.Context(), activeOnly, store.Page{Limit: limit, Cursor: cursor})
				must(t, err)
				for _, x := range items {
					ids = append(ids, x.ID)
					if x.Active != (x.ExpiredAt == nil && c.Now().Before(x.Until)) {
						t.Errorf("silence %d reads active %v at %v: %+v", x.ID, x.Active, c.Now(), x)
					}
				}
				if next == "" {
					return ids
				}
				cursor = next
			}
		}
		if got, want := list(false, 2), []int64{s3.ID, s2.ID, s1.ID}; !reflect.DeepEqual(got, want) {
			t.Fatalf("every silence, two a page = %v, want newest first %v", got, want)
		}

		// s2 ends by itself; s1 is expired early.
		c.Advance(2 * time.Minute)
		var ended mlops.Silence
		ev = oneEvent(t, s, func() (err error) { ended, err = s.SilenceExpire(ctx, s1.ID); return })
		wantEvent(t, ev, "silence.expired", "silence", id(s1.ID), alice)
		before := s1
		before.Active = true
		sameJSON(t, "silence.expired before", ev.Before, before)
		if ended.Active || ended.ExpiredBy == nil || *ended.ExpiredBy != "alice" || !ended.ExpiredAt.Equal(c.Now()) ||
			!ended.Until.Equal(s1.Until) {
			t.Fatalf("expired silence: %+v", ended)
		}
		if got, want := list(true, 0), []int64{s3.ID}; !reflect.DeepEqual(got, want) {
			t.Errorf("silences in force = %v, want %v", got, want)
		}
		if got, want := list(false, 0), []int64{s3.ID, s2.ID, s1.ID}; !reflect.DeepEqual(got, want) {
			t.Errorf("every silence = %v, want %v", got, want)
		}

		// Expiring what has ended is a transition error that says how it
		// ended, and changes nothing; an unknown id is not found.
		var te *mlops.TransitionError
		noEvent(t, s, "expire twice", func(err error) bool { return errors.As(err, &te) }, func() error {
			_, err := s.SilenceExpire(ctx, s1.ID)
			return err
		})
		if te == nil || te.By != "alice" || !errors.Is(te, mlops.ErrConflict) {
			t.Errorf("second expiry: %v", te)
		}
		noEvent(t, s, "expire past its until", func(err error) bool { return errors.As(err, &te) }, func() error {
			_, err := s.SilenceExpire(ctx, s2.ID)
			return err
		})
		if te == nil || te.By != "" || te.Detail == "" {
			t.Errorf("expiry of a silence past its until: %v", te)
		}
		noEvent(t, s, "expire an unknown silence", func(err error) bool { return errors.Is(err, mlops.ErrNotFound) }, func() error {
			_, err := s.SilenceExpire(ctx, 999999)
			return err
		})
	})
}

// TestSilenceValidation: at least one matcher, none blank, a known
// severity, an until in the future and a comment; nothing is stored
// otherwise.
func TestSilenceValidation(t *testing.T) {
	t.Parallel()
	eachClock(t, func(t *testing.T, s *store.Store, c *clock) {
		for _, tc := range []struct {
			name string
			edit func(*mlops.NewSilence)
			want []string
		}{
			{"no matcher", func(n *mlops.NewSilence) { n.Matchers = mlops.SilenceMatchers{} }, []string{"matchers"}},
			{"blank matchers", func(n *mlops.NewSilence) { n.Matchers.AlertType, n.Matchers.ModelName = ptr(" "), ptr("") },
				[]string{"matchers.alert_type", "matchers.model_name"}},
			{"unknown severity", func(n *mlops.NewSilence) { n.Matchers.Severity = ptr(mlops.Severity("urgent")) }, []string{"matchers.severity"}},
			{"no until", func(n *mlops.NewSilence) { n.Until = time.Time{} }, []string{"until"}},
			{"until now", func(n *mlops.NewSilence) { n.Until = c.Now() }, []string{"until"}},
			{"no comment", func(n *mlops.NewSilence) { n.Comment = "  " }, []string{"comment"}},
			{"a NUL", func(n *mlops.NewSilence) { n.Comment = "a\x00b" }, []string{"comment"}},
		} {
			in := newSilence(c)
			tc.edit(&in)
			_, err := s.SilenceCreate(t.Context(), in)
			wantInvalid(t, err, tc.want...)
		}
		if n := count(t, s, "alert_silences"); n != 0 {
			t.Errorf("%d silences stored by invalid input", n)
		}
	})
}

// TestSilenceMatch: a silence covers the alerts equal to every matcher it
// has, while it is in force; an alert about no model matches no model
// matcher; of several, the one lasting longest is named.
func TestSilenceMatch(t *testing.T) {
	t.Parallel()
	eachClock(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := t.Context()
		create := func(m mlops.SilenceMatchers, d time.Duration) mlops.Silence {
			t.Helper()
			x, err := s.SilenceCreate(ctx, mlops.NewSilence{Matchers: m, Until: c.Now().Add(d), Comment: "test"})
			must(t, err)
			return x
		}
		churnDrift := create(mlops.SilenceMatchers{AlertType: ptr("drift"), ModelName: ptr("churn")}, time.Hour)
		longer := create(mlops.SilenceMatchers{ModelName: ptr("churn"), Severity: ptr(mlops.SeverityHigh)}, 2*time.Hour)
		lowAny := create(mlops.SilenceMatchers{Severity: ptr(mlops.SeverityLow)}, 30*time.Minute)
		gone := create(mlops.SilenceMatchers{AlertType: ptr("latency")}, time.Hour)
		if _, err := s.SilenceExpire(ctx, gone.ID); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			alertType, model string
			sev              mlops.Severity
			want             int64 // 0: none
		}{
			{"drift", "churn", mlops.SeverityMedium, churnDrift.ID},
			{"drift", "churn", mlops.SeverityHigh, longer.ID},
			{"performance", "churn", mlops.SeverityHigh, longer.ID},
			{"drift", "fraud", mlops.SeverityMedium, 0},
			{"drift", "", mlops.SeverityMedium, 0},
			{"drift", "", mlops.SeverityLow, lowAny.ID},
			{"latency", "fraud", mlops.SeverityHigh, 0},
		} {
			got, found, err := s.SilenceMatch(ctx, tc.alertType, tc.model, tc.sev)
			must(t, err)
			if found != (tc.want != 0) || found && got.ID != tc.want {
				t.Errorf("%s on %q (%s): silence %d found %v, want %d", tc.alertType, tc.model, tc.sev, got.ID, found, tc.want)
			}
		}
		// Past their until, silences cover nothing, without anyone ending them.
		c.Advance(2 * time.Hour)
		if got, found, err := s.SilenceMatch(ctx, "drift", "churn", mlops.SeverityHigh); err != nil || found {
			t.Errorf("after every until: silence %+v found %v (%v)", got, found, err)
		}
	})
}

// TestAlertTriage: the alerts of a status, most severe first and then
// oldest first, with their model's name and the silence covering each
// open one; the counts by model, type and severity.
func TestAlertTriage(t *testing.T) {
	t.Parallel()
	eachClock(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := t.Context()
		churn, fraud := mustModel(t, s, "churn", "v1"), mustModel(t, s, "fraud", "v1")
		raise := func(key string, modelID int64, typ string, sev mlops.Severity) mlops.Alert {
			t.Helper()
			c.Advance(time.Minute)
			a, _, err := s.AlertRaiseByKey(ctx, key, modelID, mlops.NewAlert{AlertType: typ, Severity: sev, Title: key})
			must(t, err)
			return a
		}
		medOld := raise("d/churn", churn.ID, "drift", mlops.SeverityMedium)
		crit := raise("p/churn", churn.ID, "performance", mlops.SeverityCritical)
		medNew := raise("d/fraud", fraud.ID, "drift", mlops.SeverityMedium)
		c.Advance(time.Minute)
		hand, err := s.AlertCreate(ctx, mlops.NewAlert{AlertType: "drift", Severity: mlops.SeverityMedium, Title: "by hand"})
		must(t, err)
		done := raise("d/fraud/old", fraud.ID, "drift", mlops.SeverityMedium)
		if _, err := s.AlertResolve(ctx, done.ID, "ops", ""); err != nil {
			t.Fatal(err)
		}
		sil, err := s.SilenceCreate(ctx, mlops.NewSilence{Matchers: mlops.SilenceMatchers{AlertType: ptr("drift")},
			Until: c.Now().Add(time.Hour), Comment: "drift is expected during the migration"})
		must(t, err)

		rows, err := s.AlertTriageList(ctx, store.TriageFilter{Status: mlops.AlertActive, Limit: 10})
		must(t, err)
		var got []int64
		for _, r := range rows {
			got = append(got, r.ID)
			wantModel := map[int64]string{churn.ID: "churn", fraud.ID: "fraud"}
			if r.ModelID == nil && r.ModelName != "" || r.ModelID != nil && r.ModelName != wantModel[*r.ModelID] {
				t.Errorf("alert %d: model name %q", r.ID, r.ModelName)
			}
			silenced := r.SilenceID != nil && *r.SilenceID == sil.ID
			if silenced != (r.AlertType == "drift") {
				t.Errorf("alert %d (%s): silence %v", r.ID, r.AlertType, r.SilenceID)
			}
		}
		if want := []int64{crit.ID, medOld.ID, medNew.ID, hand.ID}; !reflect.DeepEqual(got, want) {
			t.Errorf("triage order = %v, want most severe, then oldest: %v", got, want)
		}
		rows, err = s.AlertTriageList(ctx, store.TriageFilter{Status: mlops.AlertActive, ModelName: "churn", AlertType: "drift",
			Severity: mlops.SeverityMedium, Limit: 10})
		must(t, err)
		if len(rows) != 1 || rows[0].ID != medOld.ID {
			t.Errorf("filtered to churn drift medium: %+v", rows)
		}
		rows, err = s.AlertTriageList(ctx, store.TriageFilter{Status: mlops.AlertResolved, Limit: 10})
		must(t, err)
		if len(rows) != 1 || rows[0].ID != done.ID || rows[0].SilenceID != nil {
			t.Errorf("resolved: %+v, want alert %d and no silence", rows, done.ID)
		}

		groups, err := s.AlertCountByGroup(ctx, mlops.AlertActive)
		must(t, err)
		type key struct{ model, typ string }
		byKey := map[key]store.AlertGroupCount{}
		for _, g := range groups {
			byKey[key{g.ModelName, g.AlertType}] = g
		}
		want := map[key]store.AlertGroupCount{
			{"churn", "drift"}:       {ModelName: "churn", AlertType: "drift", Severity: mlops.SeverityMedium, Count: 1, Silenced: 1, Oldest: medOld.CreatedAt},
			{"churn", "performance"}: {ModelName: "churn", AlertType: "performance", Severity: mlops.SeverityCritical, Count: 1, Oldest: crit.CreatedAt},
			{"fraud", "drift"}:       {ModelName: "fraud", AlertType: "drift", Severity: mlops.SeverityMedium, Count: 1, Silenced: 1, Oldest: medNew.CreatedAt},
			{"", "drift"}:            {AlertType: "drift", Severity: mlops.SeverityMedium, Count: 1, Silenced: 1, Oldest: hand.CreatedAt},
		}
		if !reflect.DeepEqual(byKey, want) {
			t.Errorf("groups = %+v\nwant %+v", byKey, want)
		}
		_, err = s.AlertTriageList(ctx, store.TriageFilter{Status: "open", Limit: 10})
		wantInvalid(t, err, "status")
	})
}
