package httpapi_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// proxy is a TCP forwarder to PostgreSQL that the test can cut: "drop"
// closes every connection and refuses new ones at once; "hang" accepts
// connections and never answers (a black-holed host).
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	mode   string // "up", "drop" or "hang"
	conns  map[net.Conn]bool
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, mode: "up", conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.set("drop") })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *proxy) serve(c net.Conn) {
	p.mu.Lock()
	mode := p.mode
	p.conns[c] = true
	p.mu.Unlock()
	switch mode {
	case "drop":
		c.Close()
		return
	case "hang":
		return // held open, never answered, closed by the next set
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[up] = true
	p.mu.Unlock()
	go func() { io.Copy(up, c); up.Close() }()
	io.Copy(c, up)
	c.Close()
}

// set switches mode and cuts every existing connection.
func (p *proxy) set(mode string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = mode
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

// load posts predictions from 4 clients until stop is closed, recording
// every status and the ids of stored predictions.
type load struct {
	mu       sync.Mutex
	statuses map[int]int
	ids      []int64
	ok       atomic.Int64
	unavail  atomic.Int64
	stop     chan struct{}
	wg       sync.WaitGroup
}

func startLoad(t *testing.T, c *client, modelID int64) *load {
	l := &load{statuses: map[int]int{}, stop: make(chan struct{})}
	for w := 0; w < 4; w++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			tc := *c
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				r := tc.do("POST", "/api/v1/predictions", map[string]any{"model_id": modelID, "prediction": 1})
				l.mu.Lock()
				l.statuses[r.status]++
				if r.status == 201 {
					l.ids = append(l.ids, id(r.obj()))
				}
				l.mu.Unlock()
				switch r.status {
				case 201:
					l.ok.Add(1)
				case 503:
					l.unavail.Add(1)
					if r.header.Get("Content-Type") != "application/problem+json" {
						t.Errorf("503 without a problem document: %s", r)
					}
				}
			}
		}()
	}
	return l
}

func (l *load) end() {
	close(l.stop)
	l.wg.Wait()
}

// waitFor polls cond until it holds; the deadline only guards against a
// hang, it is not what the test measures.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestOutageThroughProxy cuts PostgreSQL away from a running server (all
// connections dropped, then a black hole), checks that clients get 503s,
// never a 500 or a hang, and that the server recovers by itself.
func TestOutageThroughProxy(t *testing.T) {
	direct := storetest.URL(t, store.Postgres)
	storetest.OpenURL(t, direct, store.Options{}) // migrate
	u, err := url.Parse(direct)
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(t, u.Host)
	u.Host = p.ln.Addr().String()
	st, err := store.Open(context.Background(), u.String(), store.Options{PoolSize: 4, ConnectTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := serve(t, st)
	mid := c.model("outage", "1")

	l := startLoad(t, c, mid)
	for _, mode := range []string{"drop", "hang"} {
		before := l.ok.Load()
		waitFor(t, "successes before the outage", func() bool { return l.ok.Load() >= before+20 })
		p.set(mode)
		u0 := l.unavail.Load()
		waitFor(t, "503s during the "+mode+" outage", func() bool { return l.unavail.Load() >= u0+4 })
		problem(t, c.do("GET", "/readyz", nil), 503)
		problem(t, c.do("GET", fmt.Sprintf("/api/v1/models/%d", mid), nil), 503)
		p.set("up")
		after := l.ok.Load()
		waitFor(t, "recovery after the "+mode+" outage", func() bool { return l.ok.Load() >= after+20 })
	}
	l.end()
	c.must(200, "GET", "/readyz", nil)

	for status, n := range l.statuses {
		if status != 201 && status != 503 {
			t.Errorf("%d answers with status %d; an outage must give 503", n, status)
		}
	}
	if t.Failed() {
		for _, line := range strings.Split(c.logs.String(), "\n") {
			if strings.Contains(line, "internal error") {
				t.Log(line)
			}
		}
	}
	// Every prediction acknowledged with 201 is stored.
	check, err := sql.Open("pgx", direct)
	if err != nil {
		t.Fatal(err)
	}
	defer check.Close()
	var stored int
	ids := make([]string, len(l.ids))
	for i, id := range l.ids {
		ids[i] = fmt.Sprint(id)
	}
	if err := check.QueryRow(`SELECT count(*) FROM predictions WHERE id IN (` + strings.Join(ids, ",") + `)`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != len(l.ids) {
		t.Errorf("%d of %d acknowledged predictions are stored", stored, len(l.ids))
	}
	t.Logf("statuses: %v", l.statuses)
}

// TestOutageTerminatedBackends kills the server's PostgreSQL backends under
// load (as a failover or an operator would): only 201 or 503, then service
// continues without a restart.
func TestOutageTerminatedBackends(t *testing.T) {
	direct := storetest.URL(t, store.Postgres)
	u, err := url.Parse(direct)
	if err != nil {
		t.Fatal(err)
	}
	app := fmt.Sprintf("mlops_outage_%d", time.Now().UnixNano())
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	st := storetest.OpenURL(t, u.String(), store.Options{PoolSize: 4})
	c := serve(t, st)
	mid := c.model("outage", "1")
	admin, err := sql.Open("pgx", direct)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()

	l := startLoad(t, c, mid)
	killed := 0
	for round := 0; round < 5; round++ {
		before := l.ok.Load()
		waitFor(t, "successes between kills", func() bool { return l.ok.Load() >= before+10 })
		var n int
		if err := admin.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		killed += n
	}
	before := l.ok.Load()
	waitFor(t, "successes after the last kill", func() bool { return l.ok.Load() >= before+10 })
	l.end()
	if killed == 0 {
		t.Fatalf("no backend of %s was terminated; the test tested nothing", app)
	}
	for status, n := range l.statuses {
		if status != 201 && status != 503 {
			t.Errorf("%d answers with status %d after backends were terminated; want 201 or 503", n, status)
		}
	}
	c.must(200, "GET", "/readyz", nil)
	t.Logf("terminated %d backends; statuses: %v", killed, l.statuses)
}
