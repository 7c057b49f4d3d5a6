package httpapi_test

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// TestReplicaReads runs the API over the test cluster with a real
// streaming replica of it (pg_basebackup, then pg_ctl) and checks where
// each read is served: lists from the replica while it is within the lag
// limit, the answer of a POST and a record read by id after a change from
// the primary, the primary again once the replica lags past the limit or
// stops; /readyz and /metrics report the replica.
//
// To tell the two apart, the replica's replay is paused: a row written on
// the primary then exists there only.
func TestReplicaReads(t *testing.T) {
	primaryURL := storetest.URL(t, store.Postgres)
	rep := startReplica(t, primaryURL)
	ctx := context.Background()
	direct := storetest.OpenURL(t, primaryURL, store.Options{}) // migrates; writes "directly on the primary"
	replicaURL := rep.url(primaryURL)

	// patient keeps the replica however far behind it falls (a limit of an
	// hour); strict bypasses it from 2 s behind.
	patientSt, err := store.Open(ctx, primaryURL, store.Options{Replicas: []string{replicaURL}, ReplicaMaxLag: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { patientSt.Close() })
	strictSt, err := store.Open(ctx, primaryURL, store.Options{Replicas: []string{replicaURL}, ReplicaMaxLag: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { strictSt.Close() })
	patient, strict := serve(t, patientSt), serve(t, strictSt)

	names := func(c *client) []string {
		t.Helper()
		var out []string
		for _, it := range c.must(200, "GET", "/api/v1/models?limit=100", nil)["items"].([]any) {
			out = append(out, it.(map[string]any)["model_name"].(string))
		}
		slices.Sort(out)
		return out
	}
	waitFor(t, "the replica to serve reads (both stores)", func() bool {
		return replicaState(patientSt) == store.ReplicaServing && replicaState(strictSt) == store.ReplicaServing
	})
	a := patient.model("a", "1")
	waitFor(t, "the replica to replay model a", func() bool { return slices.Equal(names(patient), []string{"a"}) })

	t.Run("lists come from the replica, answers after a change from the primary", func(t *testing.T) {
		rep.pause(t)
		defer rep.resume(t)
		b := storetest.Model(t, direct, "b", "1") // on the primary only
		created := patient.must(201, "POST", "/api/v1/models", map[string]any{"model_name": "c", "version": "1", "algorithm": "rf"})
		if created["model_name"] != "c" {
			t.Fatalf("the POST answer is %v; want model c, from the primary", created)
		}
		if got := names(patient); !slices.Equal(got, []string{"a"}) {
			t.Fatalf("the list shows %v; want [a]: the replica, paused before b and c were written", got)
		}
		if got := patient.must(200, "GET", fmt.Sprintf("/api/v1/models/%d", b.ID), nil); got["model_name"] != "b" {
			t.Fatalf("GET by id of b: %v; want it, from the primary", got)
		}
		activated := patient.must(200, "POST", fmt.Sprintf("/api/v1/models/%d/activate", a), nil)
		if activated["is_active"] != true {
			t.Fatalf("the activation's answer: %v; want is_active true", activated)
		}
		if got := patient.must(200, "GET", fmt.Sprintf("/api/v1/models/%d", a), nil); got["is_active"] != true {
			t.Fatalf("GET by id after the activation: %v; want is_active true, from the primary", got)
		}
		items := patient.must(200, "GET", "/api/v1/models?limit=100", nil)["items"].([]any)
		if len(items) != 1 || items[0].(map[string]any)["is_active"] != false {
			t.Fatalf("the list after the activation: %v; want a still inactive, as the paused replica has it", items)
		}
		if r := patientSt.Replicas()[0]; r.Reads == 0 {
			t.Fatalf("replica status %+v: no reads counted", r)
		}

		// The same replica, the same pause, a limit of 2 s: the strict
		// store stops reading from it and sees every row.
		waitFor(t, "the strict store to find the replica lagging", func() bool { return replicaState(strictSt) == store.ReplicaLagging })
		if got := names(strict); !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Fatalf("the strict store lists %v; want [a b c] from the primary", got)
		}
		if got := names(patient); !slices.Equal(got, []string{"a"}) {
			t.Fatalf("the patient store lists %v; want [a], still from the replica", got)
		}
		ready := strict.must(200, "GET", "/readyz", nil)
		reps, _ := ready["replicas"].([]any)
		if ready["status"] != "ready" || len(reps) != 1 {
			t.Fatalf("/readyz with the replica lagging: %v; want ready, naming the replica", ready)
		}
		r := reps[0].(map[string]any)
		if r["replica"] != rep.addr || r["status"] != "lagging" || r["lag_seconds"].(float64) < 2 ||
			!strings.Contains(r["detail"].(string), "over the 2s limit") {
			t.Fatalf("/readyz's replica: %v; want %s lagging by 2 s or more, saying so", r, rep.addr)
		}
		lag := metricValue(t, strict, "mlops_db_replica_lag_seconds", rep.addr)
		if lag < 2 || metricValue(t, strict, "mlops_db_replica_serving", rep.addr) != 0 ||
			metricValue(t, strict, "mlops_db_replica_up", rep.addr) != 1 {
			t.Fatalf("/metrics of the strict store: lag %v; want 2 s or more, up and not serving", lag)
		}
	})

	t.Run("the replica catches up and serves again", func(t *testing.T) {
		waitFor(t, "the replica to replay b and c", func() bool { return slices.Equal(names(patient), []string{"a", "b", "c"}) })
		waitFor(t, "the strict store to read from the replica again", func() bool { return replicaState(strictSt) == store.ReplicaServing })
		before := strictSt.Replicas()[0].Reads
		names(strict)
		if after := strictSt.Replicas()[0].Reads; after <= before {
			t.Fatalf("reads of the strict store's replica: %d, then %d after a list; want more", before, after)
		}
		lag := metricValue(t, patient, "mlops_db_replica_lag_seconds", rep.addr)
		if lag < 0 || lag >= 2 || metricValue(t, patient, "mlops_db_replica_serving", rep.addr) != 1 ||
			metricValue(t, patient, "mlops_db_replica_reads_total", rep.addr) == 0 {
			t.Fatalf("/metrics: lag %v; want under 2 s, serving, reads counted", lag)
		}
		ready := patient.must(200, "GET", "/readyz", nil)
		if r := ready["replicas"].([]any)[0].(map[string]any); r["status"] != "serving" || r["detail"] != nil {
			t.Fatalf("/readyz: %v; want the replica serving", ready)
		}
	})

	t.Run("a stopped replica is bypassed", func(t *testing.T) {
		rep.stop(t)
		// Right away, before the next check: the read that fails on the
		// replica runs on the primary.
		if got := names(patient); !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Fatalf("the list with the replica stopped: %v; want [a b c] from the primary", got)
		}
		storetest.Model(t, direct, "d", "1")
		if got := names(patient); !slices.Equal(got, []string{"a", "b", "c", "d"}) {
			t.Fatalf("the list with the replica stopped: %v; want [a b c d] from the primary", got)
		}
		waitFor(t, "the replica to be found down", func() bool { return replicaState(patientSt) == store.ReplicaDown })
		ready := patient.must(200, "GET", "/readyz", nil)
		r := ready["replicas"].([]any)[0].(map[string]any)
		if ready["status"] != "ready" || r["status"] != "down" || r["lag_seconds"] != nil ||
			!strings.Contains(r["detail"].(string), "does not answer; its reads go to the primary") {
			t.Fatalf("/readyz with the replica stopped: %v; want 200, ready, the replica down and why", ready)
		}
		if metricValue(t, patient, "mlops_db_replica_up", rep.addr) != 0 || metricValue(t, patient, "mlops_db_replica_serving", rep.addr) != 0 {
			t.Fatal("/metrics: the stopped replica is not reported down")
		}
	})
}

// replicaState is the state of a store's one replica.
func replicaState(st *store.Store) store.ReplicaState {
	return st.Replicas()[0].State
}

// metricValue reads the sample of name labelled replica="addr" from
// /metrics; it fails the test when there is none.
func metricValue(t *testing.T, c *client, name, addr string) float64 {
	t.Helper()
	res := c.do("GET", "/metrics", nil)
	if res.status != 200 {
		t.Fatalf("/metrics: %s", res)
	}
	text := string(res.raw)
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name+`{replica="`+addr+`"}`) + ` (\S+)$`)
	m := re.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("/metrics has no %s for %s", name, addr)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// pgReplica is a streaming replica of the test cluster, for one test.
type pgReplica struct {
	bin  string // the PostgreSQL programs
	dir  string // owned by postgres: data/, log, the socket
	addr string // 127.0.0.1:port
	// run runs a PostgreSQL program as the postgres OS user.
	run func(prog string, args ...string) ([]byte, error)
	db  *sql.DB // to the replica, as the test user
}

// startReplica starts a streaming replica of the server of primaryURL: a
// pg_basebackup -R into a temporary folder owned by the postgres OS user,
// started with pg_ctl on a free port. Without what it needs (the programs,
// root or the postgres user, replication allowed from 127.0.0.1) it skips,
// except under CI=true, where it fails.
func startReplica(t *testing.T, primaryURL string) *pgReplica {
	t.Helper()
	need := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI must run the replica tests: "+format, args...)
		}
		t.Skipf("the replica tests cannot run here: "+format, args...)
	}
	cfg, err := pgx.ParseConfig(primaryURL)
	if err != nil {
		t.Fatal(err)
	}
	if ip := net.ParseIP(cfg.Host); cfg.Host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		need("%s must name a server on this machine (127.0.0.1), not %s", storetest.EnvURL, cfg.Host)
	}
	admin, err := sql.Open("pgx", primaryURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var version, walLevel string
	var senders int
	var replicator bool
	if err := admin.QueryRow(`SELECT current_setting('server_version_num'), current_setting('wal_level'),
		current_setting('max_wal_senders')::int, (SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user)`).
		Scan(&version, &walLevel, &senders, &replicator); err != nil {
		t.Fatal(err)
	}
	if walLevel == "minimal" || senders == 0 {
		need("the server has wal_level=%s and max_wal_senders=%d; streaming needs wal_level=replica and a WAL sender", walLevel, senders)
	}
	if !replicator {
		need("the user %s of %s may not replicate (it needs REPLICATION or superuser)", cfg.User, storetest.EnvURL)
	}
	n, _ := strconv.Atoi(version)
	major := strconv.Itoa(n / 10000)
	r := &pgReplica{bin: filepath.Join("/usr/lib/postgresql", major, "bin")}
	for _, prog := range []string{"pg_basebackup", "pg_ctl"} {
		if _, err := os.Stat(filepath.Join(r.bin, prog)); err != nil {
			need("%s of PostgreSQL %s is not in %s", prog, major, r.bin)
		}
	}
	pgUser, err := user.Lookup("postgres")
	if err != nil {
		need("there is no postgres OS user to run PostgreSQL as")
	}
	uid, _ := strconv.Atoi(pgUser.Uid)
	gid, _ := strconv.Atoi(pgUser.Gid)
	switch os.Geteuid() {
	case uid:
		r.run = func(prog string, args ...string) ([]byte, error) {
			return exec.Command(filepath.Join(r.bin, prog), args...).CombinedOutput()
		}
	case 0:
		runuser, err := exec.LookPath("runuser")
		if err != nil {
			need("runuser is missing (it runs PostgreSQL as the postgres user)")
		}
		r.run = func(prog string, args ...string) ([]byte, error) {
			return exec.Command(runuser, append([]string{"-u", "postgres", "--", filepath.Join(r.bin, prog)}, args...)...).CombinedOutput()
		}
	default:
		need("PostgreSQL's programs must run as the postgres OS user: run the tests as root or as postgres")
	}

	// Under the system's temporary folder, not t.TempDir(): the postgres
	// user must reach it, and a test's folder is private to root.
	r.dir, err = os.MkdirTemp("", "mlops-replica-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(r.dir) })
	if err := os.Chown(r.dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(r.dir, "data")
	out, err := r.run("pg_basebackup", "-h", cfg.Host, "-p", strconv.Itoa(int(cfg.Port)), "-U", cfg.User,
		"-D", data, "-R", "-X", "stream", "-c", "fast", "--no-sync")
	if err != nil {
		if strings.Contains(string(out), "pg_hba.conf") {
			need("the server refuses replication connections from 127.0.0.1; add `host replication all 127.0.0.1/32 trust` to its pg_hba.conf and reload it (.ci/run does): %s", out)
		}
		t.Fatalf("pg_basebackup: %v\n%s", err, out)
	}

	// A hot standby needs these at least as high as its primary has them.
	conf := []string{"listen_addresses = '127.0.0.1'", "unix_socket_directories = '" + r.dir + "'", "hot_standby = on",
		"fsync = off", "shared_buffers = 16MB"}
	for _, name := range []string{"max_connections", "max_worker_processes", "max_wal_senders", "max_prepared_transactions", "max_locks_per_transaction"} {
		var v string
		if err := admin.QueryRow(`SELECT current_setting($1)`, name).Scan(&v); err != nil {
			t.Fatal(err)
		}
		conf = append(conf, name+" = "+v)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	conf = append(conf, "port = "+strconv.Itoa(port))
	r.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for name, text := range map[string]string{
		"postgresql.conf": strings.Join(conf, "\n") + "\n",
		"pg_hba.conf":     "local all all trust\nhost all all 127.0.0.1/32 trust\n",
		"pg_ident.conf":   "",
	} {
		p := filepath.Join(data, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	logFile := filepath.Join(r.dir, "log")
	if out, err := r.run("pg_ctl", "-D", data, "-l", logFile, "-w", "-t", "60", "start"); err != nil {
		log, _ := os.ReadFile(logFile)
		t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	t.Cleanup(func() { r.run("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop") })

	r.db, err = sql.Open("pgx", r.url(primaryURL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.db.Close() })
	return r
}

// url is primaryURL pointed at the replica: the same database, user and
// search_path (the test's schema is replicated with the rest).
func (r *pgReplica) url(primaryURL string) string {
	u, err := url.Parse(primaryURL)
	if err != nil {
		panic(err)
	}
	u.Host = r.addr
	return u.String()
}

// pause stops the replica's replay of the WAL it receives, and waits until
// it has.
func (r *pgReplica) pause(t *testing.T) {
	t.Helper()
	if _, err := r.db.Exec(`SELECT pg_wal_replay_pause()`); err != nil {
		t.Fatalf("pause the replay: %v", err)
	}
	waitFor(t, "the replay to pause", func() bool {
		var state string
		return r.db.QueryRow(`SELECT pg_get_wal_replay_pause_state()`).Scan(&state) == nil && state == "paused"
	})
}

// resume restarts the replay.
func (r *pgReplica) resume(t *testing.T) {
	t.Helper()
	if _, err := r.db.Exec(`SELECT pg_wal_replay_resume()`); err != nil {
		t.Fatalf("resume the replay: %v", err)
	}
}

// stop shuts the replica down.
func (r *pgReplica) stop(t *testing.T) {
	t.Helper()
	if out, err := r.run("pg_ctl", "-D", filepath.Join(r.dir, "data"), "-m", "fast", "-w", "stop"); err != nil {
		t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}
