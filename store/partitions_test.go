package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// openPartitioned opens a fresh PostgreSQL store whose clock starts at
// base and converts it to the partitioned layout (daily partitions).
func openPartitioned(t *testing.T) (*store.Store, *clock) {
	t.Helper()
	c := newClock()
	s := storetest.Open(t, store.Postgres, store.Options{Now: c.Now})
	must(t, s.PartitionsMigrate(t.Context(), store.PartitionsMigrateOptions{Period: store.PartitionDay, Past: 10}))
	return s, c
}

// partitionOf names the partition holding the row of table with id.
func partitionOf(t *testing.T, s *store.Store, table string, id int64) string {
	t.Helper()
	var name string
	if err := s.DB().QueryRowContext(t.Context(), `SELECT tableoid::regclass::text FROM `+table+` WHERE id = $1`, id).Scan(&name); err != nil {
		t.Fatalf("find %s %d: %v", table, id, err)
	}
	return name
}

func TestPartitionsRowsLandInTheirPartition(t *testing.T) {
	s, c := openPartitioned(t)
	ctx := t.Context()
	m := mustModel(t, s, "churn", "v1")
	c.Set(base.Add(25 * time.Hour))
	if !s.Partitioned("predictions") || !s.Partitioned("performance_metrics") {
		t.Fatal("the store does not know its tables are partitioned")
	}
	at := func(t time.Time) *time.Time { return &t }
	boundary := base.AddDate(0, 0, 1)                   // a partition's first instant
	past := time.Date(1960, 5, 1, 0, 0, 0, 0, time.UTC) // before the epoch: the DEFAULT partition
	cases := []struct {
		at   *time.Time
		want string
	}{
		{nil, "predictions_p20260302"},
		{at(boundary), "predictions_p20260302"},
		{at(boundary.Add(-time.Microsecond)), "predictions_p20260301"},
		{at(past), "predictions_default"},
		{at(base.AddDate(-3, 0, 0)), "predictions_default"},
	}
	for _, tc := range cases {
		p, err := s.PredictionCreate(ctx, mlops.NewPrediction{ModelID: m.ID, Prediction: 1, CreatedAt: tc.at})
		must(t, err)
		if got := partitionOf(t, s, "predictions", p.ID); got != tc.want {
			t.Errorf("created_at %v: in %s, want %s", p.CreatedAt, got, tc.want)
		}
		if want := store.PartitionedID(p.ID&(1<<33-1), p.CreatedAt); p.ID != want {
			t.Errorf("created_at %v: id %d does not carry its hour (want %d)", p.CreatedAt, p.ID, want)
		}
		got, err := s.PredictionGet(ctx, p.ID)
		must(t, err)
		if !got.CreatedAt.Equal(p.CreatedAt) {
			t.Errorf("get %d: created_at %v, want %v", p.ID, got.CreatedAt, p.CreatedAt)
		}
		got, err = s.PredictionSetActual(ctx, p.ID, 1)
		must(t, err)
		if got.Actual == nil || *got.Actual != 1 {
			t.Errorf("set actual of %d: %+v", p.ID, got)
		}
	}
	// The batch path (COPY) and the metric paths give the same ids.
	ids, err := s.PredictionCreateBatch(ctx, []mlops.NewPrediction{
		{ModelID: m.ID, Prediction: 0, CreatedAt: at(boundary)}, {ModelID: m.ID, Prediction: 1, CreatedAt: at(past)}, {ModelID: m.ID, Prediction: 1}})
	must(t, err)
	for i, want := range []string{"predictions_p20260302", "predictions_default", "predictions_p20260302"} {
		if got := partitionOf(t, s, "predictions", ids[i]); got != want {
			t.Errorf("batch item %d: in %s, want %s", i, got, want)
		}
		if _, err := s.PredictionGet(ctx, ids[i]); err != nil {
			t.Errorf("get batch item %d (id %d): %v", i, ids[i], err)
		}
	}
	pt, err := s.MetricCreate(ctx, mlops.NewPerformanceMetric{MetricName: "latency", MetricValue: 3, CreatedAt: at(boundary)})
	must(t, err)
	if got := partitionOf(t, s, "performance_metrics", pt.ID); got != "performance_metrics_p20260302" {
		t.Errorf("metric point in %s", got)
	}
	mids, err := s.MetricCreateBatch(ctx, []mlops.NewPerformanceMetric{{MetricName: "latency", MetricValue: 1}, {MetricName: "latency", MetricValue: 2, CreatedAt: at(past)}})
	must(t, err)
	for _, id := range append(mids, pt.ID) {
		if _, err := s.MetricGet(ctx, id); err != nil {
			t.Errorf("metric %d: %v", id, err)
		}
	}
	if _, err := s.PredictionGet(ctx, ids[0]+1<<40); !errors.Is(err, mlops.ErrNotFound) {
		t.Errorf("an unknown id: %v, want not found", err)
	}
	// ensure creates the days ahead of a clock that moved on.
	c.Advance(30 * 24 * time.Hour)
	created, err := s.PartitionsEnsure(ctx, store.PartitionDay, 7)
	must(t, err)
	if !slices.Contains(created, "predictions_p20260401") || !slices.Contains(created, "performance_metrics_p20260408") {
		t.Errorf("ensure created %v", created)
	}
	again, err := s.PartitionsEnsure(ctx, store.PartitionDay, 7)
	must(t, err)
	if len(again) != 0 {
		t.Errorf("a second ensure created %v", again)
	}
	list, err := s.PartitionList(ctx, true)
	must(t, err)
	var rows int64
	for _, p := range list {
		if p.Table == "predictions" {
			rows += p.Rows
		}
	}
	if rows != 8 {
		t.Errorf("partitions list %d predictions, want 8", rows)
	}
}

func TestPartitionsLookupByIDTouchesOnePartition(t *testing.T) {
	s, _ := openPartitioned(t)
	ctx := t.Context()
	m := mustModel(t, s, "churn", "v1")
	p, err := s.PredictionCreate(ctx, mlops.NewPrediction{ModelID: m.ID, Prediction: 1})
	must(t, err)
	where, args := store.PredictionWhereID(s, p.ID, 1)
	rows, err := s.DB().QueryContext(ctx, `EXPLAIN (COSTS OFF) SELECT * FROM predictions WHERE `+where, args...)
	must(t, err)
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var line string
		must(t, rows.Scan(&line))
		plan = append(plan, line)
	}
	text := strings.Join(plan, "\n")
	if n := strings.Count(text, " on predictions_"); n != 1 {
		t.Errorf("the lookup of %d reaches %d partitions:\n%s", p.ID, n, text)
	}
}

func TestPartitionsPruneDropsWholePartitions(t *testing.T) {
	s, c := openPartitioned(t)
	ctx := t.Context()
	m := mustModel(t, s, "churn", "v1")
	// A row every 6 hours over 5 days, then 21 days on: the first four
	// days' partitions are older than the cutoff, the fifth day straddles it.
	c.Set(base.Add(5 * 24 * time.Hour))
	var in []mlops.NewPrediction
	var points []mlops.NewPerformanceMetric
	for h := 0; h < 5*24; h += 6 {
		at := base.Add(time.Duration(h) * time.Hour)
		in = append(in, mlops.NewPrediction{ModelID: m.ID, Prediction: 1, CreatedAt: &at})
		points = append(points, mlops.NewPerformanceMetric{MetricName: "latency", MetricValue: float64(h), CreatedAt: &at})
	}
	_, err := s.PredictionCreateBatch(ctx, in)
	must(t, err)
	_, err = s.MetricCreateBatch(ctx, points)
	must(t, err)
	c.Set(base.Add(21 * 24 * time.Hour))
	cutoff := base.Add(4*24*time.Hour + 12*time.Hour) // within day five
	for _, kind := range []string{"predictions", "metrics"} {
		n, err := s.PruneCount(ctx, kind, cutoff)
		must(t, err)
		if n != 18 {
			t.Errorf("dry run of %s: %d, want 18", kind, n)
		}
		var progress []int64
		n, err = s.Prune(ctx, kind, cutoff, 1000, func(d int64) { progress = append(progress, d) })
		must(t, err)
		if n != 18 || len(progress) < 5 || progress[len(progress)-1] != 18 {
			t.Errorf("prune %s: %d deleted, progress %v", kind, n, progress)
		}
	}
	list, err := s.PartitionList(ctx, true)
	must(t, err)
	for _, p := range list {
		if !p.Default && p.To.Before(cutoff.Add(time.Nanosecond)) {
			t.Errorf("partition %s (to %v) outlived the cutoff", p.Name, p.To)
		}
		if p.Name == "predictions_p20260305" && p.Rows != 2 {
			t.Errorf("the straddling partition kept %d rows, want 2 (12:00 and 18:00)", p.Rows)
		}
	}
	var rollups int64
	must(t, s.DB().QueryRowContext(ctx, `SELECT (SELECT count(*) FROM metric_rollups WHERE minute < $1) + (SELECT count(*) FROM metric_rollups_hourly WHERE hour < $1)`,
		cutoff.Unix()).Scan(&rollups))
	if rollups != 0 {
		t.Errorf("%d metric rollups of pruned points are left", rollups)
	}
	buckets, err := s.MetricBuckets(ctx, store.MetricFilter{Name: "latency"}, "1d")
	must(t, err)
	if len(buckets) != 1 || buckets[0].Count != 2 {
		t.Errorf("buckets after prune: %+v", buckets)
	}
	var events int
	must(t, s.DB().QueryRowContext(ctx, `SELECT count(*) FROM audit_events WHERE event = 'prune.ran' AND after::text LIKE '%partitions_dropped%'`).Scan(&events))
	if events != 2 {
		t.Errorf("%d prune.ran events name the dropped partitions, want 2", events)
	}
}

func TestPartitionsMigrateKeepsEveryRowAndID(t *testing.T) {
	c := newClock()
	url := storetest.URL(t, store.Postgres)
	s := storetest.OpenURL(t, url, store.Options{Now: c.Now})
	ctx := t.Context()
	m := mustModel(t, s, "churn", "v1")
	// 250 legacy rows over 10 days, some before any partition.
	var in []mlops.NewPrediction
	var points []mlops.NewPerformanceMetric
	for i := range 250 {
		at := base.Add(-time.Duration(i) * time.Hour)
		if i%50 == 0 {
			at = at.AddDate(-5, 0, 0)
		}
		in = append(in, mlops.NewPrediction{ModelID: m.ID, Prediction: int64(i % 2), CreatedAt: &at})
		points = append(points, mlops.NewPerformanceMetric{MetricName: "x", MetricValue: float64(i), CreatedAt: &at})
	}
	legacy, err := s.PredictionCreateBatch(ctx, in)
	must(t, err)
	_, err = s.MetricCreateBatch(ctx, points)
	must(t, err)
	before := snapshot(t, s, "predictions")
	beforeM := snapshot(t, s, "performance_metrics")

	// Interrupted after the second batch; meanwhile a copied row gets
	// its ground truth, and new rows arrive.
	stopCtx, stop := context.WithCancel(ctx)
	batches := 0
	var during []int64
	err = s.PartitionsMigrate(stopCtx, store.PartitionsMigrateOptions{Batch: 40, Past: 10, Progress: func(p store.MigrateProgress) {
		batches++
		if batches == 1 {
			_, err := s.PredictionSetActual(ctx, legacy[0], 1)
			must(t, err)
			p, err := s.PredictionCreate(ctx, mlops.NewPrediction{ModelID: m.ID, Prediction: 1})
			must(t, err)
			during = append(during, p.ID)
			ids, err := s.PredictionCreateBatch(ctx, []mlops.NewPrediction{{ModelID: m.ID, Prediction: 0}})
			must(t, err)
			during = append(during, ids...)
		}
		if batches == 2 {
			stop()
		}
	}})
	if err == nil {
		t.Fatal("the interrupted migration reported success")
	}
	if s.Partitioned("predictions") {
		t.Fatal("predictions counts as partitioned after an interrupted migration")
	}
	// Writes between the two runs.
	p, err := s.PredictionCreate(ctx, mlops.NewPrediction{ModelID: m.ID, Prediction: 1})
	must(t, err)
	during = append(during, p.ID)
	_, err = s.PredictionSetActual(ctx, legacy[249], 0)
	must(t, err)

	var progress []store.MigrateProgress
	must(t, s.PartitionsMigrate(ctx, store.PartitionsMigrateOptions{Batch: 40, Past: 10, Progress: func(p store.MigrateProgress) { progress = append(progress, p) }}))
	if len(progress) == 0 || !progress[len(progress)-1].Done {
		t.Errorf("progress: %+v", progress)
	}
	if !s.Partitioned("predictions") || !s.Partitioned("performance_metrics") {
		t.Fatal("not partitioned after the migration")
	}
	after := snapshot(t, s, "predictions")
	for id, row := range before {
		switch id {
		case legacy[0]:
			row = strings.Replace(row, "actual=<nil>", "actual=1", 1)
		case legacy[249]:
			row = strings.Replace(row, "actual=<nil>", "actual=0", 1)
		}
		if after[id] != row {
			t.Errorf("prediction %d: %q after the migration, was %q", id, after[id], row)
		}
	}
	for _, id := range during {
		if _, ok := after[id]; !ok {
			t.Errorf("prediction %d written during the migration is lost", id)
		}
	}
	if len(after) != len(before)+len(during) {
		t.Errorf("%d predictions after the migration, want %d", len(after), len(before)+len(during))
	}
	afterM := snapshot(t, s, "performance_metrics")
	if len(afterM) != len(beforeM) {
		t.Errorf("%d metric points after the migration, want %d", len(afterM), len(beforeM))
	}
	for id, row := range beforeM {
		if afterM[id] != row {
			t.Errorf("metric point %d: %q, was %q", id, afterM[id], row)
		}
	}
	// Lookups by id: legacy ids, ids written during the migration, new ids.
	for _, id := range append(slices.Clone(legacy), during...) {
		if _, err := s.PredictionGet(ctx, id); err != nil {
			t.Fatalf("get %d after the migration: %v", id, err)
		}
	}
	got, err := s.PredictionSetActual(ctx, legacy[100], 1)
	must(t, err)
	if got.Actual == nil || *got.Actual != 1 {
		t.Errorf("set actual of legacy %d: %+v", legacy[100], got)
	}
	np, err := s.PredictionCreate(ctx, mlops.NewPrediction{ModelID: m.ID, Prediction: 1})
	must(t, err)
	if np.ID < 1<<33 {
		t.Errorf("a new id %d does not carry its hour", np.ID)
	}
	if _, err := s.PredictionSetActual(ctx, np.ID, 0); err != nil {
		t.Errorf("set actual of new %d: %v", np.ID, err)
	}
	// A second store on the database knows the layout from the database.
	s2, err := store.Open(ctx, url, store.Options{})
	must(t, err)
	defer s2.Close()
	if !s2.Partitioned("predictions") {
		t.Error("a second store does not see the layout")
	}
	if _, err := s2.PredictionGet(ctx, legacy[7]); err != nil {
		t.Errorf("second store, legacy id: %v", err)
	}
	// Twice is refused.
	if err := s.PartitionsMigrate(ctx, store.PartitionsMigrateOptions{}); !errors.Is(err, store.ErrAlreadyPartitioned) {
		t.Errorf("second migration: %v, want ErrAlreadyPartitioned", err)
	}
	// The schema check compares the partitioned layout with its own.
	mg, err := s.Migrator()
	must(t, err)
	diff, err := mg.Check(ctx)
	must(t, err)
	if len(diff) > 0 {
		t.Errorf("migrate check after the migration:\n%s", strings.Join(diff, "\n"))
	}
}

// snapshot reads every row of table as text, by id.
func snapshot(t *testing.T, s *store.Store, table string) map[int64]string {
	t.Helper()
	cols := "model_id, features::text, prediction, probability, latency_ms, actual, created_at"
	if table == "performance_metrics" {
		cols = "metric_name, metric_value, model_id, created_at, metadata::text"
	}
	rows, err := s.DB().QueryContext(t.Context(), `SELECT id, `+cols+` FROM `+table)
	must(t, err)
	defer rows.Close()
	out := map[int64]string{}
	for rows.Next() {
		var id int64
		vals := make([]any, 7)
		ptrs := []any{&id}
		n := strings.Count(cols, ",") + 1
		for i := range n {
			ptrs = append(ptrs, &vals[i])
		}
		must(t, rows.Scan(ptrs...))
		var b strings.Builder
		for i, v := range vals[:n] {
			if i == 5 && table == "predictions" {
				b.WriteString("actual=")
			}
			if tm, ok := v.(time.Time); ok {
				v = tm.UTC().Format(time.RFC3339Nano)
			}
			b.WriteString(strings.TrimSpace(strings.ReplaceAll(fmt.Sprint(v), "\n", " ")))
			b.WriteByte('|')
		}
		if _, dup := out[id]; dup {
			t.Errorf("%s holds id %d twice", table, id)
		}
		out[id] = b.String()
	}
	must(t, rows.Err())
	return out
}
