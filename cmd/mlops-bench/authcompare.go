package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sort"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/internal/auth"
	"github.com/mlopsdev/mlops/store"
)

// authMode is one side of the authentication comparison.
type authMode struct {
	name   string // the measurement's label
	env    string // MLOPS_AUTH=...
	bearer string // token secret sent with every request; "" for none
}

// runAuthCompare measures the single-prediction POST load of runEngine with
// authentication off and with MLOPS_AUTH=required and a pipeline token's
// Bearer secret on every request, on one fresh database. The two run in
// alternating rounds (off, on, off, on, ...), each on a server of its own
// started for the round and stopped after it, so only one server runs at a
// time and drift on a shared machine hits both sides alike.
func runAuthCompare(ctx context.Context, c config, engine string) error {
	t, err := newTarget(ctx, c, engine)
	if err != nil {
		return err
	}
	defer t.cleanup()

	// The first server applies the migrations; the model goes in before the
	// token exists, and the token straight into the store.
	srv, err := startServer(c, t, "MLOPS_AUTH=off")
	if err != nil {
		return err
	}
	modelID, err := registerModel(srv.base, "bench-auth", "1")
	srv.close()
	if err != nil {
		return err
	}
	secret, err := createPipelineToken(ctx, t.url)
	if err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	modes := [2]authMode{
		{name: "auth off", env: "MLOPS_AUTH=off"},
		{name: "Bearer token", env: "MLOPS_AUTH=required", bearer: secret},
	}

	w := c.out
	fmt.Fprintf(w, "\n## %s: single POST, auth off vs Bearer token\n\n", engine)
	fmt.Fprintf(w, "fresh database; %d alternating rounds of %s (off, then MLOPS_AUTH=required with a pipeline token), one server at a time; "+
		"the median rows give the median throughput of the rounds and the latency percentiles of all their requests\n\n", c.authRounds, c.duration)
	fmt.Fprintln(w, "| engine | measurement | throughput | p50 ms | p95 ms | p99 ms | errors | ratio |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- |")
	var peakMB [2]float64
	for _, n := range c.authClients {
		var rounds [2][]*stats
		for r := 1; r <= c.authRounds; r++ {
			for m, mode := range modes {
				st, label, peak, err := authRound(c, t, mode, n, modelID)
				if err != nil {
					return fmt.Errorf("%s, round %d: %w", mode.name, r, err)
				}
				peakMB[m] = max(peakMB[m], peak)
				rounds[m] = append(rounds[m], st)
				ratio := ""
				if m == 1 && rounds[0][r-1].rate() > 0 {
					ratio = fmt.Sprintf("%.2fx round %d off", st.rate()/rounds[0][r-1].rate(), r)
				}
				rowRate(w, engine, fmt.Sprintf("single POST, %d clients, %s, round %d%s", n, mode.name, r, label), st.rate(), st, "req/s", ratio)
			}
		}
		off, on := medianRate(rounds[0]), medianRate(rounds[1])
		rowRate(w, engine, fmt.Sprintf("single POST, %d clients, auth off (median of %d)", n, c.authRounds), off, pooled(rounds[0]), "req/s", "")
		ratio := ""
		if off > 0 {
			ratio = fmt.Sprintf("%.2fx auth off", on/off)
		}
		rowRate(w, engine, fmt.Sprintf("single POST, %d clients, Bearer token (median of %d)", n, c.authRounds), on, pooled(rounds[1]), "req/s", ratio)
	}
	fmt.Fprintf(w, "\nserver peak RSS (%s): auth off %.0f MB, Bearer token %.0f MB\n", engine, peakMB[0], peakMB[1])
	return nil
}

// authRound starts a server in mode, runs n lean clients posting single
// predictions for c.duration, and stops the server. label notes the rows
// per commit; peakMB is the server's peak RSS.
func authRound(c config, t *target, mode authMode, n int, modelID int64) (st *stats, label string, peakMB float64, err error) {
	srv, err := startServer(c, t, mode.env)
	if err != nil {
		return nil, "", 0, err
	}
	st, label, err = measureRound(c, srv, mode, n, modelID)
	srv.close()
	return st, label, srv.peakMB, err
}

func measureRound(c config, srv *server, mode authMode, n int, modelID int64) (st *stats, label string, err error) {
	if mode.bearer != "" {
		// Without the token the server must refuse: otherwise both sides
		// would measure the same thing.
		code, body, err := post(srv.base, "/api/v1/predictions", predictionJSON(modelID, 0))
		if err != nil {
			return nil, "", err
		}
		if code != http.StatusUnauthorized {
			return nil, "", fmt.Errorf("%s: a POST without a token got status %d, want 401: %s", mode.env, code, body)
		}
	}
	b0, r0, err := ingestCounters(srv.base, mode.bearer)
	if err != nil {
		return nil, "", err
	}
	lean := make([]*leanClient, n)
	for k := range lean {
		if lean[k], err = newLeanClient(srv.base); err != nil {
			return nil, "", err
		}
		if mode.bearer != "" {
			if err := lean[k].addHeader("Authorization", "Bearer "+mode.bearer); err != nil {
				return nil, "", err
			}
		}
	}
	st = postSingles(lean, c.duration, modelID)
	b1, r1, err := ingestCounters(srv.base, mode.bearer)
	if err != nil {
		return nil, "", err
	}
	if b1 > b0 {
		label = fmt.Sprintf(" (%.1f rows/commit)", (r1-r0)/(b1-b0))
	}
	return st, label, nil
}

// createPipelineToken stores a new pipeline token in the database at dbURL
// (already migrated) and returns its secret.
func createPipelineToken(ctx context.Context, dbURL string) (string, error) {
	st, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		return "", err
	}
	defer st.Close()
	secret, hash := auth.NewSecret()
	name := fmt.Sprintf("mlops-bench-%d", time.Now().UnixNano())
	if _, err := st.TokenCreate(ctx, store.NewToken{Name: name, Role: mlops.RolePipeline, SecretHash: hash, CreatedBy: "mlops-bench"}); err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "  created pipeline token %s\n", name)
	return secret, nil
}

// medianRate is the median throughput of rounds.
func medianRate(rounds []*stats) float64 {
	if len(rounds) == 0 {
		return 0
	}
	r := make([]float64, len(rounds))
	for i, st := range rounds {
		r[i] = st.rate()
	}
	sort.Float64s(r)
	if len(r)%2 == 1 {
		return r[len(r)/2]
	}
	return (r[len(r)/2-1] + r[len(r)/2]) / 2
}

// pooled merges the latencies and errors of rounds.
func pooled(rounds []*stats) *stats {
	all := &stats{}
	for _, st := range rounds {
		all.n += st.n
		all.rows += st.rows
		all.el += st.el
		all.lat = append(all.lat, st.lat...)
		all.errs += st.errs
	}
	return all
}
