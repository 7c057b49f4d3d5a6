package webui_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/internal/auth"
	"github.com/mlopsdev/mlops/internal/webui"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// visitor is one browser: its own cookies, redirects not followed so a test
// sees each 303.
type visitor struct {
	e      *env
	client *http.Client
}

func (e *env) visitor() *visitor {
	jar, _ := cookiejar.New(nil)
	return &visitor{e: e, client: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// do sends a request (a form when form is not nil, with the headers of a
// same-origin browser post) and returns the response and its body.
func (v *visitor) do(t *testing.T, method, path string, form url.Values, cookies ...*http.Cookie) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, v.e.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.Header.Set("Origin", v.e.srv.URL)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := v.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp, string(b)
}

func (v *visitor) get(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	return v.do(t, http.MethodGet, path, nil)
}

func (v *visitor) post(t *testing.T, path string, form url.Values) (*http.Response, string) {
	t.Helper()
	return v.do(t, http.MethodPost, path, form)
}

// session is the visitor's session cookie, or nil.
func (v *visitor) session() *http.Cookie {
	u, _ := url.Parse(v.e.srv.URL)
	for _, c := range v.client.Jar.Cookies(u) {
		if c.Name == auth.SessionCookie {
			return c
		}
	}
	return nil
}

// wantRedirect fails unless resp is a 303 to location.
func wantRedirect(t *testing.T, what string, resp *http.Response, location string) {
	t.Helper()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != location {
		t.Errorf("%s: %d to %q, want 303 to %q", what, resp.StatusCode, resp.Header.Get("Location"), location)
	}
}

// addUser creates a user with a password and returns the password.
func (e *env) addUser(t *testing.T, name string, role mlops.Role) string {
	t.Helper()
	pw := "correct horse " + name
	if _, err := e.st.UserCreate(context.Background(), store.NewUser{Name: name, Role: role, PasswordHash: auth.HashPassword(pw)}); err != nil {
		t.Fatal(err)
	}
	return pw
}

// signIn signs a new visitor in through the form.
func (e *env) signIn(t *testing.T, name, pw string) *visitor {
	t.Helper()
	v := e.visitor()
	resp, body := v.post(t, "/login", url.Values{"name": {name}, "password": {pw}, "next": {"/"}})
	if resp.StatusCode != http.StatusSeeOther || v.session() == nil {
		t.Fatalf("sign in as %s: %d, session cookie %v\n%s", name, resp.StatusCode, v.session(), body)
	}
	return v
}

func eachEngineAuth(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Helper()
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			fn(t, newEnvAuth(t, engine, true, auth.ModeRequired))
		})
	}
}

func TestSignIn(t *testing.T) {
	t.Parallel()
	eachEngineAuth(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		pw := e.addUser(t, "rita", mlops.RoleReviewer)
		anon := e.visitor()

		// Pages send a visitor without credentials to the sign-in page,
		// keeping where they were going; forms are refused.
		resp, _ := anon.get(t, "/")
		wantRedirect(t, "GET / without a cookie", resp, "/login?next=%2F")
		resp, _ = anon.get(t, "/alerts?status=resolved")
		wantRedirect(t, "GET /alerts without a cookie", resp, "/login?next=%2Falerts%3Fstatus%3Dresolved")
		resp, _ = anon.get(t, "/nowhere")
		wantRedirect(t, "GET an unknown page without a cookie", resp, "/login?next=%2Fnowhere")
		resp, body := anon.post(t, "/approvals/decide", url.Values{"action_id": {"act-rollback-1"}, "decision": {"approve"}, "reviewer": {"x"}})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST without a cookie: %d, want 403", resp.StatusCode)
		}
		contains(t, "POST without a cookie", body, "You are not signed in", `<a href="/login">Sign in</a>`)
		if resp, _ := anon.get(t, "/static/style.css"); resp.StatusCode != http.StatusOK {
			t.Errorf("GET /static/style.css without a cookie: %d", resp.StatusCode)
		}

		resp, body = anon.get(t, "/login?next=%2Fapprovals")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /login: %d", resp.StatusCode)
		}
		contains(t, "sign-in page", body, `<form method="post" action="/login"`, `<input type="hidden" name="next" value="/approvals">`,
			`<label>User name <input name="name" autocomplete="username"`, `<label>Password <input type="password" name="password" autocomplete="current-password" required`)
		if strings.Contains(body, `aria-label="Main"`) || strings.Contains(body, "Sign out") {
			t.Error("the sign-in page shows the navigation or a sign-out button to a visitor without an account")
		}
		if resp.Header.Get("Content-Security-Policy") == "" {
			t.Error("the sign-in page has no Content-Security-Policy")
		}

		// A wrong password: 401, the form again with the name, never the password.
		resp, body = anon.post(t, "/login", url.Values{"name": {"rita"}, "password": {"guess-guess-guess"}, "next": {"/approvals"}})
		if resp.StatusCode != http.StatusUnauthorized || anon.session() != nil {
			t.Errorf("wrong password: %d, cookie %v; want 401 and no cookie", resp.StatusCode, anon.session())
		}
		contains(t, "wrong password", body, "Wrong user name or password.", `value="rita"`, `name="next" value="/approvals"`)
		if strings.Contains(body, "guess-guess-guess") {
			t.Error("the sign-in page echoes the password")
		}

		// The right one: the cookie, and back to where the visitor was going.
		resp, _ = anon.post(t, "/login", url.Values{"name": {"rita"}, "password": {pw}, "next": {"/approvals"}})
		wantRedirect(t, "sign in", resp, "/approvals")
		var set *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == auth.SessionCookie {
				set = c
			}
		}
		if set == nil || !set.HttpOnly || set.SameSite != http.SameSiteLaxMode || set.Value == "" {
			t.Fatalf("sign in set the session cookie %+v; want HttpOnly, SameSite=Lax", set)
		}
		resp, body = anon.get(t, "/approvals")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /approvals signed in: %d", resp.StatusCode)
		}
		contains(t, "signed in", body, "Signed in as rita (reviewer).", `<span id="whoami">rita · reviewer</span>`,
			`<form method="post" action="/logout"><button type="submit" id="sign-out">Sign out</button></form>`)
		resp, _ = anon.get(t, "/login?next=%2Fdrift")
		wantRedirect(t, "GET /login signed in", resp, "/drift")

		// next must be a path on this site.
		for next, want := range map[string]string{"//evil.example/x": "/", "https://evil.example": "/", `/\evil.example`: "/", "/alerts?status=active": "/alerts?status=active"} {
			resp, _ := e.visitor().post(t, "/login", url.Values{"name": {"rita"}, "password": {pw}, "next": {next}})
			wantRedirect(t, "sign in with next="+next, resp, want)
		}

		// Signing out ends the session in the store, not just in the browser.
		old := anon.session()
		resp, _ = anon.post(t, "/logout", url.Values{})
		wantRedirect(t, "sign out", resp, "/login")
		if anon.session() != nil {
			t.Error("sign out left the session cookie in the browser")
		}
		if _, err := e.st.SessionGet(ctx, auth.HashSecret(old.Value)); !errors.Is(err, mlops.ErrNotFound) {
			t.Errorf("after sign out the session is still stored (err %v)", err)
		}
		resp, _ = anon.get(t, "/")
		wantRedirect(t, "GET / after sign out", resp, "/login?next=%2F")
		resp, _ = anon.do(t, http.MethodGet, "/approvals", nil, old)
		wantRedirect(t, "GET with the ended session's cookie", resp, "/login?next=%2Fapprovals")
		_, body = anon.get(t, "/login?next=%2Fapprovals")
		contains(t, "sign-in page after the session ended", body, "Your session has ended; sign in again.")
	})
}

func TestSignInLockout(t *testing.T) {
	t.Parallel()
	e := newEnvAuth(t, store.SQLite, false, auth.ModeRequired)
	v := e.visitor()
	for i := 0; i < auth.MaxFailures; i++ {
		if resp, _ := v.post(t, "/login", url.Values{"name": {"mallory"}, "password": {"guess"}}); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failed sign-in %d: %d, want 401", i+1, resp.StatusCode)
		}
	}
	resp, body := v.post(t, "/login", url.Values{"name": {"mallory"}, "password": {"guess"}})
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "30" {
		t.Errorf("sign-in after %d failures: %d, Retry-After %q; want 429, 30", auth.MaxFailures, resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	contains(t, "locked out", body, "Too many failed sign-ins for mallory; try again in 30s.", `<form method="post" action="/login"`)
}

func TestRolesShowAndAllow(t *testing.T) {
	t.Parallel()
	eachEngineAuth(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		s := e.seed
		viewer := e.signIn(t, "victor", e.addUser(t, "victor", mlops.RoleViewer))
		reviewer := e.signIn(t, "rita", e.addUser(t, "rita", mlops.RoleReviewer))
		v2 := fmt.Sprintf("/models/%d", s.churnV2.ID)
		ack := fmt.Sprintf("/alerts/%d/acknowledge", s.alertCritical.ID)

		// A viewer reads every page but sees no control it cannot use.
		_, body := viewer.get(t, "/approvals")
		contains(t, "viewer's approvals", body, "act-rollback-1", `<span id="whoami">victor · viewer</span>`,
			"Approving and rejecting needs the review permission (role reviewer or admin)")
		for page, controls := range map[string][]string{
			"/approvals": {`value="approve"`, `action="/approvals/decide"`},
			"/alerts":    {"/acknowledge", "/resolve"},
			v2:           {"confirm-activate", "/activate"},
		} {
			_, body := viewer.get(t, page)
			for _, c := range controls {
				if strings.Contains(body, c) {
					t.Errorf("the viewer's %s shows %q", page, c)
				}
			}
		}

		// A forged form from the viewer's session is refused and changes nothing.
		for path, form := range map[string]url.Values{
			"/approvals/decide": {"action_id": {"act-rollback-1"}, "decision": {"approve"}, "reviewer": {"rita"}},
			ack:                 {"actor": {"rita"}},
			v2 + "/activate":    {"replaces": {fmt.Sprint(s.churnV1.ID)}},
		} {
			resp, body := viewer.post(t, path, form)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("viewer's POST %s: %d, want 403", path, resp.StatusCode)
			}
			contains(t, "viewer's POST "+path, body, "permission (roles", "user victor has role viewer", "Nothing was changed.")
		}
		if a, _ := e.st.ActionGet(ctx, "act-rollback-1"); a.Status != mlops.ActionPending {
			t.Errorf("the viewer's forged approval changed the action: %s", a.Status)
		}
		if a, _ := e.st.AlertGet(ctx, s.alertCritical.ID); a.Status != mlops.AlertActive {
			t.Errorf("the viewer's forged acknowledgement changed the alert: %s", a.Status)
		}
		if m, _ := e.st.ModelVersionGet(ctx, s.churnV2.ID); m.IsActive {
			t.Error("the viewer's forged activation activated v2")
		}

		// A reviewer sees the controls, without a name field: the decision
		// is recorded under the account, whatever a form field says.
		_, body = reviewer.get(t, "/approvals")
		contains(t, "reviewer's approvals", body, `value="approve"`, `value="reject"`)
		_, alerts := reviewer.get(t, "/alerts")
		contains(t, "reviewer's alerts", alerts, ack)
		_, model := reviewer.get(t, v2)
		contains(t, "reviewer's model page", model, "confirm-activate")
		for page, b := range map[string]string{"/approvals": body, "/alerts": alerts, v2: model} {
			if strings.Contains(b, `name="reviewer"`) || strings.Contains(b, `name="actor"`) {
				t.Errorf("the signed-in reviewer's %s asks for a name", page)
			}
		}
		resp, _ := reviewer.post(t, "/approvals/decide", url.Values{"action_id": {"act-rollback-1"}, "decision": {"approve"},
			"reviewer": {"mallory"}, "comment": {"drift confirmed"}, "confirm": {"yes"}})
		wantRedirect(t, "reviewer's approval", resp, "/approvals")
		a, err := e.st.ActionGet(ctx, "act-rollback-1")
		if err != nil || a.Status != mlops.ActionApproved || a.ReviewedBy == nil || *a.ReviewedBy != "rita" {
			t.Errorf("after the reviewer's approval the action reads %s (err %v); want approved by rita", mustJSON(a), err)
		}
		resp, _ = reviewer.post(t, ack, url.Values{"actor": {"mallory"}, "tab": {"active"}})
		wantRedirect(t, "reviewer's acknowledgement", resp, "/alerts?status=active")
		if al, _ := e.st.AlertGet(ctx, s.alertCritical.ID); al.Status != mlops.AlertAcknowledged || *al.AcknowledgedBy != "rita" {
			t.Errorf("after the reviewer's acknowledgement the alert reads %s; want acknowledged by rita", mustJSON(al))
		}
		resp, _ = reviewer.post(t, v2+"/activate", url.Values{"replaces": {fmt.Sprint(s.churnV1.ID)}})
		wantRedirect(t, "reviewer's activation", resp, v2)
		if m, _ := e.st.ModelVersionGet(ctx, s.churnV2.ID); !m.IsActive {
			t.Error("the reviewer's activation did not activate v2")
		}
	})
}

// With an Authenticator that is open (auto mode, no account yet) or
// without one, the UI works as before: no sign-in, names typed in forms.
func TestOpenModes(t *testing.T) {
	t.Parallel()
	for _, mode := range []auth.Mode{"", auth.ModeAuto, auth.ModeOff} {
		t.Run(fmt.Sprintf("mode %q", mode), func(t *testing.T) {
			t.Parallel()
			e := newEnvAuth(t, store.SQLite, true, mode)
			v := e.visitor()
			resp, _ := v.get(t, "/login?next=%2Fapprovals")
			wantRedirect(t, "GET /login", resp, "/")
			resp, _ = v.post(t, "/logout", url.Values{})
			if resp.StatusCode != http.StatusSeeOther {
				t.Errorf("POST /logout: %d, want 303", resp.StatusCode)
			}
			resp, body := v.get(t, "/approvals")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /approvals: %d", resp.StatusCode)
			}
			contains(t, "open approvals", body, `<label>Reviewer <input name="reviewer"`, `value="approve"`, `aria-label="Main"`)
			if strings.Contains(body, "Sign out") || strings.Contains(body, "whoami") {
				t.Error("the open UI shows a signed-in user")
			}
			resp, _ = v.post(t, "/approvals/decide", url.Values{"action_id": {"act-scale-2"}, "decision": {"approve"}, "reviewer": {"olga"}})
			wantRedirect(t, "open approval", resp, "/approvals")
			if a, _ := e.st.ActionGet(context.Background(), "act-scale-2"); a.ReviewedBy == nil || *a.ReviewedBy != "olga" {
				t.Errorf("the open approval reads %s; want reviewed by olga", mustJSON(a))
			}
		})
	}
}

// The JSON API attaches the caller before the UI sees the request; the UI
// then trusts it rather than authenticating again.
func TestAttachedCaller(t *testing.T) {
	t.Parallel()
	e := newEnvAuth(t, store.SQLite, true, auth.ModeRequired)
	ui, err := webui.New(e.st, webui.Options{Now: e.clk.Now, Auth: e.auth})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "/approvals", nil)
	req = req.WithContext(auth.WithCaller(req.Context(), auth.Caller{Principal: mlops.Principal{Name: "pat", Kind: mlops.KindToken, Role: mlops.RoleViewer}}))
	rec := httptest.NewRecorder()
	ui.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "pat · viewer") {
		t.Errorf("GET /approvals as an attached caller: %d\n%s", rec.Code, rec.Body.String())
	}
}
