package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/internal/config"
	"github.com/mlopsdev/mlops/monitor"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// loopEnv is an Env over dbURL whose output the test reads.
func loopEnv(dbURL string) (*Env, *bytes.Buffer) {
	var out bytes.Buffer
	return &Env{Config: config.Config{DatabaseURL: dbURL, PoolSize: 2}, Stdout: &out, Stderr: &out,
		Logger: slog.New(slog.DiscardHandler), Getenv: func(string) string { return "" }}, &out
}

func TestDriftCheckAndRulesCommands(t *testing.T) {
	t0 := time.Date(2026, 5, 4, 0, 0, 0, 0, time.UTC)
	storetest.EachURL(t, func(t *testing.T, url string) {
		ctx := context.Background()
		now := t0.Add(10 * time.Minute)
		st := storetest.OpenURL(t, url, store.Options{Now: func() time.Time { return now }})
		m, err := st.ModelVersionCreate(ctx, mlops.NewModelVersion{ModelName: "fraud", Version: "v1", Algorithm: "rf"})
		if err != nil {
			t.Fatal(err)
		}
		batch := func(offset float64) {
			var in []mlops.NewPrediction
			for i := 0; i < 40; i++ {
				in = append(in, mlops.NewPrediction{ModelID: m.ID, Features: mlops.JSON(fmt.Sprintf(`{"x": %v}`, offset+float64(i)/40))})
			}
			if _, err := st.PredictionCreateBatch(ctx, in); err != nil {
				t.Fatal(err)
			}
		}
		batch(0)
		now = t0.Add(70 * time.Minute)
		batch(0.5)
		windows := []string{"--reference-from", "2026-05-04T00:00:00Z", "--reference-to", "2026-05-04T01:00:00Z",
			"--current-from", "2026-05-04T01:00:00Z", "--current-to", "2026-05-04T02:00:00Z"}

		e, out := loopEnv(url)
		if err := runDriftCheck(ctx, e, append([]string{fmt.Sprint(m.ID)}, windows...)); err != nil {
			t.Fatalf("drift check: %v", err)
		}
		if s := out.String(); !strings.Contains(s, "drift in x") || !strings.Contains(s, "reference 40 predictions, current 40") {
			t.Errorf("output %q", s)
		}
		e, out = loopEnv(url)
		if err := runDriftCheck(ctx, e, append([]string{"--model-id", fmt.Sprint(m.ID), "--json", "--ks-threshold", "0.9", "--psi-threshold", "100"}, windows...)); err != nil {
			t.Fatalf("drift check --json: %v", err)
		}
		var rep mlops.DriftReport
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil || rep.DriftDetected || rep.ModelID != m.ID {
			t.Errorf("json output %q: %+v, %v", out, rep, err)
		}
		e, _ = loopEnv(url)
		err = runDriftCheck(ctx, e, []string{fmt.Sprint(m.ID)}) // default windows: nothing in the last 24 h
		if v, ok := mlops.AsValidation(err); !ok || !strings.Contains(v.Error(), "at least 30 are needed") {
			t.Errorf("too few: %v", err)
		}
		for _, bad := range [][]string{{}, {"x"}, {"1", "2"}, {"1", "--current-to", "yesterday"}} {
			e, _ = loopEnv(url)
			if err := runDriftCheck(ctx, e, bad); err == nil {
				t.Errorf("drift check %q succeeded", bad)
			} else if _, ok := err.(usageError); !ok {
				t.Errorf("drift check %q: %v is not a usage error", bad, err)
			}
		}

		// Rules: off, then on (the real clock finds no recent predictions).
		e, out = loopEnv(url)
		if err := runRulesRun(ctx, e, nil); err != nil || !strings.Contains(out.String(), "rules evaluated for 0 model(s)") {
			t.Errorf("rules run (off): %v, %q", err, out)
		}
		cfg := store.DefaultRuleSettings("fraud")
		cfg.Enabled = true
		if _, err := st.RuleSettingsPut(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		if _, err := st.ModelVersionActivate(ctx, m.ID); err != nil {
			t.Fatal(err)
		}
		e, out = loopEnv(url)
		if err := runRulesRun(ctx, e, []string{"--json"}); err != nil {
			t.Fatal(err)
		}
		var res monitor.RulesRunResult
		if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.Models != 1 || len(res.Notes) != 1 ||
			!strings.Contains(res.Notes[0], "drift rule not evaluated") {
			t.Errorf("rules run --json: %q, %v", out, err)
		}

		// A database with migration 00002 pending is refused with advice.
		mig, _ := st.Migrator()
		if _, err := mig.Down(ctx, 1); err != nil {
			t.Fatal(err)
		}
		e, _ = loopEnv(url)
		if err := runRulesRun(ctx, e, nil); err == nil || !strings.Contains(err.Error(), "mlops migrate upgrade") {
			t.Errorf("pending migrations: %v", err)
		}
	})
}
