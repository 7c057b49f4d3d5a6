package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
)

// TestThreeServersMixedLoad runs three `mlops serve` processes on one
// PostgreSQL database and drives them all at once, for a few seconds, with
// what a production deployment sees: single predictions and batches (each
// process with its own group commit), activations racing on the same model
// names, pairs of reviewers racing to decide the same action, rule runs on
// every process, and a prune of old history from a fourth process. At the
// end every invariant is checked from the database itself: each
// acknowledged prediction is stored exactly once with its own values and
// nothing else is, never two active versions of a model (also sampled
// during the load), exactly one decision per action, no two open alerts
// for one finding, no old row left by the prune, and an audit chain that
// verifies.
func TestThreeServersMixedLoad(t *testing.T) {
	bin, dbURL, st := twoServerDatabase(t)
	ctx := context.Background()
	admin := newToken(t, st, "ops", mlops.RoleAdmin)
	pipeline := newToken(t, st, "trainer", mlops.RolePipeline)
	agent := newToken(t, st, "agent", mlops.RoleAgent)
	reviewers := []string{newToken(t, st, "rae", mlops.RoleReviewer), newToken(t, st, "sam", mlops.RoleReviewer)}
	var servers []string
	for range 3 {
		_, base := startServe(t, bin, dbURL, "MLOPS_AUTH=required")
		servers = append(servers, base)
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	call := func(secret, method, url string, body any) (int, []byte) {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequest(method, url, rd)
		if err != nil {
			panic(err)
		}
		req.Header.Set("Authorization", "Bearer "+secret)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := hc.Do(req)
		if err != nil {
			return 0, []byte(err.Error())
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		return res.StatusCode, out
	}
	server := func() string { return servers[rand.IntN(len(servers))] }

	// Three model names with four versions each; rules that fire on the
	// active version's realized accuracy.
	names := []string{"churn", "fraud", "ranker"}
	versions := map[string][]int64{}
	for _, name := range names {
		for v := range 4 {
			code, out := call(pipeline, "POST", server()+"/api/v1/models", map[string]any{
				"model_name": name, "version": fmt.Sprint(v), "algorithm": "gbm", "metrics": map[string]any{"accuracy": 0.9}})
			if code != 201 {
				t.Fatalf("register %s v%d: %d %s", name, v, code, out)
			}
			var m mlops.ModelVersion
			_ = json.Unmarshal(out, &m)
			versions[name] = append(versions[name], m.ID)
		}
		if code, out := call(pipeline, "POST", server()+fmt.Sprintf("/api/v1/models/%d/activate", versions[name][0]), nil); code != 200 {
			t.Fatalf("activate: %d %s", code, out)
		}
		if code, out := call(admin, "PUT", server()+"/api/v1/rules/"+name, map[string]any{"enabled": true, "drift_enabled": false,
			"metric": "accuracy", "metric_threshold": 0.99, "metric_min_labeled": 5}); code != 200 {
			t.Fatalf("rules of %s: %d %s", name, code, out)
		}
	}
	allIDs := append(append(append([]int64{}, versions["churn"]...), versions["fraud"]...), versions["ranker"]...)

	// History older than the prune's cut-off, to be removed during the load.
	old := time.Now().UTC().Add(-100 * 24 * time.Hour)
	for range 5 {
		batch := make([]map[string]any, 200)
		for i := range batch {
			batch[i] = map[string]any{"model_id": allIDs[i%len(allIDs)], "prediction": 0, "created_at": old.Add(time.Duration(i) * time.Second)}
		}
		if code, out := call(pipeline, "POST", server()+"/api/v1/predictions/batch", map[string]any{"predictions": batch}); code != 201 {
			t.Fatalf("old history: %d %s", code, out)
		}
	}

	type acked struct {
		model int64
		value int64 // the prediction, unique per acknowledged row
	}
	var (
		mu       sync.Mutex
		stored   = map[int64]acked{}
		failures []string
		next     atomic.Int64
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		twoSeen  atomic.Int64
		decided  = map[string]int{} // action_id → number of winning decisions
		fail     = func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			if len(failures) < 20 {
				failures = append(failures, fmt.Sprintf(format, args...))
			}
		}
	)
	running := func() bool {
		select {
		case <-stop:
			return false
		default:
			return true
		}
	}
	loop := func(n int, fn func(worker int)) {
		for w := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for running() {
					fn(w)
				}
			}()
		}
	}

	// Ingest: 8 clients of single predictions, 2 of batches of 100; half
	// of the rows carry a wrong ground truth, so the rules fire.
	row := func() (map[string]any, acked) {
		v := next.Add(1)
		m := allIDs[rand.IntN(len(allIDs))]
		return map[string]any{"model_id": m, "prediction": v, "actual": v % 2, "latency_ms": 1.5,
			"features": map[string]any{"x": float64(v)}}, acked{m, v}
	}
	loop(8, func(int) {
		body, a := row()
		code, out := call(pipeline, "POST", server()+"/api/v1/predictions", body)
		if code != 201 {
			fail("single prediction: %d %s", code, out)
			return
		}
		var p mlops.Prediction
		_ = json.Unmarshal(out, &p)
		mu.Lock()
		stored[p.ID] = a
		mu.Unlock()
	})
	loop(2, func(int) {
		items := make([]map[string]any, 100)
		as := make([]acked, 100)
		for i := range items {
			items[i], as[i] = row()
		}
		code, out := call(pipeline, "POST", server()+"/api/v1/predictions/batch", map[string]any{"predictions": items})
		if code != 201 {
			fail("batch: %d %s", code, out)
			return
		}
		var res struct{ IDs []int64 }
		_ = json.Unmarshal(out, &res)
		mu.Lock()
		for i, id := range res.IDs {
			stored[id] = as[i]
		}
		mu.Unlock()
	})
	// Activations: 6 clients switch random versions on random servers.
	loop(6, func(int) {
		name := names[rand.IntN(len(names))]
		id := versions[name][rand.IntN(4)]
		if code, out := call(pipeline, "POST", server()+fmt.Sprintf("/api/v1/models/%d/activate", id), nil); code != 200 {
			fail("activate %d: %d %s", id, code, out)
		}
	})
	// Approvals: the agent proposes; two reviewers on two different
	// servers decide the same action at once, one approving, one rejecting.
	loop(2, func(w int) {
		actionID := fmt.Sprintf("act-%d-%d", w, next.Add(1))
		if code, out := call(agent, "POST", server()+"/api/v1/actions", map[string]any{"action_id": actionID,
			"action_type": "retrain_model", "risk_level": "medium"}); code != 201 {
			fail("propose: %d %s", code, out)
			return
		}
		var won atomic.Int64
		var race sync.WaitGroup
		for i, verb := range []string{"approve", "reject"} {
			race.Add(1)
			go func() {
				defer race.Done()
				code, out := call(reviewers[i], "POST", servers[i]+"/api/v1/actions/"+actionID+"/"+verb, map[string]any{})
				switch code {
				case 200:
					won.Add(1)
				case 409:
				default:
					fail("%s %s: %d %s", verb, actionID, code, out)
				}
			}()
		}
		race.Wait()
		mu.Lock()
		decided[actionID] = int(won.Load())
		mu.Unlock()
	})
	// Rules: every server runs them over and over.
	for _, base := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for running() {
				if code, out := call(admin, "POST", base+"/api/v1/rules/run", nil); code != 200 {
					fail("rules run on %s: %d %s", base, code, out)
				}
			}
		}()
	}
	// A watcher samples the invariant of one active version per model.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for running() {
			var n int64
			if err := st.DB().QueryRowContext(ctx, `SELECT count(*) FROM (SELECT model_name FROM model_versions
				WHERE is_active GROUP BY model_name HAVING count(*) > 1) twice`).Scan(&n); err != nil {
				fail("watcher: %v", err)
				return
			}
			twoSeen.Add(n)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	// The prune, from a process of its own, in the middle of the load.
	time.Sleep(2 * time.Second)
	prune := exec.Command(bin, "prune", "--older-than", "90d", "--what", "predictions")
	prune.Env = append(prune.Environ(), "DATABASE_URL="+dbURL)
	pruneOut, pruneErr := prune.CombinedOutput()
	time.Sleep(4 * time.Second)
	close(stop)
	wg.Wait()

	for _, f := range failures {
		t.Error(f)
	}
	if pruneErr != nil {
		t.Fatalf("prune: %v\n%s", pruneErr, pruneOut)
	}

	// Every acknowledged prediction exactly once, with its values; nothing
	// else stored since the old history.
	rows, err := st.DB().QueryContext(ctx, `SELECT id, model_id, prediction FROM predictions WHERE created_at > $1`,
		time.Now().UTC().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for rows.Next() {
		var id, model, value int64
		if err := rows.Scan(&id, &model, &value); err != nil {
			t.Fatal(err)
		}
		seen++
		want, ok := stored[id]
		if !ok {
			t.Errorf("prediction %d (model %d, value %d) is stored but was never acknowledged", id, model, value)
		} else if want != (acked{model, value}) {
			t.Errorf("prediction %d holds model %d value %d, acknowledged as %+v", id, model, value, want)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if seen != len(stored) {
		t.Errorf("%d recent predictions stored, %d acknowledged", seen, len(stored))
	}
	var oldLeft int64
	if err := st.DB().QueryRowContext(ctx, `SELECT count(*) FROM predictions WHERE created_at < $1`,
		time.Now().UTC().Add(-90*24*time.Hour)).Scan(&oldLeft); err != nil {
		t.Fatal(err)
	}
	if oldLeft != 0 {
		t.Errorf("%d predictions older than the prune's cut-off are left", oldLeft)
	}

	// One active version per model, now and at every sample.
	if n := twoSeen.Load(); n != 0 {
		t.Errorf("the watcher saw two active versions of a model %d times", n)
	}
	for _, name := range names {
		var n int64
		if err := st.DB().QueryRowContext(ctx, `SELECT count(*) FROM model_versions WHERE model_name = $1 AND is_active`, name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("%s has %d active versions at the end, want 1", name, n)
		}
	}

	// Exactly one decision per raced action, and the stored status agrees.
	for id, won := range decided {
		if won != 1 {
			t.Errorf("action %s: %d reviewers won the race, want exactly 1", id, won)
		}
		var status string
		if err := st.DB().QueryRowContext(ctx, `SELECT status FROM agent_actions WHERE action_id = $1`, id).Scan(&status); err != nil {
			t.Fatal(err)
		}
		if status != "approved" && status != "rejected" {
			t.Errorf("action %s is %q after the race", id, status)
		}
	}

	// No two open alerts for one finding; the rules did fire.
	var dup, open int64
	if err := st.DB().QueryRowContext(ctx, `SELECT count(*) FROM (SELECT dedup_key FROM alerts WHERE status <> 'resolved'
		AND dedup_key IS NOT NULL GROUP BY dedup_key HAVING count(*) > 1) d`).Scan(&dup); err != nil {
		t.Fatal(err)
	}
	if err := st.DB().QueryRowContext(ctx, `SELECT count(*) FROM alerts WHERE dedup_key IS NOT NULL`).Scan(&open); err != nil {
		t.Fatal(err)
	}
	if dup != 0 || open == 0 {
		t.Errorf("rule alerts: %d open findings raised twice, %d rule alerts in all (want 0 and > 0)", dup, open)
	}

	// The audit chain of everything above verifies.
	verify := exec.Command(bin, "audit", "verify")
	verify.Env = append(verify.Environ(), "DATABASE_URL="+dbURL)
	if out, err := verify.CombinedOutput(); err != nil {
		t.Errorf("audit verify: %v\n%s", err, out)
	}
	t.Logf("%d predictions acknowledged and stored, %d actions raced, %d rule alerts; prune: %s",
		len(stored), len(decided), open, strings.TrimSpace(string(pruneOut)))
}
