package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFS embed.FS

// MigrationTable is the table that records applied migrations.
const MigrationTable = "mlops_migrations"

// migrationLockID is the PostgreSQL advisory lock that serialises
// concurrent migrations from several processes.
const migrationLockID = 0x6d6c6f7073 // "mlops"

// Revision is one migration and whether it is applied.
type Revision struct {
	Version   int64
	Name      string
	Applied   bool
	AppliedAt time.Time
}

// Migrator applies the embedded migrations of the store's engine.
type Migrator struct {
	s *Store
	p *goose.Provider
}

func (s *Store) newProvider(db *sql.DB) (*goose.Provider, error) {
	sub, err := fs.Sub(migrationFS, "migrations/"+string(s.engine))
	if err != nil {
		return nil, err
	}
	dialect := goose.DialectSQLite3
	opts := []goose.ProviderOption{goose.WithTableName(MigrationTable), goose.WithDisableGlobalRegistry(true)}
	if s.engine == Postgres {
		dialect = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID), lock.WithLockTimeout(1, 600))
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	return goose.NewProvider(dialect, db, sub, opts...)
}

// Migrator returns the migrator of the store's database.
func (s *Store) Migrator() (*Migrator, error) {
	p, err := s.newProvider(s.wdb)
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return &Migrator{s: s, p: p}, nil
}

// Migrate applies every pending migration (mlops db init, serve).
func (s *Store) Migrate(ctx context.Context) error {
	m, err := s.Migrator()
	if err != nil {
		return err
	}
	_, err = m.Up(ctx, 0)
	return err
}

// withFileLock serialises migrations of one SQLite file across processes;
// PostgreSQL uses an advisory lock inside goose instead.
func (m *Migrator) withFileLock(fn func() error) error {
	if m.s.engine != SQLite || m.s.target.Path == ":memory:" {
		return fn()
	}
	f, err := os.OpenFile(m.s.target.Path+".migrate-lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("open migration lock file: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return fn()
}

// Up applies pending migrations up to version (0: the latest) and returns
// the versions it applied.
func (m *Migrator) Up(ctx context.Context, version int64) ([]int64, error) {
	var res []*goose.MigrationResult
	err := m.withFileLock(func() (err error) {
		if version == 0 {
			res, err = m.p.Up(ctx)
		} else {
			res, err = m.p.UpTo(ctx, version)
		}
		return err
	})
	return resultVersions(res), migrationErr(err)
}

// Down rolls back one migration, or every migration above version when
// version >= 0 (0 is base: every table dropped). It returns the versions it
// rolled back.
func (m *Migrator) Down(ctx context.Context, version int64) ([]int64, error) {
	var res []*goose.MigrationResult
	err := m.withFileLock(func() error {
		if version < 0 {
			r, err := m.p.Down(ctx)
			if r != nil {
				res = append(res, r)
			}
			return err
		}
		var err error
		res, err = m.p.DownTo(ctx, version)
		return err
	})
	return resultVersions(res), migrationErr(err)
}

func resultVersions(res []*goose.MigrationResult) []int64 {
	out := []int64{}
	for _, r := range res {
		if r != nil && r.Source != nil && r.Error == nil {
			out = append(out, r.Source.Version)
		}
	}
	return out
}

func migrationErr(err error) error {
	if err == nil || errors.Is(err, goose.ErrNoNextVersion) {
		return nil
	}
	if errors.Is(err, goose.ErrNoCurrentVersion) {
		return errors.New("the database is at base: there is nothing to roll back")
	}
	return classify(err)
}

// Current returns the version the database is at (0: base).
func (m *Migrator) Current(ctx context.Context) (int64, error) {
	v, err := m.p.GetDBVersion(ctx)
	return v, classify(err)
}

// Latest returns the newest embedded migration version.
func (m *Migrator) Latest() int64 {
	src := m.p.ListSources()
	if len(src) == 0 {
		return 0
	}
	return src[len(src)-1].Version
}

// Pending reports whether migrations remain to be applied.
func (m *Migrator) Pending(ctx context.Context) (bool, error) {
	ok, err := m.p.HasPending(ctx)
	return ok, classify(err)
}

// History lists every embedded migration, oldest first, marking the
// applied ones.
func (m *Migrator) History(ctx context.Context) ([]Revision, error) {
	st, err := m.p.Status(ctx)
	if err != nil {
		return nil, classify(err)
	}
	out := make([]Revision, 0, len(st))
	for _, s := range st {
		out = append(out, Revision{
			Version:   s.Source.Version,
			Name:      migrationName(s.Source.Path),
			Applied:   s.State == goose.StateApplied,
			AppliedAt: s.AppliedAt.UTC(),
		})
	}
	return out, nil
}

func migrationName(path string) string {
	base := strings.TrimSuffix(filepath.Base(path), ".sql")
	if _, rest, ok := strings.Cut(base, "_"); ok {
		return rest
	}
	return base
}

// ParseRevision reads a revision argument: a version number, "head" or
// "base".
func (m *Migrator) ParseRevision(rev string) (int64, error) {
	switch strings.ToLower(rev) {
	case "head", "heads", "latest":
		return m.Latest(), nil
	case "base":
		return 0, nil
	}
	v, err := strconv.ParseInt(rev, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("revision %q is not a migration number, head or base; see mlops migrate history", rev)
	}
	if v == 0 {
		return 0, nil
	}
	for _, s := range m.p.ListSources() {
		if s.Version == v {
			return v, nil
		}
	}
	return 0, fmt.Errorf("revision %d does not exist; see mlops migrate history", v)
}

// Check compares the live schema with the one the migrations produce at
// the database's current version and returns the differences (none: nil).
// Pending migrations are reported by Pending, not here.
func (m *Migrator) Check(ctx context.Context) ([]string, error) {
	cur, err := m.Current(ctx)
	if err != nil {
		return nil, err
	}
	live, err := dumpSchema(ctx, m.s.engine, m.s.wdb)
	if err != nil {
		return nil, fmt.Errorf("read live schema: %w", err)
	}
	want, err := m.s.referenceSchema(ctx, cur)
	if err != nil {
		return nil, fmt.Errorf("build reference schema: %w", err)
	}
	return diffSchemas(want, live), nil
}

// referenceSchema migrates a scratch database (SQLite in memory, or a
// temporary PostgreSQL schema) to version and dumps its schema.
func (s *Store) referenceSchema(ctx context.Context, version int64) (map[string]string, error) {
	var db *sql.DB
	var cleanup func()
	switch s.engine {
	case SQLite:
		d, err := sql.Open("sqlite", sqliteDSN(":memory:", fmt.Sprintf("mlops-check-%d-%d", os.Getpid(), memSeq.Add(1))))
		if err != nil {
			return nil, err
		}
		d.SetMaxOpenConns(1)
		db, cleanup = d, func() { d.Close() }
	case Postgres:
		schema := fmt.Sprintf("mlops_check_%d_%d", os.Getpid(), time.Now().UnixNano())
		if _, err := s.wdb.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
			return nil, classify(err)
		}
		cfg := s.pgConfig.Copy()
		cfg.RuntimeParams["search_path"] = schema
		d := stdlib.OpenDB(*cfg)
		d.SetMaxOpenConns(2)
		db = d
		cleanup = func() {
			d.Close()
			_, _ = s.wdb.ExecContext(context.WithoutCancel(ctx), `DROP SCHEMA `+schema+` CASCADE`)
		}
	}
	defer cleanup()
	p, err := s.newProvider(db)
	if err != nil {
		return nil, err
	}
	if version > 0 {
		if _, err := p.UpTo(ctx, version); err != nil {
			return nil, err
		}
	}
	if s.engine == Postgres && (s.Partitioned("predictions") || s.Partitioned("performance_metrics")) {
		// The live tables are partitioned: so is the reference.
		ref := &Store{engine: Postgres, target: s.target, rdb: db, wdb: db, now: s.now, log: s.log, parts: &partitionState{}}
		if err := ref.PartitionsMigrate(ctx, PartitionsMigrateOptions{}); err != nil {
			return nil, fmt.Errorf("partition the reference tables: %w", err)
		}
	}
	return dumpSchema(ctx, s.engine, db)
}

var spaces = regexp.MustCompile(`\s+`)

// partitionsSQL names the partitions of the current schema: they come and
// go with time (partitions.go), so the schema check compares only their
// parent tables.
const partitionsSQL = `SELECT relname::text FROM pg_class WHERE relispartition AND relnamespace = current_schema()::regnamespace`

// dumpSchema returns the schema objects of the current schema, keyed by a
// name such as "column predictions.features" and valued by their
// definition, with the schema name and whitespace normalised away.
func dumpSchema(ctx context.Context, engine Engine, db *sql.DB) (map[string]string, error) {
	var q string
	switch engine {
	case SQLite:
		q = `SELECT type || ' ' || name, coalesce(sql, '') FROM sqlite_schema
			WHERE name NOT LIKE 'sqlite_%' AND tbl_name <> '` + MigrationTable + `'`
	case Postgres:
		q = `SELECT 'column ' || table_name || '.' || column_name,
				data_type || ' nullable=' || is_nullable || ' default=' || coalesce(column_default, '')
			FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name <> '` + MigrationTable + `' AND table_name NOT IN (` + partitionsSQL + `)
			UNION ALL
			SELECT 'index ' || indexname, replace(indexdef, current_schema() || '.', '')
			FROM pg_indexes WHERE schemaname = current_schema() AND tablename <> '` + MigrationTable + `' AND tablename NOT IN (` + partitionsSQL + `)
			UNION ALL
			SELECT 'constraint ' || c.conrelid::regclass::text || '.' || c.conname, pg_get_constraintdef(c.oid)
			FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
			WHERE n.nspname = current_schema() AND c.conrelid::regclass::text <> '` + MigrationTable + `'
				AND c.conrelid::regclass::text NOT IN (` + partitionsSQL + `)`
	}
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[k] = strings.TrimSpace(spaces.ReplaceAllString(v, " "))
	}
	return out, rows.Err()
}

func diffSchemas(want, live map[string]string) []string {
	var out []string
	for k, w := range want {
		l, ok := live[k]
		switch {
		case !ok:
			out = append(out, "missing "+k)
		case l != w:
			out = append(out, fmt.Sprintf("changed %s: have %q, migrations produce %q", k, l, w))
		}
	}
	for k := range live {
		if _, ok := want[k]; !ok {
			out = append(out, "unexpected "+k+" (not created by any migration)")
		}
	}
	sort.Strings(out)
	return out
}

// CreateMigration writes a new, empty, numbered migration for every engine
// into dir (the source tree's store/migrations) and returns the paths.
func CreateMigration(dir, message string) ([]string, error) {
	slug := strings.Trim(regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(message), "_"), "_")
	if slug == "" {
		return nil, errors.New(`the migration message must contain letters or digits, as in: mlops migrate create "add index"`)
	}
	var next int64 = 1
	for _, engine := range []Engine{SQLite, Postgres} {
		entries, err := os.ReadDir(filepath.Join(dir, string(engine)))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w (run from the source tree, or pass --dir store/migrations)", filepath.Join(dir, string(engine)), err)
		}
		for _, e := range entries {
			num, _, _ := strings.Cut(e.Name(), "_")
			if v, err := strconv.ParseInt(num, 10, 64); err == nil && v >= next {
				next = v + 1
			}
		}
	}
	var paths []string
	for _, engine := range []Engine{SQLite, Postgres} {
		p := filepath.Join(dir, string(engine), fmt.Sprintf("%05d_%s.sql", next, slug))
		body := fmt.Sprintf("-- %s (%s)\n-- +goose Up\n\n-- +goose Down\n", message, engine)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return paths, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}
