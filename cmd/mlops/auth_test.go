package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/internal/auth"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// TestTwoServersShareIdentity runs two `mlops serve` processes on one
// PostgreSQL database: a token revoked through one is refused by the other
// within 2 s, and a sign-in session made on one works on the other.
func TestTwoServersShareIdentity(t *testing.T) {
	bin, dbURL, st := twoServerDatabase(t)
	ctx := context.Background()
	token := func(name string, role mlops.Role) string { return newToken(t, st, name, role) }
	admin, agent := token("ops", mlops.RoleAdmin), token("agent", mlops.RoleAgent)
	if _, err := st.UserCreate(ctx, store.NewUser{Name: "rae", Role: mlops.RoleReviewer, PasswordHash: auth.HashPassword("rae's long password")}); err != nil {
		t.Fatal(err)
	}

	_, a := startServe(t, bin, dbURL, "MLOPS_AUTH=required")
	_, b := startServe(t, bin, dbURL, "MLOPS_AUTH=required")
	noRedirect := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	call := func(method, u, secret string, cookie *http.Cookie) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		if secret != "" {
			req.Header.Set("Authorization", "Bearer "+secret)
		}
		if cookie != nil {
			req.AddCookie(cookie)
		}
		res, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}

	for _, base := range []string{a, b} {
		if code, body := call("GET", base+"/api/v1/actions", agent, nil); code != 200 {
			t.Fatalf("the agent's token on %s: %d %s", base, code, body)
		}
	}
	if code, body := call("DELETE", a+"/api/v1/tokens/agent", admin, nil); code != 200 {
		t.Fatalf("revoke through the first server: %d %s", code, body)
	}
	revoked := time.Now()
	for {
		code, _ := call("GET", b+"/api/v1/actions", agent, nil)
		if code == 401 {
			t.Logf("the second server refused the revoked token after %v", time.Since(revoked).Round(time.Millisecond))
			break
		}
		if time.Since(revoked) > 2*time.Second {
			t.Fatalf("the second server still answers %d for a token revoked %v ago", code, time.Since(revoked))
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Sign in on the first server; the cookie works on the second.
	res, err := noRedirect.PostForm(a+"/login", url.Values{"name": {"rae"}, "password": {"rae's long password"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var session *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == auth.SessionCookie && c.Value != "" {
			session = c
		}
	}
	if session == nil {
		t.Fatalf("sign-in on the first server set no session cookie (status %d)", res.StatusCode)
	}
	if code, body := call("GET", b+"/api/v1/whoami", "", session); code != 200 || !strings.Contains(body, `"name":"rae"`) {
		t.Fatalf("the session on the second server: %d %s", code, body)
	}
	// Sign out on the second server; the first refuses the cookie within 2 s.
	req, _ := http.NewRequest("POST", b+"/logout", nil)
	req.AddCookie(session)
	req.Header.Set("Origin", b)
	if res, err = noRedirect.Do(req); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	out := time.Now()
	for {
		code, _ := call("GET", a+"/api/v1/whoami", "", session)
		if code == 401 {
			break
		}
		if time.Since(out) > 2*time.Second {
			t.Fatalf("the first server still accepts a session signed out on the second (%d)", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTwoServersOneAuditChain: 8 goroutines on each of two `mlops serve`
// processes change state at once on one PostgreSQL database; the audit log
// holds exactly one event per change, and its chain verifies with no gap
// and no fork.
func TestTwoServersOneAuditChain(t *testing.T) {
	bin, dbURL, st := twoServerDatabase(t)
	ctx := context.Background()
	secret := newToken(t, st, "agent", mlops.RoleAgent)
	_, a := startServe(t, bin, dbURL, "MLOPS_AUTH=required")
	_, b := startServe(t, bin, dbURL, "MLOPS_AUTH=required")
	if _, err := st.AuditSeal(ctx); err != nil {
		t.Fatal(err)
	}
	var start int64
	if err := st.DB().QueryRow(`SELECT count(*) FROM audit_events`).Scan(&start); err != nil {
		t.Fatal(err)
	}

	const workers, each = 8, 15
	hc := &http.Client{Timeout: 30 * time.Second}
	errs := make(chan error, 2*workers)
	var wg sync.WaitGroup
	for s, base := range []string{a, b} {
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(s, w int, base string) {
				defer wg.Done()
				for i := 0; i < each; i++ {
					body := fmt.Sprintf(`{"alert_type":"load","severity":"low","title":"s%d w%d i%d"}`, s, w, i)
					req, _ := http.NewRequest("POST", base+"/api/v1/alerts", strings.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+secret)
					req.Header.Set("Content-Type", "application/json")
					res, err := hc.Do(req)
					if err != nil {
						errs <- err
						return
					}
					res.Body.Close()
					if res.StatusCode != http.StatusCreated {
						errs <- fmt.Errorf("server %d: status %d", s, res.StatusCode)
						return
					}
				}
			}(s, w, base)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	n, err := st.AuditVerify(ctx, 0, nil)
	if err != nil {
		t.Fatalf("the audit chain after two servers' concurrent changes: %v", err)
	}
	var events, maxSeq, distinctPrev int64
	if err := st.DB().QueryRow(`SELECT count(*), max(seq), count(DISTINCT prev_hash) FROM audit_events`).Scan(&events, &maxSeq, &distinctPrev); err != nil {
		t.Fatal(err)
	}
	if want := start + 2*workers*each; events != want || n != events || maxSeq != events || distinctPrev != events {
		t.Fatalf("%d events (want %d), %d verified, last position %d, %d distinct prev_hash: a gap or a fork", events, want, n, maxSeq, distinctPrev)
	}
	t.Logf("%d events from two servers form one verified chain", n)
}

// twoServerDatabase builds the binary and migrates a fresh PostgreSQL
// schema for two servers to share.
func twoServerDatabase(t *testing.T) (bin, dbURL string, st *store.Store) {
	t.Helper()
	if testing.Short() && os.Getenv("CI") != "true" { // CI always runs it
		t.Skip("builds and runs the binary")
	}
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	dbURL = storetest.URL(t, store.Postgres)
	st = storetest.OpenURL(t, dbURL, store.Options{})
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return bin, dbURL, st
}

// newToken stores a token and returns its secret.
func newToken(t *testing.T, st *store.Store, name string, role mlops.Role) string {
	t.Helper()
	secret, hash := auth.NewSecret()
	if _, err := st.TokenCreate(context.Background(), store.NewToken{Name: name, Role: role, SecretHash: hash}); err != nil {
		t.Fatal(err)
	}
	return secret
}
