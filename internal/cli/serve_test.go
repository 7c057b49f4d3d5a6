package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// server is `mlops serve` running in-process on a free port.
type server struct {
	base   string
	cancel context.CancelFunc
	done   chan struct{} // closed when serve returned
	code   int           // its exit code
	stderr *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServe runs `mlops serve --addr 127.0.0.1:0 args...` and waits for
// the line that names the address.
func startServe(t *testing.T, env map[string]string, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	outR, outW := io.Pipe()
	s := &server{cancel: cancel, done: make(chan struct{}), stderr: &lockedBuffer{}}
	go func() {
		code := Run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...),
			func(k string) string { return env[k] }, outW, s.stderr)
		outW.Close()
		s.code = code
		close(s.done)
	}()
	sc := bufio.NewScanner(outR)
	for sc.Scan() {
		if addr, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
			s.base = addr
			break
		}
	}
	if s.base == "" {
		t.Fatalf("serve did not print its address; stderr:\n%s", s.stderr.String())
	}
	go io.Copy(io.Discard, outR)
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	return s
}

// stop sends the shutdown signal and returns the exit code.
func (s *server) stop() int {
	s.cancel()
	<-s.done
	return s.code
}

func (s *server) get(t *testing.T, path string) (int, map[string]any) {
	t.Helper()
	res, err := http.Get(s.base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(res.Body).Decode(&m)
	return res.StatusCode, m
}

func (s *server) post(t *testing.T, path, body string) (int, map[string]any) {
	t.Helper()
	res, err := http.Post(s.base+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer res.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(res.Body).Decode(&m)
	return res.StatusCode, m
}

// TestServeReadyzFollowsMigrations: with --no-migrate on an empty database
// /readyz is 503 naming the migrations; it turns 200 as soon as another
// process applies them, without a restart.
func TestServeReadyzFollowsMigrations(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			dbURL := storetest.URL(t, engine)
			s := startServe(t, map[string]string{"DATABASE_URL": dbURL}, "--no-migrate")
			code, body := s.get(t, "/readyz")
			if code != 503 || !strings.Contains(fmt.Sprint(body["detail"]), "migrat") {
				t.Fatalf("readyz before migrating: %d %v; want 503 naming migrations", code, body)
			}
			if code, _ := s.get(t, "/healthz"); code != 200 {
				t.Errorf("healthz: %d", code)
			}
			// API routes on the unmigrated database: 503 naming the cause, not a 500.
			if code, body := s.post(t, "/api/v1/models", `{"model_name":"m","version":"1","algorithm":"a"}`); code != 503 ||
				!strings.Contains(fmt.Sprint(body["detail"]), "migrate upgrade") {
				t.Fatalf("POST /api/v1/models before migrating: %d %v; want 503 naming the migrations", code, body)
			}
			if code, out, errs := run(t, dbURL, "migrate", "upgrade"); code != 0 {
				t.Fatalf("migrate upgrade: %d %s %s", code, out, errs)
			}
			if code, body := s.get(t, "/readyz"); code != 200 || body["status"] != "ready" {
				t.Fatalf("readyz after another process migrated: %d %v", code, body)
			}
			// Down one revision: pending again, 503 again.
			if code, out, errs := run(t, dbURL, "migrate", "downgrade"); code != 0 {
				t.Fatalf("migrate downgrade: %d %s %s", code, out, errs)
			}
			if code, body := s.get(t, "/readyz"); code != 503 || !strings.Contains(fmt.Sprint(body["detail"]), "pending") {
				t.Fatalf("readyz after a downgrade: %d %v", code, body)
			}
			if code := s.stop(); code != 0 {
				t.Fatalf("serve exited %d after the shutdown signal; stderr:\n%s", code, s.stderr.String())
			}
		})
	}
}

// TestServeGracefulShutdown: a request in flight when the shutdown signal
// arrives is finished and stored; new connections are refused; serve exits
// 0 and closes the store.
func TestServeGracefulShutdown(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			dbURL := storetest.URL(t, engine)
			s := startServe(t, map[string]string{"DATABASE_URL": dbURL})
			if code, body := s.post(t, "/api/v1/models", `{"model_name":"m","version":"1","algorithm":"a"}`); code != 201 {
				t.Fatalf("create model: %d %v", code, body)
			}
			const n = 2000
			var items []string
			for i := 0; i < n; i++ {
				items = append(items, fmt.Sprintf(`{"model_id":1,"prediction":%d}`, i%2))
			}
			payload := `{"predictions":[` + strings.Join(items, ",") + `]}`
			half := len(payload) / 2

			// Send half the body, so the request is in flight.
			pr, pw := io.Pipe()
			req, _ := http.NewRequest("POST", s.base+"/api/v1/predictions/batch", pr)
			req.Header.Set("Content-Type", "application/json")
			type answer struct {
				code int
				err  error
			}
			answered := make(chan answer, 1)
			go func() {
				res, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
				if err != nil {
					answered <- answer{err: err}
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				answered <- answer{code: res.StatusCode}
			}()
			if _, err := io.WriteString(pw, payload[:half]); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, "the batch request to be in flight", func() bool {
				_, m := metricsText(t, s.base)
				return strings.Contains(m, "mlops_http_requests_in_flight 2")
			})

			// Signal shutdown; wait until the listener is closed.
			s.cancel()
			host := strings.TrimPrefix(s.base, "http://")
			waitUntil(t, "the listener to close", func() bool {
				c, err := net.Dial("tcp", host)
				if err != nil {
					return true
				}
				c.Close()
				return false
			})

			// The in-flight request completes and is acknowledged.
			if _, err := io.WriteString(pw, payload[half:]); err != nil {
				t.Fatal(err)
			}
			pw.Close()
			a := <-answered
			if a.err != nil || a.code != 201 {
				t.Fatalf("in-flight request during shutdown: %d %v; want 201", a.code, a.err)
			}
			if code := s.stop(); code != 0 {
				t.Fatalf("serve exited %d; stderr:\n%s", code, s.stderr.String())
			}
			st := storetest.OpenURL(t, dbURL, store.Options{})
			var stored int
			if err := st.DB().QueryRow(`SELECT count(*) FROM predictions`).Scan(&stored); err != nil {
				t.Fatal(err)
			}
			if stored != n {
				t.Fatalf("%d predictions stored, want the %d acknowledged", stored, n)
			}
		})
	}
}

func metricsText(t *testing.T, base string) (int, string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := c.Get(base + "/metrics")
	if err != nil {
		return 0, ""
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// waitUntil polls cond; the deadline only guards against a hang.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestServeLogs: one line per request with method, route, status,
// duration and request id; the database password never appears, even with
// DATABASE_ECHO.
func TestServeLogs(t *testing.T) {
	base := storetest.URL(t, store.Postgres)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	const secret = "s3cret-Passw0rd"
	u.User = url.UserPassword(u.User.Username(), secret)
	s := startServe(t, map[string]string{"DATABASE_URL": u.String(), "DATABASE_ECHO": "true"})
	req, _ := http.NewRequest("POST", s.base+"/api/v1/models", strings.NewReader(`{"model_name":"m","version":"1","algorithm":"a"}`))
	req.Header.Set("X-Request-ID", "req-abc-123")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 201 || res.Header.Get("X-Request-ID") != "req-abc-123" {
		t.Fatalf("POST: %d, X-Request-ID %q", res.StatusCode, res.Header.Get("X-Request-ID"))
	}
	s.get(t, "/api/v1/models/77")
	s.get(t, "/readyz")
	ui, err := http.Get(s.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	ui.Body.Close()
	if ui.StatusCode != 200 || !strings.HasPrefix(ui.Header.Get("Content-Type"), "text/html") {
		t.Errorf("GET / (the admin UI): %d %s", ui.StatusCode, ui.Header.Get("Content-Type"))
	}
	if code := s.stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	logs := s.stderr.String()
	for _, want := range []string{
		`msg=request method=POST route="POST /api/v1/models" path=/api/v1/models status=201 duration=`,
		`request_id=req-abc-123`,
		`route="GET /api/v1/models/{id}" path=/api/v1/models/77 status=404`,
		`msg=sql`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, secret) {
		t.Errorf("the database password appears in the logs:\n%s", logs)
	}
}

func TestServeFlags(t *testing.T) {
	dbURL := storetest.URL(t, store.SQLite)
	if code, _, errs := run(t, dbURL, "serve", "extra"); code != 2 || !strings.Contains(errs, "no arguments") {
		t.Errorf("serve extra: code %d, stderr %q", code, errs)
	}
	if code, _, errs := run(t, dbURL, "serve", "--addr", "256.1.1.1:99999"); code != 1 || !strings.Contains(errs, "listen on") {
		t.Errorf("bad --addr: code %d, stderr %q", code, errs)
	}
}
