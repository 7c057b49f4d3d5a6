package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mlopsdev/mlops/internal/httpapi"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// client drives a real server (a real listener on 127.0.0.1) over HTTP.
type client struct {
	t    testing.TB
	base string
	st   *store.Store
	logs *syncBuffer
	http *http.Client
	hdr  http.Header // sent with every request (credentials, browser headers)
}

// with returns a copy of c that sends the headers kv (name, value, ...)
// with every request.
func (c *client) with(kv ...string) *client {
	cc := *c
	cc.hdr = c.hdr.Clone()
	if cc.hdr == nil {
		cc.hdr = http.Header{}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		cc.hdr.Set(kv[i], kv[i+1])
	}
	return &cc
}

// bearer returns a copy of c that sends the token secret.
func (c *client) bearer(secret string) *client { return c.with("Authorization", "Bearer "+secret) }

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer = storetest.LogBuffer

// serve starts the API over st on a real listener.
func serve(t testing.TB, st *store.Store) *client {
	t.Helper()
	return serveWith(t, st, httpapi.Options{})
}

// serveWith starts the API over st with opts (its logger and registry are
// the test's own).
func serveWith(t testing.TB, st *store.Store, opts httpapi.Options) *client {
	t.Helper()
	logs := &syncBuffer{}
	runMu.Lock()
	runLogs = append(runLogs, logs)
	runMu.Unlock()
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	opts.Registry = prometheus.NewRegistry()
	srv, err := httpapi.New(st, opts)
	if err != nil {
		t.Fatalf("httpapi.New: %v", err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ts.Close()
		if err := srv.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return &client{t: t, base: ts.URL, st: st, logs: logs, http: &http.Client{Timeout: 60 * time.Second}}
}

// start opens a fresh migrated database of engine and serves it.
func start(t testing.TB, engine store.Engine) *client {
	t.Helper()
	return serve(t, storetest.Open(t, engine, store.Options{}))
}

// each runs fn once per engine, each with a fresh database and server.
func each(t *testing.T, fn func(t *testing.T, c *client)) {
	t.Helper()
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			fn(t, start(t, engine))
		})
	}
}

type resp struct {
	status int
	header http.Header
	raw    []byte
}

func (r resp) obj() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(r.raw, &m)
	return m
}

func (r resp) String() string { return fmt.Sprintf("%d %s", r.status, r.raw) }

// do sends a request; body is sent raw when it is a string or []byte,
// else as JSON.
func (c *client) do(method, path string, body any) resp {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatalf("marshal: %v", err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatalf("request: %v", err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range c.hdr {
		req.Header[k] = v
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp{status: res.StatusCode, header: res.Header, raw: raw}
}

// must sends a request and fails the test unless the status is want.
func (c *client) must(want int, method, path string, body any) map[string]any {
	c.t.Helper()
	r := c.do(method, path, body)
	if r.status != want {
		c.t.Fatalf("%s %s: got %s, want status %d", method, path, r, want)
	}
	return r.obj()
}

// problem checks that r is a problem document with status want and, when
// locations are given, that its errors name exactly those locations.
func problem(t testing.TB, r resp, want int, locations ...string) map[string]any {
	t.Helper()
	if r.status != want {
		t.Fatalf("got %s, want status %d", r, want)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json (%s)", ct, r)
	}
	m := r.obj()
	if m["status"] != float64(want) || m["title"] == "" || m["detail"] == "" || m["detail"] == nil {
		t.Fatalf("problem document lacks status/title/detail: %s", r.raw)
	}
	if len(locations) > 0 {
		var got []string
		errs, _ := m["errors"].([]any)
		for _, e := range errs {
			got = append(got, e.(map[string]any)["location"].(string))
		}
		if strings.Join(got, ",") != strings.Join(locations, ",") {
			t.Fatalf("error locations %v, want %v (%s)", got, locations, r.raw)
		}
	}
	return m
}

func id(m map[string]any) int64 { return int64(m["id"].(float64)) }

// model registers a model version and returns its id.
func (c *client) model(name, version string) int64 {
	c.t.Helper()
	return id(c.must(201, "POST", "/api/v1/models", map[string]any{"model_name": name, "version": version, "algorithm": "rf"}))
}

// count returns the number of rows of table.
func (c *client) count(table string) int {
	c.t.Helper()
	var n int
	if err := c.st.DB().QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
		c.t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// Every secret a test creates (token secrets, passwords) and every server
// log of the run, so TestMain can check that no secret reached a log.
var (
	runMu      sync.Mutex
	runSecrets []string
	runLogs    []*syncBuffer
)

// noteSecret notes a secret the test created and returns it.
func noteSecret(s string) string {
	runMu.Lock()
	defer runMu.Unlock()
	runSecrets = append(runSecrets, s)
	return s
}

func TestMain(m *testing.M) {
	code := m.Run()
	runMu.Lock()
	defer runMu.Unlock()
	for _, logs := range runLogs {
		text := logs.String()
		for _, s := range runSecrets {
			if strings.Contains(text, s) {
				fmt.Fprintf(os.Stderr, "FAIL: a secret created by a test (%.8s...) appears in a server log\n", s)
				code = 1
			}
		}
	}
	if code == 0 && len(runSecrets) > 0 && len(runLogs) == 0 {
		fmt.Fprintln(os.Stderr, "FAIL: secrets were created but no server log was captured")
		code = 1
	}
	os.Exit(code)
}
