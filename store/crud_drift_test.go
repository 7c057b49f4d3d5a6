package store_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
)

// TestDriftReportCRUD checks create/get (n_drifted_features derived),
// get_latest_drift_report per model and for any model, and the history by
// days.
func TestDriftReportCRUD(t *testing.T) {
	t.Parallel()
	eachClock(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := t.Context()
		m := mustModel(t, s, "churn", "v1")
		other := mustModel(t, s, "churn", "v2")

		c.Set(base.Add(-10 * 24 * time.Hour))
		d, err := s.DriftReportCreate(ctx, mlops.NewDriftReport{ModelID: m.ID, DriftDetected: true, DriftScore: ptr(-0.5),
			DriftedFeatures: []string{"age", "income"}, NDriftedFeatures: ptr(2), ReportPath: "/reports/1.html",
			ReferenceSize: ptr(int64(1000)), CurrentSize: ptr(int64(0)), Details: mlops.JSON(`{"age": {"psi": 0.3}}`)})
		must(t, err)
		got, err := s.DriftReportGet(ctx, d.ID)
		must(t, err)
		if got.ModelID != m.ID || !got.DriftDetected || *got.DriftScore != -0.5 || got.NDriftedFeatures != 2 ||
			!reflect.DeepEqual(got.DriftedFeatures, []string{"age", "income"}) || got.ReportPath != "/reports/1.html" ||
			*got.ReferenceSize != 1000 || *got.CurrentSize != 0 || !got.CreatedAt.Equal(base.Add(-10*24*time.Hour)) {
			t.Fatalf("round trip: %+v", got)
		}
		if normJSON(t, got.Details)["age"].(map[string]any)["psi"] != 0.3 {
			t.Fatalf("details = %s", got.Details)
		}
		bare, err := s.DriftReportCreate(ctx, mlops.NewDriftReport{ModelID: m.ID})
		must(t, err)
		if bare.NDriftedFeatures != 0 || bare.DriftedFeatures == nil || len(bare.DriftedFeatures) != 0 || bare.Details != nil || bare.DriftScore != nil {
			t.Fatalf("bare report: %+v", bare)
		}

		// One report per day for the last 5 days (days 4..0 ago), then one of another model.
		var byAge []int64
		for day := 4; day >= 0; day-- {
			c.Set(base.Add(time.Duration(-day) * 24 * time.Hour))
			byAge = append([]int64{mustDrift(t, s, m.ID).ID}, byAge...)
		}
		c.Set(base.Add(time.Minute))
		latestOther := mustDrift(t, s, other.ID)
		c.Set(base.Add(time.Hour))

		latest, err := s.DriftReportLatest(ctx, m.ID)
		must(t, err)
		if latest.ID != byAge[0] {
			t.Fatalf("latest of model %d = %d, want %d", m.ID, latest.ID, byAge[0])
		}
		latest, err = s.DriftReportLatest(ctx, 0)
		must(t, err)
		if latest.ID != latestOther.ID {
			t.Fatalf("latest of any model = %d, want %d", latest.ID, latestOther.ID)
		}

		history := func(days int) []int64 {
			t.Helper()
			items, _, err := s.DriftReportList(ctx, store.DriftReportFilter{ModelID: m.ID,
				Since: s.Now().Add(-time.Duration(days) * 24 * time.Hour), Page: store.Page{Limit: -1}})
			must(t, err)
			out := []int64{}
			for _, d := range items {
				out = append(out, d.ID)
			}
			return out
		}
		// Now is base+1h: "last 2 days" reaches back to base-47h, which
		// holds the reports of days 0 and 1.
		if got := history(2); !reflect.DeepEqual(got, byAge[:2]) {
			t.Errorf("last 2 days: %v, want %v", got, byAge[:2])
		}
		if got := history(7); !reflect.DeepEqual(got, byAge) {
			t.Errorf("last 7 days: %v, want %v", got, byAge)
		}
		if got := history(30); len(got) != 7 { // 5 daily + d + bare (10 days ago)
			t.Errorf("last 30 days: %d reports, want 7", len(got))
		}
		all, _, err := s.DriftReportList(ctx, store.DriftReportFilter{})
		must(t, err)
		if len(all) != 8 || all[0].ID != latestOther.ID {
			t.Errorf("every model: %d reports, newest %d; want 8, newest %d", len(all), all[0].ID, latestOther.ID)
		}
	})
}
