package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/mlopsdev/mlops/internal/httpapi"
	"github.com/mlopsdev/mlops/internal/webui"
)

// shutdownTimeout bounds draining in-flight requests after SIGINT/SIGTERM.
const shutdownTimeout = 15 * time.Second

// runServe applies pending migrations (unless --no-migrate), then serves the
// API, the admin UI and /metrics until ctx is cancelled (SIGINT/SIGTERM in
// cmd/mlops). Shutdown stops accepting connections, lets in-flight requests
// finish (at most shutdownTimeout), then closes the store.
//
// Its log lines are buffered (see logBuffer); the buffer is flushed on
// every return, after the server, the prediction writer and the store have
// stopped, so the last lines of a shutdown are kept.
func runServe(ctx context.Context, e *Env, args []string) error {
	log, logBuf := newBufferedLogger(e.Stderr, logFlushSize, logFlushDelay)
	defer logBuf.Close()
	se := *e
	se.Logger = log // the store's DATABASE_ECHO lines too
	e = &se

	fs := newFlags(e, "serve")
	addr := fs.String("addr", e.Config.Addr, "listen address, host:port (MLOPS_ADDR); port 0 picks a free one")
	noMigrate := fs.Bool("no-migrate", false, "do not apply pending migrations at start (/readyz stays 503 until they are applied)")
	rulesEvery := fs.Duration("rules-every", time.Minute, "how often the alert rules run (0 disables; mlops rules run runs them once)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("serve takes no arguments, got %q; see mlops help", pos[0])
	}

	st, err := e.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	if !*noMigrate {
		// Safe when several instances start at once: the store serialises
		// migrations with an advisory lock (PostgreSQL) or a file lock (SQLite).
		if err := st.Migrate(ctx); err != nil {
			return fmt.Errorf("apply migrations: %w", err)
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ui, err := webui.New(st, webui.Options{Logger: e.Logger})
	if err != nil {
		return fmt.Errorf("admin UI: %w", err)
	}
	api, err := httpapi.New(st, httpapi.Options{Logger: e.Logger, Registry: reg, Version: Version, UI: ui})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another server running there? choose another --addr or MLOPS_ADDR)", *addr, err)
	}
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute, // a 16 MiB batch on a slow link
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(e.Logger.Handler(), slog.LevelWarn),
	}
	fmt.Fprintf(e.Stdout, "listening on http://%s\n", ln.Addr())
	e.Logger.Info("serving", "addr", ln.Addr().String(), "database", st.Redacted(), "engine", string(st.Engine()))

	// The alert rules run in the background and stop before the store closes.
	rulesCtx, stopRules := context.WithCancel(ctx)
	rulesDone := make(chan struct{})
	go func() {
		defer close(rulesDone)
		if *rulesEvery > 0 {
			rulesLoop(rulesCtx, st, *rulesEvery, e.Logger)
		}
	}()
	defer func() { stopRules(); <-rulesDone }()

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		_ = api.Close(context.WithoutCancel(ctx))
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	e.Logger.Info("shutting down: draining in-flight requests", "timeout", shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		e.Logger.Warn("requests still running after the drain timeout were cut off", "error", err.Error())
	}
	if err := api.Close(sctx); err != nil {
		e.Logger.Warn("prediction writer did not finish", "error", err.Error())
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	e.Logger.Info("stopped")
	return nil
}
