package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/internal/auth"
	"github.com/mlopsdev/mlops/internal/httpapi"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// The roles table of docs/api.md, written out here by operation, independently
// of the code: the matrix test holds every route of /openapi.json to it, so
// a route added without an entry here, or declaring another permission
// than the table gives it, fails.
const (
	everyone = "viewer pipeline agent reviewer admin"
	ingest   = "pipeline agent admin"
	activate = "pipeline reviewer admin"
	act      = "agent admin"
	review   = "reviewer admin"
	auditors = "reviewer admin"
	admins   = "admin"
	public   = "public" // no credentials needed, ever
	anyone   = "anyone" // answers every caller, anonymous included
)

var access = map[string]string{
	"healthz": public, "readyz": public, "metrics": everyone, "openapi": everyone, "whoami": anyone,

	"create-model-version": ingest, "list-model-versions": everyone, "get-active-model-version": everyone,
	"get-model-version": everyone, "activate-model-version": activate, "check-model-drift": ingest,
	"get-model-timeline": everyone,

	"create-prediction": ingest, "create-predictions-batch": ingest, "list-predictions": everyone,
	"get-prediction": everyone, "set-prediction-actual": ingest,

	"create-drift-report": ingest, "list-drift-reports": everyone, "get-latest-drift-report": everyone,

	"create-action": act, "list-actions": everyone, "get-action": everyone, "approve-action": review,
	"reject-action": review, "mark-action-executed": act, "mark-action-failed": act,

	"create-metric": ingest, "create-metrics-batch": ingest, "get-metric-series": everyone,

	"create-alert": act, "list-alerts": everyone, "get-alert": everyone, "acknowledge-alert": review,
	"resolve-alert": review, "create-alert-silence": review, "list-alert-silences": everyone,
	"expire-alert-silence": review,

	"report-model-performance": everyone, "report-active-model-performance": everyone, "report-alerts": everyone,
	"report-approvals": everyone, "get-rules": everyone, "put-rules": admins, "run-rules": admins,

	"list-users": admins, "create-user": admins, "update-user": admins, "list-tokens": admins,
	"create-token": admins, "revoke-token": admins,

	"list-audit-events": auditors,
}

// authEnv is a server with authentication required, a token per role and a
// few broken credentials.
type authEnv struct {
	c       *client
	st      *store.Store
	tokens  map[mlops.Role]string // role → secret
	expired string                // a token past its expiry
	revoked string                // a revoked token
	offset  *atomic.Int64         // the authenticator's clock runs this far ahead
}

func (e *authEnv) token(t *testing.T, name string, role mlops.Role, expires *time.Time) string {
	t.Helper()
	secret, hash := auth.NewSecret()
	secret = noteSecret(secret)
	if _, err := e.st.TokenCreate(context.Background(), store.NewToken{Name: name, Role: role, SecretHash: hash, ExpiresAt: expires}); err != nil {
		t.Fatalf("token %s: %v", name, err)
	}
	return secret
}

func (e *authEnv) user(t *testing.T, name string, role mlops.Role, pw string) {
	t.Helper()
	if _, err := e.st.UserCreate(context.Background(), store.NewUser{Name: name, Role: role, PasswordHash: auth.HashPassword(noteSecret(pw))}); err != nil {
		t.Fatalf("user %s: %v", name, err)
	}
}

func startAuth(t *testing.T, engine store.Engine, mode auth.Mode) *authEnv {
	t.Helper()
	st := storetest.Open(t, engine, store.Options{})
	offset := &atomic.Int64{}
	a := auth.New(st, auth.Options{Mode: mode, Now: func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }})
	e := &authEnv{c: serveWith(t, st, httpapi.Options{Auth: a}), st: st, tokens: map[mlops.Role]string{}, offset: offset}
	return e
}

func (e *authEnv) setup(t *testing.T) {
	t.Helper()
	for _, r := range mlops.Roles {
		e.tokens[r] = e.token(t, "prog-"+string(r), r, nil)
	}
	soon := time.Now().Add(time.Hour)
	e.expired = e.token(t, "expiring", mlops.RoleAdmin, &soon)
	e.offset.Store(int64(2 * time.Hour)) // the authenticator now lives past that expiry
	e.revoked = e.token(t, "revoked", mlops.RoleAdmin, nil)
	if _, err := e.st.TokenRevoke(context.Background(), "revoked"); err != nil {
		t.Fatal(err)
	}
	e.user(t, "dora", mlops.RoleAdmin, "dora's long password")
	off := true
	if _, err := e.st.UserUpdate(context.Background(), "dora", store.UserChange{Disabled: &off}); err != nil {
		t.Fatal(err)
	}
	e.user(t, "rita", mlops.RoleReviewer, "rita's long password")
}

// operation is one route of the OpenAPI document.
type operation struct {
	id, method, path string
}

func operations(t *testing.T, c *client) []operation {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
			Permission  string `json:"x-permission"`
		} `json:"paths"`
	}
	r := c.do("GET", "/openapi.json", nil)
	if r.status != 200 {
		t.Fatalf("openapi.json: %s", r)
	}
	if err := json.Unmarshal(r.raw, &doc); err != nil {
		t.Fatal(err)
	}
	var ops []operation
	for path, methods := range doc.Paths {
		for m, op := range methods {
			if op.Permission == "" {
				t.Errorf("%s %s (%s) declares no permission in /openapi.json (x-permission)", strings.ToUpper(m), path, op.OperationID)
			}
			ops = append(ops, operation{op.OperationID, strings.ToUpper(m), path})
		}
	}
	slices.SortFunc(ops, func(a, b operation) int { return strings.Compare(a.id, b.id) })
	return ops
}

// concrete fills a route's path parameters with values that name nothing.
func concrete(path string) string {
	return strings.NewReplacer("{id}", "999999", "{action_id}", "no-such-action", "{metric_name}", "m",
		"{model_name}", "m", "{name}", "no-such-name").Replace(path)
}

func (c *client) call(op operation) resp {
	var body any
	if op.method != http.MethodGet {
		body = map[string]any{}
	}
	return c.do(op.method, concrete(op.path), body)
}

// TestAccessMatrix sends every route of /openapi.json as every role, with
// no credentials and with each kind of bad credential, and checks the
// status against the roles table of docs/api.md.
func TestAccessMatrix(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			e := startAuth(t, engine, auth.ModeRequired)
			e.setup(t)
			c := e.c
			ops := operations(t, c.bearer(e.tokens[mlops.RoleAdmin]))
			if len(ops) < len(access) {
				t.Errorf("/openapi.json lists %d operations, the roles table %d", len(ops), len(access))
			}
			for _, op := range ops {
				want, ok := access[op.id]
				if !ok {
					t.Errorf("%s %s (%s) is not in the test's roles table: add it with the roles docs/api.md gives it", op.method, op.path, op.id)
					continue
				}
				refusedAll := func(label string, cl *client, status int) {
					t.Helper()
					r := cl.call(op)
					if want == public {
						if r.status == 401 || r.status == 403 {
							t.Errorf("%s %s with %s: %d, but it is public", op.method, op.path, label, r.status)
						}
						return
					}
					if want == anyone && label == "no credentials" {
						if r.status != 200 {
							t.Errorf("%s %s with no credentials: %s, want 200", op.method, op.path, r)
						}
						return
					}
					if r.status != status {
						t.Errorf("%s %s with %s: %s, want %d", op.method, op.path, label, r, status)
					}
					if status == 401 && r.header.Get("WWW-Authenticate") == "" {
						t.Errorf("%s %s with %s: 401 without WWW-Authenticate", op.method, op.path, label)
					}
				}
				refusedAll("no credentials", c, 401)
				refusedAll("an unknown token", c.bearer("mlops_not-a-real-secret"), 401)
				refusedAll("an expired token", c.bearer(e.expired), 401)
				refusedAll("a revoked token", c.bearer(e.revoked), 401)
				refusedAll("a disabled user", c.with("Authorization", basic("dora", "dora's long password")), 401)
				refusedAll("a wrong password", c.with("Authorization", basic("nobody-"+op.id, "not the password")), 401)

				for _, role := range mlops.Roles {
					r := c.bearer(e.tokens[role]).call(op)
					allowed := want == public || want == anyone || slices.Contains(strings.Fields(want), string(role))
					switch {
					case allowed && (r.status == 401 || r.status == 403):
						t.Errorf("%s %s as %s: %s; the roles table allows it", op.method, op.path, role, r)
					case !allowed && r.status != 403:
						t.Errorf("%s %s as %s: %s, want 403", op.method, op.path, role, r)
					case !allowed && !strings.Contains(r.obj()["detail"].(string), "permission"):
						t.Errorf("%s %s as %s: the 403 does not name the permission: %s", op.method, op.path, role, r)
					case r.status >= 500:
						t.Errorf("%s %s as %s: %s", op.method, op.path, role, r)
					}
				}
			}
			// A user's name and password (Basic) act with the user's role.
			rita := c.with("Authorization", basic("rita", "rita's long password"))
			if r := rita.do("GET", "/api/v1/whoami", nil); r.status != 200 || r.obj()["name"] != "rita" || r.obj()["role"] != "reviewer" || r.obj()["kind"] != "user" {
				t.Errorf("whoami as rita: %s", r)
			}
			problem(t, rita.do("POST", "/api/v1/models", map[string]any{"model_name": "m", "version": "1", "algorithm": "rf"}), 403)
		})
	}
}

func basic(name, pw string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(name, pw)
	return req.Header.Get("Authorization")
}

// TestCrossSiteWritesRefused replays a forged approval from another site:
// the browser's cross-site markers and a text/plain body are refused before
// anything runs, while a program with a reviewer token gets through.
func TestCrossSiteWritesRefused(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			e := startAuth(t, engine, auth.ModeRequired)
			e.setup(t)
			agent := e.c.bearer(e.tokens[mlops.RoleAgent])
			agent.must(201, "POST", "/api/v1/actions", map[string]any{"action_id": "act1", "action_type": "rollback", "risk_level": "high"})
			reviewer := e.c.bearer(e.tokens[mlops.RoleReviewer])

			forged := func(c *client, contentType string, kv ...string) resp {
				return c.with(append([]string{"Content-Type", contentType}, kv...)...).do("POST", "/api/v1/actions/act1/approve", `{"reviewer":"mallory","comment":"x"}`)
			}
			// The request of the report, with and without credentials.
			for _, c := range []*client{e.c, reviewer} {
				problem(t, forged(c, "text/plain", "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"), 403)
				// A form post from a browser that sends only Origin.
				problem(t, forged(c, "application/x-www-form-urlencoded", "Origin", "https://evil.example"), 403)
				// JSON from another site, as fetch() with credentials would send it.
				problem(t, forged(c, "application/json", "Sec-Fetch-Site", "cross-site"), 403)
			}
			// A non-JSON body without browser markers: 415.
			problem(t, forged(reviewer, "text/plain"), 415)
			problem(t, forged(reviewer, "application/x-www-form-urlencoded"), 415)
			if got := agent.must(200, "GET", "/api/v1/actions/act1", nil); got["status"] != "pending" || got["reviewed_by"] != nil {
				t.Fatalf("a refused request changed the action: %v", got)
			}
			// The reviewer, deciding under another's name: 422.
			problem(t, reviewer.do("POST", "/api/v1/actions/act1/approve", map[string]any{"reviewer": "mallory"}), 422, "body.reviewer")
			// A program with the reviewer's token, same origin or none: approved under its own name.
			got := reviewer.with("Origin", e.c.base, "Sec-Fetch-Site", "same-origin").must(200, "POST", "/api/v1/actions/act1/approve", map[string]any{"comment": "ok"})
			if got["status"] != "approved" || got["reviewed_by"] != "prog-reviewer" {
				t.Fatalf("approval by the reviewer token: %v", got)
			}
		})
	}
}

// TestAutoMode: open while no account exists, closed as soon as one does.
func TestAutoMode(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			e := startAuth(t, engine, auth.ModeAuto)
			if got := e.c.must(200, "GET", "/api/v1/whoami", nil); got["kind"] != "anonymous" || got["role"] != "admin" {
				t.Fatalf("whoami with no account: %v", got)
			}
			e.c.must(201, "POST", "/api/v1/models", map[string]any{"model_name": "m", "version": "1", "algorithm": "rf"})
			admin := e.token(t, "ci", mlops.RoleAdmin, nil)
			e.offset.Add(int64(2 * time.Second)) // past the cache
			problem(t, e.c.do("GET", "/api/v1/models", nil), 401)
			if r := e.c.do("GET", "/readyz", nil); r.status != 200 {
				t.Fatalf("readyz needs no credentials: %s", r)
			}
			e.c.bearer(admin).must(200, "GET", "/api/v1/models", nil)
		})
	}
}

// TestAccountRoutes: an admin manages users and tokens over HTTP; the
// secret is shown once and never listed; revocation takes effect.
func TestAccountRoutes(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			e := startAuth(t, engine, auth.ModeRequired)
			e.setup(t)
			admin := e.c.bearer(e.tokens[mlops.RoleAdmin])
			problem(t, admin.do("POST", "/api/v1/users", map[string]any{"name": "sam", "role": "viewer", "password": "short"}), 422, "body.password")
			u := admin.must(201, "POST", "/api/v1/users", map[string]any{"name": "sam", "role": "viewer", "password": noteSecret("a long enough password")})
			if _, leaked := u["password"]; leaked || u["role"] != "viewer" {
				t.Fatalf("created user: %v", u)
			}
			sam := e.c.with("Authorization", basic("sam", "a long enough password"))
			sam.must(200, "GET", "/api/v1/models", nil)
			admin.must(200, "PATCH", "/api/v1/users/sam", map[string]any{"role": "pipeline"})
			e.offset.Add(int64(2 * time.Second))
			sam.must(201, "POST", "/api/v1/models", map[string]any{"model_name": "m", "version": "1", "algorithm": "rf"})
			admin.must(200, "PATCH", "/api/v1/users/sam", map[string]any{"disabled": true})
			e.offset.Add(int64(2 * time.Second))
			problem(t, sam.do("GET", "/api/v1/models", nil), 401)

			tok := admin.must(201, "POST", "/api/v1/tokens", map[string]any{"name": "model-server", "role": "pipeline"})
			secret := noteSecret(tok["secret"].(string))
			if !strings.HasPrefix(secret, "mlops_") || len(secret) < 40 {
				t.Fatalf("token secret %q", secret)
			}
			problem(t, admin.do("POST", "/api/v1/tokens", map[string]any{"name": "model-server", "role": "pipeline"}), 409)
			ms := e.c.bearer(secret)
			if got := ms.must(200, "GET", "/api/v1/whoami", nil); got["name"] != "model-server" || got["kind"] != "token" {
				t.Fatalf("whoami: %v", got)
			}
			list := admin.do("GET", "/api/v1/tokens", nil)
			if list.status != 200 || strings.Contains(string(list.raw), secret) || strings.Contains(string(list.raw), auth.HashSecret(secret)) {
				t.Fatalf("token list: %s", list)
			}
			admin.must(200, "DELETE", "/api/v1/tokens/model-server", nil)
			e.offset.Add(int64(2 * time.Second))
			problem(t, ms.do("GET", "/api/v1/models", nil), 401)
			for _, line := range strings.Split(e.c.logs.String(), "\n") {
				if strings.Contains(line, secret) || strings.Contains(line, "a long enough password") {
					t.Fatalf("a secret reached the log: %s", line)
				}
			}
		})
	}
}

// TestSignInLockout: the sixth wrong password for one name within 15
// minutes is 429 with Retry-After, even with the right password; after the
// wait the right password works again.
func TestSignInLockout(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			e := startAuth(t, engine, auth.ModeRequired)
			e.user(t, "vic", mlops.RoleViewer, "vic's right password")
			wrong := e.c.with("Authorization", basic("vic", "a wrong password"))
			right := e.c.with("Authorization", basic("vic", "vic's right password"))
			for i := 1; i <= 5; i++ {
				problem(t, wrong.do("GET", "/api/v1/models", nil), 401)
			}
			r := wrong.do("GET", "/api/v1/models", nil)
			problem(t, r, 429)
			if r.header.Get("Retry-After") == "" {
				t.Fatalf("429 without Retry-After")
			}
			problem(t, right.do("GET", "/api/v1/models", nil), 429)
			// Another name is not locked out.
			e.user(t, "val", mlops.RoleViewer, "val's right password")
			e.c.with("Authorization", basic("val", "val's right password")).must(200, "GET", "/api/v1/models", nil)

			e.offset.Add(int64(auth.FirstLockout + time.Second))
			right.must(200, "GET", "/api/v1/models", nil)
		})
	}
}

// TestProxySignOn: the sign-on proxy's header names the user only when the
// request comes from a trusted address; the user is created on first sight
// with the configured role.
func TestProxySignOn(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			st := storetest.Open(t, engine, store.Options{})
			for _, tc := range []struct {
				trusted string
				want    int
			}{{"127.0.0.0/8", 200}, {"10.0.0.0/8", 401}} {
				a := auth.New(st, auth.Options{Mode: auth.ModeRequired, ProxyHeader: "X-Forwarded-Email",
					ProxyTrusted: []netip.Prefix{netip.MustParsePrefix(tc.trusted)}, ProxyRole: mlops.RoleReviewer})
				c := serveWith(t, st, httpapi.Options{Auth: a}).with("X-Forwarded-Email", "pat@example.com")
				r := c.do("GET", "/api/v1/actions", nil)
				if r.status != tc.want {
					t.Fatalf("header from 127.0.0.1 with %s trusted: %s, want %d", tc.trusted, r, tc.want)
				}
				if tc.want != 200 {
					continue
				}
				who := c.must(200, "GET", "/api/v1/whoami", nil)
				if who["name"] != "pat@example.com" || who["kind"] != "user" || who["role"] != "reviewer" {
					t.Fatalf("whoami through the proxy: %v", who)
				}
				u, err := st.UserGet(context.Background(), "pat@example.com")
				if err != nil || u.Source != "proxy" || u.Role != mlops.RoleReviewer {
					t.Fatalf("the proxy user: %+v, %v", u, err)
				}
			}
		})
	}
}

// TestOpenAPISecurity: the document names the three credential schemes,
// and each operation that needs a permission requires one of them with
// the roles that have it.
func TestOpenAPISecurity(t *testing.T) {
	st := storetest.Open(t, store.SQLite, store.Options{})
	c := serve(t, st)
	var doc struct {
		Components struct {
			SecuritySchemes map[string]map[string]any `json:"securitySchemes"`
		} `json:"components"`
		Paths map[string]map[string]struct {
			Security   []map[string][]string `json:"security"`
			Permission string                `json:"x-permission"`
		} `json:"paths"`
	}
	r := c.do("GET", "/openapi.json", nil)
	if err := json.Unmarshal(r.raw, &doc); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"bearer", "basic", "session"} {
		if doc.Components.SecuritySchemes[name] == nil {
			t.Errorf("securitySchemes lacks %s", name)
		}
	}
	approve := doc.Paths["/api/v1/actions/{action_id}/approve"]["post"]
	if approve.Permission != "review" || len(approve.Security) != 3 || strings.Join(approve.Security[0]["bearer"], ",") != "reviewer,admin" {
		t.Errorf("approve's security: %+v", approve)
	}
	if h := doc.Paths["/healthz"]["get"]; h.Permission != "public" || len(h.Security) != 1 || len(h.Security[0]) != 0 {
		t.Errorf("healthz's security: %+v", h)
	}
}
