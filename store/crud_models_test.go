package store_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
)

// TestModelVersionList checks the filters (name, status, limit) and the
// newest-first order.
func TestModelVersionList(t *testing.T) {
	t.Parallel()
	eachClock(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := t.Context()
		var ids []int64
		for i, nv := range [][2]string{{"churn", "v1"}, {"fraud", "v1"}, {"churn", "v2"}, {"churn", "v3"}, {"fraud", "v2"}} {
			in := newModel(nv[0], nv[1])
			if i%2 == 1 {
				in.Status = mlops.ModelStaging
			}
			m, err := s.ModelVersionCreate(ctx, in)
			must(t, err)
			ids = append(ids, m.ID)
			c.Advance(time.Second)
		}
		list := func(f store.ModelVersionFilter) []int64 {
			t.Helper()
			items, _, err := s.ModelVersionList(ctx, f)
			must(t, err)
			out := []int64{}
			for _, m := range items {
				out = append(out, m.ID)
			}
			return out
		}
		cases := []struct {
			name string
			f    store.ModelVersionFilter
			want []int64
		}{
			{"all, newest first", store.ModelVersionFilter{}, []int64{ids[4], ids[3], ids[2], ids[1], ids[0]}},
			{"by name", store.ModelVersionFilter{ModelName: "churn"}, []int64{ids[3], ids[2], ids[0]}},
			{"by status", store.ModelVersionFilter{Status: mlops.ModelStaging}, []int64{ids[3], ids[1]}},
			{"by name and status", store.ModelVersionFilter{ModelName: "fraud", Status: mlops.ModelTraining}, []int64{ids[4]}},
			{"limit", store.ModelVersionFilter{Page: store.Page{Limit: 2}}, []int64{ids[4], ids[3]}},
			{"no match", store.ModelVersionFilter{ModelName: "nope"}, []int64{}},
		}
		for _, tc := range cases {
			if got := list(tc.f); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s: ids %v, want %v", tc.name, got, tc.want)
			}
		}
		// The status filter follows activation.
		_, err := s.ModelVersionActivate(ctx, ids[0])
		must(t, err)
		if got := list(store.ModelVersionFilter{Status: mlops.ModelProduction}); !reflect.DeepEqual(got, []int64{ids[0]}) {
			t.Errorf("production after activation: %v, want [%d]", got, ids[0])
		}
	})
}

// TestModelVersionActivate checks set_model_active: the previous active
// version of the same model is demoted to archived, the new one promoted to
// production with activated_at; other models are untouched; re-activating
// the active version changes nothing; get_active_model by name and without
// a name (the most recently activated of any model).
func TestModelVersionActivate(t *testing.T) {
	t.Parallel()
	eachClock(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := t.Context()
		v1 := mustModel(t, s, "churn", "v1")
		v2 := mustModel(t, s, "churn", "v2")
		in := newModel("churn", "v3")
		in.Status = mlops.ModelStaging
		v3, err := s.ModelVersionCreate(ctx, in)
		must(t, err)
		f1 := mustModel(t, s, "fraud", "v1")

		get := func(id int64) mlops.ModelVersion {
			t.Helper()
			m, err := s.ModelVersionGet(ctx, id)
			must(t, err)
			return m
		}
		wantActive := func(name string, id int64) {
			t.Helper()
			m, err := s.ModelVersionActive(ctx, name)
			if err != nil || m.ID != id {
				t.Fatalf("ModelVersionActive(%q) = id %d, %v; want id %d", name, m.ID, err, id)
			}
		}
		activate := func(id int64, at time.Time) mlops.ModelVersion {
			t.Helper()
			c.Set(at)
			m, err := s.ModelVersionActivate(ctx, id)
			must(t, err)
			return m
		}

		t1 := base.Add(time.Minute)
		m := activate(v1.ID, t1)
		if !m.IsActive || m.Status != mlops.ModelProduction || m.ActivatedAt == nil || !m.ActivatedAt.Equal(t1) {
			t.Fatalf("activated v1: active %v status %s activated_at %v", m.IsActive, m.Status, m.ActivatedAt)
		}
		wantActive("churn", v1.ID)
		wantActive("", v1.ID)

		t2 := base.Add(2 * time.Minute)
		m = activate(v2.ID, t2)
		if !m.IsActive || m.Status != mlops.ModelProduction || !m.ActivatedAt.Equal(t2) {
			t.Fatalf("activated v2: %+v", m)
		}
		if old := get(v1.ID); old.IsActive || old.Status != mlops.ModelArchived {
			t.Fatalf("previous active v1 after activating v2: active %v status %s, want inactive archived", old.IsActive, old.Status)
		}
		if other := get(v3.ID); other.IsActive || other.Status != mlops.ModelStaging {
			t.Fatalf("v3 (never active) changed: active %v status %s", other.IsActive, other.Status)
		}
		wantActive("churn", v2.ID)

		// Another model: its activation does not touch churn, and becomes
		// the most recently activated.
		activate(f1.ID, base.Add(3*time.Minute))
		wantActive("fraud", f1.ID)
		wantActive("churn", v2.ID)
		wantActive("", f1.ID)
		if got := get(v2.ID); !got.IsActive || got.Status != mlops.ModelProduction {
			t.Fatalf("churn v2 was changed by activating fraud v1: %+v", got)
		}

		// Re-activating the active version changes nothing at all.
		before, _, err := s.ModelVersionList(ctx, store.ModelVersionFilter{})
		must(t, err)
		again := activate(v2.ID, base.Add(4*time.Minute))
		if !again.ActivatedAt.Equal(t2) {
			t.Fatalf("re-activation moved activated_at from %v to %v", t2, again.ActivatedAt)
		}
		after, _, err := s.ModelVersionList(ctx, store.ModelVersionFilter{})
		must(t, err)
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("re-activating the active version changed rows:\nbefore %+v\nafter  %+v", before, after)
		}
		wantActive("", f1.ID) // still fraud: nothing was re-activated

		// An archived version can come back; the one it replaces is archived.
		t5 := base.Add(5 * time.Minute)
		m = activate(v1.ID, t5)
		if !m.IsActive || m.Status != mlops.ModelProduction || !m.ActivatedAt.Equal(t5) {
			t.Fatalf("re-activated archived v1: %+v", m)
		}
		if old := get(v2.ID); old.IsActive || old.Status != mlops.ModelArchived {
			t.Fatalf("v2 after v1 came back: active %v status %s", old.IsActive, old.Status)
		}
		wantActive("churn", v1.ID)
		wantActive("", v1.ID)
		items, _, err := s.ModelVersionList(ctx, store.ModelVersionFilter{Status: mlops.ModelProduction})
		must(t, err)
		if len(items) != 2 {
			t.Fatalf("production versions = %d, want 2 (one per model)", len(items))
		}
	})
}
