package store_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// openRaw opens a fresh, NOT migrated database of engine.
func openRaw(t *testing.T, engine store.Engine) (*store.Store, string) {
	t.Helper()
	url := storetest.URL(t, engine)
	s, err := store.Open(t.Context(), url, store.Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, url
}

func migrator(t *testing.T, s *store.Store) *store.Migrator {
	t.Helper()
	m, err := s.Migrator()
	must(t, err)
	return m
}

// existing returns which of the seed's tables exist in the store's schema.
func existing(t *testing.T, s *store.Store) []string {
	t.Helper()
	q := `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = $1`
	if s.Engine() == store.Postgres {
		q = `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1`
	}
	out := []string{}
	for _, tb := range tables {
		var n int
		if err := s.DB().QueryRowContext(t.Context(), q, tb).Scan(&n); err != nil {
			t.Fatalf("look for table %s: %v", tb, err)
		}
		if n == 1 {
			out = append(out, tb)
		}
	}
	return out
}

func wantVersion(t *testing.T, m *store.Migrator, want int64, pending bool) {
	t.Helper()
	cur, err := m.Current(t.Context())
	must(t, err)
	p, err := m.Pending(t.Context())
	must(t, err)
	if cur != want || p != pending {
		t.Fatalf("version %d pending %v, want %d pending %v", cur, p, want, pending)
	}
}

func allVersions(m *store.Migrator) []int64 {
	var out []int64
	for v := int64(1); v <= m.Latest(); v++ {
		out = append(out, v)
	}
	return out
}

// TestMigrateUpDownUp runs upgrade → downgrade to base → upgrade on a fresh
// database of each engine, checking the tables, the version, Pending and
// Check at each step.
func TestMigrateUpDownUp(t *testing.T) {
	t.Parallel()
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := t.Context()
			s, _ := openRaw(t, engine)
			m := migrator(t, s)
			if m.Latest() < 1 {
				t.Fatalf("no embedded migrations")
			}
			if got := existing(t, s); len(got) != 0 {
				t.Fatalf("fresh database has tables %v", got)
			}
			wantVersion(t, m, 0, true)

			applied, err := m.Up(ctx, 0)
			must(t, err)
			if !slices.Equal(applied, allVersions(m)) {
				t.Fatalf("Up applied %v, want %v", applied, allVersions(m))
			}
			wantVersion(t, m, m.Latest(), false)
			if got := existing(t, s); !slices.Equal(got, tables) {
				t.Fatalf("after upgrade: tables %v, want %v", got, tables)
			}
			diff, err := m.Check(ctx)
			must(t, err)
			if len(diff) != 0 {
				t.Fatalf("Check on a freshly migrated database: %v", diff)
			}
			again, err := m.Up(ctx, 0)
			must(t, err)
			if len(again) != 0 {
				t.Fatalf("second Up applied %v, want nothing", again)
			}
			mustModel(t, s, "churn", "v1")

			rolled, err := m.Down(ctx, 0)
			must(t, err)
			want := allVersions(m)
			slices.Reverse(want)
			if !slices.Equal(rolled, want) {
				t.Fatalf("Down to base rolled back %v, want %v (newest first)", rolled, want)
			}
			wantVersion(t, m, 0, true)
			if got := existing(t, s); len(got) != 0 {
				t.Fatalf("after downgrade to base: tables %v remain", got)
			}
			hist, err := m.History(ctx)
			must(t, err)
			for _, r := range hist {
				if r.Applied {
					t.Fatalf("revision %d still applied at base", r.Version)
				}
			}
			// At base, rolling back is a no-op (the CLI prints "now at revision 0").
			if rolled, err := m.Down(ctx, -1); err != nil || len(rolled) != 0 {
				t.Fatalf("one step down at base: rolled back %v, %v; want nothing and no error", rolled, err)
			}

			_, err = m.Up(ctx, 0)
			must(t, err)
			wantVersion(t, m, m.Latest(), false)
			if got := existing(t, s); !slices.Equal(got, tables) {
				t.Fatalf("after re-upgrade: tables %v", got)
			}
			if n := count(t, s, "model_versions"); n != 0 {
				t.Fatalf("data survived the downgrade to base: %d model versions", n)
			}
			diff, err = m.Check(ctx)
			must(t, err)
			if len(diff) != 0 {
				t.Fatalf("Check after up/down/up: %v", diff)
			}
			hist, err = m.History(ctx)
			must(t, err)
			if len(hist) != int(m.Latest()) {
				t.Fatalf("history has %d revisions, want %d", len(hist), m.Latest())
			}
			for _, r := range hist {
				if !r.Applied || r.Name == "" || r.AppliedAt.IsZero() {
					t.Fatalf("revision after upgrade: %+v", r)
				}
			}
			mustModel(t, s, "churn", "v1") // the store works on the re-created schema
		})
	}
}

// TestMigrateCheck checks that Check finds a column added by hand and an
// index dropped by hand, and that Pending is true after a one-step Down.
func TestMigrateCheck(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		m := migrator(t, s)
		diff, err := m.Check(ctx)
		must(t, err)
		if len(diff) != 0 {
			t.Fatalf("clean database: %v", diff)
		}
		if _, err := s.DB().ExecContext(ctx, `ALTER TABLE predictions ADD COLUMN x INTEGER`); err != nil {
			t.Fatal(err)
		}
		diff, err = m.Check(ctx)
		must(t, err)
		if !mentions(diff, "predictions") {
			t.Fatalf("Check after ALTER TABLE predictions ADD COLUMN x: %v, want a difference on predictions", diff)
		}
		if _, err := s.DB().ExecContext(ctx, `ALTER TABLE predictions DROP COLUMN x`); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DB().ExecContext(ctx, `DROP INDEX ix_predictions_created`); err != nil {
			t.Fatal(err)
		}
		diff, err = m.Check(ctx)
		must(t, err)
		if !mentions(diff, "ix_predictions_created") {
			t.Fatalf("Check after DROP INDEX: %v, want the missing index", diff)
		}
		if _, err := s.DB().ExecContext(ctx, `CREATE INDEX ix_predictions_created ON predictions (created_at)`); err != nil {
			t.Fatal(err)
		}
		// SQLite keeps the ALTERed table's text; PostgreSQL's catalog is
		// exact. Either way the index is back.
		diff, err = m.Check(ctx)
		must(t, err)
		if mentions(diff, "ix_predictions_created") {
			t.Fatalf("index restored but Check still reports it: %v", diff)
		}

		wantVersion(t, m, m.Latest(), false)
		_, err = m.Down(ctx, -1)
		must(t, err)
		wantVersion(t, m, m.Latest()-1, true)
	})
}

func mentions(diff []string, word string) bool {
	for _, d := range diff {
		if strings.Contains(d, word) {
			return true
		}
	}
	return false
}

// helperEnv carries the database URL to TestHelperProcess when the test
// binary re-executes itself.
const helperEnv = "MLOPS_STORE_TEST_MIGRATE_URL"

// TestHelperProcess is not a test: TestMigrateTwoProcesses runs the test
// binary again with only this function and helperEnv set. It waits for a
// byte on stdin (the start signal), migrates and prints what it applied.
func TestHelperProcess(t *testing.T) {
	url := os.Getenv(helperEnv)
	if url == "" {
		return
	}
	if _, err := io.ReadFull(os.Stdin, make([]byte, 1)); err != nil {
		t.Fatalf("wait for start: %v", err)
	}
	ctx := context.Background()
	s, err := store.Open(ctx, url, store.Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer s.Close()
	m, err := s.Migrator()
	if err != nil {
		t.Fatal(err)
	}
	applied, err := m.Up(ctx, 0)
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	fmt.Printf("applied=%v\n", applied)
}

var appliedLine = regexp.MustCompile(`applied=\[([0-9 ]*)\]`)

// TestMigrateTwoProcesses starts two processes that upgrade the same fresh
// database at the same moment: both exit 0, every migration is applied
// exactly once between them, and the database ends at the latest version.
func TestMigrateTwoProcesses(t *testing.T) {
	t.Parallel()
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			url := storetest.URL(t, engine)
			type proc struct {
				cmd      *exec.Cmd
				stdin    io.WriteCloser
				out, err bytes.Buffer
			}
			procs := make([]*proc, 2)
			for i := range procs {
				p := &proc{cmd: exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1", "-test.v")}
				p.cmd.Env = append(os.Environ(), helperEnv+"="+url)
				p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.err
				var err error
				if p.stdin, err = p.cmd.StdinPipe(); err != nil {
					t.Fatal(err)
				}
				if err := p.cmd.Start(); err != nil {
					t.Fatalf("start helper process: %v", err)
				}
				procs[i] = p
			}
			for _, p := range procs { // both are running: let them go together
				_, _ = p.stdin.Write([]byte{1})
				p.stdin.Close()
			}
			var applied []int64
			for i, p := range procs {
				if err := p.cmd.Wait(); err != nil {
					t.Fatalf("process %d: %v\nstdout:\n%s\nstderr:\n%s", i, err, p.out.String(), p.err.String())
				}
				mt := appliedLine.FindStringSubmatch(p.out.String())
				if mt == nil {
					t.Fatalf("process %d printed no result:\n%s", i, p.out.String())
				}
				for _, f := range strings.Fields(mt[1]) {
					v, _ := strconv.ParseInt(f, 10, 64)
					applied = append(applied, v)
				}
			}
			s := storetest.OpenURL(t, url, store.Options{}) // migrating again is a no-op
			m := migrator(t, s)
			slices.Sort(applied)
			if !slices.Equal(applied, allVersions(m)) {
				t.Fatalf("the two processes applied %v between them, want each of %v exactly once", applied, allVersions(m))
			}
			wantVersion(t, m, m.Latest(), false)
			if got := existing(t, s); !slices.Equal(got, tables) {
				t.Fatalf("tables %v, want %v", got, tables)
			}
			diff, err := m.Check(t.Context())
			must(t, err)
			if len(diff) != 0 {
				t.Fatalf("Check: %v", diff)
			}
		})
	}
}
