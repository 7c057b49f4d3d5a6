package client_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/api"
	"github.com/mlopsdev/mlops/client"
	"github.com/mlopsdev/mlops/internal/auth"
	"github.com/mlopsdev/mlops/internal/httpapi"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// env is a real server over a fresh database, on a real listener, and a
// client of it.
type env struct {
	c   *client.Client
	st  *store.Store
	url string // the database's
	ts  *httptest.Server
}

// serverOptions configure serveOn.
type serverOptions struct {
	auth *auth.Authenticator
	// wrap, when set, wraps the API's handler (to fail or stall requests).
	wrap func(http.Handler) http.Handler
	// addr, when set, is the address to listen on.
	addr string
}

// serveOn starts the API over st on a listener of its own, stopped when the
// test ends (or earlier, with stop).
func serveOn(t testing.TB, st *store.Store, o serverOptions) (ts *httptest.Server, stop func()) {
	t.Helper()
	srv, err := httpapi.New(st, httpapi.Options{Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(), Auth: o.auth})
	if err != nil {
		t.Fatalf("httpapi.New: %v", err)
	}
	var h http.Handler = srv
	if o.wrap != nil {
		h = o.wrap(h)
	}
	ts = httptest.NewUnstartedServer(h)
	if o.addr != "" {
		ts.Listener.Close()
		var l net.Listener
		for i := 0; ; i++ { // the port of a server just closed may linger a moment
			if l, err = net.Listen("tcp", o.addr); err == nil || i == 50 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("listen on %s: %v", o.addr, err)
		}
		ts.Listener = l
	}
	ts.Start()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		ts.CloseClientConnections()
		ts.Close()
		if err := srv.Close(context.Background()); err != nil {
			t.Errorf("close the server: %v", err)
		}
	}
	t.Cleanup(stop)
	return ts, stop
}

// start serves a fresh, migrated database of engine, with a client that
// retries quickly.
func start(t testing.TB, engine store.Engine, o serverOptions, opts ...client.Option) *env {
	t.Helper()
	u := storetest.URL(t, engine)
	st := storetest.OpenURL(t, u, store.Options{})
	ts, _ := serveOn(t, st, o)
	return &env{c: newClient(t, ts.URL, opts...), st: st, url: u, ts: ts}
}

// newClient returns a client of base that retries quickly.
func newClient(t testing.TB, base string, opts ...client.Option) *client.Client {
	t.Helper()
	opts = append([]client.Option{client.WithRetry(fastRetry)}, opts...)
	c, err := client.New(base, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fastRetry keeps the tests' waits short.
var fastRetry = client.RetryPolicy{MaxAttempts: 4, BaseDelay: 5 * time.Millisecond, MaxDelay: 50 * time.Millisecond}

// each runs fn once per engine, each with a fresh database and server.
func each(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Helper()
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			t.Parallel()
			fn(t, start(t, engine, serverOptions{}))
		})
	}
}

// token creates a token of role and returns its secret.
func token(t testing.TB, st *store.Store, name string, role mlops.Role) string {
	t.Helper()
	secret, hash := auth.NewSecret()
	if _, err := st.TokenCreate(context.Background(), store.NewToken{Name: name, Role: role, SecretHash: hash}); err != nil {
		t.Fatalf("token %s: %v", name, err)
	}
	return secret
}

// model registers a model version and returns its id.
func model(t testing.TB, c *client.Client, name, version string) int64 {
	t.Helper()
	m, err := c.ModelVersionCreate(context.Background(), apiModel(name, version))
	if err != nil {
		t.Fatal(err)
	}
	return m.ID
}

// count returns the rows of table.
func count(t testing.TB, st *store.Store, table string) int {
	t.Helper()
	var n int
	if err := st.DB().QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func ptr[T any](v T) *T { return &v }

// storeOptions are the options of the tests' stores.
func storeOptions() store.Options { return store.Options{} }

// authRequired is an authenticator that needs credentials on every route.
func authRequired(st *store.Store) *auth.Authenticator {
	return auth.New(st, auth.Options{Mode: auth.ModeRequired, Logger: slog.New(slog.DiscardHandler)})
}

// user creates a user with a password.
func user(t testing.TB, st *store.Store, name string, role mlops.Role, pw string) {
	t.Helper()
	if _, err := st.UserCreate(context.Background(), store.NewUser{Name: name, Role: role, PasswordHash: auth.HashPassword(pw)}); err != nil {
		t.Fatalf("user %s: %v", name, err)
	}
}

// The examples' servers: each serves a fresh SQLite database, and TestMain
// stops them after the tests and examples ran.
var (
	examplesMu   sync.Mutex
	examplesStop []func()
)

// exampleServer starts a server for one example and returns its address;
// setup, if not nil, first stores what the example's program expects to
// find there.
func exampleServer(setup func(c *client.Client)) string {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "mlops-example-")
	if err != nil {
		log.Fatal(err)
	}
	st, err := store.Open(ctx, "sqlite:///"+filepath.Join(dir, "mlops.db"), store.Options{})
	if err == nil {
		err = st.Migrate(ctx)
	}
	if err != nil {
		log.Fatal(err)
	}
	srv, err := httpapi.New(st, httpapi.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	examplesMu.Lock()
	examplesStop = append(examplesStop, func() {
		ts.Close()
		_ = srv.Close(ctx)
		_ = st.Close()
		_ = os.RemoveAll(dir)
	})
	examplesMu.Unlock()
	if setup != nil {
		c, err := client.New(ts.URL)
		if err != nil {
			log.Fatal(err)
		}
		setup(c)
	}
	return ts.URL
}

// withActiveModel registers and activates version 1 of model name.
func withActiveModel(name string) func(c *client.Client) {
	return func(c *client.Client) {
		ctx := context.Background()
		mv, err := c.ModelVersionCreate(ctx, api.NewModelVersion{ModelName: name, Version: "1", Algorithm: "logreg"})
		if err == nil {
			_, err = c.ModelVersionActivate(ctx, mv.ID)
		}
		if err != nil {
			log.Fatal(err)
		}
	}
}

// withDriftingModel is withActiveModel, with predictions logged over the
// last 8 days whose amounts grew tenfold in the last day.
func withDriftingModel(name string) func(c *client.Client) {
	return func(c *client.Client) {
		withActiveModel(name)(c)
		ctx := context.Background()
		mv, err := c.ModelVersionActive(ctx, name)
		if err != nil {
			log.Fatal(err)
		}
		now := time.Now().UTC()
		var preds []api.NewPrediction
		for i := range 400 {
			at, amount := now.Add(-25*time.Hour-time.Duration(i)*20*time.Minute), 10+i%40
			if i%2 == 0 {
				at, amount = now.Add(-time.Duration(i)*3*time.Minute-time.Minute), 200+i%100
			}
			preds = append(preds, api.NewPrediction{ModelID: mv.ID, CreatedAt: &at,
				Features: api.Object(fmt.Sprintf(`{"amount": %d}`, amount))})
		}
		if _, err := c.PredictionCreateBatch(ctx, preds); err != nil {
			log.Fatal(err)
		}
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	examplesMu.Lock()
	for _, stop := range examplesStop {
		stop()
	}
	examplesMu.Unlock()
	os.Exit(code)
}
