package store_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mlopsdev/mlops/store"
)

// TestOpenSQLiteSaysWhy opens SQLite files that cannot be used and checks
// that the error names the file or folder and the cause, instead of the
// driver's "unable to open database file (14)".
func TestOpenSQLiteSaysWhy(t *testing.T) {
	cases := []struct {
		name string
		// setup prepares dir and returns the database path and the texts
		// the error must hold.
		setup func(t *testing.T, dir string) (path string, want []string)
		// asRoot: the case holds for root too; the others are about
		// permissions, which do not bind root.
		asRoot bool
	}{
		{"missing folder", func(t *testing.T, dir string) (string, []string) {
			missing := filepath.Join(dir, "missing", "dir")
			return filepath.Join(missing, "x.db"), []string{
				"the folder " + missing + " does not exist: create it (mkdir -p " + missing + ") or point DATABASE_URL at another file"}
		}, true},
		{"read-only folder", func(t *testing.T, dir string) (string, []string) {
			ro := filepath.Join(dir, "ro")
			mkdir(t, ro, 0o500)
			return filepath.Join(ro, "x.db"), []string{"the folder " + ro + " is not writable by this user"}
		}, false},
		{"read-only database file", func(t *testing.T, dir string) (string, []string) {
			path := filepath.Join(dir, "x.db")
			s, err := store.Open(t.Context(), "sqlite:///"+path, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			if err := os.Chmod(path, 0o400); err != nil {
				t.Fatal(err)
			}
			return path, []string{"the database file " + path + " is not writable by this user"}
		}, false},
		{"not a database", func(t *testing.T, dir string) (string, []string) {
			path := filepath.Join(dir, "notes.db")
			if err := os.WriteFile(path, []byte(strings.Repeat("not a database\n", 100)), 0o600); err != nil {
				t.Fatal(err)
			}
			return path, []string{"the file " + path + " is not an SQLite database"}
		}, true},
		{"a folder where the file should be", func(t *testing.T, dir string) (string, []string) {
			path := filepath.Join(dir, "x.db")
			mkdir(t, path, 0o700)
			return path, []string{path + " is a folder, not a database file"}
		}, true},
		{"a file where the folder should be", func(t *testing.T, dir string) (string, []string) {
			file := filepath.Join(dir, "file")
			if err := os.WriteFile(file, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(file, "x.db"), []string{file + " is a file, not a folder"}
		}, true},
	}
	asRoot := os.Geteuid() == 0
	for _, c := range cases {
		if !c.asRoot && asRoot {
			continue // root may write anywhere: run below as another user
		}
		t.Run(c.name, func(t *testing.T) {
			path, want := c.setup(t, t.TempDir())
			s, err := store.Open(t.Context(), "sqlite:///"+path, store.Options{})
			if err == nil {
				s.Close()
				t.Fatalf("Open(%s) succeeded; want an error saying %q", path, want)
			}
			for _, w := range want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Open(%s): error %q\nwant it to say %q", path, err, w)
				}
			}
			if strings.Contains(err.Error(), "unable to open") || strings.Contains(err.Error(), "out of memory") {
				t.Errorf("Open(%s): error %q passes on the driver's misleading text", path, err)
			}
		})
	}
}

// TestOpenSQLiteSaysWhyUnprivileged runs the permission cases of
// TestOpenSQLiteSaysWhy when the tests run as root (as in CI), where modes
// do not bind: a copy of this test binary runs them as the user nobody
// (uid 65534), and each must pass there, not skip.
func TestOpenSQLiteSaysWhyUnprivileged(t *testing.T) {
	if os.Geteuid() != 0 {
		return // TestOpenSQLiteSaysWhy ran them itself
	}
	// The copy must be reachable by nobody: the go tool's folders are not.
	dir, err := os.MkdirTemp("", "mlops-open-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "store.test")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run", "^TestOpenSQLiteSaysWhy$/^read-only", "-test.v", "-test.count=1")
	cmd.Dir = dir
	tmp := filepath.Join(dir, "tmp") // for the cases' t.TempDir, as nobody
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(tmp, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	cmd.Env = []string{"TMPDIR=" + tmp, "PATH=" + os.Getenv("PATH")}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the permission cases as nobody: %v\n%s", err, out)
	}
	for _, name := range []string{"read-only_folder", "read-only_database_file"} {
		if !strings.Contains(string(out), "--- PASS: TestOpenSQLiteSaysWhy/"+name) {
			t.Errorf("the case %s did not pass as nobody:\n%s", name, out)
		}
	}
}

// TestOpenSQLiteRelativeMissingFolder: sqlite:///missing/dir/x.db is
// relative to the working directory; the error says where that is.
func TestOpenSQLiteRelativeMissingFolder(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	_, err := store.Open(t.Context(), "sqlite:///missing/dir/x.db", store.Options{})
	want := "the folder missing/dir (" + filepath.Join(dir, "missing", "dir") + ") does not exist: create it (mkdir -p missing/dir)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v; want it to say %q", err, want)
	}
}

// mkdir makes dir with mode and restores a mode that lets t.TempDir's
// cleanup remove it.
func mkdir(t *testing.T, dir string, mode os.FileMode) {
	t.Helper()
	if err := os.Mkdir(dir, mode); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
}
