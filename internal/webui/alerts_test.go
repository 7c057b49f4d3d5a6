package webui_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
)

// ruleAlerts raises alerts the way the rules do, on churn v1 and fraud:
// churn drift (high, seen twice), churn performance (critical) and fraud
// drift (medium).
func ruleAlerts(t *testing.T, e *env) (churnDrift, churnPerf, fraudDrift mlops.Alert) {
	t.Helper()
	ctx := context.Background()
	raise := func(key string, m mlops.ModelVersion, typ string, sev mlops.Severity) mlops.Alert {
		t.Helper()
		a, _, err := e.st.AlertRaiseByKey(ctx, key, m.ID, mlops.NewAlert{AlertType: typ, Severity: sev,
			Title: m.ModelName + " " + m.Version + ": " + typ, Message: "found by the rules"})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	churnDrift = raise("drift/churn", e.seed.churnV1, "drift_detected", mlops.SeverityHigh)
	churnDrift = raise("drift/churn", e.seed.churnV1, "drift_detected", mlops.SeverityHigh)
	churnPerf = raise("performance/churn", e.seed.churnV1, "performance_degraded", mlops.SeverityCritical)
	fraudDrift = raise("drift/fraud", e.seed.fraudV1, "drift_detected", mlops.SeverityMedium)
	return churnDrift, churnPerf, fraudDrift
}

var groupHeading = regexp.MustCompile(`<span class="group-model">([^<]*)</span> · <code class="group-type">([^<]*)</code> <span class="chip-n group-count">(\d+)</span>`)

// groups lists a triage page's groups as "model type count", in order,
// separated by " | ".
func groups(body string) string {
	var out []string
	for _, m := range groupHeading.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1]+" "+m[2]+" "+m[3])
	}
	return strings.Join(out, " | ")
}

// row returns the table row of an alert on a triage page.
func row(t *testing.T, body string, id int64) string {
	t.Helper()
	start := strings.Index(body, fmt.Sprintf(`<tr id="alert-%d"`, id))
	if start < 0 {
		t.Fatalf("no row of alert %d on the page:\n%s", id, body)
	}
	return body[start : start+strings.Index(body[start:], "</tr>")]
}

// TestAlertTriagePage: groups by model and type with counts, the most
// severe group first (then the oldest), rows with occurrences and last
// seen, filters, and a "Silence…" link that prefills the silence form.
func TestAlertTriagePage(t *testing.T) {
	t.Parallel()
	eachEngine(t, true, func(t *testing.T, e *env) {
		churnDrift, churnPerf, fraudDrift := ruleAlerts(t, e)
		_, body := e.get(t, "/alerts")
		want := "no model drift 1 | churn performance_degraded 1 | no model latency 1 | churn drift_detected 1 | fraud drift_detected 1"
		if got := groups(body); got != want {
			t.Errorf("groups = %q, want %q", got, want)
		}
		contains(t, "triage page", body, `id="triage-summary">5 active alerts in 5 groups`,
			`<label>Severity <select name="severity"`, `<label>Model <select name="model"`, `<label>Alert type <select name="type"`,
			`<option value="churn">churn</option>`, `<option value="performance_degraded">performance_degraded</option>`,
			"KS statistic 0.41", "raised by hand")
		r := row(t, body, churnDrift.ID)
		contains(t, "churn drift row", r, `<span class="occurrences">×2</span>, last`, "churn v1: drift_detected",
			`/alerts/`+fmt.Sprint(churnDrift.ID)+`/acknowledge`,
			`href="/alerts?silence_model=churn&amp;silence_severity=high&amp;silence_type=drift_detected#new-silence"`)
		lacks(t, "the page without a prefill", body, `<details class="new-silence" id="new-silence" open>`)

		// Filters narrow the groups; each keeps its form values.
		for path, want := range map[string]string{
			"/alerts?model=churn":                               "churn performance_degraded 1 | churn drift_detected 1",
			"/alerts?type=drift_detected":                       "churn drift_detected 1 | fraud drift_detected 1",
			"/alerts?severity=critical":                         "no model drift 1 | churn performance_degraded 1",
			"/alerts?status=active&model=fraud&severity=medium": "fraud drift_detected 1",
			"/alerts?status=acknowledged":                       "no model errors 1",
			"/alerts?model=fraud&severity=critical":             "",
		} {
			code, body := e.get(t, path)
			if got := groups(body); code != http.StatusOK || got != want {
				t.Errorf("GET %s: %d, groups %q, want %q", path, code, got, want)
			}
		}
		_, body = e.get(t, "/alerts?model=fraud&severity=critical")
		contains(t, "filtered to nothing", body, "No active alert matches these filters", `<option value="fraud" selected>fraud</option>`,
			`<option value="critical" selected>critical</option>`, "Clear the filters")
		_, body = e.get(t, "/alerts?severity=critical")
		if strings.Contains(body, fmt.Sprintf(`id="alert-%d"`, fraudDrift.ID)) || !strings.Contains(body, fmt.Sprintf(`id="alert-%d"`, churnPerf.ID)) {
			t.Error("the severity filter shows the wrong rows")
		}
		if code, _ := e.get(t, "/alerts?severity=urgent"); code != http.StatusBadRequest {
			t.Errorf("unknown severity: %d, want 400", code)
		}

		// The "Silence…" link opens the form, prefilled from the alert.
		_, body = e.get(t, "/alerts?silence_model=churn&silence_severity=high&silence_type=drift_detected")
		contains(t, "prefilled silence form", body, `<details class="new-silence" id="new-silence" open>`,
			`name="alert_type" id="silence-type" maxlength="255" value="drift_detected"`, `name="model_name" id="silence-model" maxlength="255" value="churn"`,
			`<option value="high" selected>high</option>`, `value="2026-11-20T15:00"`, `<label>Until (UTC) <input type="datetime-local"`,
			`<label class="grow">Comment <input name="comment"`)
	})
}

// TestAlertSilenceForms: in the open mode, a silence created on the page
// is listed, marks the open alerts it matches as silenced (never a
// resolved one), and is expired once; a refused form comes back filled in.
func TestAlertSilenceForms(t *testing.T) {
	t.Parallel()
	eachEngine(t, true, func(t *testing.T, e *env) {
		ctx := context.Background()
		churnDrift, churnPerf, fraudDrift := ruleAlerts(t, e)
		form := url.Values{"tab": {"active"}, "tab_model": {"churn"}, "alert_type": {"drift_detected"}, "model_name": {"churn"},
			"severity": {""}, "until": {"2026-11-20T15:00"}, "comment": {"retraining churn"}, "actor": {"frank"}}
		_, path, body := e.post(t, "/alerts/silences", form)
		sils, _, err := e.st.SilenceList(ctx, false, store.Page{})
		if err != nil || len(sils) != 1 {
			t.Fatalf("silences after the form: %v, %v", sils, err)
		}
		sil := sils[0]
		if sil.CreatedBy != "frank" || *sil.Matchers.AlertType != "drift_detected" || *sil.Matchers.ModelName != "churn" ||
			sil.Matchers.Severity != nil || !sil.Until.Equal(t0.Add(7*time.Hour)) || sil.Comment != "retraining churn" {
			t.Errorf("stored silence: %s", mustJSON(sil))
		}
		if path != "/alerts?model=churn&status=active" {
			t.Errorf("the form returned to %s", path)
		}
		contains(t, "after the silence form", body, `class="flash flash-ok"`,
			fmt.Sprintf("Silence %d created by frank: alerts of type drift_detected on model churn until 2026-11-20 15:00 UTC.", sil.ID),
			fmt.Sprintf(`<tr id="silence-%d">`, sil.ID), "retraining churn", `<span class="chip-n" id="silence-count">1</span>`,
			`<span class="badge silenced">1 silenced</span>`)
		contains(t, "silenced row", row(t, body, churnDrift.ID), fmt.Sprintf(`id="silenced-%d">silenced</span>`, churnDrift.ID),
			fmt.Sprintf(`(<a href="#silence-%d">#%d</a>)`, sil.ID, sil.ID))
		lacks(t, "churn's performance row", row(t, body, churnPerf.ID), "silenced")
		_, body = e.get(t, "/alerts")
		lacks(t, "fraud's drift row", row(t, body, fraudDrift.ID), "silenced")
		if _, err := e.st.AlertResolve(ctx, churnDrift.ID, "frank", ""); err != nil {
			t.Fatal(err)
		}
		_, body = e.get(t, "/alerts?status=resolved")
		lacks(t, "a resolved alert the silence matches", row(t, body, churnDrift.ID), "silenced")

		// A refused form returns with what was typed and says why.
		bad := url.Values{"tab": {"active"}, "model_name": {"fraud"}, "until": {"2026-11-20T15:30"}, "comment": {" "}, "actor": {"frank"}}
		_, path, body = e.post(t, "/alerts/silences", bad)
		contains(t, "refused silence", body, `class="flash flash-error"`, "The silence was not created: comment: is required",
			`<details class="new-silence" id="new-silence" open>`, `value="fraud"`, `value="2026-11-20T15:30"`)
		if !strings.Contains(path, "silence_model=fraud") {
			t.Errorf("the refused form returned to %s", path)
		}
		bad.Set("comment", "late")
		bad.Set("until", "2026-11-20T12:00")
		_, _, body = e.post(t, "/alerts/silences", bad)
		contains(t, "silence in the past", body, "The silence was not created: until: must be in the future")
		bad.Set("until", "tomorrow")
		_, _, body = e.post(t, "/alerts/silences", bad)
		contains(t, "unreadable until", body, "until: must be a date and time such as 2026-11-20T15:00 (UTC)")
		bad.Set("until", "2026-11-20T15:30")
		bad.Set("model_name", "")
		_, _, body = e.post(t, "/alerts/silences", bad)
		contains(t, "no matcher", body, "matchers: needs at least one of alert_type, model_name, severity")

		// Expire: once, then a second expiry says who was first.
		expire := fmt.Sprintf("/alerts/silences/%d/expire", sil.ID)
		_, _, body = e.post(t, expire, url.Values{"tab": {"active"}, "actor": {"gina"}})
		contains(t, "expired", body, fmt.Sprintf("Silence %d expired by gina", sil.ID), "No silence is in force.")
		_, _, body = e.post(t, expire, url.Values{"tab": {"active"}, "actor": {"hank"}})
		contains(t, "expired twice", body, `class="flash flash-warn"`, fmt.Sprintf("Silence %d was already expired by gina", sil.ID),
			"your expiry was not recorded")
		_, _, body = e.post(t, "/alerts/silences/999999/expire", url.Values{"actor": {"hank"}})
		contains(t, "unknown silence", body, "Silence 999999 does not exist; nothing changed.")
		if n, _, _ := e.st.SilenceList(ctx, false, store.Page{}); len(n) != 1 || n[0].ExpiredBy == nil || *n[0].ExpiredBy != "gina" {
			t.Errorf("silences at the end: %s", mustJSON(n))
		}
	})
}

// TestAlertSilencesNeedReview: a viewer sees the silences but no control
// to add or end one, and the forms refuse it (403, nothing changed); a
// reviewer's silence is recorded under the account.
func TestAlertSilencesNeedReview(t *testing.T) {
	t.Parallel()
	eachEngineAuth(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		churnDrift, _, _ := ruleAlerts(t, e)
		viewer := e.signIn(t, "victor", e.addUser(t, "victor", mlops.RoleViewer))
		reviewer := e.signIn(t, "rita", e.addUser(t, "rita", mlops.RoleReviewer))
		form := url.Values{"alert_type": {"drift_detected"}, "until": {"2026-11-20T15:00"}, "comment": {"known"}, "actor": {"mallory"}}

		resp, _ := reviewer.post(t, "/alerts/silences", form)
		wantRedirect(t, "reviewer's silence", resp, "/alerts?status=active#silences")
		sils, _, err := e.st.SilenceList(ctx, false, store.Page{})
		if err != nil || len(sils) != 1 || sils[0].CreatedBy != "rita" {
			t.Fatalf("the reviewer's silence: %s (%v), want created by rita", mustJSON(sils), err)
		}
		expire := fmt.Sprintf("/alerts/silences/%d/expire", sils[0].ID)
		_, body := reviewer.get(t, "/alerts")
		contains(t, "reviewer's alerts", body, `action="/alerts/silences"`, `action="`+expire+`"`, "Silence…")
		lacks(t, "reviewer's alerts", body, `name="actor"`)

		_, body = viewer.get(t, "/alerts")
		contains(t, "viewer's alerts", body, fmt.Sprintf(`<tr id="silence-%d">`, sils[0].ID), fmt.Sprintf(`id="silenced-%d"`, churnDrift.ID),
			"Creating and expiring silences needs the review permission (role reviewer or admin)")
		lacks(t, "viewer's alerts", body, `action="/alerts/silences"`, "/expire", "Silence…", "/acknowledge", "/resolve")
		for path, f := range map[string]url.Values{"/alerts/silences": form, expire: {"actor": {"victor"}}} {
			resp, body := viewer.post(t, path, f)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("viewer's POST %s: %d, want 403", path, resp.StatusCode)
			}
			contains(t, "viewer's POST "+path, body, "user victor has role viewer", "Nothing was changed.")
		}
		sils, _, _ = e.st.SilenceList(ctx, false, store.Page{})
		if len(sils) != 1 || !sils[0].Active {
			t.Errorf("after the viewer's forged forms: %s", mustJSON(sils))
		}
		resp, _ = reviewer.post(t, expire, url.Values{"tab": {"acknowledged"}})
		wantRedirect(t, "reviewer's expiry", resp, "/alerts?status=acknowledged#silences")
		if sils, _, _ = e.st.SilenceList(ctx, false, store.Page{}); sils[0].ExpiredBy == nil || *sils[0].ExpiredBy != "rita" {
			t.Errorf("after the reviewer's expiry: %s", mustJSON(sils))
		}
	})
}
