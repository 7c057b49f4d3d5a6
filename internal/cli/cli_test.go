package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// run executes the CLI in-process with DATABASE_URL set to dbURL.
func run(t *testing.T, dbURL string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := map[string]string{"DATABASE_URL": dbURL}
	code = Run(context.Background(), args, func(k string) string { return env[k] }, &out, &errb)
	return code, out.String(), errb.String()
}

func TestMigrateCommands(t *testing.T) {
	storetest.EachURL(t, func(t *testing.T, url string) {
		code, out, errs := run(t, url, "migrate", "check")
		if code == 0 || !strings.Contains(errs, "pending") {
			t.Fatalf("check on an empty database: code %d, stderr %q; want non-zero naming pending migrations", code, errs)
		}
		if code, out, errs = run(t, url, "db", "init"); code != 0 || !strings.Contains(out, "applied") {
			t.Fatalf("db init: code %d out %q err %q", code, out, errs)
		}
		if code, out, _ = run(t, url, "db", "init"); code != 0 || !strings.Contains(out, "already initialised") {
			t.Fatalf("second db init: code %d out %q; want idempotent", code, out)
		}
		if code, out, _ = run(t, url, "migrate", "current"); code != 0 || !strings.Contains(out, "(head)") {
			t.Fatalf("current: code %d out %q", code, out)
		}
		if code, out, _ = run(t, url, "migrate", "history"); code != 0 || !strings.Contains(out, "[x] 00001 initial_schema") {
			t.Fatalf("history: code %d out %q", code, out)
		}
		if code, out, errs = run(t, url, "migrate", "check"); code != 0 || !strings.Contains(out, "ok:") {
			t.Fatalf("check on a migrated database: code %d out %q err %q", code, out, errs)
		}
		if code, out, errs = run(t, url, "migrate", "downgrade", "base"); code != 0 || !strings.Contains(out, "now at revision 0") {
			t.Fatalf("downgrade base: code %d out %q err %q", code, out, errs)
		}
		if code, out, _ = run(t, url, "migrate", "history"); code != 0 || !strings.Contains(out, "[ ] 00001") {
			t.Fatalf("history after downgrade: %q", out)
		}
		if code, _, errs = run(t, url, "migrate", "upgrade", "999"); code == 0 || !strings.Contains(errs, "does not exist") {
			t.Fatalf("upgrade to a missing revision: code %d err %q", code, errs)
		}
		if code, out, errs = run(t, url, "migrate", "upgrade", "head"); code != 0 || !strings.Contains(out, "applied 00001") {
			t.Fatalf("upgrade head: code %d out %q err %q", code, out, errs)
		}

		// A column added by hand is caught by check.
		s := storetest.OpenURL(t, url, store.Options{})
		if _, err := s.DB().Exec(`ALTER TABLE alerts ADD COLUMN sneaky INTEGER`); err != nil {
			t.Fatal(err)
		}
		code, out, errs = run(t, url, "migrate", "check")
		if code == 0 || !strings.Contains(out, "sneaky") || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Fatalf("check after manual change: code %d out %q err %q; want non-zero naming the column, one error line", code, out, errs)
		}
	})
}

func TestPrune(t *testing.T) {
	storetest.EachURL(t, func(t *testing.T, url string) {
		clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		s := storetest.OpenURL(t, url, store.Options{Now: func() time.Time { return clock }})
		ctx := context.Background()
		m, err := s.ModelVersionCreate(ctx, mlops.NewModelVersion{ModelName: "m", Version: "1", Algorithm: "rf"})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 7; i++ { // old rows, created on 2026-01-01
			if _, err := s.PredictionCreate(ctx, mlops.NewPrediction{ModelID: m.ID, Prediction: 1}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.MetricCreate(ctx, mlops.NewPerformanceMetric{MetricName: "x", MetricValue: 1}); err != nil {
			t.Fatal(err)
		}
		old, err := s.AlertCreate(ctx, mlops.NewAlert{AlertType: "t", Severity: "low", Title: "old, resolved"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.AlertResolve(ctx, old.ID, "ann", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AlertCreate(ctx, mlops.NewAlert{AlertType: "t", Severity: "low", Title: "old, still active"}); err != nil {
			t.Fatal(err)
		}
		clock = time.Now().UTC()
		if _, err := s.PredictionCreate(ctx, mlops.NewPrediction{ModelID: m.ID, Prediction: 0}); err != nil {
			t.Fatal(err)
		}

		code, out, errs := run(t, url, "prune", "--older-than", "30d", "--what", "predictions,metrics,alerts", "--dry-run")
		if code != 0 || !strings.Contains(out, "predictions: 7 would be deleted") || !strings.Contains(out, "alerts: 1 would be deleted") ||
			!strings.Contains(out, "total: 9 would be deleted") {
			t.Fatalf("prune --dry-run: code %d out %q err %q", code, out, errs)
		}
		var left int
		if err := s.DB().QueryRow(`SELECT count(*) FROM predictions`).Scan(&left); err != nil || left != 8 {
			t.Fatalf("after --dry-run %d predictions, %v; want all 8", left, err)
		}

		code, out, errs = run(t, url, "prune", "--older-than", "30d", "--what", "predictions,metrics,alerts", "--batch", "3")
		if code != 0 {
			t.Fatalf("prune: code %d err %q", code, errs)
		}
		for _, want := range []string{"predictions: 7 deleted", "metrics: 1 deleted", "alerts: 1 deleted", "total: 9 deleted", "predictions: 6 deleted so far"} {
			if !strings.Contains(out, want) {
				t.Errorf("prune output lacks %q:\n%s", want, out)
			}
		}
		count := func(q string) int {
			var n int
			if err := s.DB().QueryRow(q).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := count(`SELECT count(*) FROM predictions`); n != 1 {
			t.Errorf("predictions left: %d, want the 1 recent one", n)
		}
		if n := count(`SELECT count(*) FROM alerts WHERE status = 'active'`); n != 1 {
			t.Errorf("active alerts left: %d, want 1 (prune keeps open alerts)", n)
		}
	})
}

func TestErrorsAreOneLineWithoutSecrets(t *testing.T) {
	code, _, errs := run(t, "postgresql+psycopg2://mlops:hunter2@127.0.0.1:1/mlops", "migrate", "current")
	if code == 0 {
		t.Fatal("want failure for an unreachable database")
	}
	if strings.Contains(errs, "hunter2") {
		t.Errorf("stderr leaks the password: %q", errs)
	}
	if strings.Count(errs, "\n") != 1 || !strings.HasPrefix(errs, "mlops: ") {
		t.Errorf("want exactly one line starting with mlops:, got %q", errs)
	}
	if !strings.Contains(errs, "pg_isready") {
		t.Errorf("want a hint on what to do, got %q", errs)
	}
	if i := strings.Index(errs, "connection refused"); i >= 0 && strings.Contains(errs[i+1:], "connection refused") {
		t.Errorf("the same error text twice in one line: %q", errs)
	}
	// SQLite: the message names the missing folder, and no PostgreSQL hint.
	code, _, errs = run(t, "sqlite:///"+t.TempDir()+"/missing/x.db", "migrate", "current")
	if code == 0 || !strings.Contains(errs, "does not exist") || strings.Contains(errs, "pg_isready") {
		t.Errorf("SQLite in a missing folder: code %d, %q", code, errs)
	}

	if code, _, errs = run(t, "sqlite:///:memory:", "no-such-command"); code != 2 || !strings.Contains(errs, "unknown command") {
		t.Errorf("unknown command: code %d err %q", code, errs)
	}
	if code, _, errs = run(t, "sqlite:///:memory:", "prune"); code != 2 || !strings.Contains(errs, "--older-than") {
		t.Errorf("prune without --older-than: code %d err %q", code, errs)
	}
	if code, _, errs = run(t, "mysql://x", "migrate", "current"); code != 1 || !strings.Contains(errs, "not supported") {
		t.Errorf("unsupported scheme: code %d err %q", code, errs)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := run(t, "sqlite:///:memory:", "version")
	if code != 0 || !strings.Contains(out, "mlops dev") || !strings.Contains(out, "go1.") {
		t.Fatalf("version: code %d out %q", code, out)
	}
	if code, out2, _ := run(t, "sqlite:///:memory:", "--version"); code != 0 || out2 != out {
		t.Fatalf("--version: code %d out %q, want %q", code, out2, out)
	}
}

func TestCommandHelp(t *testing.T) {
	code, out, _ := run(t, "sqlite:///:memory:", "migrate")
	if code != 0 || !strings.Contains(out, "mlops migrate upgrade") || !strings.Contains(out, "mlops migrate check") || strings.Contains(out, "mlops prune") {
		t.Fatalf("migrate alone: code %d out %q; want its subcommands", code, out)
	}
	for typed, want := range map[string]string{"serv": "serve", "migrate upgrde": "migrate upgrade", "tokn list": "token list"} {
		code, _, errs := run(t, "sqlite:///:memory:", strings.Fields(typed)...)
		if code != 2 || !strings.Contains(errs, "did you mean mlops "+want+"?") {
			t.Errorf("%s: code %d stderr %q; want a suggestion of %s", typed, code, errs, want)
		}
	}
	if _, _, errs := run(t, "sqlite:///:memory:", "frobnicate"); strings.Contains(errs, "did you mean") {
		t.Errorf("frobnicate: %q suggests a command although none is near", errs)
	}
}

func TestParseAge(t *testing.T) {
	day := 24 * time.Hour
	cases := map[string]time.Duration{"90d": 90 * day, "36h": 36 * time.Hour, "1d12h": 36 * time.Hour, "30min": 30 * time.Minute,
		"45s": 45 * time.Second, "2w": 14 * day, "6mo": 180 * day, "1mo2w3d": 47 * day, " 7d ": 7 * day}
	for in, want := range cases {
		got, err := ParseAge(in)
		if err != nil || got != want {
			t.Errorf("ParseAge(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0d", "-1d", "d", "ten days", "5x", "5", "1d5", "1h30", "99999999999999999999d", "200000w"} {
		if _, err := ParseAge(bad); err == nil {
			t.Errorf("ParseAge(%q) succeeded; want an error", bad)
		}
	}
	_, err := ParseAge("30m")
	if err == nil || !strings.Contains(err.Error(), "30min") || !strings.Contains(err.Error(), "30mo") {
		t.Errorf("ParseAge(30m) = %v; want a refusal naming 30min and 30mo", err)
	}
}

func TestDatabaseURLForms(t *testing.T) {
	cases := []struct {
		in     string
		engine store.Engine
		path   string
	}{
		{"sqlite:///./x.db", store.SQLite, "./x.db"},
		{"sqlite:////abs/x.db", store.SQLite, "/abs/x.db"},
		{"sqlite:///:memory:", store.SQLite, ":memory:"},
		{"postgresql://u:p@h:5432/db", store.Postgres, ""},
		{"postgres://u@h/db", store.Postgres, ""},
		{"postgresql+psycopg2://u:p@h:5432/db", store.Postgres, ""},
	}
	for _, c := range cases {
		got, err := store.ParseURL(c.in)
		if err != nil || got.Engine != c.engine || got.Path != c.path {
			t.Errorf("ParseURL(%q) = %+v, %v", c.in, got, err)
		}
		if strings.Contains(got.Redacted, ":p@") {
			t.Errorf("Redacted(%q) = %q still shows the password", c.in, got.Redacted)
		}
	}
	// The memory form really works and keeps its data across calls.
	s, err := store.Open(context.Background(), "sqlite:///:memory:", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ModelVersionCreate(context.Background(), mlops.NewModelVersion{ModelName: "m", Version: "1", Algorithm: "rf"}); err != nil {
		t.Fatalf("write to the memory database: %v", err)
	}
	var n int
	if err := s.DB().QueryRow(`SELECT count(*) FROM model_versions`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("the memory database holds %d versions (%v), want the 1 written: it lost its tables or rows", n, err)
	}
	for _, in := range []string{"postgresql://u:p@h:5432/db", "postgresql+psycopg2://u:p@h:5432/db"} {
		if got, _ := store.ParseURL(in); !strings.HasPrefix(got.URL, "postgres://u:p@h:5432/db") {
			t.Errorf("ParseURL(%q).URL = %q, want the postgres:// form pgx reads", in, got.URL)
		}
	}
}
