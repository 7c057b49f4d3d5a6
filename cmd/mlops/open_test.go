package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSQLiteOpenErrorIsOneClearLine runs the binary on SQLite files it
// cannot open and checks what it prints: one line that names the path and
// the cause, with no text said twice (the CLI wraps the store's errors).
func TestSQLiteOpenErrorIsOneClearLine(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" { // CI always runs it
		t.Skip("builds and runs the binary")
	}
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	notDB := filepath.Join(dir, "notes.db")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("not a database\n", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	// The default DATABASE_URL, sqlite:///./mlops.db, in a folder where
	// mlops.db is something else.
	cwd := t.TempDir()
	if err := os.WriteFile(filepath.Join(cwd, "mlops.db"), []byte(strings.Repeat("not a database\n", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing", "dir")
	cases := []struct {
		url  string // "": DATABASE_URL unset
		want string
	}{
		{"sqlite:///" + filepath.Join(missing, "x.db"), "mlops: the folder " + missing + " does not exist: create it (mkdir -p " + missing + ")"},
		{"sqlite:///" + notDB, "mlops: the file " + notDB + " is not an SQLite database"},
		{"", "mlops: the file ./mlops.db (" + filepath.Join(cwd, "mlops.db") + ") is not an SQLite database"},
	}
	for _, c := range cases {
		for _, args := range [][]string{{"migrate", "upgrade"}, {"db", "init"}} {
			cmd := exec.Command(bin, args...)
			cmd.Dir = cwd
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + cwd}
			if c.url != "" {
				cmd.Env = append(cmd.Env, "DATABASE_URL="+c.url)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err == nil {
				t.Errorf("DATABASE_URL=%s mlops %s succeeded", c.url, strings.Join(args, " "))
				continue
			}
			line := stderr.String()
			if strings.Count(line, "\n") != 1 || !strings.HasPrefix(line, c.want) {
				t.Errorf("DATABASE_URL=%s mlops %s printed\n%s\nwant one line starting %q", c.url, strings.Join(args, " "), line, c.want)
			}
			if rep := repeated(line, 4); rep != "" {
				t.Errorf("DATABASE_URL=%s mlops %s says %q twice: %s", c.url, strings.Join(args, " "), rep, line)
			}
		}
	}
}

// repeated returns a run of n words that occurs twice in s, or "".
func repeated(s string, n int) string {
	words := strings.Fields(s)
	seen := map[string]bool{}
	for i := 0; i+n <= len(words); i++ {
		run := strings.Join(words[i:i+n], " ")
		if seen[run] {
			return run
		}
		seen[run] = true
	}
	return ""
}
