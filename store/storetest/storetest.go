// Package storetest opens fresh, migrated databases for tests: a SQLite file
// in the test's temp dir, or a PostgreSQL schema of its own inside the
// database named by MLOPS_TEST_DATABASE_URL. Runs never interfere.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver

	"github.com/mlopsdev/mlops/store"
)

// EnvURL names the PostgreSQL URL tests use.
const EnvURL = "MLOPS_TEST_DATABASE_URL"

// Engines lists the engines every behaviour test runs on.
var Engines = []store.Engine{store.SQLite, store.Postgres}

// PostgresURL returns MLOPS_TEST_DATABASE_URL. Without it the test skips,
// except under CI=true, where it fails: a PostgreSQL test must never
// silently not run in CI.
func PostgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set; CI must run the PostgreSQL tests (see .ci/run)", EnvURL)
		}
		t.Skipf("%s is not set; set it to a PostgreSQL URL to run the PostgreSQL half", EnvURL)
	}
	return u
}

// URL returns a database URL of a fresh, empty database for engine: a new
// SQLite file, or a new PostgreSQL schema dropped when the test ends.
func URL(t testing.TB, engine store.Engine) string {
	t.Helper()
	switch engine {
	case store.SQLite:
		return "sqlite:///" + filepath.Join(t.TempDir(), "mlops.db")
	case store.Postgres:
		return postgresSchemaURL(t, PostgresURL(t))
	}
	t.Fatalf("unknown engine %q", engine)
	return ""
}

func postgresSchemaURL(t testing.TB, base string) string {
	t.Helper()
	admin, err := sql.Open("pgx", normalize(base))
	if err != nil {
		t.Fatalf("open %s: %v", store.RedactURL(base), err)
	}
	t.Cleanup(func() { admin.Close() })
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("create schema in %s: %v (is PostgreSQL running? see .ci/run)", store.RedactURL(base), err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(normalize(base))
	if err != nil {
		t.Fatalf("parse %s: %v", store.RedactURL(base), err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// normalize turns SQLAlchemy-style schemes into one pgx accepts.
func normalize(raw string) string {
	t, err := store.ParseURL(raw)
	if err != nil || t.Engine != store.Postgres {
		return raw
	}
	return t.URL
}

// Open returns a migrated store on a fresh database of engine, closed when
// the test ends.
func Open(t testing.TB, engine store.Engine, opts store.Options) *store.Store {
	t.Helper()
	return OpenURL(t, URL(t, engine), opts)
}

// OpenURL opens and migrates the database at rawURL, closed when the test
// ends.
func OpenURL(t testing.TB, rawURL string, opts store.Options) *store.Store {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, rawURL, opts)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return s
}

// Each runs fn as a subtest once per engine, each with a fresh store.
func Each(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	for _, engine := range Engines {
		t.Run(string(engine), func(t *testing.T) {
			fn(t, Open(t, engine, store.Options{}))
		})
	}
}
