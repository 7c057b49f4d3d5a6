package webui_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/internal/webui"
	"github.com/mlopsdev/mlops/store"
)

func TestPagesRender(t *testing.T) {
	t.Parallel()
	eachEngine(t, true, func(t *testing.T, e *env) {
		s := e.seed
		id := func(n int64) string { return strconv.FormatInt(n, 10) }
		pages := []struct {
			path  string
			wants []string
		}{
			{"/", []string{
				`<span class="card-n" id="pending-count">2</span>`, `<span class="card-n" id="active-alerts">2</span>`,
				`href="/models/` + id(s.churnV1.ID) + `">v1</a>`, "0.910", "fraud", "none active",
				"act-rollback-1", "act-scale-2", "Drift on churn income", "p99 latency above 200 ms",
				`<span class="badge drift-yes">drift</span> 2 features`,
				"churn v1</a></th><td class=\"n\">6</td>", "12.5 ms", "66.7 %",
				"2026-11-20 08:01:00 UTC", "4 h ago",
			}},
			{"/models", []string{"churn", "fraud", "2026.11", "lightgbm", `<span class="badge st-staging">staging</span>`,
				`<span class="badge st-active">active</span>`, "fraud</a> <span class=\"muted\">1 version, none active"}},
			{"/models?name=churn", []string{"v1", "v2", "xgboost"}},
			{"/models/" + id(s.churnV2.ID), []string{"num_leaves", "0.05", "region", "/models/churn/v2.bin",
				"replaces the active version <strong><a href=\"/models/" + id(s.churnV1.ID) + "\">v1</a></strong>",
				"Confirm: activate v2 and archive v1", `name="replaces" value="` + id(s.churnV1.ID) + `"`,
				`<td class="n" id="pred-all">0</td>`, "No drift report for this version yet"}},
			{"/models/" + id(s.churnV1.ID), []string{"This is the active version", "max_depth", "tenure", "12,000",
				`<td class="n" id="pred-24h">6</td>`, "<mark>income</mark>", "/reports/drift-churn.html"}},
			{"/approvals", []string{"act-rollback-1", "target_version", "drift on income", "iss-9", "act-scale-2",
				`<label>Reviewer <input name="reviewer"`, `value="approve"`, `value="reject"`,
				"act-retrain-0", "carol", "looks fine", "new_version", `<span class="badge st-executed">executed</span>`}},
			{"/alerts", []string{"Drift on churn income", "KS statistic 0.41", "p99 latency above 200 ms",
				"/alerts/" + id(s.alertCritical.ID) + "/acknowledge", "/alerts/" + id(s.alertCritical.ID) + "/resolve",
				`aria-current="page">active <span class="chip-n">2</span>`}},
			{"/alerts?status=acknowledged", []string{"Error rate 2%", "by <strong>dave</strong>", "/alerts/" + id(s.alertAck.ID) + "/resolve"}},
			{"/alerts?status=resolved", []string{"Disk 80% full", "by <strong>erin</strong>", "rotated logs"}},
			{"/alerts?status=active&severity=critical", []string{"Drift on churn income", "Show every severity"}},
			{"/drift", []string{"<mark>income</mark>", "<mark>tenure</mark>", `<tr class="drifted">`, "0.410", "1,000 / 900", "no drift"}},
			{"/drift?model_id=" + id(s.churnV2.ID), []string{"No drift report for churn v2 yet"}},
			{"/ui/metrics?metric=accuracy&range=24h&bucket=1h", []string{`data-buckets="5"`, `<dd id="stat-min">0.800</dd>`,
				`<dd id="stat-max">0.850</dd>`, `<dd id="stat-avg">0.825</dd>`, "latency_p99", "2026-11-20 12:00 UTC"}},
			{"/predictions?model_id=" + id(s.churnV1.ID), []string{"✓ correct", "✗ wrong", "unknown", "&#34;income&#34;: 52000", "15.0 ms"}},
			{"/predictions", []string{"churn v1"}},
			{"/audit", []string{`<td class="event"><code>model.activated</code>`, `<td class="event"><code>alert.resolved</code>`,
				`<a href="/models/` + id(s.churnV1.ID) + `"><code>` + id(s.churnV1.ID) + `</code></a>`,
				`<tr class="changed"><th scope="row"><code>resolved_by</code> <span class="small muted">changed</span></th><td><code>null</code></td><td><code>erin</code></td></tr>`,
				`<details class="created"><summary>created with `}},
		}
		for _, p := range pages {
			code, body := e.get(t, p.path)
			if code != http.StatusOK {
				t.Errorf("GET %s: status %d, want 200\n%s", p.path, code, body)
				continue
			}
			contains(t, "GET "+p.path, body, p.wants...)
		}

		// The overview lists the most severe active alert first (both were
		// raised at the same time, the high one later by id).
		_, body := e.get(t, "/")
		sec := body[strings.Index(body, `id="h-alerts"`):]
		if c, h := strings.Index(sec, "Drift on churn income"), strings.Index(sec, "p99 latency above 200 ms"); c < 0 || h < 0 || c > h {
			t.Errorf("overview alerts not most severe first (critical at %d, high at %d)", c, h)
		}

		// The chart's table has one row per bucket, whatever the bucket width.
		for bucket, want := range map[string]int{"1h": s.metricBuckets, "1d": 1, "5m": 6} {
			_, body := e.get(t, "/ui/metrics?metric=accuracy&range=24h&bucket="+bucket)
			if n := strings.Count(body, `<tr><th scope="row">`); n != want {
				t.Errorf("bucket %s: %d rows in the chart's table, want %d", bucket, n, want)
			}
		}
		// Filtering by a model without points shows the empty state.
		_, body = e.get(t, "/ui/metrics?metric=accuracy&model_id="+id(s.churnV2.ID))
		contains(t, "metrics of churn v2", body, "No point of <code>accuracy</code> in this range for this model version")

		code, body := e.get(t, "/static/style.css")
		if code != http.StatusOK || !strings.Contains(body, "--accent") {
			t.Errorf("GET /static/style.css: %d", code)
		}
	})
}

func TestNotFoundAndBadInput(t *testing.T) {
	t.Parallel()
	eachEngine(t, true, func(t *testing.T, e *env) {
		for path, want := range map[string]int{
			"/nowhere":                        404,
			"/models/999999":                  404,
			"/models/abc":                     404,
			"/models?name=nosuchmodel":        404,
			"/alerts?status=bogus":            400,
			"/ui/metrics?range=2y":            400,
			"/ui/metrics?bucket=2h":           400,
			"/predictions?model_id=-1":        400,
			"/drift?cursor=not-a-cursor":      400,
			"/api/v1/models":                  404, // the JSON API's, never the UI's
			"/healthz":                        404,
			"/openapi.json":                   404,
			"/metrics":                        404,
			"/approvals?pcursor=forged":       400,
			"/predictions?model_id=999999999": 404,
		} {
			code, body := e.get(t, path)
			if code != want {
				t.Errorf("GET %s: status %d, want %d", path, code, want)
			}
			if !strings.Contains(body, "Back to the overview") {
				t.Errorf("GET %s: not the UI's error page:\n%s", path, body)
			}
		}
	})
}

// The server mounts the UI at "/" beside the API's routes; theirs must win.
func TestMountedBesideAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, store.SQLite, false)
	ui, err := webui.New(e.st, webui.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, p := range []string{"GET /metrics", "GET /healthz", "GET /readyz", "GET /openapi.json", "/api/"} {
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "api") })
	}
	mux.Handle("/", ui)
	for path, want := range map[string]string{"/metrics": "api", "/healthz": "api", "/readyz": "api",
		"/openapi.json": "api", "/api/v1/models": "api", "/": "<h1>Overview</h1>", "/ui/metrics": "<h1>Metrics</h1>"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("GET %s served %q, want %q", path, rec.Body.String(), want)
		}
	}
}

func TestEmptyStates(t *testing.T) {
	t.Parallel()
	eachEngine(t, false, func(t *testing.T, e *env) {
		for path, want := range map[string]string{
			"/":            "No model is registered yet — register one with <code>POST /api/v1/models</code>",
			"/models":      "No model is registered yet",
			"/approvals":   "Nothing waits for approval",
			"/alerts":      "No active alerts",
			"/drift":       "No drift report yet",
			"/ui/metrics":  "No metric has been recorded yet",
			"/predictions": "No model is registered yet, so there are no predictions",
		} {
			code, body := e.get(t, path)
			if code != http.StatusOK {
				t.Errorf("GET %s: %d", path, code)
			}
			contains(t, "GET "+path, body, want)
		}
		ctx := context.Background()
		if _, err := e.st.ModelVersionCreate(ctx, mlops.NewModelVersion{ModelName: "m", Version: "1", Algorithm: "a"}); err != nil {
			t.Fatal(err)
		}
		_, body := e.get(t, "/")
		contains(t, "overview with an inactive model", body, "No model is active yet", "POST /api/v1/models/{id}/activate")
	})
}

func TestApproveAndReject(t *testing.T) {
	t.Parallel()
	eachEngine(t, true, func(t *testing.T, e *env) {
		ctx := context.Background()
		// A high-risk action: the first post only asks for confirmation,
		// carrying the typed name and comment to the confirmed post.
		form := url.Values{"action_id": {"act-rollback-1"}, "decision": {"approve"}, "reviewer": {"alice"}, "comment": {"ok, drift is real"}}
		code, path, body := e.post(t, "/approvals/decide", form)
		if code != http.StatusOK || path != "/approvals/decide" {
			t.Fatalf("approve without confirm: ended at %d %s, want the confirmation page", code, path)
		}
		contains(t, "confirmation", body, "Confirm approval", `id="confirm-risk">high`, "ok, drift is real",
			`<input type="hidden" name="reviewer" value="alice">`, `name="confirm" value="yes"`)
		if a, _ := e.st.ActionGet(ctx, "act-rollback-1"); a.Status != mlops.ActionPending {
			t.Fatalf("the unconfirmed approval changed the action: %s", a.Status)
		}
		form.Set("confirm", "yes")
		code, path, body = e.post(t, "/approvals/decide", form)
		if code != http.StatusOK || path != "/approvals" {
			t.Fatalf("approve: ended at %d %s", code, path)
		}
		contains(t, "after approve", body, `class="flash flash-ok"`, "Action act-rollback-1 approved by alice.")
		a, err := e.st.ActionGet(ctx, "act-rollback-1")
		if err != nil {
			t.Fatal(err)
		}
		if a.Status != mlops.ActionApproved || a.ReviewedBy == nil || *a.ReviewedBy != "alice" ||
			a.ReviewComment == nil || *a.ReviewComment != "ok, drift is real" || a.ReviewedAt == nil {
			t.Fatalf("after approve the action reads %s", mustJSON(a))
		}
		// The name is remembered and prefills the next form.
		contains(t, "prefilled reviewer", body, `name="reviewer" autocomplete="name" required maxlength="255" value="alice"`)
		// The flash shows once.
		_, body = e.get(t, "/approvals")
		if strings.Contains(body, "approved by alice.") {
			t.Error("the flash message was shown twice")
		}

		_, _, body = e.post(t, "/approvals/decide", url.Values{"action_id": {"act-scale-2"}, "decision": {"reject"}, "reviewer": {"bob"}})
		contains(t, "after reject", body, "Action act-scale-2 rejected by bob.")
		if a, _ := e.st.ActionGet(ctx, "act-scale-2"); a.Status != mlops.ActionRejected || a.ReviewComment != nil {
			t.Fatalf("after reject the action reads %s", mustJSON(a))
		}
		_, body = e.get(t, "/approvals")
		contains(t, "history", body, "Nothing waits for approval", "ok, drift is real", "bob")
	})
}

func TestApproveLostRace(t *testing.T) {
	t.Parallel()
	eachEngine(t, true, func(t *testing.T, e *env) {
		ctx := context.Background()
		// Bob decides in another tab (or through the API) first.
		won, err := e.st.ActionApprove(ctx, "act-rollback-1", "bob", "")
		if err != nil {
			t.Fatal(err)
		}
		code, _, body := e.post(t, "/approvals/decide", url.Values{"action_id": {"act-rollback-1"}, "decision": {"reject"}, "reviewer": {"alice"}})
		if code != http.StatusOK {
			t.Fatalf("lost race: status %d, want the approvals page", code)
		}
		at := won.ReviewedAt.UTC().Format("2006-01-02 15:04:05 UTC")
		contains(t, "lost race", body, `class="flash flash-warn"`,
			"Action act-rollback-1 was already approved by bob at "+at, "your rejection was not recorded", "<h1>Approvals</h1>")
		a, _ := e.st.ActionGet(ctx, "act-rollback-1")
		if a.Status != mlops.ActionApproved || *a.ReviewedBy != "bob" {
			t.Fatalf("the losing decision changed the action: %s", mustJSON(a))
		}
	})
}

func TestDecideNeedsReviewer(t *testing.T) {
	t.Parallel()
	eachEngine(t, true, func(t *testing.T, e *env) {
		_, _, body := e.post(t, "/approvals/decide", url.Values{"action_id": {"act-rollback-1"}, "decision": {"approve"}, "reviewer": {"  "}})
		contains(t, "no reviewer", body, `class="flash flash-error"`, "Action act-rollback-1 was not decided: enter your name")
		_, _, body = e.post(t, "/approvals/decide", url.Values{"action_id": {"nope"}, "decision": {"approve"}, "reviewer": {"x"}})
		contains(t, "unknown action", body, "Action nope does not exist")
		_, _, body = e.post(t, "/approvals/decide", url.Values{"action_id": {"act-rollback-1"}, "decision": {"maybe"}, "reviewer": {"x"}})
		contains(t, "bad decision", body, "choose Approve or Reject")
		if a, _ := e.st.ActionGet(context.Background(), "act-rollback-1"); a.Status != mlops.ActionPending {
			t.Fatalf("action changed: %s", a.Status)
		}
	})
}

func TestAlertAcknowledgeResolve(t *testing.T) {
	t.Parallel()
	eachEngine(t, true, func(t *testing.T, e *env) {
		ctx := context.Background()
		id := e.seed.alertCritical.ID
		base := "/alerts/" + strconv.FormatInt(id, 10)
		_, path, body := e.post(t, base+"/acknowledge", url.Values{"actor": {"frank"}, "tab": {"active"}})
		contains(t, "ack", body, fmt.Sprintf("Alert %d (Drift on churn income) acknowledged by frank.", id))
		if path != "/alerts?status=active" {
			t.Errorf("ack redirected to %s", path)
		}
		a, _ := e.st.AlertGet(ctx, id)
		if a.Status != mlops.AlertAcknowledged || *a.AcknowledgedBy != "frank" || !a.AcknowledgedAt.Equal(e.clk.Now()) {
			t.Fatalf("after ack: %s", mustJSON(a))
		}
		_, body = e.get(t, "/alerts?status=acknowledged")
		contains(t, "acknowledged tab", body, "Drift on churn income", "by <strong>frank</strong>")

		// A second acknowledgement reports who was first.
		_, _, body = e.post(t, base+"/acknowledge", url.Values{"actor": {"gina"}, "tab": {"active"}})
		contains(t, "second ack", body, fmt.Sprintf("Alert %d was already acknowledged by frank", id), "your acknowledgement was not recorded")

		_, path, body = e.post(t, base+"/resolve", url.Values{"actor": {"frank"}, "notes": {"retrained on fresh data"}, "tab": {"acknowledged"}})
		contains(t, "resolve", body, "resolved by frank")
		if path != "/alerts?status=acknowledged" {
			t.Errorf("resolve redirected to %s", path)
		}
		a, _ = e.st.AlertGet(ctx, id)
		if a.Status != mlops.AlertResolved || *a.ResolvedBy != "frank" || *a.ResolutionNotes != "retrained on fresh data" {
			t.Fatalf("after resolve: %s", mustJSON(a))
		}
		_, body = e.get(t, "/alerts?status=resolved")
		contains(t, "resolved tab", body, "retrained on fresh data", "by <strong>frank</strong>")

		_, _, body = e.post(t, base+"/resolve", url.Values{"actor": {"hank"}})
		contains(t, "second resolve", body, "was already resolved by frank", "your resolution was not recorded")
		// Resolving straight from active works too, and a name is required.
		high := "/alerts/" + strconv.FormatInt(e.seed.alertHigh.ID, 10)
		_, _, body = e.post(t, high+"/resolve", url.Values{"actor": {""}})
		contains(t, "resolve without name", body, "was not resolved: enter your name")
		_, _, body = e.post(t, high+"/resolve", url.Values{"actor": {"ivy"}})
		contains(t, "resolve from active", body, "resolved by ivy")
		_, _, body = e.post(t, "/alerts/999999/acknowledge", url.Values{"actor": {"ivy"}})
		contains(t, "unknown alert", body, "Alert 999999 does not exist")
	})
}

func TestActivate(t *testing.T) {
	t.Parallel()
	eachEngine(t, true, func(t *testing.T, e *env) {
		ctx := context.Background()
		v1, v2 := e.seed.churnV1, e.seed.churnV2
		target := fmt.Sprintf("/models/%d/activate", v2.ID)

		// A confirmation that named no replaced version is stale: v1 is active.
		_, _, body := e.post(t, target, url.Values{"replaces": {"0"}})
		contains(t, "stale confirmation", body, "Not activated: the active version of churn changed to v1")
		if m, _ := e.st.ModelVersionGet(ctx, v2.ID); m.IsActive {
			t.Fatal("a stale confirmation activated v2")
		}

		_, path, body := e.post(t, target, url.Values{"replaces": {strconv.FormatInt(v1.ID, 10)}, "actor": {"jo"}})
		if path != fmt.Sprintf("/models/%d", v2.ID) {
			t.Errorf("activate redirected to %s", path)
		}
		contains(t, "activate", body, "Activated churn v2. v1 was archived.", "This is the active version")
		m2, _ := e.st.ModelVersionGet(ctx, v2.ID)
		m1, _ := e.st.ModelVersionGet(ctx, v1.ID)
		if !m2.IsActive || m2.Status != mlops.ModelProduction || m1.IsActive || m1.Status != mlops.ModelArchived {
			t.Fatalf("after activation: v1 %s active=%v, v2 %s active=%v", m1.Status, m1.IsActive, m2.Status, m2.IsActive)
		}
		_, _, body = e.post(t, target, url.Values{"replaces": {strconv.FormatInt(v1.ID, 10)}})
		contains(t, "re-activate", body, "churn v2 is already the active version; nothing changed.")

		// A model without an active version.
		_, _, body = e.post(t, fmt.Sprintf("/models/%d/activate", e.seed.fraudV1.ID), url.Values{"replaces": {"0"}})
		contains(t, "first activation", body, "Activated fraud 2026.11.")
	})
}

func TestCrossSiteFormRefused(t *testing.T) {
	t.Parallel()
	eachEngine(t, true, func(t *testing.T, e *env) {
		form := url.Values{"action_id": {"act-rollback-1"}, "decision": {"approve"}, "reviewer": {"mallory"}, "confirm": {"yes"}}
		code, _, body := e.post(t, "/approvals/decide", form, "Sec-Fetch-Site", "cross-site")
		if code != http.StatusForbidden || !strings.Contains(body, "submitted from another site") {
			t.Errorf("cross-site POST: %d\n%s", code, body)
		}
		code, _, _ = e.post(t, "/approvals/decide", form, "Origin", "https://evil.example")
		if code != http.StatusForbidden {
			t.Errorf("POST with a foreign Origin: %d, want 403", code)
		}
		if a, _ := e.st.ActionGet(context.Background(), "act-rollback-1"); a.Status != mlops.ActionPending {
			t.Fatalf("a cross-site form changed the action: %s", a.Status)
		}
		// Same-origin browser posts pass.
		code, _, body = e.post(t, "/approvals/decide", form, "Sec-Fetch-Site", "same-origin", "Origin", e.srv.URL)
		if code != http.StatusOK || !strings.Contains(body, "approved by mallory") {
			t.Errorf("same-origin POST: %d", code)
		}
	})
}

var rowID = regexp.MustCompile(`<td class="n">(\d+)</td>\s*<td class="small"><time`)

func TestPagination(t *testing.T) {
	t.Parallel()
	eachEngine(t, true, func(t *testing.T, e *env) {
		ctx := context.Background()
		batch := make([]mlops.NewPrediction, 120)
		for i := range batch {
			batch[i] = mlops.NewPrediction{ModelID: e.seed.churnV2.ID, Prediction: 1}
		}
		if _, err := e.st.PredictionCreateBatch(ctx, batch); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		path := fmt.Sprintf("/predictions?model_id=%d", e.seed.churnV2.ID)
		var pages []int
		for path != "" {
			_, body := e.get(t, path)
			ids := rowID.FindAllStringSubmatch(body, -1)
			pages = append(pages, len(ids))
			for _, m := range ids {
				if seen[m[1]] {
					t.Fatalf("prediction %s shown on two pages", m[1])
				}
				seen[m[1]] = true
			}
			path = ""
			if m := regexp.MustCompile(`<a href="([^"]+)" rel="next">`).FindStringSubmatch(body); m != nil {
				path = strings.ReplaceAll(m[1], "&amp;", "&")
			}
		}
		if fmt.Sprint(pages) != "[50 50 20]" || len(seen) != 120 {
			t.Fatalf("pages of %v rows, %d distinct; want [50 50 20], 120", pages, len(seen))
		}

		// The alert triage lists at most 200 rows and says how many it left
		// out (the filters narrow the rest).
		for i := 0; i < 250; i++ {
			if _, err := e.st.AlertCreate(ctx, mlops.NewAlert{AlertType: "t", Severity: mlops.SeverityInfo, Title: fmt.Sprintf("bulk %d", i)}); err != nil {
				t.Fatal(err)
			}
		}
		_, body := e.get(t, "/alerts")
		if n := strings.Count(body, `<tr id="alert-`); n != 200 || !strings.Contains(body, "The first 200 are listed") {
			t.Fatalf("alert triage: %d rows (want 200) and a note of the others", n)
		}
	})
}

func TestMetricsBucketBound(t *testing.T) {
	t.Parallel()
	eachEngine(t, true, func(t *testing.T, e *env) {
		_, body := e.get(t, "/ui/metrics?metric=accuracy&range=30d&bucket=1m")
		contains(t, "30 days per minute", body, "The last 30 days in 1m buckets would be more than 1500 points; showing 1h buckets instead.",
			`<option selected>1h</option>`)
		// With the clock a day later, the points are outside the last hour.
		e.clk.Set(e.clk.Now().Add(24 * time.Hour))
		_, body = e.get(t, "/ui/metrics?metric=accuracy&range=1h")
		contains(t, "empty range", body, "No point of <code>accuracy</code> in this range")
	})
}

func TestAge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, store.SQLite, true)
	_, body := e.get(t, "/alerts?status=resolved")
	// Seeded at 09:30, the clock reads 13:00.
	contains(t, "ages", body, `<time datetime="2026-11-20T09:30:00Z"`, "3 h ago")
}

func TestTrustedOrigin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, store.SQLite, true)
	if _, err := webui.New(e.st, webui.Options{TrustedOrigins: []string{"not an origin"}}); err == nil {
		t.Error("New accepted a malformed trusted origin")
	}
	h, err := webui.New(e.st, webui.Options{Now: e.clk.Now, TrustedOrigins: []string{"https://admin.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	post := func(origin string) int {
		req := httptest.NewRequest(http.MethodPost, "/approvals/decide",
			strings.NewReader(url.Values{"action_id": {"act-scale-2"}, "decision": {"approve"}, "reviewer": {"kim"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		req.Header.Set("Origin", origin)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	if code := post("https://evil.example"); code != http.StatusForbidden {
		t.Errorf("untrusted origin: %d, want 403", code)
	}
	if code := post("https://admin.example.com"); code != http.StatusSeeOther {
		t.Errorf("trusted origin: %d, want 303", code)
	}
	if a, _ := e.st.ActionGet(context.Background(), "act-scale-2"); a.Status != mlops.ActionApproved {
		t.Errorf("the trusted post did not approve: %s", a.Status)
	}
}
