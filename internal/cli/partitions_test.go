package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// TestPartitionsCommands: on PostgreSQL, migrate converts a populated
// database (and refuses a second run), list shows the partitions, ensure
// adds the days ahead, prune drops the old partitions and migrate check
// stays clean; on SQLite every partitions command says it is a PostgreSQL
// feature.
func TestPartitionsCommands(t *testing.T) {
	storetest.EachURL(t, func(t *testing.T, url string) {
		s := storetest.OpenURL(t, url, store.Options{})
		if s.Engine() == store.SQLite {
			for _, cmd := range []string{"list", "ensure", "migrate"} {
				code, _, errs := run(t, url, "partitions", cmd)
				if code != 1 || !strings.Contains(errs, "partitions are a PostgreSQL feature") || strings.Count(errs, "\n") != 1 {
					t.Errorf("partitions %s on SQLite: code %d, stderr %q; want 1 and one line naming PostgreSQL", cmd, code, errs)
				}
			}
			return
		}
		ctx := t.Context()
		m, err := s.ModelVersionCreate(ctx, mlops.NewModelVersion{ModelName: "churn", Version: "v1", Algorithm: "logreg"})
		if err != nil {
			t.Fatal(err)
		}
		var in []mlops.NewPrediction
		for i := range 30 {
			at := time.Now().UTC().Add(-time.Duration(i)*24*time.Hour - 12*time.Hour)
			in = append(in, mlops.NewPrediction{ModelID: m.ID, Prediction: 1, CreatedAt: &at})
		}
		ids, err := s.PredictionCreateBatch(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if code, out, _ := run(t, url, "partitions", "list"); code != 0 || !strings.Contains(out, "not partitioned") {
			t.Fatalf("list before: code %d out %q", code, out)
		}
		if code, _, errs := run(t, url, "partitions", "ensure"); code != 1 || !strings.Contains(errs, "mlops partitions migrate") {
			t.Fatalf("ensure before: code %d err %q", code, errs)
		}
		code, out, errs := run(t, url, "partitions", "migrate", "--batch", "7", "--past", "40")
		if code != 0 || !strings.Contains(out, "predictions: done, 30 rows") || !strings.Contains(out, "performance_metrics: done, 0 rows") {
			t.Fatalf("migrate: code %d out %q err %q", code, out, errs)
		}
		if code, _, errs := run(t, url, "partitions", "migrate"); code != 1 || !strings.Contains(errs, "already partitioned") {
			t.Fatalf("second migrate: code %d err %q", code, errs)
		}
		code, out, errs = run(t, url, "partitions", "list", "--exact")
		if code != 0 || !strings.Contains(out, "ROWS (EXACT)") || !strings.Contains(out, "predictions_default") ||
			!strings.Contains(out, "predictions_p"+time.Now().UTC().Format("20060102")) {
			t.Fatalf("list: code %d out %q err %q", code, out, errs)
		}
		code, out, errs = run(t, url, "partitions", "ensure", "--ahead", "10")
		if code != 0 || !strings.Contains(out, "created predictions_p"+time.Now().UTC().AddDate(0, 0, 10).Format("20060102")) {
			t.Fatalf("ensure: code %d out %q err %q", code, out, errs)
		}
		code, out, errs = run(t, url, "prune", "--older-than", "10d", "--what", "predictions", "--dry-run")
		if code != 0 || !strings.Contains(out, "predictions: 20 would be deleted") {
			t.Fatalf("prune --dry-run: code %d out %q err %q", code, out, errs)
		}
		code, out, errs = run(t, url, "prune", "--older-than", "10d", "--what", "predictions")
		if code != 0 || !strings.Contains(out, "predictions: 20 deleted") {
			t.Fatalf("prune: code %d out %q err %q", code, out, errs)
		}
		for i, id := range ids {
			_, err := s.PredictionGet(ctx, id)
			if gone := i >= 10; gone != (err != nil) {
				t.Errorf("prediction %d, %d.5 days old: %v", id, i, err)
			}
		}
		if code, out, errs := run(t, url, "migrate", "check"); code != 0 {
			t.Fatalf("migrate check: code %d out %q err %q", code, out, errs)
		}
	})
}
