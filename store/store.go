// Package store persists the mlops domain on SQLite (embedded, the default)
// or PostgreSQL, with the same behaviour on both: one *Store, plain SQL next
// to each method, invariants held by the database (a partial unique index for
// the active version, conditional updates for state transitions, foreign keys
// and CHECK constraints), and embedded migrations.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"go.opentelemetry.io/otel/trace"
	"modernc.org/sqlite" // also registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/mlopsdev/mlops"
)

// Options tune Open. The zero value is usable.
type Options struct {
	// PoolSize is the maximum number of open connections (PostgreSQL) or of
	// reader connections (SQLite, beside its one writer). Default 5.
	PoolSize int
	// Echo logs every SQL statement with its duration, at info level,
	// through Logger (DATABASE_ECHO). Argument values are never logged.
	Echo bool
	// Logger receives echo lines and warnings. Default: discard.
	Logger *slog.Logger
	// Now is the clock. Default time.Now. Times are stored in UTC, truncated
	// to microseconds so both engines round-trip them exactly.
	Now func() time.Time
	// ConnectTimeout bounds establishing a PostgreSQL connection, so an
	// unreachable server yields ErrUnavailable instead of a hang. Default 5s.
	ConnectTimeout time.Duration
	// Approvals is how actions are decided: two-person risk levels and the
	// expiry of pending actions. The zero value: one approval, no expiry.
	Approvals mlops.ApprovalPolicy
	// TracerProvider, when set, gives the statements of traced requests
	// spans (see trace.go). Nil: nothing is installed.
	TracerProvider trace.TracerProvider
	// Replicas are the URLs of PostgreSQL streaming replicas of the
	// primary (DATABASE_REPLICA_URL). Reads that may be slightly stale go
	// to one whose lag is under ReplicaMaxLag, else to the primary; see
	// replica.go. PostgreSQL only: Open refuses them on SQLite.
	Replicas []string
	// ReplicaMaxLag is how far behind the primary a replica may be and
	// still serve reads (MLOPS_REPLICA_MAX_LAG). Default
	// DefaultReplicaMaxLag; at least MinReplicaMaxLag.
	ReplicaMaxLag time.Duration
}

// Store is the mlops persistence layer. It is safe for concurrent use. A
// Store handed to an InTx callback is bound to that transaction.
type Store struct {
	engine   Engine
	target   Target
	rdb      *sql.DB   // reads
	wdb      *sql.DB   // writes; on PostgreSQL the same pool as rdb
	tx       *sql.Tx   // set inside InTx
	conn     *sql.Conn // the connection tx runs on (for COPY)
	now      func() time.Time
	log      *slog.Logger
	echo     bool
	pgConfig *pgx.ConnConfig
	policy   mlops.ApprovalPolicy
	noAudit  bool // the benchmarks' baseline only (export_test.go)
	// noRollups skips the metric rollups: the benchmarks' baseline only
	// (export_test.go).
	noRollups bool
	// auditPrep and metricPrep: the statements of an audit event and of a
	// single metric point, prepared on the SQLite writer (only their text
	// is used on PostgreSQL, whose driver caches statements by text).
	auditPrep, metricPrep *prepared
	// replicas route the reads that may be slightly stale (nil without
	// replicas).
	replicas *replicaSet
	tracer   trace.Tracer // nil unless Options.TracerProvider is set
	// parts is the layout of the partitionable tables (partitions.go),
	// shared with the transaction-bound copies.
	parts *partitionState
}

var memSeq atomic.Int64

// Open connects to the database named by rawURL (see ParseURL). It does not
// run migrations; see Migrator.
func Open(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	t, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if opts.PoolSize <= 0 {
		opts.PoolSize = 5
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 5 * time.Second
	}
	if len(opts.Replicas) > 0 && t.Engine != Postgres {
		return nil, errors.New("DATABASE_REPLICA_URL is set but DATABASE_URL is an SQLite database: read replicas are a PostgreSQL feature; unset DATABASE_REPLICA_URL")
	}
	s := &Store{engine: t.Engine, target: t, now: opts.Now, log: opts.Logger, echo: opts.Echo, policy: opts.Approvals,
		auditPrep:  newPrepared(auditInsertSQL, auditHeadSQL, auditMoveSQL),
		metricPrep: newPrepared(metricInsertSQLFor(t.Engine), upsertRollupSQL(t.Engine, minuteRollups, 1), upsertRollupSQL(t.Engine, hourRollups, 1)),
		parts:      &partitionState{}}
	if opts.TracerProvider != nil {
		s.tracer = opts.TracerProvider.Tracer(tracerName)
	}
	switch t.Engine {
	case SQLite:
		err = s.openSQLite(opts)
	case Postgres:
		err = s.openPostgres(opts)
	}
	if err != nil {
		return nil, err
	}
	if err := s.pingOpen(ctx); err != nil {
		s.Close()
		if t.Engine == SQLite && t.Path != ":memory:" {
			return nil, sqliteOpenError(t.Path, err)
		}
		return nil, fmt.Errorf("connect to %s: %w", t.Redacted, err)
	}
	if err := s.loadPartitions(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("read the partition layout of %s: %w", t.Redacted, err)
	}
	if len(opts.Replicas) > 0 {
		if err := s.openReplicas(ctx, opts); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// pingOpen is Ping for Open. When several processes open a new SQLite file
// at once, the switch to WAL fails with SQLITE_BUSY without waiting for
// busy_timeout; Open retries that for up to 10 s instead of failing.
func (s *Store) pingOpen(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := s.rdb.PingContext(ctx)
		if err == nil || !isSQLiteBusy(err) || time.Now().After(deadline) {
			return classify(err)
		}
		select {
		case <-ctx.Done():
			return classify(err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (s *Store) openSQLite(opts Options) error {
	if s.target.Path == ":memory:" {
		// One connection shared by readers and the writer: every connection
		// to :memory: would otherwise be a database of its own.
		db, err := sql.Open("sqlite", sqliteDSN(":memory:", fmt.Sprintf("mlops-mem-%d-%d", os.Getpid(), memSeq.Add(1))))
		if err != nil {
			return err
		}
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
		s.rdb, s.wdb = db, db
		return nil
	}
	if err := sqliteFileProblem(s.target.Path); err != nil {
		return err
	}
	dsn := sqliteDSN(s.target.Path, "")
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		return err
	}
	// SQLite has one writer at a time: one connection serialises writes in
	// Go instead of in busy-wait loops.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	r, err := sql.Open("sqlite", dsn)
	if err != nil {
		w.Close()
		return err
	}
	r.SetMaxOpenConns(opts.PoolSize)
	r.SetMaxIdleConns(opts.PoolSize)
	s.rdb, s.wdb = r, w
	return nil
}

// sqliteOpenError explains why the driver could not open the SQLite file
// at path. Its own text for most causes, "unable to open database file
// (14)" (on some systems "out of memory (14)"), names neither the file nor
// the cause.
func sqliteOpenError(path string, err error) error {
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) && sqErr.Code()&0xff == sqlite3.SQLITE_NOTADB {
		return fmt.Errorf("the file %s is not an SQLite database (another kind of file, or a damaged one): point DATABASE_URL at the database file", showPath(path))
	}
	if problem := sqliteFileProblem(path); problem != nil {
		return problem
	}
	return fmt.Errorf("open the SQLite database %s: %w", showPath(path), err)
}

// sqliteFileProblem says what keeps the SQLite file at path from being
// opened for reading and writing, or returns nil when nothing visibly does.
// It only looks: opening the file and closing it again would release the
// locks other connections of this process hold on it (POSIX locks belong to
// the process, not to a descriptor).
func sqliteFileProblem(path string) error {
	dir := filepath.Dir(path)
	const elsewhere = "point DATABASE_URL at another file"
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("the folder %s does not exist: create it (mkdir -p %s) or %s", showPath(dir), shellQuote(dir), elsewhere)
	case errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("the folder %s does not exist (part of its path is a file): %s", showPath(dir), elsewhere)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("the folder %s cannot be reached by this user (uid %d): a folder above it is not searchable; change its mode or %s", showPath(dir), os.Geteuid(), elsewhere)
	case err != nil:
		return fmt.Errorf("the folder %s cannot be used: %v; %s", showPath(dir), pathErrCause(err), elsewhere)
	case !fi.IsDir():
		return fmt.Errorf("%s is a file, not a folder: %s", showPath(dir), elsewhere)
	}
	fi, err = os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// The driver creates it; the folder must be writable (below).
	case err != nil:
		return fmt.Errorf("the database file %s cannot be used: %v; %s", showPath(path), pathErrCause(err), elsewhere)
	case fi.IsDir():
		return fmt.Errorf("%s is a folder, not a database file: %s", showPath(path), elsewhere)
	default:
		if err := accessWrite(path); err != nil {
			return notWritable("the database file "+showPath(path), err, "change its owner or mode, or "+elsewhere)
		}
		if _, err := os.Stat(path + "-wal"); err == nil {
			if _, err := os.Stat(path + "-shm"); err == nil {
				return nil // nothing left to create in the folder
			}
		}
	}
	// SQLite creates the database (when missing) and its -wal and -shm
	// files in the folder.
	if err := accessWrite(dir); err != nil {
		return notWritable("the folder "+showPath(dir), err, "SQLite creates files there (the database, its -wal and -shm); change the folder's owner or mode, or "+elsewhere)
	}
	return nil
}

// accessWrite asks the kernel whether this process may write to path,
// without opening it (see sqliteFileProblem).
func accessWrite(path string) error {
	const wOK = 2 // W_OK of access(2)
	return syscall.Access(path, wOK)
}

// notWritable explains a failed accessWrite of what.
func notWritable(what string, err error, hint string) error {
	switch {
	case errors.Is(err, syscall.EROFS):
		return fmt.Errorf("%s is on a read-only file system: %s", what, hint)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%s is not writable by this user (uid %d): %s", what, os.Geteuid(), hint)
	default:
		return fmt.Errorf("%s cannot be written (%v): %s", what, err, hint)
	}
}

// pathErrCause drops the operation and path a *fs.PathError repeats.
func pathErrCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// showPath names a path in a message: as DATABASE_URL has it, followed by
// where that is when it is relative (sqlite:///x.db is relative to the
// working directory, sqlite:////x.db is absolute).
func showPath(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	if p == "." {
		return abs
	}
	return p + " (" + abs + ")"
}

// shellQuote quotes p for a command line when it needs quoting.
func shellQuote(p string) string {
	if p != "" && strings.Trim(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+=:,@") == "" {
		return p
	}
	return "'" + strings.ReplaceAll(p, "'", `'\''`) + "'"
}

func (s *Store) openPostgres(opts Options) error {
	cfg, err := pgx.ParseConfig(s.target.URL)
	if err != nil {
		return fmt.Errorf("DATABASE_URL %s is not a valid PostgreSQL URL: %s", s.target.Redacted, redactErr(err, s.target))
	}
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > opts.ConnectTimeout {
		cfg.ConnectTimeout = opts.ConnectTimeout
	}
	if opts.TracerProvider != nil {
		cfg.Tracer = newPGTracer(opts.TracerProvider)
	}
	s.pgConfig = cfg
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(opts.PoolSize)
	db.SetMaxIdleConns(opts.PoolSize)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s.rdb, s.wdb = db, db
	return nil
}

// Engine reports which database engine the store runs on.
func (s *Store) Engine() Engine { return s.engine }

// Redacted is the database URL with its password hidden.
func (s *Store) Redacted() string { return s.target.Redacted }

// DB returns the underlying pool used for reads (for health checks and
// metrics). On SQLite writes go through a separate one-connection pool.
func (s *Store) DB() *sql.DB { return s.rdb }

// Stats returns the connection pool statistics of the read and write pools
// (the same pool on PostgreSQL).
func (s *Store) Stats() (read, write sql.DBStats) { return s.rdb.Stats(), s.wdb.Stats() }

// Close closes the connection pools.
func (s *Store) Close() error {
	if s.tx != nil {
		return errors.New("store: Close called on a transaction-bound store")
	}
	var err error
	if s.replicas != nil {
		err = s.replicas.close()
	}
	err = errors.Join(err, s.rdb.Close())
	if s.wdb != s.rdb {
		err = errors.Join(err, s.wdb.Close())
	}
	return err
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.PingContext(ctx); err != nil {
		return classify(err)
	}
	return nil
}

// Now returns the store's clock reading in UTC, truncated to microseconds.
func (s *Store) Now() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// InTx runs fn in one transaction with a copy of the store bound to it:
// every method called on tx takes part. It commits when fn returns nil and
// rolls back when fn returns an error or panics (the seed's get_session()).
// Nested calls join the outer transaction.
func (s *Store) InTx(ctx context.Context, fn func(tx *Store) error) (err error) {
	if s.tx != nil {
		return fn(s)
	}
	if s.engine == SQLite && !s.echo {
		s.auditPrep.prepare(ctx, s.wdb)
		s.metricPrep.prepare(ctx, s.wdb)
	}
	// A dedicated connection lets bulk paths reach the driver (COPY) inside
	// the same transaction.
	conn, err := s.wdb.Conn(ctx)
	if err != nil {
		return classify(err)
	}
	defer conn.Close()
	sqlTx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return classify(err)
	}
	txs := *s
	txs.tx = sqlTx
	txs.conn = conn
	defer func() {
		if p := recover(); p != nil {
			_ = sqlTx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = sqlTx.Rollback()
			return
		}
		if cerr := sqlTx.Commit(); cerr != nil {
			err = classify(cerr)
		}
	}()
	return fn(&txs)
}

// txConnRaw runs fn with the pgx connection of the store's transaction.
func (s *Store) txConnRaw(ctx context.Context, fn func(*pgx.Conn) error) error {
	if s.conn == nil {
		return errors.New("store: no transaction connection")
	}
	return s.conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("store: COPY needs a pgx connection, got %T", dc)
		}
		return fn(c.Conn())
	})
}

// querier is what *sql.DB, *sql.Tx and *sql.Conn have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// reader returns what reads that may be slightly stale run on: lists,
// reports, summaries and series. Inside a transaction that is the
// transaction; else a replica within the lag limit when one serves, else
// the primary (see replica.go). A read whose answer must include the
// caller's own latest writes uses primary.
func (s *Store) reader() querier {
	if s.tx == nil && s.replicas != nil {
		if r := s.replicas.pick(); r != nil {
			return s.wrap(replicaQuerier{r: r, set: s.replicas, primary: s.rdb})
		}
	}
	return s.wrap(s.rdbOrTx())
}

// primary returns what reads that must see every committed write run on:
// a record by its id or name (the answer after a change), what
// authentication and the background loops decide on. On SQLite it is the
// reader pool, which always sees the latest commit.
func (s *Store) primary() querier { return s.wrap(s.rdbOrTx()) }

// writer returns what single-statement writes run on.
func (s *Store) writer() querier {
	if s.tx != nil {
		return s.wrap(s.tx)
	}
	return s.wrap(s.wdb)
}

func (s *Store) rdbOrTx() querier {
	if s.tx != nil {
		return s.tx
	}
	return s.rdb
}

func (s *Store) wrap(q querier) querier {
	if s.tracer != nil && s.engine == SQLite {
		q = tracedQuerier{q: q, t: s.tracer}
	}
	if !s.echo {
		return q
	}
	return echoQuerier{q: q, log: s.log}
}

// echoQuerier logs each statement and its duration (DATABASE_ECHO). It logs
// the SQL text and the number of arguments, never their values.
type echoQuerier struct {
	q   querier
	log *slog.Logger
}

func (e echoQuerier) done(ctx context.Context, query string, n int, start time.Time, err error) {
	attrs := []any{"sql", query, "args", n, "duration", time.Since(start)}
	if err != nil {
		attrs = append(attrs, "error", err.Error())
	}
	e.log.InfoContext(ctx, "sql", attrs...)
}

func (e echoQuerier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	start := time.Now()
	r, err := e.q.ExecContext(ctx, query, args...)
	e.done(ctx, query, len(args), start, err)
	return r, err
}

func (e echoQuerier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	start := time.Now()
	r, err := e.q.QueryContext(ctx, query, args...)
	e.done(ctx, query, len(args), start, err)
	return r, err
}

func (e echoQuerier) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	start := time.Now()
	r := e.q.QueryRowContext(ctx, query, args...)
	e.done(ctx, query, len(args), start, r.Err())
	return r
}
