package webui_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/mlopsdev/mlops"
)

// figureRow is the HTML of the comparison's row with id, or "" when
// there is none.
func figureRow(body, id string) string {
	i := strings.Index(body, `<tr id="`+id+`">`)
	if i < 0 {
		return ""
	}
	return body[i : i+strings.Index(body[i:], "</tr>")]
}

func TestCompareVersions(t *testing.T) {
	t.Parallel()
	eachEngine(t, true, func(t *testing.T, e *env) {
		s := e.seed
		v1, v2 := strconv.FormatInt(s.churnV1.ID, 10), strconv.FormatInt(s.churnV2.ID, 10)
		// html/template writes + as &#43;.
		code, body := e.get(t, "/models/compare?id="+v2+"&id="+v1)
		if code != http.StatusOK {
			t.Fatalf("compare: %d\n%s", code, body)
		}
		// The active v1 first, then v2 with its deltas against v1; the best
		// evaluation metric is marked in text, not by color alone.
		if i, j := strings.Index(body, `id="col-`+v1+`"`), strings.Index(body, `id="col-`+v2+`"`); i < 0 || j < 0 || i > j {
			t.Errorf("columns: v1 at %d, v2 at %d; want the active v1 first", i, j)
		}
		acc := figureRow(body, "row-accuracy")
		contains(t, "accuracy row", acc, `<td class="n">0.910</td>`,
			`<td class="n best"><strong>0.930</strong> <span class="badge best">best</span><br><span class="delta up">&#43;0.020 vs active</span></td>`)
		contains(t, "F1 row", figureRow(body, "row-f1_score"), `<strong>0.890</strong> <span class="badge best">best</span>`, "&#43;0.020 vs active")
		// One value is no contest: ROC AUC of v1 alone is not "best".
		if r := figureRow(body, "row-roc_auc"); !strings.Contains(r, "0.950") || strings.Contains(r, "best") {
			t.Errorf("ROC AUC row: %s", r)
		}
		contains(t, "training samples", figureRow(body, "row-training_samples"), "12,000", `<span class="muted">—</span>`)
		contains(t, "algorithm", figureRow(body, "row-algorithm"), "xgboost", `lightgbm <span class="badge differs">≠ active</span>`)
		// Hyperparameters: the union of both versions' keys.
		for _, k := range []string{"eta", "learning_rate", "max_depth", "num_leaves"} {
			contains(t, "hyperparameters", body, "<th scope=\"row\"><code>"+k+"</code></th>")
		}
		contains(t, "links", body, `<a href="/predictions?model_id=`+v2+`">Predictions`, `action="/models/`+v2+`/activate"`)
		if strings.Contains(body, `action="/models/`+v1+`/activate"`) {
			t.Error("the comparison offers to activate the active version")
		}

		// Choosing versions without the active one adds it as the baseline;
		// a model without an active version has no deltas.
		fraud := strconv.FormatInt(s.fraudV1.ID, 10)
		_, body = e.get(t, "/models/compare?id="+v2+"&id="+fraud)
		contains(t, "baseline", body, `id="col-`+v1+`"`, "baseline, not selected", "&#43;0.020 vs active")
		if n := strings.Count(body, "<th scope=\"col\" class=\"n\" id=\"col-"); n != 3 {
			t.Errorf("%d columns, want v1, v2 and fraud", n)
		}

		for q, want := range map[string]int{
			"?id=" + v1:                            400,
			"?id=" + v1 + "&id=" + v1:              400, // one version, twice
			"?id=x&id=" + v1:                       400,
			"?id=" + v1 + "&id=999999":             404,
			"?" + strings.Repeat("id=1&", 10) + "": 400, // duplicates only
		} {
			if code, _ := e.get(t, "/models/compare"+q); code != want {
				t.Errorf("GET /models/compare%s: %d, want %d", q, code, want)
			}
		}
		var many []string
		for i := range 11 {
			many = append(many, "id="+strconv.Itoa(i+1))
		}
		if code, body := e.get(t, "/models/compare?"+strings.Join(many, "&")); code != 400 || !strings.Contains(body, "at most 10 versions") {
			t.Errorf("11 versions: %d", code)
		}
		_, body = e.get(t, "/models/compare?id="+v1)
		contains(t, "one version", body, "Select two or more versions to compare (1 selected)", `href="/models"`)
	})
}

func TestModelsSorted(t *testing.T) {
	t.Parallel()
	eachEngine(t, true, func(t *testing.T, e *env) {
		ctx := context.Background()
		versions := regexp.MustCompile(`<th scope="row"><a href="/models/\d+">([^<]+)</a>`)
		order := func(path string) string {
			t.Helper()
			code, body := e.get(t, path)
			if code != http.StatusOK {
				t.Fatalf("GET %s: %d\n%s", path, code, body)
			}
			var out []string
			for _, m := range versions.FindAllStringSubmatch(body, -1) {
				out = append(out, m[1])
			}
			return strings.Join(out, " ")
		}
		// Newest first by default; by accuracy, highest first (v2 0.93, v1
		// 0.91); ascending on request; versions without the figure last.
		for path, want := range map[string]string{
			"/models?name=churn":                              "v2 v1",
			"/models?name=churn&sort=accuracy":                "v2 v1",
			"/models?name=churn&sort=accuracy&order=asc":      "v1 v2",
			"/models?name=churn&sort=roc_auc&order=asc":       "v1 v2",
			"/models?name=churn&sort=training_samples":        "v1 v2",
			"/models?name=churn&sort=activated_at&order=desc": "v1 v2",
			"/models?sort=accuracy&order=asc":                 "v1 v2 2026.11",
		} {
			if got := order(path); got != want {
				t.Errorf("GET %s: versions %s, want %s", path, got, want)
			}
		}
		_, body := e.get(t, "/models?name=churn&sort=accuracy")
		contains(t, "sorted headers", body, `<th scope="col" class="n" aria-sort="descending"><a href="/models?name=churn&amp;order=asc&amp;sort=accuracy" class="sort sorted">Accuracy`,
			`<a href="/models?name=churn&amp;order=desc&amp;sort=f1_score" class="sort">F1 score</a>`, "Versions sorted by Accuracy, highest first",
			`<input type="checkbox" name="id" value="`+strconv.FormatInt(e.seed.churnV2.ID, 10)+`"`, `<form method="get" action="/models/compare"`)
		for _, q := range []string{"sort=size", "sort=accuracy&order=up", "name=churn&sort=accuracy&page=0"} {
			if code, _ := e.get(t, "/models?"+q); code != http.StatusBadRequest {
				t.Errorf("GET /models?%s: %d, want 400", q, code)
			}
		}

		// Sorted pages: 55 versions by accuracy, 50 a page.
		for i := range 55 {
			must(e.st.ModelVersionCreate(ctx, mlops.NewModelVersion{ModelName: "big", Version: fmt.Sprintf("b%02d", i),
				Algorithm: "a", Metrics: mlops.Metrics{Accuracy: ptr(float64((i*37)%55) / 100)}}))
		}
		first, second := order("/models?name=big&sort=accuracy"), order("/models?name=big&sort=accuracy&page=2")
		all := strings.Fields(first + " " + second)
		if len(all) != 55 || len(strings.Fields(second)) != 5 {
			t.Fatalf("sorted pages of %d and %d versions", len(strings.Fields(first)), len(strings.Fields(second)))
		}
		// (i*37)%55 is a permutation of 0..54: the highest is i with (i*37)%55 = 54.
		for rank, v := range all {
			i, _ := strconv.Atoi(strings.TrimPrefix(v, "b"))
			if (i*37)%55 != 54-rank {
				t.Fatalf("rank %d is %s with accuracy %.2f", rank, v, float64((i*37)%55)/100)
			}
		}
		_, body = e.get(t, "/models?name=big&sort=accuracy")
		contains(t, "sorted next page", body, `<a href="/models?name=big&amp;page=2&amp;sort=accuracy" rel="next">`)
	})
}

func TestActivationConfirmation(t *testing.T) {
	t.Parallel()
	eachEngine(t, true, func(t *testing.T, e *env) {
		v1, v2 := e.seed.churnV1, e.seed.churnV2
		target := fmt.Sprintf("/models/%d/activate", v2.ID)

		// The comparison's button posts no replaced version: the
		// confirmation shows what changes against the active v1.
		code, path, body := e.post(t, target, url.Values{})
		if code != http.StatusOK || path != target {
			t.Fatalf("activation without confirmation: %d at %s", code, path)
		}
		contains(t, "confirmation", body, "<h1>Confirm activation</h1>", "replaces the active version",
			`<tr class="differs-row"><th scope="row">Accuracy</th><td class="n">0.930</td><td class="n">0.910</td><td class="n"><span class="delta up">&#43;0.020</span></td></tr>`,
			`<tr class="differs-row"><th scope="row">Algorithm</th><td class="n">lightgbm</td><td class="n">xgboost</td><td class="n"><span class="delta">changed</span></td></tr>`,
			`<th scope="row"><code>num_leaves</code></th><td class="n">31</td><td class="n">—</td>`,
			`<input type="hidden" name="replaces" value="`+strconv.FormatInt(v1.ID, 10)+`">`,
			`<label>Your name (optional, logged) <input name="actor"`, "Yes, activate v2 and archive v1")
		if m, _ := e.st.ModelVersionGet(context.Background(), v2.ID); m.IsActive {
			t.Fatal("the confirmation page activated v2")
		}
		_, _, body = e.post(t, target, url.Values{"replaces": {strconv.FormatInt(v1.ID, 10)}, "actor": {"jo"}})
		contains(t, "confirmed", body, "Activated churn v2. v1 was archived.")
		_, _, body = e.post(t, target, url.Values{})
		contains(t, "already active", body, "churn v2 is already the active version; nothing changed.")

		// No active version: nothing to compare against.
		_, _, body = e.post(t, fmt.Sprintf("/models/%d/activate", e.seed.fraudV1.ID), url.Values{})
		contains(t, "first activation", body, "No version of <strong>fraud</strong> is active", `name="replaces" value="0"`)
		if strings.Contains(body, "activation-diff") {
			t.Error("a first activation shows differences")
		}
	})
}

func TestActivationConfirmationRoles(t *testing.T) {
	t.Parallel()
	eachEngineAuth(t, func(t *testing.T, e *env) {
		viewer := e.signIn(t, "victor", e.addUser(t, "victor", mlops.RoleViewer))
		reviewer := e.signIn(t, "rita", e.addUser(t, "rita", mlops.RoleReviewer))
		target := fmt.Sprintf("/models/%d/activate", e.seed.churnV2.ID)
		resp, body := viewer.post(t, target, url.Values{})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("the viewer's activation: %d, want 403", resp.StatusCode)
		}
		contains(t, "viewer's activation", body, "Nothing was changed.")
		resp, body = reviewer.post(t, target, url.Values{})
		if resp.StatusCode != http.StatusOK || strings.Contains(body, `name="actor"`) {
			t.Errorf("the reviewer's confirmation: %d, asks for a name: %v", resp.StatusCode, strings.Contains(body, `name="actor"`))
		}
		_, body = reviewer.get(t, fmt.Sprintf("/models/compare?id=%d&id=%d", e.seed.churnV1.ID, e.seed.churnV2.ID))
		contains(t, "reviewer's comparison", body, fmt.Sprintf(`id="activate-%d"`, e.seed.churnV2.ID))
	})
}
