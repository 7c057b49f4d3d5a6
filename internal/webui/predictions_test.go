package webui_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
)

// investigated registers spam v1 (features x and note) with 24
// predictions, one every 10 minutes from t0: prediction i%2, probability
// i/24, the ground truth (i/6)%2 for every third one (half of them wrong). The note of the
// sixth looks like a spreadsheet formula; the eighth has no note but a key
// the version does not name.
func investigated(t *testing.T, e *env) (mlops.ModelVersion, []mlops.Prediction) {
	t.Helper()
	ctx := context.Background()
	m := must(e.st.ModelVersionCreate(ctx, mlops.NewModelVersion{ModelName: "spam", Version: "v1", Algorithm: "logreg",
		FeatureNames: []string{"x", "note"}}))
	var out []mlops.Prediction
	for i := range 24 {
		features := fmt.Sprintf(`{"x": %d, "note": "n%d"}`, i, i)
		switch i {
		case 5:
			features = `{"x": 5, "note": "=HYPERLINK(\"http://evil\")"}`
		case 7:
			features = `{"x": 7, "extra": [1, 2]}`
		}
		p := mlops.NewPrediction{ModelID: m.ID, Features: mlops.JSON(features), Prediction: int64(i % 2),
			Probability: ptr(float64(i) / 24), LatencyMS: ptr(5.0), CreatedAt: ptr(t0.Add(time.Duration(i) * 10 * time.Minute))}
		if i%3 == 0 {
			p.Actual = ptr(int64(i / 6 % 2))
		}
		out = append(out, must(e.st.PredictionCreate(ctx, p)))
	}
	return m, out
}

// pageIDs follows a listing's next links from path and returns the ids of
// its rows, in order.
func pageIDs(t *testing.T, e *env, path string) []int64 {
	t.Helper()
	var ids []int64
	for path != "" {
		code, body := e.get(t, path)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d\n%s", path, code, body)
		}
		for _, m := range rowID.FindAllStringSubmatch(body, -1) {
			id, _ := strconv.ParseInt(m[1], 10, 64)
			ids = append(ids, id)
		}
		path = ""
		if m := nextLink.FindStringSubmatch(body); m != nil {
			path = strings.ReplaceAll(m[1], "&amp;", "&")
		}
	}
	return ids
}

var nextLink = regexp.MustCompile(`<a href="([^"]+)" rel="next">`)

// searchIDs is what the store selects for f, every page.
func searchIDs(t *testing.T, e *env, f store.PredictionSearch) []int64 {
	t.Helper()
	f.Limit = -1
	items, _, err := e.st.PredictionSearchList(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int64, len(items))
	for i, p := range items {
		ids[i] = p.ID
	}
	return ids
}

func TestPredictionsFilters(t *testing.T) {
	t.Parallel()
	eachEngine(t, true, func(t *testing.T, e *env) {
		m, preds := investigated(t, e)
		base := fmt.Sprintf("/predictions?model_id=%d", m.ID)
		search := func(mod func(*store.PredictionSearch)) store.PredictionSearch {
			f := store.PredictionSearch{PredictionFilter: store.PredictionFilter{ModelID: m.ID}}
			mod(&f)
			return f
		}
		for _, tc := range []struct {
			query string
			f     store.PredictionSearch
			n     int
		}{
			{"", search(func(*store.PredictionSearch) {}), 24},
			{"&wrong=1", search(func(f *store.PredictionSearch) { f.WrongOnly = true }), 4},
			{"&labelled=1", search(func(f *store.PredictionSearch) { f.LabelledOnly = true }), 8},
			{"&class=1", search(func(f *store.PredictionSearch) { f.Class = ptr(int64(1)) }), 12},
			{"&pmin=0.5&pmax=0.75", search(func(f *store.PredictionSearch) { f.MinProbability, f.MaxProbability = ptr(0.5), ptr(0.75) }), 7},
			{"&from=2026-11-20T09:00&to=2026-11-20T10:00", search(func(f *store.PredictionSearch) {
				f.Since, f.Until = t0.Add(time.Hour), t0.Add(2*time.Hour)
			}), 6},
			{"&labelled=1&class=0&from=2026-11-20T08:30:00Z", search(func(f *store.PredictionSearch) {
				f.LabelledOnly, f.Class, f.Since = true, ptr(int64(0)), t0.Add(30*time.Minute)
			}), 3},
		} {
			got, want := pageIDs(t, e, base+tc.query), searchIDs(t, e, tc.f)
			if len(want) != tc.n || !slices.Equal(got, want) {
				t.Errorf("%s: the page lists %v, the store %v (want %d rows)", tc.query, got, want, tc.n)
			}
		}

		// Every feature is a column, the version's names first; a prediction
		// without one shows a dash. Each row links to its version.
		_, body := e.get(t, base+"&wrong=1")
		contains(t, "wrong only", body, `<th scope="col" class="feature"><code>x</code></th><th scope="col" class="feature"><code>note</code></th>`,
			`<input type="checkbox" name="wrong" value="1" id="f-wrong" checked>`, `<strong>4</strong> predictions match the filters`,
			fmt.Sprintf(`<td><a href="/models/%d">v1</a></td>`, m.ID), `class="wrong-row"`, "Page 1 of 1", "Clear filters")
		_, body = e.get(t, base+"&pmin=0.25&pmax=0.34")
		// i = 6, 7, 8: the eighth has no note but an extra key.
		contains(t, "extra key", body, `<th scope="col" class="feature"><code>extra</code></th>`, `<td class="feature">[1,2]</td>`,
			`<td class="feature"><span class="muted">—</span></td>`)

		// The confusion matrix of the labelled rows, i = 0, 3, … 21:
		// actual (i/6)%2, predicted i%2.
		var cells [2][2]int
		for i := 0; i < 24; i += 3 {
			cells[i/6%2][i%2]++
		}
		_, body = e.get(t, base)
		matrix := section(t, body, `id="confusion"`)
		for a := range 2 {
			row := fmt.Sprintf(`<tr><th scope="row" class="n">%d</th><td class="n diag" title="correct">%d</td>`, a, cells[a][0])
			if a == 1 {
				row = fmt.Sprintf(`<tr><th scope="row" class="n">1</th><td class="n">%d</td><td class="n diag" title="correct">%d</td>`, cells[1][0], cells[1][1])
			}
			contains(t, "confusion matrix", matrix, row)
		}
		contains(t, "confusion matrix", matrix, "8 labelled predictions")
		// 10 probability bins of i/24: 3, 2, 3, 2, 2, 3, 2, 3, 2, 2 rows.
		hist := section(t, body, `id="probabilities"`)
		bins := regexp.MustCompile(`<tr><th scope="row">([^<]+)</th><td class="n">(\d+)</td>`).FindAllStringSubmatch(hist, -1)
		var counts []string
		for _, b := range bins {
			counts = append(counts, b[2])
		}
		want := make([]int, 10)
		for _, p := range preds {
			want[min(int(*p.Probability*10), 9)]++
		}
		if fmt.Sprint(counts) != fmt.Sprint(want) || len(bins) != 10 || bins[0][1] != "0.0–0.1" {
			t.Errorf("histogram bins %v, want counts %v from 0.0–0.1", bins, want)
		}
		contains(t, "histogram's text", hist, "The probability of 24 predictions, in 10 bins", `aria-hidden="true"`)

		// Paging keeps the filters and counts the pages; a jump to a time
		// starts at the newest row at or before it.
		for i := range 60 {
			must(e.st.PredictionCreate(context.Background(), mlops.NewPrediction{ModelID: m.ID, Prediction: 1,
				CreatedAt: ptr(t0.Add(4*time.Hour + time.Duration(i)*time.Second))}))
		}
		_, body = e.get(t, base+"&class=1")
		contains(t, "first page", body, "Page 1 of 2", "<strong>72</strong> predictions match")
		if m := nextLink.FindStringSubmatch(body); m == nil || !strings.Contains(m[1], "class=1") || !strings.Contains(m[1], "page=2") {
			t.Errorf("next link %v keeps neither the filter nor the page number", m)
		}
		got := pageIDs(t, e, base+"&at=2026-11-20T09:00")
		if want := searchIDs(t, e, store.PredictionSearch{PredictionFilter: store.PredictionFilter{ModelID: m.ID},
			Until: t0.Add(time.Hour + time.Microsecond)}); !slices.Equal(got, want) || len(want) != 7 {
			t.Errorf("jump to 09:00: %v, want %v (7 rows)", got, want)
		}

		// Refused filters: a 400 page that names the parameter.
		for q, want := range map[string]string{
			"&pmin=2":           "pmin: must be a probability from 0 to 1",
			"&class=one":        "class: must be a whole number",
			"&from=yesterday":   "from: must be a date and time",
			"&pmin=0.8&pmax=.2": "the minimum 0.8 is above the maximum 0.2",
			"&at=soon":          "at: must be a date and time",
			"&page=0":           "is not a page number",
		} {
			code, body := e.get(t, base+q)
			if code != http.StatusBadRequest || !strings.Contains(body, want) {
				t.Errorf("GET %s: %d, want 400 saying %q\n%s", q, code, want, body)
			}
		}
	})
}

// section is body from the element with attr to the end of its section.
func section(t *testing.T, body, attr string) string {
	t.Helper()
	i := strings.Index(body, attr)
	if i < 0 {
		t.Fatalf("no element with %s", attr)
	}
	j := strings.Index(body[i:], "</section>")
	return body[i : i+j]
}

func TestPredictionsEmpty(t *testing.T) {
	t.Parallel()
	eachEngine(t, true, func(t *testing.T, e *env) {
		// fraud has no prediction.
		base := fmt.Sprintf("/predictions?model_id=%d", e.seed.fraudV1.ID)
		code, body := e.get(t, base)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d", base, code)
		}
		contains(t, "no predictions", body, "<strong>0</strong> predictions", "No prediction of this version — log them")
		for _, absent := range []string{`id="confusion"`, `id="probabilities"`, "Clear filters"} {
			if strings.Contains(body, absent) {
				t.Errorf("a version without predictions shows %s", absent)
			}
		}
		_, body = e.get(t, base+"&wrong=1")
		contains(t, "filtered to nothing", body, "No prediction of this version matches the filters", "clear the filters")
		// churn v1's predictions above 0.7 have no ground truth.
		_, body = e.get(t, fmt.Sprintf("/predictions?model_id=%d&pmin=0.7", e.seed.churnV1.ID))
		contains(t, "no labelled rows", body, "None of these predictions has its ground truth")

		resp, err := e.client.Get(e.srv.URL + "/predictions.csv?model_id=" + strconv.FormatInt(e.seed.fraudV1.ID, 10))
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(resp.Body).ReadAll()
		resp.Body.Close()
		if err != nil || len(rows) != 1 || strings.Join(rows[0], ",") != "id,created_at,model_id,prediction,probability,actual,correct,latency_ms,other_features" {
			t.Errorf("CSV of no predictions: %v (%v), want the header alone", rows, err)
		}
		if code, body := e.get(t, "/predictions.csv"); code != http.StatusBadRequest || !strings.Contains(body, "Say which model version to export") {
			t.Errorf("CSV without a model: %d", code)
		}
	})
}

func TestPredictionsCSV(t *testing.T) {
	t.Parallel()
	eachEngine(t, true, func(t *testing.T, e *env) {
		m, preds := investigated(t, e)
		query := fmt.Sprintf("model_id=%d&pmax=0.8&class=1", m.ID)
		f := store.PredictionSearch{PredictionFilter: store.PredictionFilter{ModelID: m.ID, Page: store.Page{Limit: -1}},
			MaxProbability: ptr(0.8), Class: ptr(int64(1))}
		want, _, err := e.st.PredictionSearchList(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}

		// The page links to the export with its filters.
		_, body := e.get(t, "/predictions?"+query+"&page=1")
		contains(t, "CSV link", body, `<a href="/predictions.csv?class=1&amp;model_id=`+strconv.FormatInt(m.ID, 10)+`&amp;pmax=0.8" id="csv-link" download>`)

		resp, err := e.client.Get(e.srv.URL + "/predictions.csv?" + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" ||
			resp.Header.Get("Content-Disposition") != `attachment; filename=predictions-spam-v1.csv` {
			t.Fatalf("CSV answer: %d, %q, %q", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"))
		}
		rows, err := csv.NewReader(resp.Body).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		header := "id,created_at,model_id,prediction,probability,actual,correct,latency_ms,x,note,other_features"
		if strings.Join(rows[0], ",") != header || len(rows)-1 != len(want) || len(want) != 10 {
			t.Fatalf("CSV header %v and %d rows; want %s and the %d rows of the list", rows[0], len(rows)-1, header, len(want))
		}
		byID := map[string][]string{}
		for i, p := range want {
			row := rows[i+1]
			byID[row[0]] = row
			correct := ""
			if p.Actual != nil {
				correct = strconv.FormatBool(*p.Actual == p.Prediction)
			}
			got := strings.Join(row[:8], ",")
			exp := strings.Join([]string{strconv.FormatInt(p.ID, 10), p.CreatedAt.Format(time.RFC3339Nano), strconv.FormatInt(m.ID, 10),
				"1", strconv.FormatFloat(*p.Probability, 'g', -1, 64), deref(p.Actual), correct, "5"}, ",")
			if got != exp {
				t.Errorf("CSV row %d: %s, want %s", i+1, got, exp)
			}
		}
		// Features flattened: x and note as columns, the rest as JSON; a
		// value that looks like a formula is quoted.
		for i, wantTail := range map[int][]string{1: {"1", "n1", ""}, 5: {"5", `'=HYPERLINK("http://evil")`, ""}, 7: {"7", "", `{"extra":[1,2]}`}} {
			id := strconv.FormatInt(preds[i].ID, 10)
			if got := byID[id][8:]; !slices.Equal(got, wantTail) {
				t.Errorf("CSV features of prediction %d (%s): %q, want %q", i, id, got, wantTail)
			}
		}
	})
}

func deref(v *int64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatInt(*v, 10)
}

func TestPredictionsViewer(t *testing.T) {
	t.Parallel()
	eachEngineAuth(t, func(t *testing.T, e *env) {
		viewer := e.signIn(t, "victor", e.addUser(t, "victor", mlops.RoleViewer))
		v1 := strconv.FormatInt(e.seed.churnV1.ID, 10)
		for _, path := range []string{"/predictions?model_id=" + v1 + "&wrong=1", "/predictions.csv?model_id=" + v1,
			"/models/compare?id=" + v1 + "&id=" + strconv.FormatInt(e.seed.churnV2.ID, 10), "/models?sort=accuracy"} {
			resp, body := viewer.get(t, path)
			if resp.StatusCode != http.StatusOK {
				t.Errorf("the viewer's GET %s: %d", path, resp.StatusCode)
			}
			if strings.Contains(body, "/activate") {
				t.Errorf("the viewer's %s offers an activation", path)
			}
		}
		anon := e.visitor()
		resp, _ := anon.get(t, "/predictions.csv?model_id="+v1)
		wantRedirect(t, "CSV without a sign-in", resp, "/login?next="+url.QueryEscape("/predictions.csv?model_id="+v1))
	})
}
