//go:build unix

// Package python_test runs the Python client's tests (clients/python/tests,
// unittest) and, through them, the examples under examples/, against a
// real `mlops serve`: on SQLite always, and on PostgreSQL when
// MLOPS_TEST_DATABASE_URL is set (under CI=true it must be). They need
// python3 (3.9 or later); without it they skip, except under CI=true,
// where they fail. The examples' model server also needs FastAPI and
// uvicorn (.ci/run installs Debian's python3-fastapi and python3-uvicorn).
package python_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mlopsdev/mlops/store/storetest"
)

func TestPythonClient(t *testing.T) {
	ci := os.Getenv("CI") == "true"
	if testing.Short() && !ci {
		t.Skip("builds the binary and runs the Python suite (-short)")
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		if ci {
			t.Fatal("python3 is not on PATH; CI must run the Python client's tests")
		}
		t.Skip("python3 is not on PATH")
	}
	bin := filepath.Join(t.TempDir(), "mlops")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/mlops")
	build.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/mlops: %v\n%s", err, out)
	}

	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			env := []string{"MLOPS_BIN=" + bin, "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"}
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, storetest.EnvURL+"=") && !strings.HasPrefix(kv, "MLOPS_BIN=") {
					env = append(env, kv)
				}
			}
			if engine == "postgres" {
				// Skips without the URL, fails without it under CI=true.
				env = append(env, storetest.EnvURL+"="+storetest.PostgresURL(t))
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout(t))
			defer cancel()
			// -X faulthandler: on a timeout, SIGABRT makes Python print every
			// thread's traceback before it dies; MLOPS_PY_WATCHDOG prints them
			// every few minutes while a run lasts.
			cmd := exec.CommandContext(ctx, py, "-X", "faulthandler", "-m", "unittest", "discover", "-v", "-s", "tests", "-t", ".")
			cmd.Env = append(env, "MLOPS_PY_WATCHDOG=240")
			cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGABRT) }
			cmd.WaitDelay = 10 * time.Second
			// In a process group of its own, so that no server the tests
			// started outlives them, however they end.
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			out, err := cmd.CombinedOutput()
			if cmd.Process != nil {
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			}
			if ctx.Err() != nil {
				t.Fatalf("the Python tests (%s) did not finish in time:\n%s", engine, out)
			}
			if err != nil {
				t.Fatalf("the Python tests failed on %s (%v); their output:\n%s", engine, err, out)
			}
			t.Logf("Python tests on %s:\n%s", engine, summary(string(out)))
		})
	}
}

// timeout is what is left of the test binary's -timeout, less a minute to
// report, and at most 10 minutes.
func timeout(t *testing.T) time.Duration {
	d := 10 * time.Minute
	if dl, ok := t.Deadline(); ok {
		if left := time.Until(dl) - time.Minute; left < d {
			d = max(left, 30*time.Second)
		}
	}
	return d
}

// summary keeps unittest's closing lines and the lines the tests print
// about themselves (kill-restart figures, skips).
func summary(out string) string {
	var keep []string
	for _, line := range strings.Split(out, "\n") {
		l := strings.TrimSpace(line)
		if strings.HasPrefix(l, "Ran ") || strings.HasPrefix(l, "OK") || strings.HasPrefix(l, "kill-restart") ||
			strings.Contains(l, "skipped") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
