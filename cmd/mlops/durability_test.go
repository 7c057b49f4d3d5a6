package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// buildBinary compiles cmd/mlops once per test process.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "mlops-durability")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "mlops")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// startServe runs `mlops serve` on dbURL, with env (KEY=value) added to
// its environment, and returns its base URL.
func startServe(t *testing.T, bin, dbURL string, env ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0")
	cmd.Env = append(append(os.Environ(), "DATABASE_URL="+dbURL), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if i := strings.Index(sc.Text(), "http://"); i >= 0 {
				select {
				case addr <- strings.Fields(sc.Text()[i:])[0]:
				default:
				}
			}
		}
	}()
	select {
	case a := <-addr:
		return cmd, a
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not print its address; stderr:\n%s", stderr.String())
	}
	return nil, ""
}

// TestKillDuringLoadLosesNoAcknowledgedWrite SIGKILLs the server in the middle
// of a 16-client prediction load and checks, after a restart on the same
// database, that every prediction answered with 201 is stored.
func TestKillDuringLoadLosesNoAcknowledgedWrite(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" { // CI always runs it
		t.Skip("builds and runs the binary")
	}
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			dbURL := storetest.URL(t, engine)
			cmd, base := startServe(t, bin, dbURL)
			hc := &http.Client{Timeout: 10 * time.Second}

			resp, err := hc.Post(base+"/api/v1/models", "application/json",
				strings.NewReader(`{"model_name":"durable","version":"1","algorithm":"rf"}`))
			if err != nil {
				t.Fatal(err)
			}
			var model struct{ ID int64 }
			_ = json.NewDecoder(resp.Body).Decode(&model)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("register model: %d", resp.StatusCode)
			}

			var mu sync.Mutex
			acked := map[int64]bool{}
			var wg sync.WaitGroup
			stop := make(chan struct{})
			for w := 0; w < 16; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						body := fmt.Sprintf(`{"model_id":%d,"features":{"w":%d,"i":%d},"prediction":1,"probability":0.5,"latency_ms":1}`, model.ID, w, i)
						resp, err := hc.Post(base+"/api/v1/predictions", "application/json", strings.NewReader(body))
						if err != nil {
							return // the server is gone
						}
						var p struct{ ID int64 }
						b, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						if resp.StatusCode == http.StatusCreated && json.Unmarshal(b, &p) == nil && p.ID > 0 {
							mu.Lock()
							acked[p.ID] = true
							mu.Unlock()
						}
					}
				}(w)
			}
			// Kill once a good number of writes were acknowledged.
			deadline := time.Now().Add(30 * time.Second)
			for {
				mu.Lock()
				n := len(acked)
				mu.Unlock()
				if n >= 2000 || time.Now().After(deadline) {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
			close(stop)
			wg.Wait()
			if len(acked) < 50 {
				t.Fatalf("only %d predictions were acknowledged before the kill; the load did not run", len(acked))
			}

			// Restart on the same database: every acknowledged id is there.
			_, _ = startServe(t, bin, dbURL)
			s := storetest.OpenURL(t, dbURL, store.Options{})
			ctx := context.Background()
			// A kill cannot tell a missing flush: the settings that make a
			// commit durable must hold on the store's own connections.
			durable := map[string]string{"PRAGMA synchronous": "2"} // FULL
			if engine == store.Postgres {
				durable = map[string]string{"SHOW synchronous_commit": "on", "SHOW fsync": "on"}
			}
			for q, want := range durable {
				var got string
				if err := s.DB().QueryRowContext(ctx, q).Scan(&got); err != nil || got != want {
					t.Fatalf("%s = %q (%v), want %q: commits would not be durable", q, got, err, want)
				}
			}
			missing := 0
			for id := range acked {
				if _, err := s.PredictionGet(ctx, id); err != nil {
					missing++
					if missing < 5 {
						t.Errorf("prediction %d was acknowledged with 201 but is not stored: %v", id, err)
					}
				}
			}
			if missing > 0 {
				t.Fatalf("%d of %d acknowledged predictions lost", missing, len(acked))
			}
			t.Logf("%s: %d acknowledged predictions all survived SIGKILL", engine, len(acked))
		})
	}
}
