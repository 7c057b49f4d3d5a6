package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// writeLines writes lines, one a line, to a file of the test and returns
// its path.
func writeLines(t *testing.T, lines []string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "history.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// importStore is a migrated store on url (the real clock, as the command's)
// with one model version.
func importStore(t *testing.T, url string) (*store.Store, mlops.ModelVersion) {
	t.Helper()
	s := storetest.OpenURL(t, url, store.Options{})
	return s, storetest.Model(t, s, "churn", "v1", "city", "n")
}

// storedCreatedAt maps features.n of every stored prediction to its
// created_at.
func storedCreatedAt(t *testing.T, s *store.Store, modelID int64) map[int]time.Time {
	t.Helper()
	items, _, err := s.PredictionList(context.Background(), store.PredictionFilter{ModelID: modelID, Page: store.Page{Limit: -1}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]time.Time{}
	for _, p := range items {
		var f struct {
			City string `json:"city"`
			N    int    `json:"n"`
		}
		if err := json.Unmarshal(p.Features, &f); err != nil || f.City != "lyon" {
			t.Fatalf("prediction %d has features %s", p.ID, p.Features)
		}
		out[f.N] = p.CreatedAt
	}
	return out
}

// TestImportPredictions: 25,000 predictions of the last 30 days are stored
// in three transactions, each with its own created_at, features verbatim.
func TestImportPredictions(t *testing.T) {
	t.Parallel()
	storetest.EachURL(t, func(t *testing.T, url string) {
		s, m := importStore(t, url)
		const n = 25000
		now := time.Now().UTC().Truncate(time.Microsecond)
		at := func(i int) time.Time { return now.Add(-time.Duration(i) * (30 * 24 * time.Hour / n)).Add(-time.Minute) }
		lines := make([]string, n)
		for i := range lines {
			lines[i] = fmt.Sprintf(`{"model_id": %d, "prediction": %d, "probability": 0.%03d, "features": {"city": "lyon", "n": %d}, "created_at": %q}`,
				m.ID, i%2, i%1000, i, at(i).Format(time.RFC3339Nano))
		}
		path := writeLines(t, lines)
		code, out, errs := run(t, url, "import", "predictions", path)
		if code != 0 {
			t.Fatalf("import predictions: code %d\nstdout %s\nstderr %s", code, out, errs)
		}
		for _, want := range []string{"10000 predictions stored (to line 10000)", "20000 predictions stored (to line 20000)",
			"25000 predictions stored (to line 25000)", "imported 25000 predictions in 3 transactions"} {
			if !strings.Contains(out, want) {
				t.Errorf("the output lacks %q:\n%s", want, out)
			}
		}
		got := storedCreatedAt(t, s, m.ID)
		if len(got) != n {
			t.Fatalf("%d predictions stored, want %d", len(got), n)
		}
		for i := range n {
			if !got[i].Equal(at(i)) {
				t.Fatalf("prediction n=%d has created_at %s, want %s", i, got[i], at(i))
			}
		}
		var events int
		if err := s.DB().QueryRow(`SELECT count(*) FROM audit_events WHERE event = 'predictions.logged'`).Scan(&events); err != nil || events != 3 {
			t.Errorf("%d predictions.logged events, %v; want 3, one per transaction", events, err)
		}
	})
}

// TestImportBadLine: a bad line stops the import naming its line and
// field; its chunk is not stored, the chunks before it are, and the error
// says where to resume.
func TestImportBadLine(t *testing.T) {
	t.Parallel()
	storetest.EachURL(t, func(t *testing.T, url string) {
		s, m := importStore(t, url)
		good := func(i int) string {
			return fmt.Sprintf(`{"model_id": %d, "prediction": 1, "features": {"city": "lyon", "n": %d}}`, m.ID, i)
		}
		for _, c := range []struct {
			name, line, want string
		}{
			{"a name twice in features", fmt.Sprintf(`{"model_id": %d, "prediction": 1, "features": {"city": "lyon", "city": "nice"}}`, m.ID),
				"line 17: features.city: appears twice in its object"},
			{"a lone surrogate", fmt.Sprintf(`{"model_id": %d, "prediction": 1, "features": {"city": "\ud800"}}`, m.ID),
				"line 17: features.city: holds invalid UTF-8"},
			{"a string for a number", fmt.Sprintf(`{"model_id": %d, "prediction": 1, "probability": "high"}`, m.ID),
				"line 17: probability: must be a number, got a string"},
			{"a probability out of range", fmt.Sprintf(`{"model_id": %d, "prediction": 1, "probability": 1.5}`, m.ID),
				"line 17: probability: must be"},
			{"an unknown model", `{"model_id": 424242, "prediction": 1}`,
				"line 17: model_id: no model version with id 424242"},
			{"an unknown field", fmt.Sprintf(`{"model_id": %d, "prediction": 1, "Features": {}}`, m.ID),
				`line 17: Features: unknown field "Features"`},
			{"two objects", fmt.Sprintf(`{"model_id": %d, "prediction": 1} {}`, m.ID),
				"line 17: has more after its JSON object"},
			{"broken JSON", fmt.Sprintf(`{"model_id": %d, "prediction": 1`, m.ID),
				"line 17: ends before its JSON object is complete"},
		} {
			t.Run(c.name, func(t *testing.T) {
				if _, err := s.DB().Exec(`DELETE FROM predictions`); err != nil {
					t.Fatal(err)
				}
				lines := make([]string, 25)
				for i := range lines {
					lines[i] = good(i + 1)
				}
				lines[16] = c.line
				lines[3] = "" // blank lines are skipped, and counted
				path := writeLines(t, lines)
				code, out, errs := run(t, url, "import", "predictions", path, "--batch", "10")
				// Line 4 is blank: the first chunk is lines 1 to 11.
				want := c.want + "; 10 predictions from the lines before line 12 were stored, nothing from line 12 on: resume with tail -n +12 " + path +
					" | mlops import predictions -"
				if code != 1 || !strings.Contains(errs, c.want) || !strings.Contains(errs, want[len(c.want):]) || strings.Count(errs, "\n") != 1 {
					t.Fatalf("import with a bad line 17: code %d\nstdout %s\nstderr %s\nwant %q", code, out, errs, want)
				}
				got := storedCreatedAt(t, s, m.ID)
				if len(got) != 10 {
					t.Errorf("%d predictions stored, want the 10 of lines 1 to 11", len(got))
				}
				for n := range got {
					if n > 11 {
						t.Errorf("the prediction of line %d was stored", n)
					}
				}
			})
		}
	})
}

// TestImportFutureRefused: a created_at more than 5 minutes ahead is
// refused, and nothing of its chunk is stored.
func TestImportFutureRefused(t *testing.T) {
	t.Parallel()
	storetest.EachURL(t, func(t *testing.T, url string) {
		s, m := importStore(t, url)
		lines := []string{
			fmt.Sprintf(`{"model_id": %d, "prediction": 1, "created_at": %q}`, m.ID, time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)),
			fmt.Sprintf(`{"model_id": %d, "prediction": 1, "created_at": %q}`, m.ID, time.Now().Add(time.Hour).UTC().Format(time.RFC3339)),
		}
		code, _, errs := run(t, url, "import", "predictions", writeLines(t, lines))
		if code != 1 || !strings.Contains(errs, "line 2: created_at: is ") || !strings.Contains(errs, "in the future") || !strings.Contains(errs, "nothing was stored") {
			t.Fatalf("import with a future created_at: code %d stderr %q", code, errs)
		}
		if n := count(t, s, "predictions"); n != 0 {
			t.Errorf("%d predictions stored, want none", n)
		}
	})
}

// TestImportMetrics: metric points from standard input, with their
// rollups; a bad point names its line.
func TestImportMetrics(t *testing.T) {
	storetest.EachURL(t, func(t *testing.T, url string) {
		s, m := importStore(t, url)
		at := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Minute)
		var lines []string
		for i := range 30 {
			lines = append(lines, fmt.Sprintf(`{"metric_name": "latency_ms", "metric_value": %d, "model_id": %d, "created_at": %q}`,
				i, m.ID, at.Add(time.Duration(i)*time.Second).Format(time.RFC3339)))
		}
		lines = append(lines, `{"metric_name": "queue_depth", "metric_value": 4, "metadata": {"host": "a"}}`)
		code, out, errs := runWithInput(t, url, strings.Join(lines, "\r\n"), "import", "metrics", "-", "--batch", "20")
		if code != 0 || !strings.Contains(out, "imported 31 metrics in 2 transactions") {
			t.Fatalf("import metrics: code %d\nstdout %s\nstderr %s", code, out, errs)
		}
		b, err := s.MetricBuckets(context.Background(), store.MetricFilter{Name: "latency_ms", ModelID: &m.ID, Since: at.Add(-time.Hour)}, "1h")
		if err != nil || len(b) != 1 || b[0].Count != 30 || b[0].Max != 29 {
			t.Errorf("the imported points' buckets: %+v, %v; want one bucket of 30 points up to 29", b, err)
		}

		code, _, errs = runWithInput(t, url, `{"metric_name": "x", "metric_value": 1}`+"\n"+`{"metric_name": "x"}`, "import", "metrics", "-")
		if code != 1 || !strings.Contains(errs, "line 2: metric_value: is required") || !strings.Contains(errs, "nothing was stored") {
			t.Fatalf("import metrics with a bad line: code %d stderr %q", code, errs)
		}
		long := `{"metric_name": "x", "metric_value": 1, "metadata": {"pad": "` + strings.Repeat("x", 1<<20) + `"}}`
		code, _, errs = runWithInput(t, url, long, "import", "metrics", "-")
		if code != 1 || !strings.Contains(errs, "line 1: is longer than 1 MiB") {
			t.Errorf("import metrics with a line over 1 MiB: code %d stderr %.200q", code, errs)
		}
		code, _, errs = run(t, url, "import", "metrics")
		if code != 2 || !strings.Contains(errs, "- for standard input") {
			t.Errorf("import metrics without a file: code %d stderr %q", code, errs)
		}
	})
}

func count(t *testing.T, s *store.Store, table string) int {
	t.Helper()
	var n int
	if err := s.DB().QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
