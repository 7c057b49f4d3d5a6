package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
)

// row is the keyset of one listed record.
type row struct {
	id int64
	at time.Time
}

// pager creates and lists the records of one kind.
type pager struct {
	kind string
	// setup runs once per store and returns create and list for that store.
	setup func(t *testing.T, s *store.Store) (create func(i int) int64, list func(p store.Page) ([]row, string, error))
}

func pagers() []pager {
	return []pager{
		{"model_versions", func(t *testing.T, s *store.Store) (func(int) int64, func(store.Page) ([]row, string, error)) {
			return func(i int) int64 { return mustModel(t, s, "churn", fmt.Sprintf("v%d", i)).ID },
				func(p store.Page) ([]row, string, error) {
					items, next, err := s.ModelVersionList(t.Context(), store.ModelVersionFilter{ModelName: "churn", Page: p})
					return rows(items, func(m mlops.ModelVersion) row { return row{m.ID, m.CreatedAt} }), next, err
				}
		}},
		{"predictions", func(t *testing.T, s *store.Store) (func(int) int64, func(store.Page) ([]row, string, error)) {
			m := mustModel(t, s, "churn", "v1")
			return func(int) int64 { return mustPrediction(t, s, m.ID).ID },
				func(p store.Page) ([]row, string, error) {
					items, next, err := s.PredictionList(t.Context(), store.PredictionFilter{ModelID: m.ID, Page: p})
					return rows(items, func(p mlops.Prediction) row { return row{p.ID, p.CreatedAt} }), next, err
				}
		}},
		{"drift_reports", func(t *testing.T, s *store.Store) (func(int) int64, func(store.Page) ([]row, string, error)) {
			m := mustModel(t, s, "churn", "v1")
			return func(int) int64 { return mustDrift(t, s, m.ID).ID },
				func(p store.Page) ([]row, string, error) {
					items, next, err := s.DriftReportList(t.Context(), store.DriftReportFilter{ModelID: m.ID, Page: p})
					return rows(items, func(d mlops.DriftReport) row { return row{d.ID, d.CreatedAt} }), next, err
				}
		}},
		{"agent_actions", func(t *testing.T, s *store.Store) (func(int) int64, func(store.Page) ([]row, string, error)) {
			return func(i int) int64 { return mustAction(t, s, fmt.Sprintf("act-%d", i)).ID },
				func(p store.Page) ([]row, string, error) {
					items, next, err := s.ActionList(t.Context(), store.ActionFilter{Page: p})
					return rows(items, func(a mlops.AgentAction) row { return row{a.ID, a.CreatedAt} }), next, err
				}
		}},
		{"alerts", func(t *testing.T, s *store.Store) (func(int) int64, func(store.Page) ([]row, string, error)) {
			return func(i int) int64 { return mustAlert(t, s, fmt.Sprintf("alert %d", i)).ID },
				func(p store.Page) ([]row, string, error) {
					items, next, err := s.AlertList(t.Context(), store.AlertFilter{Page: p})
					return rows(items, func(a mlops.Alert) row { return row{a.ID, a.CreatedAt} }), next, err
				}
		}},
	}
}

func rows[T any](items []T, key func(T) row) []row {
	out := make([]row, len(items))
	for i, it := range items {
		out[i] = key(it)
	}
	return out
}

// TestKeysetPaging pages through 250 rows of every kind, 40 at a time,
// while new rows are inserted between pages. Timestamps repeat (three rows
// per clock tick), so the id tie-break is exercised. Every original row must
// come exactly once, in strict (created_at, id) descending order, and none
// of the rows inserted meanwhile may shift into a later page.
func TestKeysetPaging(t *testing.T) {
	t.Parallel()
	const n, limit = 250, 40
	for _, pg := range pagers() {
		t.Run(pg.kind, func(t *testing.T) {
			eachClock(t, func(t *testing.T, s *store.Store, c *clock) {
				create, list := pg.setup(t, s)
				original := map[int64]bool{}
				for i := 0; i < n; i++ {
					original[create(i)] = true
					if i%3 == 2 {
						c.Advance(time.Millisecond)
					}
				}
				seen := map[int64]int{}
				var all []row
				cursor, pages, extra := "", 0, n
				for {
					items, next, err := list(store.Page{Limit: limit, Cursor: cursor})
					must(t, err)
					pages++
					if len(items) > limit {
						t.Fatalf("page %d has %d rows, limit %d", pages, len(items), limit)
					}
					if next != "" && len(items) != limit {
						t.Fatalf("page %d: short page (%d rows) with a next cursor", pages, len(items))
					}
					for _, r := range items {
						seen[r.id]++
						if pages > 1 && !original[r.id] {
							t.Fatalf("page %d: row %d was inserted after paging started and shifted into a later page", pages, r.id)
						}
					}
					all = append(all, items...)
					if next == "" {
						break
					}
					cursor = next
					// Rows arriving between pages, at the current time and later.
					create(extra)
					extra++
					c.Advance(time.Millisecond)
					create(extra)
					extra++
				}
				if want := (n + limit - 1) / limit; pages != want {
					t.Errorf("pages = %d, want %d", pages, want)
				}
				for id := range original {
					if seen[id] != 1 {
						t.Errorf("row %d seen %d times, want exactly once", id, seen[id])
					}
				}
				if len(all) != n {
					t.Errorf("listed %d rows, want %d", len(all), n)
				}
				for i := 1; i < len(all); i++ {
					a, b := all[i-1], all[i]
					if !(b.at.Before(a.at) || (b.at.Equal(a.at) && b.id < a.id)) {
						t.Fatalf("order broken at %d: (%v, %d) then (%v, %d)", i, a.at, a.id, b.at, b.id)
					}
				}
			})
		})
	}
}

// TestPageLimits checks the default and maximum page size and that a
// cursor this service did not issue is refused.
func TestPageLimits(t *testing.T) {
	t.Parallel()
	eachClock(t, func(t *testing.T, s *store.Store, c *clock) {
		for i := 0; i < store.DefaultLimit+5; i++ {
			mustAlert(t, s, fmt.Sprintf("a%d", i))
		}
		items, next, err := s.AlertList(t.Context(), store.AlertFilter{})
		must(t, err)
		if len(items) != store.DefaultLimit || next == "" {
			t.Fatalf("default page: %d rows, next %q; want %d and a cursor", len(items), next, store.DefaultLimit)
		}
		items, next, err = s.AlertList(t.Context(), store.AlertFilter{Page: store.Page{Limit: store.DefaultLimit + 5}})
		must(t, err)
		if len(items) != store.DefaultLimit+5 || next != "" {
			t.Fatalf("exact page: %d rows, next %q", len(items), next)
		}
		_, _, err = s.AlertList(t.Context(), store.AlertFilter{Page: store.Page{Limit: store.MaxLimit + 1}})
		wantInvalid(t, err, "limit")
		for _, bad := range []string{"garbage", "djE", "djE6MTow" /* v1:1:0 */, "djI6MTox" /* v2:1:1 */} {
			_, _, err = s.AlertList(t.Context(), store.AlertFilter{Page: store.Page{Cursor: bad}})
			wantInvalid(t, err, "cursor")
		}
	})
}
