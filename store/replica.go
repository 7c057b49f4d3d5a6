package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/mlopsdev/mlops"
)

// Read replicas (PostgreSQL only). Reads that may be slightly stale — lists,
// reports, summaries, metric series — run on a streaming replica whose lag
// is under Options.ReplicaMaxLag (round-robin among those), through
// Store.reader. Writes, transactions, single records read by id or name
// and everything authentication reads run on the primary, through
// Store.primary.
//
// The lag is measured by comparing WAL positions, not timestamps. Once a
// second the store reads the primary's pg_current_wal_lsn() and keeps the
// readings with the time each was taken; then it reads each replica's
// pg_last_wal_replay_lsn(). A replica that has replayed up to the reading
// taken at time T shows every change committed on the primary before T, so
// its lag is at most now − T, T being the newest reading it has reached.
// Unlike now() − pg_last_xact_replay_timestamp(), this does not grow while
// the primary is idle (nothing to replay means the replica is current),
// needs no heartbeat writes, and compares only readings of this process's
// own clock. The replicas are asked a tenth of a second after the primary,
// so one that keeps pace with a busy primary reads as about that far
// behind; one that falls behind reads as behind by the age of the newest
// reading it has reached, so by up to a second more than it is.

// DefaultReplicaMaxLag is how far behind the primary a replica may be and
// still serve reads, when Options.ReplicaMaxLag is zero.
const DefaultReplicaMaxLag = 5 * time.Second

// MinReplicaMaxLag is the smallest ReplicaMaxLag: the lag is measured once
// a second.
const MinReplicaMaxLag = time.Second

const (
	// replicaCheckEvery is how often the replicas' lag is measured.
	replicaCheckEvery = time.Second
	// replicaCheckTimeout bounds one measurement; a replica that takes
	// longer to answer is down for this round.
	replicaCheckTimeout = 2 * time.Second
	// replicaSettle is how long after reading the primary's position the
	// replicas are asked for theirs: one that keeps pace with a busy
	// primary has replayed that position by then, and reads as about this
	// far behind instead of a whole check interval.
	replicaSettle = 100 * time.Millisecond
)

// ReplicaState says whether a replica serves reads.
type ReplicaState string

// Replica states.
const (
	// ReplicaServing: it answers as a standby of the primary, within the
	// lag limit; reads go to it.
	ReplicaServing ReplicaState = "serving"
	// ReplicaLagging: it answers but is behind by more than the limit;
	// its reads go to the primary until it catches up.
	ReplicaLagging ReplicaState = "lagging"
	// ReplicaDown: it does not answer, is not a standby, or is a standby
	// of another server; its reads go to the primary.
	ReplicaDown ReplicaState = "down"
)

// ReplicaStatus is what the last check found about one read replica.
type ReplicaStatus struct {
	// Addr is the replica's host:port, never its user or password.
	Addr  string
	State ReplicaState
	// Lag bounds how far the replica is behind the primary: it shows every
	// change committed on the primary more than Lag before the check.
	// Valid when Measured.
	Lag      time.Duration
	Measured bool
	// Problem says why the replica does not serve reads ("" when it
	// does), as words that follow "the replica" ("does not answer"), fit
	// for a health answer: never the driver's text.
	Problem string
	// Reads counts the reads it has served.
	Reads int64
	// Checked is when the last check ended.
	Checked time.Time
}

// replica is one read replica: its pool and the last check's findings.
type replica struct {
	addr   string
	target Target
	db     *sql.DB
	reads  atomic.Int64

	mu       sync.Mutex
	state    ReplicaState
	lag      time.Duration
	measured bool
	problem  string
	checked  time.Time

	// Its system identifier, read once it answers (by the check only).
	sysID     string
	sysIDRead bool
}

func (r *replica) status() ReplicaStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return ReplicaStatus{Addr: r.addr, State: r.state, Lag: r.lag, Measured: r.measured, Problem: r.problem,
		Reads: r.reads.Load(), Checked: r.checked}
}

// lsnSample is one reading of the primary's WAL position.
type lsnSample struct {
	at  time.Time
	lsn uint64
}

// replicaSet routes reads to the replicas and measures their lag in the
// background.
type replicaSet struct {
	primary *sql.DB
	list    []*replica
	maxLag  time.Duration
	log     *slog.Logger

	serving atomic.Pointer[[]*replica] // the replicas reads may go to
	next    atomic.Uint64              // round-robin position

	// Touched by the check loop only (and by openReplicas before it runs).
	history       []lsnSample
	primaryID     string // the primary's system identifier
	primaryIDRead bool

	stop context.CancelFunc
	done chan struct{}
}

// openReplicas opens a pool per replica URL, measures them once (so the
// store starts with the replicas that already keep up) and starts the
// background check.
func (s *Store) openReplicas(ctx context.Context, opts Options) error {
	maxLag := opts.ReplicaMaxLag
	if maxLag == 0 {
		maxLag = DefaultReplicaMaxLag
	}
	if maxLag < MinReplicaMaxLag {
		return fmt.Errorf("the replica lag limit %s is below %s (the lag is measured once a second)", maxLag, MinReplicaMaxLag)
	}
	rs := &replicaSet{primary: s.rdb, maxLag: maxLag, log: s.log}
	seen := map[string]bool{}
	for _, raw := range opts.Replicas {
		t, err := ParseURL(raw)
		if err != nil {
			rs.close()
			return fmt.Errorf("DATABASE_REPLICA_URL: %s", strings.Replace(err.Error(), "DATABASE_URL", "a replica URL", 1))
		}
		if t.Engine != Postgres {
			rs.close()
			return fmt.Errorf("DATABASE_REPLICA_URL %s is not a PostgreSQL URL; use postgresql://user:pass@host:5432/db", t.Redacted)
		}
		cfg, err := pgx.ParseConfig(t.URL)
		if err != nil {
			rs.close()
			return fmt.Errorf("DATABASE_REPLICA_URL %s is not a valid PostgreSQL URL: %s", t.Redacted, redactErr(err, t))
		}
		if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > opts.ConnectTimeout {
			cfg.ConnectTimeout = opts.ConnectTimeout
		}
		if opts.TracerProvider != nil {
			cfg.Tracer = newPGTracer(opts.TracerProvider)
		}
		addr := net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
		if seen[addr] {
			rs.close()
			return fmt.Errorf("DATABASE_REPLICA_URL names the replica %s twice; list each replica once", addr)
		}
		seen[addr] = true
		db := stdlib.OpenDB(*cfg)
		db.SetMaxOpenConns(opts.PoolSize)
		db.SetMaxIdleConns(opts.PoolSize)
		db.SetConnMaxIdleTime(5 * time.Minute)
		rs.list = append(rs.list, &replica{addr: addr, target: t, db: db, state: ReplicaDown, problem: "has not been checked yet"})
	}
	rs.check(ctx)
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	rs.stop, rs.done = cancel, make(chan struct{})
	go rs.run(loopCtx)
	s.replicas = rs
	return nil
}

// run checks the replicas every replicaCheckEvery until ctx ends.
func (rs *replicaSet) run(ctx context.Context) {
	defer close(rs.done)
	t := time.NewTicker(replicaCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			rs.check(ctx)
		}
	}
}

// close stops the check loop and closes the replicas' pools.
func (rs *replicaSet) close() error {
	if rs.stop != nil {
		rs.stop()
		<-rs.done
	}
	var err error
	for _, r := range rs.list {
		err = errors.Join(err, r.db.Close())
	}
	return err
}

// check reads the primary's WAL position, then each replica's, and
// decides which replicas serve reads.
func (rs *replicaSet) check(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, replicaCheckTimeout)
	defer cancel()
	// The time is taken before the reading: every commit that returned
	// before it is at or below the position read.
	at := time.Now()
	var lsnText string
	err := rs.primary.QueryRowContext(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&lsnText)
	if err == nil {
		if lsn, perr := parseLSN(lsnText); perr == nil {
			rs.history = append(rs.history, lsnSample{at: at, lsn: lsn})
		}
		if !rs.primaryIDRead {
			// Once, best effort: a server that hides pg_control_system()
			// skips the check that each replica follows this primary.
			rs.primaryIDRead = true
			_ = rs.primary.QueryRowContext(ctx, `SELECT system_identifier::text FROM pg_control_system()`).Scan(&rs.primaryID)
		}
	}
	// Keep the readings a lag under the limit can refer to, and a few more.
	keep := at.Add(-rs.maxLag - 5*replicaCheckEvery)
	i := 0
	for i < len(rs.history)-1 && rs.history[i].at.Before(keep) {
		i++
	}
	rs.history = rs.history[i:]

	history := slices.Clone(rs.history)
	select {
	case <-ctx.Done():
		return
	case <-time.After(replicaSettle):
	}
	var wg sync.WaitGroup
	for _, r := range rs.list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rs.checkOne(ctx, r, history)
		}()
	}
	wg.Wait()
	rs.route()
}

// checkOne measures one replica against the primary's readings.
func (rs *replicaSet) checkOne(ctx context.Context, r *replica, history []lsnSample) {
	var (
		standby bool
		replay  sql.NullString
	)
	err := r.db.QueryRowContext(ctx, `SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text`).Scan(&standby, &replay)
	if err != nil {
		rs.set(r, ReplicaDown, 0, false, "does not answer", err)
		return
	}
	if !standby {
		rs.set(r, ReplicaDown, 0, false, "is not a standby (pg_is_in_recovery() is false: promoted, or not a replica)", nil)
		return
	}
	if !r.sysIDRead {
		r.sysIDRead = true
		_ = r.db.QueryRowContext(ctx, `SELECT system_identifier::text FROM pg_control_system()`).Scan(&r.sysID)
	}
	if r.sysID != "" && rs.primaryID != "" && r.sysID != rs.primaryID {
		rs.set(r, ReplicaDown, 0, false, "is a standby of another server, not of DATABASE_URL's", nil)
		return
	}
	lsn, perr := parseLSN(replay.String)
	if !replay.Valid || perr != nil {
		rs.set(r, ReplicaLagging, 0, false, "has not replayed any WAL yet", nil)
		return
	}
	if len(history) == 0 {
		rs.set(r, ReplicaLagging, 0, false, "is of unknown lag: the primary does not answer", nil)
		return
	}
	lag := lagOf(history, lsn, time.Now())
	if lag >= rs.maxLag {
		rs.set(r, ReplicaLagging, lag, true, fmt.Sprintf("lags %s behind the primary, over the %s limit", lag.Round(time.Millisecond), rs.maxLag), nil)
		return
	}
	rs.set(r, ReplicaServing, lag, true, "", nil)
}

// lagOf bounds how far a replica that has replayed the WAL up to lsn is
// behind: the time since the newest reading of the primary's position
// that lsn reaches. A replica behind every reading is behind by more than
// the oldest one's age, which is what it returns.
func lagOf(history []lsnSample, lsn uint64, now time.Time) time.Duration {
	for i := len(history) - 1; i >= 0; i-- {
		if history[i].lsn <= lsn {
			return max(now.Sub(history[i].at), 0)
		}
	}
	return max(now.Sub(history[0].at), 0)
}

// parseLSN reads a PostgreSQL WAL position ("16/B374D848").
func parseLSN(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok {
		return 0, fmt.Errorf("not a WAL position: %q", s)
	}
	h, err := strconv.ParseUint(hi, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("not a WAL position: %q", s)
	}
	l, err := strconv.ParseUint(lo, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("not a WAL position: %q", s)
	}
	return h<<32 | l, nil
}

// set records a check's findings and logs a change of state (the driver's
// error, when there is one, goes to the log only).
func (rs *replicaSet) set(r *replica, state ReplicaState, lag time.Duration, measured bool, problem string, err error) {
	r.mu.Lock()
	prev, prevProblem := r.state, r.problem
	r.state, r.lag, r.measured, r.problem, r.checked = state, lag, measured, problem, time.Now()
	r.mu.Unlock()
	if state == prev && (state != ReplicaDown || problem == prevProblem) {
		return
	}
	attrs := []any{"replica", r.addr, "state", string(state)}
	if measured {
		attrs = append(attrs, "lag", lag.Round(time.Millisecond).String())
	}
	if err != nil {
		attrs = append(attrs, "error", redactErr(err, r.target))
	}
	if state == ReplicaServing {
		rs.log.Info("read replica "+r.addr+" serves reads", attrs...)
		return
	}
	rs.log.Warn("read replica "+r.addr+" "+problem+"; its reads go to the primary", attrs...)
}

// route publishes the replicas that serve reads.
func (rs *replicaSet) route() {
	var serving []*replica
	for _, r := range rs.list {
		r.mu.Lock()
		if r.state == ReplicaServing {
			serving = append(serving, r)
		}
		r.mu.Unlock()
	}
	rs.serving.Store(&serving)
}

// pick returns the next serving replica, or nil when none serves.
func (rs *replicaSet) pick() *replica {
	p := rs.serving.Load()
	if p == nil || len(*p) == 0 {
		return nil
	}
	l := *p
	return l[(rs.next.Add(1)-1)%uint64(len(l))]
}

// fallBack reports whether a read that failed on replica r with err should
// run on the primary instead: when the replica did not answer (it is then
// taken out of the rotation until the next check finds it well) or
// cancelled the read for a conflict with the WAL it replays. A read the
// caller gave up on is not retried.
func (rs *replicaSet) fallBack(ctx context.Context, r *replica, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	err = classify(err)
	switch {
	case errors.Is(err, mlops.ErrUnavailable):
		rs.set(r, ReplicaDown, 0, false, "does not answer", err)
		rs.route()
		return true
	case errors.Is(err, mlops.ErrConflict):
		return true
	}
	return false
}

// replicaQuerier runs reads on a replica, and on the primary when the
// replica fails them (see fallBack).
type replicaQuerier struct {
	r       *replica
	set     *replicaSet
	primary *sql.DB
}

func (q replicaQuerier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	rows, err := q.r.db.QueryContext(ctx, query, args...)
	if err != nil {
		if q.set.fallBack(ctx, q.r, err) {
			return q.primary.QueryContext(ctx, query, args...)
		}
		return nil, err
	}
	q.r.reads.Add(1)
	return rows, nil
}

func (q replicaQuerier) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	row := q.r.db.QueryRowContext(ctx, query, args...)
	if err := row.Err(); err != nil {
		if q.set.fallBack(ctx, q.r, err) {
			return q.primary.QueryRowContext(ctx, query, args...)
		}
		return row
	}
	q.r.reads.Add(1)
	return row
}

// ExecContext runs on the primary: a replica is read-only.
func (q replicaQuerier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return q.primary.ExecContext(ctx, query, args...)
}

// Replicas reports each read replica (DATABASE_REPLICA_URL) as the last
// check found it, in the order they were given; nil without replicas.
func (s *Store) Replicas() []ReplicaStatus {
	if s.replicas == nil {
		return nil
	}
	out := make([]ReplicaStatus, len(s.replicas.list))
	for i, r := range s.replicas.list {
		out[i] = r.status()
	}
	return out
}

// ReplicaMaxLag is how far behind a replica may be and still serve reads
// (0 without replicas).
func (s *Store) ReplicaMaxLag() time.Duration {
	if s.replicas == nil {
		return 0
	}
	return s.replicas.maxLag
}
