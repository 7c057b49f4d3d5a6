package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// leanServer starts a real HTTP server and counts the connections it accepts.
func leanServer(t *testing.T) (*leanClient, *atomic.Int64) {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /created", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-Type") != "application/json" || r.ContentLength < 0 || r.Host == "" {
			http.Error(w, fmt.Sprintf("bad request headers %v, host %q", r.Header, r.Host), http.StatusBadRequest)
			return
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusCreated)
		w.Write(b) // small: net/http sends a Content-Length
	})
	mux.HandleFunc("POST /chunked", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "hello ")
		w.(http.Flusher).Flush()
		io.WriteString(w, strings.Repeat("x", 10000)) // longer than the read buffer
		w.(http.Flusher).Flush()
		io.WriteString(w, " world")
	})
	mux.HandleFunc("POST /close", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	})
	mux.HandleFunc("POST /invalid", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		io.WriteString(w, `{"detail":"model_id is required"}`)
	})
	mux.HandleFunc("POST /empty", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /drop", func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	mux.HandleFunc("POST /raw", func(w http.ResponseWriter, r *http.Request) {
		// Neither Content-Length nor chunked: the body ends at close.
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err == nil {
			buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close")
			buf.Flush()
			conn.Close()
		}
	})
	ts := httptest.NewUnstartedServer(mux)
	var conns atomic.Int64
	ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	ts.Start()
	t.Cleanup(ts.Close)
	c, err := newLeanClient(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	return c, &conns
}

func leanPost(t *testing.T, c *leanClient, path, body string, wantCode int, wantBody string) {
	t.Helper()
	code, got, err := c.post(path, []byte(body))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if code != wantCode || string(got) != wantBody {
		t.Fatalf("%s: got %d %.80q, want %d %.80q", path, code, got, wantCode, wantBody)
	}
}

func TestLeanClientKeepAlive(t *testing.T) {
	t.Parallel()
	c, conns := leanServer(t)
	for i := range 50 {
		body := string(predictionJSON(7, i))
		leanPost(t, c, "/created", body, http.StatusCreated, body)
	}
	leanPost(t, c, "/created", "", http.StatusCreated, "")
	if n := conns.Load(); n != 1 {
		t.Fatalf("51 requests used %d connections, want 1", n)
	}
}

func TestLeanClientChunked(t *testing.T) {
	t.Parallel()
	c, conns := leanServer(t)
	want := "hello " + strings.Repeat("x", 10000) + " world"
	for range 3 {
		leanPost(t, c, "/chunked", "{}", http.StatusOK, want)
		leanPost(t, c, "/created", "{}", http.StatusCreated, "{}")
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("chunked responses used %d connections, want 1", n)
	}
}

func TestLeanClientConnectionClose(t *testing.T) {
	t.Parallel()
	c, conns := leanServer(t)
	for i := 1; i <= 3; i++ {
		leanPost(t, c, "/close", "{}", http.StatusOK, "bye")
		if c.conn != nil {
			t.Fatal("the connection is still open after Connection: close")
		}
		leanPost(t, c, "/created", "{}", http.StatusCreated, "{}")
		// The first /close arrives on a fresh connection, the next ones on
		// the connection that the /created after each close dialled.
		if n := conns.Load(); n != int64(i+1) {
			t.Fatalf("after %d closes: %d connections, want %d", i, n, i+1)
		}
	}
}

func TestLeanClientErrorStatus(t *testing.T) {
	t.Parallel()
	c, conns := leanServer(t)
	leanPost(t, c, "/invalid", "{}", http.StatusUnprocessableEntity, `{"detail":"model_id is required"}`)
	leanPost(t, c, "/empty", "{}", http.StatusNoContent, "")
	leanPost(t, c, "/created", "{}", http.StatusCreated, "{}")
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections, want 1", n)
	}
}

func TestLeanClientRedialsAfterError(t *testing.T) {
	t.Parallel()
	c, conns := leanServer(t)
	leanPost(t, c, "/created", "{}", http.StatusCreated, "{}")
	if _, _, err := c.post("/drop", []byte("{}")); err == nil {
		t.Fatal("a connection closed before the response: no error")
	}
	if c.conn != nil {
		t.Fatal("the connection is still open after an error")
	}
	leanPost(t, c, "/created", "{}", http.StatusCreated, "{}")
	leanPost(t, c, "/raw", "{}", http.StatusOK, "until close")
	leanPost(t, c, "/created", "{}", http.StatusCreated, "{}")
	if n := conns.Load(); n != 3 {
		t.Fatalf("%d connections, want 3", n)
	}
}

func TestNewLeanClient(t *testing.T) {
	t.Parallel()
	for base, want := range map[string]string{
		"http://127.0.0.1:8080": "127.0.0.1:8080",
		"http://[::1]:9000/":    "[::1]:9000",
		"http://localhost":      "localhost:80",
	} {
		c, err := newLeanClient(base)
		if err != nil || c.addr != want {
			t.Errorf("newLeanClient(%q) = %v, %v; want addr %q", base, c, err, want)
		}
	}
	if _, err := newLeanClient("https://127.0.0.1:8443"); err == nil {
		t.Error("https: no error")
	}
}

func TestIngestCounters(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		if a := r.Header.Get("Authorization"); a != "" && a != "Bearer mlops_secret" {
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, "# HELP mlops_ingest_batches_total Group commits.\n# TYPE mlops_ingest_batches_total counter\n"+
			"mlops_ingest_batches_total 125\n"+
			"mlops_rows_ingested_total{table=\"metrics\"} 7\n"+
			"mlops_rows_ingested_total{table=\"predictions\"} 1000\n")
	}))
	defer ts.Close()
	for _, bearer := range []string{"", "mlops_secret"} {
		b, r, err := ingestCounters(ts.URL, bearer)
		if err != nil || b != 125 || r != 1000 {
			t.Errorf("ingestCounters(%q) = %v, %v, %v; want 125, 1000, nil", bearer, b, r, err)
		}
	}
	if _, _, err := ingestCounters(ts.URL, "wrong"); err == nil {
		t.Error("a 401 from /metrics was not an error")
	}
	if _, _, err := ingestCounters(ts.URL+"/nothing", ""); err == nil {
		t.Error("a 404 from /metrics was not an error")
	}
}

func TestLeanClientHeader(t *testing.T) {
	t.Parallel()
	const secret = "mlops_0123456789abcdefghijklmnopqrstuvwxyzABCDE"
	var (
		mu  sync.Mutex
		got []string
	)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("Authorization"))
		mu.Unlock()
		if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("X-Bench") != "1" {
			http.Error(w, fmt.Sprintf("bad request headers %v", r.Header), http.StatusBadRequest)
			return
		}
		if r.URL.Path == "/close" {
			w.Header().Set("Connection", "close")
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer ts.Close()
	c, err := newLeanClient(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	if err := c.addHeader("Authorization", "Bearer "+secret); err != nil {
		t.Fatal(err)
	}
	if err := c.addHeader("X-Bench", "1"); err != nil {
		t.Fatal(err)
	}
	// Three on one connection, then a fresh connection after a close.
	for _, path := range []string{"/a", "/b", "/close", "/c"} {
		leanPost(t, c, path, `{"model_id":1}`, http.StatusCreated, "")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 4 {
		t.Fatalf("the server saw %d requests, want 4", len(got))
	}
	for i, h := range got {
		if h != "Bearer "+secret {
			t.Errorf("request %d: Authorization %q, want %q", i+1, h, "Bearer "+secret)
		}
	}

	for name, value := range map[string]string{
		"":              "x",
		"Bad Name":      "x",
		"X-Split":       "a\r\nHost: evil",
		"X-Null":        "a\x00b",
		"Authorization": "Bearer a\nb",
	} {
		if err := c.addHeader(name, value); err == nil {
			t.Errorf("addHeader(%q, %q): no error", name, value)
		}
	}
}
