// Package storetest opens fresh, migrated databases for tests: a SQLite file
// in the test's temp dir, or a PostgreSQL schema of its own inside the
// database named by MLOPS_TEST_DATABASE_URL. Runs never interfere.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver

	"github.com/mlopsdev/mlops"
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

// EachURL runs fn as a subtest once per engine, each with the URL of a
// fresh, empty database: for tests that migrate it themselves, open more
// than one store on it, or hand it to a command.
func EachURL(t *testing.T, fn func(t *testing.T, url string)) {
	t.Helper()
	for _, engine := range Engines {
		t.Run(string(engine), func(t *testing.T) {
			fn(t, URL(t, engine))
		})
	}
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

// Clock is a settable clock to inject through store.Options.Now; it is
// safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock that reads start until it is set or advanced.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// EachClock runs fn as a subtest once per engine, each with a fresh store
// opened with opts and a clock of its own that starts at start.
func EachClock(t *testing.T, start time.Time, opts store.Options, fn func(t *testing.T, s *store.Store, c *Clock)) {
	t.Helper()
	for _, engine := range Engines {
		t.Run(string(engine), func(t *testing.T) {
			c := NewClock(start)
			opts := opts
			opts.Now = c.Now
			fn(t, Open(t, engine, opts), c)
		})
	}
}

// Model registers a minimal version of model name: algorithm "logreg" and
// the given feature names.
func Model(t testing.TB, s *store.Store, name, version string, features ...string) mlops.ModelVersion {
	t.Helper()
	m, err := s.ModelVersionCreate(context.Background(), mlops.NewModelVersion{ModelName: name, Version: version,
		Algorithm: "logreg", FeatureNames: features})
	if err != nil {
		t.Fatalf("register %s %s: %v", name, version, err)
	}
	return m
}

// EnableRules turns the monitoring rules of model name on, with the
// changes edit (when not nil) makes to its current settings.
func EnableRules(t testing.TB, s *store.Store, name string, edit func(*store.RuleSettings)) store.RuleSettings {
	t.Helper()
	r, err := s.RuleSettingsGet(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	r.Enabled = true
	if edit != nil {
		edit(&r)
	}
	r, err = s.RuleSettingsPut(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// OpenAlerts returns every active alert, then every acknowledged one.
func OpenAlerts(t testing.TB, s *store.Store) []mlops.Alert {
	t.Helper()
	var out []mlops.Alert
	for _, st := range []mlops.AlertStatus{mlops.AlertActive, mlops.AlertAcknowledged} {
		items, _, err := s.AlertList(context.Background(), store.AlertFilter{Status: st, Page: store.Page{Limit: -1}})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, items...)
	}
	return out
}

// Actions returns every agent action in status.
func Actions(t testing.TB, s *store.Store, status mlops.ActionStatus) []mlops.AgentAction {
	t.Helper()
	items, _, err := s.ActionList(context.Background(), store.ActionFilter{Status: status, Page: store.Page{Limit: -1}})
	if err != nil {
		t.Fatal(err)
	}
	return items
}

// DriftData logs a fixed set of predictions that drift: ten reference ones
// in the hour from start with x = 1..10, and ten current ones in the next
// hour with x = 1,1,1,1,3,5,7,9,9,9 (or shifted by shift). y is 5
// throughout; "name" and "flag" are not numbers; z appears only in the
// current window. It moves c to each prediction's time.
func DriftData(t testing.TB, s *store.Store, c *Clock, start time.Time, refModel, curModel int64, shift float64) {
	t.Helper()
	log := func(modelID int64, features string) {
		t.Helper()
		if _, err := s.PredictionCreate(context.Background(), mlops.NewPrediction{ModelID: modelID,
			Features: mlops.JSON(features)}); err != nil {
			t.Fatalf("log prediction: %v", err)
		}
	}
	for i := 1; i <= 10; i++ {
		c.Set(start.Add(time.Duration(i) * time.Minute))
		log(refModel, fmt.Sprintf(`{"x": %d, "y": 5, "name": "a", "flag": true}`, i))
	}
	for i, x := range []float64{1, 1, 1, 1, 3, 5, 7, 9, 9, 9} {
		c.Set(start.Add(time.Hour + time.Duration(i+1)*time.Minute))
		log(curModel, fmt.Sprintf(`{"x": %v, "y": 5, "z": 1.5, "name": "b"}`, x+shift))
	}
}

// LogBuffer is a bytes.Buffer safe for concurrent writers: a sink for the
// logs of a store or a server under test.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (w *LogBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// String returns what was written so far.
func (w *LogBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
