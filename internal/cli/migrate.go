package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/mlopsdev/mlops/store"
)

// withMigrator opens the store and its migrator for one command.
func withMigrator(ctx context.Context, e *Env, fn func(s *store.Store, m *store.Migrator) error) error {
	s, err := e.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	m, err := s.Migrator()
	if err != nil {
		return err
	}
	return fn(s, m)
}

func noArgs(name string, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments, got %q", name, strings.Join(args, " "))
	}
	return nil
}

func runDBInit(ctx context.Context, e *Env, args []string) error {
	if err := noArgs("db init", args); err != nil {
		return err
	}
	return withMigrator(ctx, e, func(s *store.Store, m *store.Migrator) error {
		applied, err := m.Up(ctx, 0)
		if err != nil {
			return fmt.Errorf("create tables: %w", err)
		}
		cur, err := m.Current(ctx)
		if err != nil {
			return err
		}
		if len(applied) == 0 {
			fmt.Fprintf(e.Stdout, "database %s is already initialised (revision %d)\n", s.Redacted(), cur)
			return nil
		}
		fmt.Fprintf(e.Stdout, "initialised %s: applied %d migration(s), now at revision %d\n", s.Redacted(), len(applied), cur)
		return nil
	})
}

func runUpgrade(ctx context.Context, e *Env, args []string) error {
	if len(args) > 1 {
		return usagef("migrate upgrade takes at most one revision, got %q", strings.Join(args, " "))
	}
	return withMigrator(ctx, e, func(s *store.Store, m *store.Migrator) error {
		target, err := revisionArg(m, args, 0)
		if err != nil {
			return err
		}
		if len(args) == 1 && target == 0 {
			return usagef("migrate upgrade base makes no sense; use migrate downgrade base")
		}
		applied, err := m.Up(ctx, target)
		cur, err := stepped(ctx, e, m, "applied", "upgrade", applied, err)
		if err != nil {
			return err
		}
		if len(applied) == 0 {
			fmt.Fprintf(e.Stdout, "nothing to apply; at revision %d\n", cur)
		} else {
			fmt.Fprintf(e.Stdout, "now at revision %d\n", cur)
		}
		return nil
	})
}

func runDowngrade(ctx context.Context, e *Env, args []string) error {
	if len(args) > 1 {
		return usagef("migrate downgrade takes at most one revision, got %q", strings.Join(args, " "))
	}
	return withMigrator(ctx, e, func(s *store.Store, m *store.Migrator) error {
		target, err := revisionArg(m, args, -1) // -1: one step
		if err != nil {
			return err
		}
		undone, err := m.Down(ctx, target)
		cur, err := stepped(ctx, e, m, "rolled back", "downgrade", undone, err)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "now at revision %d\n", cur)
		return nil
	})
}

// revisionArg is the revision named by the one optional argument of
// migrate upgrade and downgrade, or def without one.
func revisionArg(m *store.Migrator, args []string, def int64) (int64, error) {
	if len(args) == 0 {
		return def, nil
	}
	return m.ParseRevision(args[0])
}

// stepped prints each migration a step ran (verb: "applied", "rolled
// back"), then returns the revision the database is at. The step's own
// error, stepErr, comes back as "what: stepErr".
func stepped(ctx context.Context, e *Env, m *store.Migrator, verb, what string, versions []int64, stepErr error) (int64, error) {
	for _, v := range versions {
		fmt.Fprintf(e.Stdout, "%s %05d\n", verb, v)
	}
	if stepErr != nil {
		return 0, fmt.Errorf("%s: %w", what, stepErr)
	}
	return m.Current(ctx)
}

func runCurrent(ctx context.Context, e *Env, args []string) error {
	if err := noArgs("migrate current", args); err != nil {
		return err
	}
	return withMigrator(ctx, e, func(s *store.Store, m *store.Migrator) error {
		cur, err := m.Current(ctx)
		if err != nil {
			return err
		}
		label := "(base)"
		if cur == m.Latest() {
			label = "(head)"
		} else if cur > 0 {
			label = fmt.Sprintf("(head is %d)", m.Latest())
		}
		fmt.Fprintf(e.Stdout, "%05d %s\n", cur, label)
		return nil
	})
}

func runHistory(ctx context.Context, e *Env, args []string) error {
	if err := noArgs("migrate history", args); err != nil {
		return err
	}
	return withMigrator(ctx, e, func(s *store.Store, m *store.Migrator) error {
		revs, err := m.History(ctx)
		if err != nil {
			return err
		}
		for _, r := range revs {
			mark, when := "[ ]", "pending"
			if r.Applied {
				mark, when = "[x]", "applied "+r.AppliedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(e.Stdout, "%s %05d %-40s %s\n", mark, r.Version, r.Name, when)
		}
		return nil
	})
}

func runCreate(ctx context.Context, e *Env, args []string) error {
	fs := newFlags(e, "migrate create")
	dir := fs.String("dir", "", "the migrations folder of the source tree (default: store/migrations under the module root)")
	pos, err := parseArgs(fs, args, 1, `migrate create takes one message, as in: mlops migrate create "add index on alerts"`)
	if err != nil {
		return err
	}
	if *dir == "" {
		root, err := moduleRoot()
		if err != nil {
			return err
		}
		*dir = filepath.Join(root, "store", "migrations")
	}
	paths, err := store.CreateMigration(*dir, pos[0])
	if err != nil {
		return err
	}
	for _, p := range paths {
		fmt.Fprintf(e.Stdout, "created %s\n", p)
	}
	fmt.Fprintln(e.Stdout, "fill in both files (same change, each engine's dialect), then rebuild: migrations are embedded in the binary")
	return nil
}

// moduleRoot finds the directory holding go.mod, from the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("not inside the mlops source tree (no go.mod found); run from the repository or pass --dir store/migrations")
		}
		dir = parent
	}
}

func runCheck(ctx context.Context, e *Env, args []string) error {
	if err := noArgs("migrate check", args); err != nil {
		return err
	}
	return withMigrator(ctx, e, func(s *store.Store, m *store.Migrator) error {
		pending, err := m.Pending(ctx)
		if err != nil {
			return err
		}
		diffs, err := m.Check(ctx)
		if err != nil {
			return err
		}
		for _, d := range diffs {
			fmt.Fprintln(e.Stdout, d)
		}
		cur, _ := m.Current(ctx)
		switch {
		case len(diffs) > 0 && pending:
			return fmt.Errorf("schema differs from the migrations in %d place(s) and migrations are pending (at %d, head is %d); see the lines above", len(diffs), cur, m.Latest())
		case len(diffs) > 0:
			return fmt.Errorf("schema differs from what the migrations produce in %d place(s) (listed above); undo the manual change or capture it with mlops migrate create", len(diffs))
		case pending:
			return fmt.Errorf("migrations are pending: the database is at %d, head is %d; run mlops migrate upgrade", cur, m.Latest())
		}
		fmt.Fprintf(e.Stdout, "ok: schema matches the migrations at revision %d (head)\n", cur)
		return nil
	})
}

func runVersion(ctx context.Context, e *Env, args []string) error {
	if err := noArgs("version", args); err != nil {
		return err
	}
	version, commit := buildVersion()
	fmt.Fprintf(e.Stdout, "mlops %s (commit %s, %s, %s/%s)\n", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

// buildVersion is the version and commit: from -ldflags when set, else from
// the build information Go records (the module version of go install, the
// VCS revision of a build in a checkout, "+dirty" for uncommitted changes).
func buildVersion() (version, commit string) {
	version, commit = Version, Commit
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return version, commit
	}
	if version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		version = bi.Main.Version
	}
	if commit == "unknown" {
		var rev, dirty string
		for _, kv := range bi.Settings {
			switch kv.Key {
			case "vcs.revision":
				rev = kv.Value
			case "vcs.modified":
				if kv.Value == "true" {
					dirty = "+dirty"
				}
			}
		}
		if rev != "" {
			commit = rev[:min(12, len(rev))] + dirty
		}
	}
	return version, commit
}
