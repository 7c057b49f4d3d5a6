// Command mlops-bench measures the mlops server over loopback HTTP against
// baselines measured in the same run: a plain per-row INSERT+commit loop on
// the same driver and concurrency, and a raw bulk load (pgx CopyFrom on
// PostgreSQL, one prepared statement in one transaction on SQLite).
//
// It builds and starts the real `mlops serve` as a child process (so its RSS
// is the server's alone), on a fresh SQLite file and, when --pg is given, on
// a fresh schema of that PostgreSQL database, which it drops at the end.
//
// The single-prediction POSTs go through a minimal keep-alive HTTP/1.1
// client (lean.go), one connection per client goroutine, like wrk: net/http's
// client costs about twice the CPU per request, and on a small machine the
// load generator shares the cores with the server and the database. Batches
// and reads use net/http.
//
//	go run ./cmd/mlops-bench                       # SQLite only
//	go run ./cmd/mlops-bench --pg postgres://postgres@127.0.0.1:5432/postgres
//	go run ./cmd/mlops-bench --pg ... --sizes 1000000,10000000 --duration 10s
//	go run ./cmd/mlops-bench --only auth            # auth off vs Bearer token only
//
// --auth-compare adds, for each engine, the single-prediction POST load on a
// fresh database with MLOPS_AUTH=off and with MLOPS_AUTH=required and a
// pipeline token's Bearer secret on every request (authcompare.go).
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

type config struct {
	pgURL    string
	bin      string
	duration time.Duration
	clients  []int
	sizes    []int
	metricN  int
	reads    int
	engines  []string
	out      io.Writer

	authCompare bool   // also compare auth off with a Bearer token
	authClients []int  // client counts of that comparison
	authRounds  int    // off/on pairs per client count
	only        string // "auth": run only that comparison
}

func main() {
	var c config
	var clients, sizes, engines, authClients string
	flag.StringVar(&c.pgURL, "pg", os.Getenv("MLOPS_BENCH_DATABASE_URL"), "PostgreSQL URL (a fresh schema is created in it); empty: SQLite only")
	flag.StringVar(&c.bin, "bin", "", "mlops binary to run (default: go build ./cmd/mlops into a temp dir)")
	flag.DurationVar(&c.duration, "duration", 5*time.Second, "how long each throughput step runs")
	flag.StringVar(&clients, "clients", "1,16,64", "concurrent clients for single-prediction POSTs")
	flag.StringVar(&sizes, "sizes", "1000000", "table sizes (predictions) for the recent-predictions read, e.g. 1000000,10000000")
	flag.IntVar(&c.metricN, "metric-points", 1000000, "points in the metric series read")
	flag.IntVar(&c.reads, "reads", 200, "requests per read measurement")
	flag.StringVar(&engines, "engines", "sqlite,postgres", "engines to run (postgres needs --pg)")
	flag.BoolVar(&c.authCompare, "auth-compare", false, "also measure single-prediction POSTs with MLOPS_AUTH=off and with a Bearer token (MLOPS_AUTH=required), in alternating rounds on a fresh database")
	flag.StringVar(&authClients, "auth-clients", "16", "concurrent clients for --auth-compare")
	flag.IntVar(&c.authRounds, "auth-rounds", 3, "rounds of --auth-compare, each one --duration with auth off then one with a Bearer token")
	flag.StringVar(&c.only, "only", "", `"auth": run only the --auth-compare step`)
	flag.Parse()
	c.out = os.Stdout
	var err error
	if c.clients, err = ints(clients); err == nil {
		if c.sizes, err = ints(sizes); err == nil {
			c.authClients, err = ints(authClients)
		}
	}
	if err != nil {
		fatal(err)
	}
	switch c.only {
	case "":
	case "auth":
		c.authCompare = true
	default:
		fatal(fmt.Errorf("--only %q: the only step that runs alone is auth", c.only))
	}
	if c.authRounds <= 0 {
		fatal(fmt.Errorf("--auth-rounds %d: want at least 1", c.authRounds))
	}
	for _, e := range strings.Split(engines, ",") {
		if e == "postgres" && c.pgURL == "" {
			continue
		}
		c.engines = append(c.engines, e)
	}
	if c.bin == "" {
		dir, err := os.MkdirTemp("", "mlops-bench")
		if err != nil {
			fatal(err)
		}
		defer os.RemoveAll(dir)
		c.bin = filepath.Join(dir, "mlops")
		cmd := exec.Command("go", "build", "-o", c.bin, "./cmd/mlops")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fatal(fmt.Errorf("build mlops (run from the repository root): %w", err))
		}
	}
	fmt.Fprintf(c.out, "# mlops-bench: %d CPUs, %s, %s/%s, step duration %s\n", runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, c.duration)
	fmt.Fprintln(c.out, "# single-prediction POSTs use a minimal keep-alive HTTP/1.1 client (like wrk), so the load generator takes less of the shared CPU")
	for _, e := range c.engines {
		if c.only == "" {
			if err := runEngine(context.Background(), c, e); err != nil {
				fatal(fmt.Errorf("%s: %w", e, err))
			}
		}
		if c.authCompare {
			if err := runAuthCompare(context.Background(), c, e); err != nil {
				fatal(fmt.Errorf("%s: auth compare: %w", e, err))
			}
		}
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "mlops-bench:", err)
	os.Exit(1)
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a list of positive numbers", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// target is one engine's database: the URL the server gets and a raw
// connection pool for baselines and seeding.
type target struct {
	engine  string
	url     string
	raw     func(maxConns int) (*sql.DB, error)
	cleanup func()
}

func newTarget(ctx context.Context, c config, engine string) (*target, error) {
	switch engine {
	case "sqlite":
		dir, err := os.MkdirTemp("", "mlops-bench-sqlite")
		if err != nil {
			return nil, err
		}
		path := filepath.Join(dir, "bench.db")
		return &target{
			engine: engine,
			url:    "sqlite:///" + path,
			raw: func(n int) (*sql.DB, error) {
				// The same settings the store uses: WAL, FULL, busy timeout.
				db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)&_time_format=sqlite&_txlock=immediate")
				if err == nil {
					db.SetMaxOpenConns(n)
					db.SetMaxIdleConns(n)
				}
				return db, err
			},
			cleanup: func() { os.RemoveAll(dir) },
		}, nil
	case "postgres":
		base := strings.Replace(strings.Replace(c.pgURL, "postgresql+psycopg2://", "postgres://", 1), "postgresql://", "postgres://", 1)
		var b [4]byte
		_, _ = rand.Read(b[:])
		schema := "bench_" + hex.EncodeToString(b[:])
		admin, err := sql.Open("pgx", base)
		if err != nil {
			return nil, err
		}
		if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
			return nil, err
		}
		u, err := url.Parse(base)
		if err != nil {
			return nil, err
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		full := u.String()
		return &target{
			engine: engine,
			url:    full,
			raw: func(n int) (*sql.DB, error) {
				cfg, err := pgx.ParseConfig(full)
				if err != nil {
					return nil, err
				}
				db := stdlib.OpenDB(*cfg)
				db.SetMaxOpenConns(n)
				db.SetMaxIdleConns(n)
				return db, nil
			},
			cleanup: func() {
				_, _ = admin.Exec("DROP SCHEMA " + schema + " CASCADE")
				admin.Close()
			},
		}, nil
	}
	return nil, fmt.Errorf("unknown engine %q", engine)
}

// server is the running `mlops serve` child process.
type server struct {
	cmd    *exec.Cmd
	base   string
	peakMB float64
	stop   chan struct{}
	done   chan struct{}
}

// startServer starts `mlops serve` on t's database. env adds NAME=value
// variables (MLOPS_AUTH=required, ...), which override the inherited ones.
func startServer(c config, t *target, env ...string) (*server, error) {
	cmd := exec.Command(c.bin, "serve", "--addr", "127.0.0.1:0")
	pool := "16"
	cmd.Env = append(os.Environ(), "DATABASE_URL="+t.url, "DATABASE_POOL_SIZE="+pool, "DATABASE_ECHO=false")
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = io.Discard
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, stop: make(chan struct{}), done: make(chan struct{})}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if i := strings.Index(line, "http://"); i >= 0 && strings.Contains(line, "listening") {
				select {
				case found <- strings.Fields(line[i:])[0]:
				default:
				}
			}
		}
	}()
	select {
	case s.base = <-found:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		return nil, errors.New("the server did not print its listening address within 60 s")
	}
	go s.watchRSS()
	return s, nil
}

// watchRSS samples the server's resident set size every 100 ms.
func (s *server) watchRSS() {
	defer close(s.done)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if mb := rssMB(s.cmd.Process.Pid); mb > s.peakMB {
			s.peakMB = mb
		}
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
	}
}

func rssMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func (s *server) close() {
	close(s.stop)
	<-s.done
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
}

var client = &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}, Timeout: 120 * time.Second}

func post(base, path string, body []byte) (int, []byte, error) {
	resp, err := client.Post(base+path, "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func get(base, path string) (int, int64, error) {
	resp, err := client.Get(base + path)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, n, err
}

// ingestCounters reads the server's group-commit counters from /metrics:
// commits of single predictions, and prediction rows ingested. A non-empty
// bearer is sent as the token secret (/metrics needs read when auth is on).
func ingestCounters(base, bearer string) (batches, rows float64, err error) {
	req, err := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return 0, 0, err
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("GET /metrics: status %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		switch name {
		case "mlops_ingest_batches_total":
			batches, err = strconv.ParseFloat(value, 64)
		case `mlops_rows_ingested_total{table="predictions"}`:
			rows, err = strconv.ParseFloat(value, 64)
		}
		if err != nil {
			return 0, 0, fmt.Errorf("GET /metrics: %s: %w", name, err)
		}
	}
	return batches, rows, sc.Err()
}

// stats summarises latencies.
type stats struct {
	n    int
	rows int
	el   time.Duration
	lat  []time.Duration
	errs int
}

func (s *stats) rate() float64 { return float64(s.rows) / s.el.Seconds() }

func (s *stats) pct(p float64) time.Duration {
	if len(s.lat) == 0 {
		return 0
	}
	sort.Slice(s.lat, func(i, j int) bool { return s.lat[i] < s.lat[j] })
	i := int(p * float64(len(s.lat)-1))
	return s.lat[i]
}

// loop runs fn from `clients` goroutines for d, timing each call.
func loop(clients int, d time.Duration, fn func(worker, i int) (rows int, err error)) *stats {
	var mu sync.Mutex
	st := &stats{}
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	start := time.Now()
	var errCount atomic.Int64
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var local []time.Duration
			rows := 0
			for i := 0; time.Now().Before(deadline); i++ {
				t0 := time.Now()
				n, err := fn(w, i)
				if err != nil {
					if errCount.Add(1) == 1 {
						fmt.Fprintln(os.Stderr, "  first error:", err)
					}
					continue
				}
				local = append(local, time.Since(t0))
				rows += n
			}
			mu.Lock()
			st.lat = append(st.lat, local...)
			st.rows += rows
			st.n += len(local)
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	st.el = time.Since(start)
	st.errs = int(errCount.Load())
	return st
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d.Microseconds())/1000) }

func row(w io.Writer, engine, what string, st *stats, unit string, baseline float64, baseName string) {
	ratio := ""
	if baseline > 0 {
		ratio = fmt.Sprintf("%.2fx %s", st.rate()/baseline, baseName)
	}
	rowRate(w, engine, what, st.rate(), st, unit, ratio)
}

// rowRate is row with the throughput and the ratio column given.
func rowRate(w io.Writer, engine, what string, rate float64, st *stats, unit, ratio string) {
	fmt.Fprintf(w, "| %s | %s | %.0f %s | %s | %s | %s | %d | %s |\n", engine, what, rate, unit,
		ms(st.pct(0.50)), ms(st.pct(0.95)), ms(st.pct(0.99)), st.errs, ratio)
}

func predictionJSON(modelID int64, i int) []byte {
	return []byte(fmt.Sprintf(`{"model_id":%d,"features":{"age":%d,"chol":%d.5,"sex":%d},"prediction":%d,"probability":0.%02d,"latency_ms":%d.25}`,
		modelID, 20+i%60, 150+i%100, i%2, i%2, i%100, 5+i%20))
}

func runEngine(ctx context.Context, c config, engine string) error {
	t, err := newTarget(ctx, c, engine)
	if err != nil {
		return err
	}
	defer t.cleanup()
	srv, err := startServer(c, t)
	if err != nil {
		return err
	}
	defer srv.close()
	w := c.out
	fmt.Fprintf(w, "\n## %s\n\n", engine)
	fmt.Fprintln(w, "| engine | measurement | throughput | p50 ms | p95 ms | p99 ms | errors | ratio |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- |")

	modelID, err := registerModel(srv.base, "bench", "1")
	if err != nil {
		return err
	}
	raw, err := t.raw(64)
	if err != nil {
		return err
	}
	defer raw.Close()

	// Single-prediction POSTs, each beside the per-row INSERT+commit baseline.
	for _, n := range c.clients {
		base := loop(n, c.duration, func(wk, i int) (int, error) {
			_, err := raw.ExecContext(ctx, `INSERT INTO predictions (model_id, features, prediction, probability, latency_ms, created_at)
				VALUES ($1, $2, $3, $4, $5, $6)`, modelID, `{"age":50,"chol":200.5,"sex":1}`, i%2, 0.5, 10.25, time.Now().UTC())
			return 1, err
		})
		row(w, engine, fmt.Sprintf("baseline: per-row INSERT+commit, %d conns", n), base, "rows/s", 0, "")
		b0, r0, cerr := ingestCounters(srv.base, "")
		if cerr != nil {
			return cerr
		}
		lean := make([]*leanClient, n)
		for k := range lean {
			if lean[k], err = newLeanClient(srv.base); err != nil {
				return err
			}
		}
		st := postSingles(lean, c.duration, modelID)
		b1, r1, cerr := ingestCounters(srv.base, "")
		if cerr != nil {
			return cerr
		}
		label := fmt.Sprintf("POST /predictions, %d clients", n)
		if b1 > b0 {
			label += fmt.Sprintf(" (%.1f rows/commit)", (r1-r0)/(b1-b0))
		}
		row(w, engine, label, st, "req/s", base.rate(), "per-row")
	}

	// Batches over HTTP beside the raw bulk path of the same driver.
	for _, size := range []int{1000, 10000} {
		body := batchJSON(modelID, size)
		bulk := loop(1, c.duration, func(wk, i int) (int, error) { return size, rawBulk(ctx, t.engine, raw, modelID, size) })
		name := "raw CopyFrom"
		if engine == "sqlite" {
			name = "raw batched loop"
		}
		row(w, engine, fmt.Sprintf("baseline: %s of %d", name, size), bulk, "rows/s", 0, "")
		st := loop(1, c.duration, func(wk, i int) (int, error) {
			code, resp, err := post(srv.base, "/api/v1/predictions/batch", body)
			if err == nil && code != http.StatusCreated {
				err = fmt.Errorf("status %d: %s", code, resp)
			}
			return size, err
		})
		row(w, engine, fmt.Sprintf("POST /predictions/batch of %d", size), st, "rows/s", bulk.rate(), name)
	}

	// Reads at scale: a model with `size` predictions spread over 30 days.
	seeded := 0
	readModel, err := registerModel(srv.base, "bench-read", "1")
	if err != nil {
		return err
	}
	for _, size := range c.sizes {
		t0 := time.Now()
		if err := seedPredictions(ctx, t.engine, raw, readModel, seeded, size-seeded); err != nil {
			return fmt.Errorf("seed predictions: %w", err)
		}
		fmt.Fprintf(os.Stderr, "  seeded %d predictions in %s\n", size-seeded, time.Since(t0).Round(time.Millisecond))
		seeded = size
		path := fmt.Sprintf("/api/v1/predictions?model_id=%d&hours=24&limit=100", readModel)
		st := loopN(c.reads, func() (int, error) {
			code, _, err := get(srv.base, path)
			if err == nil && code != 200 {
				err = fmt.Errorf("status %d", code)
			}
			return 1, err
		})
		row(w, engine, fmt.Sprintf("GET recent predictions, first page of 100, %s rows", human(size)), st, "req/s", 0, "")
	}

	// Metric series at 1 M points over the last 7 days.
	t0 := time.Now()
	if err := seedMetrics(ctx, t.engine, raw, c.metricN); err != nil {
		return fmt.Errorf("seed metrics: %w", err)
	}
	fmt.Fprintf(os.Stderr, "  seeded %d metric points in %s\n", c.metricN, time.Since(t0).Round(time.Millisecond))
	var bytesRaw int64
	st := loopN(5, func() (int, error) {
		code, n, err := get(srv.base, "/api/v1/metrics/bench_latency?days=7")
		if err == nil && code != 200 {
			err = fmt.Errorf("status %d", code)
		}
		bytesRaw = n
		return 1, err
	})
	row(w, engine, fmt.Sprintf("GET metric series raw, %s points (%.0f MB)", human(c.metricN), float64(bytesRaw)/1e6), st, "req/s", 0, "")
	st = loopN(20, func() (int, error) {
		code, _, err := get(srv.base, "/api/v1/metrics/bench_latency?days=7&bucket=1h")
		if err == nil && code != 200 {
			err = fmt.Errorf("status %d", code)
		}
		return 1, err
	})
	row(w, engine, fmt.Sprintf("GET metric series 1h buckets, %s points", human(c.metricN)), st, "req/s", 0, "")
	fmt.Fprintf(w, "\nserver peak RSS (%s): %.0f MB\n", engine, srv.peakMB)
	return nil
}

// loopN runs fn n times sequentially.
func loopN(n int, fn func() (int, error)) *stats {
	st := &stats{}
	start := time.Now()
	for i := 0; i < n; i++ {
		t0 := time.Now()
		r, err := fn()
		if err != nil {
			if st.errs == 0 {
				fmt.Fprintln(os.Stderr, "  first error:", err)
			}
			st.errs++
			continue
		}
		st.lat = append(st.lat, time.Since(t0))
		st.rows += r
		st.n++
	}
	st.el = time.Since(start)
	return st
}

func human(n int) string {
	switch {
	case n >= 1000000 && n%1000000 == 0:
		return fmt.Sprintf("%d M", n/1000000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%d k", n/1000)
	}
	return strconv.Itoa(n)
}

func registerModel(base, name, version string) (int64, error) {
	code, body, err := post(base, "/api/v1/models", []byte(fmt.Sprintf(`{"model_name":%q,"version":%q,"algorithm":"bench"}`, name, version)))
	if err != nil {
		return 0, err
	}
	if code != http.StatusCreated {
		return 0, fmt.Errorf("register model: status %d: %s", code, body)
	}
	var m struct {
		ID int64 `json:"id"`
	}
	return m.ID, json.Unmarshal(body, &m)
}

func batchJSON(modelID int64, n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"predictions":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(predictionJSON(modelID, i))
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

var predCols = []string{"model_id", "features", "prediction", "probability", "latency_ms", "created_at"}

// rawBulk inserts n rows the fastest plain way the driver offers.
func rawBulk(ctx context.Context, engine string, db *sql.DB, modelID int64, n int) error {
	now := time.Now().UTC()
	if engine == "postgres" {
		conn, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		return conn.Raw(func(dc any) error {
			rows := make([][]any, n)
			for i := range rows {
				rows[i] = []any{modelID, `{"age":50,"chol":200.5,"sex":1}`, int64(i % 2), 0.5, 10.25, now}
			}
			_, err := dc.(*stdlib.Conn).Conn().CopyFrom(ctx, pgx.Identifier{"predictions"}, predCols, pgx.CopyFromRows(rows))
			return err
		})
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO predictions (model_id, features, prediction, probability, latency_ms, created_at) VALUES ($1, $2, $3, $4, $5, $6)`)
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		if _, err := stmt.ExecContext(ctx, modelID, `{"age":50,"chol":200.5,"sex":1}`, i%2, 0.5, 10.25, now); err != nil {
			return err
		}
	}
	stmt.Close()
	return tx.Commit()
}

// seedPredictions adds n predictions of modelID spread evenly over the last
// 30 days (so a 24 h window holds 1/30 of them), in chunks.
func seedPredictions(ctx context.Context, engine string, db *sql.DB, modelID int64, offset, n int) error {
	now := time.Now().UTC()
	span := 30 * 24 * time.Hour
	total := offset + n
	return seed(ctx, engine, db, "predictions", predCols, n, func(i int) []any {
		k := offset + i
		at := now.Add(-time.Duration(float64(span) * float64(k) / float64(total))).Truncate(time.Microsecond)
		return []any{modelID, `{"age":50,"chol":200.5,"sex":1}`, int64(k % 2), 0.5, 10.25, at}
	})
}

// seedMetrics adds n points of bench_latency over the last 7 days.
func seedMetrics(ctx context.Context, engine string, db *sql.DB, n int) error {
	now := time.Now().UTC().Add(-time.Minute)
	span := 7*24*time.Hour - 2*time.Minute
	return seed(ctx, engine, db, "performance_metrics", []string{"metric_name", "metric_value", "created_at", "metadata"}, n, func(i int) []any {
		at := now.Add(-time.Duration(float64(span) * float64(i) / float64(n))).Truncate(time.Microsecond)
		return []any{"bench_latency", float64(10 + i%50), at, `{}`}
	})
}

func seed(ctx context.Context, engine string, db *sql.DB, table string, cols []string, n int, gen func(i int) []any) error {
	const chunk = 50000
	for start := 0; start < n; start += chunk {
		end := min(start+chunk, n)
		if engine == "postgres" {
			conn, err := db.Conn(ctx)
			if err != nil {
				return err
			}
			err = conn.Raw(func(dc any) error {
				rows := make([][]any, 0, end-start)
				for i := start; i < end; i++ {
					rows = append(rows, gen(i))
				}
				_, err := dc.(*stdlib.Conn).Conn().CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(rows))
				return err
			})
			conn.Close()
			if err != nil {
				return err
			}
			continue
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		ph := make([]string, len(cols))
		for i := range ph {
			ph[i] = "$" + strconv.Itoa(i+1)
		}
		stmt, err := tx.PrepareContext(ctx, "INSERT INTO "+table+" ("+strings.Join(cols, ", ")+") VALUES ("+strings.Join(ph, ", ")+")")
		if err != nil {
			tx.Rollback()
			return err
		}
		for i := start; i < end; i++ {
			if _, err := stmt.ExecContext(ctx, gen(i)...); err != nil {
				tx.Rollback()
				return err
			}
		}
		stmt.Close()
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	if engine == "postgres" {
		_, err := db.ExecContext(ctx, "ANALYZE "+table)
		return err
	}
	_, err := db.ExecContext(ctx, "ANALYZE")
	return err
}
