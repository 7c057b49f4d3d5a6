package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/internal/auth"
	"github.com/mlopsdev/mlops/internal/httpapi"
	"github.com/mlopsdev/mlops/internal/telemetry"
	"github.com/mlopsdev/mlops/internal/webui"
	"github.com/mlopsdev/mlops/monitor"
	"github.com/mlopsdev/mlops/store"
)

// shutdownTimeout bounds draining in-flight requests after SIGINT/SIGTERM.
const shutdownTimeout = 15 * time.Second

// runServe applies pending migrations (unless --no-migrate), creates the
// bootstrap admin (MLOPS_BOOTSTRAP_ADMIN) if no account exists, refuses to
// serve an open, account-less server on a non-loopback address in auth mode
// auto, then serves the API, the admin UI and /metrics, over HTTPS with
// --tls-cert and --tls-key, until ctx is cancelled (SIGINT/SIGTERM in
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
	tlsCert := fs.String("tls-cert", "", "serve HTTPS with this PEM certificate (chain) file; needs --tls-key")
	tlsKey := fs.String("tls-key", "", "the PEM private key of --tls-cert")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("serve takes no arguments, got %q; see mlops help", pos[0])
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return usagef("--tls-cert and --tls-key go together: give both for HTTPS, or neither for HTTP")
	}
	var tlsConfig *tls.Config
	if *tlsCert != "" {
		// Loaded before anything else, so a bad file stops the start with
		// its own error rather than after "listening on".
		cert, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
		if err != nil {
			return fmt.Errorf("load --tls-cert %s and --tls-key %s: %w (both must be PEM files, the key matching the certificate)", *tlsCert, *tlsKey, err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}

	// Traces (docs/operations.md, Tracing): nothing is installed unless
	// an OTLP endpoint is set. The spans still buffered are flushed last,
	// once the server, the prediction writer and the store have stopped.
	tp, stopTracing, err := telemetry.Setup(ctx, e.Getenv, Version, e.Logger)
	if err != nil {
		return err
	}
	defer func() {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := stopTracing(fctx); err != nil {
			e.Logger.Warn("flushing traces failed", "error", err.Error())
		}
	}()
	e.TracerProvider = tp

	// Lists, reports and series may come from the replicas of
	// DATABASE_REPLICA_URL (docs/operations.md, Replicas).
	e.ReadReplicas = true
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
	if err := bootstrapAdmin(ctx, e, st); err != nil {
		return err
	}
	if e.Config.Auth == auth.ModeAuto && !isLoopback(*addr) {
		exist, err := st.AccountsExist(ctx)
		if err != nil {
			return fmt.Errorf("check whether accounts exist: %w (with --no-migrate, run mlops migrate upgrade first)", err)
		}
		if !exist {
			return fmt.Errorf("no account exists, so the server would be open to anyone on %s, which is not a loopback address: "+
				"create an admin with `mlops user create NAME --role admin`, or set MLOPS_AUTH=off "+
				"(in a container: set MLOPS_BOOTSTRAP_ADMIN and MLOPS_BOOTSTRAP_PASSWORD_FILE)", *addr)
		}
	}
	authn := auth.New(st, auth.Options{
		Mode:          e.Config.Auth,
		SessionIdle:   e.Config.SessionIdle,
		ProxyHeader:   e.Config.ProxyHeader,
		ProxyTrusted:  e.Config.ProxyTrusted,
		ProxyRole:     e.Config.ProxyRole,
		SecureCookies: tlsConfig != nil,
		Logger:        e.Logger,
	})

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ui, err := webui.New(st, webui.Options{Logger: e.Logger, Auth: authn, TrustedOrigins: e.Config.TrustedOrigins})
	if err != nil {
		return fmt.Errorf("admin UI: %w", err)
	}
	api, err := httpapi.New(st, httpapi.Options{
		Logger:         e.Logger,
		Registry:       reg,
		Version:        Version,
		UI:             ui,
		Auth:           authn,
		MetricsPublic:  e.Config.MetricsPublic,
		TrustedOrigins: e.Config.TrustedOrigins,
		TracerProvider: tp,
	})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another server running there? choose another --addr or MLOPS_ADDR)", *addr, err)
	}
	// The timeouts (docs/operations.md, Timeouts): headers must arrive in
	// 10 s and any other body within 30 s; every JSON body the API reads
	// sets its own read deadline instead: at most 1 MiB whole within 10 s,
	// a batch 10 s per read and 2 min in all (a 16 MiB batch on a slow
	// link), so a body that stops moving is cut off in seconds. No write
	// timeout: a metric series is streamed for up to 5 min, bounded by the
	// handler. An idle keep-alive connection is closed after 2 min.
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(e.Logger.Handler(), slog.LevelWarn),
		TLSConfig:         tlsConfig,
	}
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
	}
	fmt.Fprintf(e.Stdout, "listening on %s://%s\n", scheme, ln.Addr())
	e.Logger.Info("serving", "addr", ln.Addr().String(), "scheme", scheme, "auth", string(e.Config.Auth),
		"database", st.Redacted(), "engine", string(st.Engine()), "replicas", len(st.Replicas()))
	if e.Config.Auth == auth.ModeOff {
		e.Logger.Warn(fmt.Sprintf("authentication is off: anyone who can reach %s may approve actions", ln.Addr()))
		if e.Config.TwoPerson != "" && e.Config.TwoPerson != "none" {
			e.Logger.Warn("MLOPS_TWO_PERSON has no effect while MLOPS_AUTH=off: reviewer names come from request bodies", "MLOPS_TWO_PERSON", e.Config.TwoPerson)
		}
	}

	// The alert rules run in the background and stop before the store closes.
	rulesCtx, stopRules := context.WithCancel(ctx)
	rulesDone := make(chan struct{})
	go func() {
		defer close(rulesDone)
		if *rulesEvery > 0 {
			rulesLoop(rulesCtx, monitor.New(st, monitor.Options{Logger: e.Logger}), *rulesEvery, e.Logger)
		}
	}()
	defer func() { stopRules(); <-rulesDone }()
	// Pending actions past their expiry become expired (exactly once, by
	// whichever server gets there first).
	expiryDone := make(chan struct{})
	go func() {
		defer close(expiryDone)
		if e.Config.ActionTTL > 0 {
			expiryLoop(rulesCtx, st, expiryEvery, e.Logger)
		}
	}()
	defer func() { stopRules(); <-expiryDone }()
	// PostgreSQL: committed audit events are sealed into the hash chain
	// shortly after (the changes never wait for the chain).
	sealDone := make(chan struct{})
	go func() {
		defer close(sealDone)
		if st.Engine() == store.Postgres {
			sealLoop(rulesCtx, st, sealEvery, e.Logger)
		}
	}()
	defer func() { stopRules(); <-sealDone }()
	// Idempotency keys past their 24 hours are deleted (a request ignores
	// them anyway; this keeps the table to a day of keys).
	keysDone := make(chan struct{})
	go func() {
		defer close(keysDone)
		every(rulesCtx, keyPruneEvery, func(ctx context.Context) {
			if _, err := st.IdempotencyPrune(ctx); err != nil && ctx.Err() == nil {
				e.Logger.WarnContext(ctx, "deleting expired idempotency keys failed", "error", err.Error())
			}
		})
	}()
	defer func() { stopRules(); <-keysDone }()
	// PostgreSQL time partitions: the current and next periods exist
	// before rows arrive for them (docs/partitions.md).
	partsDone := make(chan struct{})
	go func() {
		defer close(partsDone)
		if st.Engine() == store.Postgres {
			partitionsLoop(rulesCtx, st, e.Config.Partition, partitionsEvery, e)
		}
	}()
	defer func() { stopRules(); <-partsDone }()

	served := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			served <- srv.ServeTLS(ln, "", "") // the certificate is in TLSConfig
			return
		}
		served <- srv.Serve(ln)
	}()
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

// keyPruneEvery is how often serve deletes the idempotency keys past their
// 24 hours.
const keyPruneEvery = 10 * time.Minute

// bootstrapAdmin creates the admin MLOPS_BOOTSTRAP_ADMIN names, with the
// password in MLOPS_BOOTSTRAP_PASSWORD_FILE, when no account exists yet; it
// does nothing otherwise. So a container can start with its first admin.
func bootstrapAdmin(ctx context.Context, e *Env, st *store.Store) error {
	name, file := e.Config.BootstrapAdmin, e.Config.BootstrapPasswordFile
	if name == "" {
		return nil
	}
	exist, err := st.AccountsExist(ctx)
	if err != nil {
		return fmt.Errorf("MLOPS_BOOTSTRAP_ADMIN: check whether accounts exist: %w (with --no-migrate, run mlops migrate upgrade first)", err)
	}
	if exist {
		return nil
	}
	if file == "" {
		return errors.New("MLOPS_BOOTSTRAP_ADMIN is set but MLOPS_BOOTSTRAP_PASSWORD_FILE is not; point it at a file holding the admin's password")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("MLOPS_BOOTSTRAP_PASSWORD_FILE: %w", err)
	}
	pw := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if fe := mlops.ValidatePassword("password", pw); fe != nil {
		return fmt.Errorf("MLOPS_BOOTSTRAP_PASSWORD_FILE %s: the password %s", file, fe.Message)
	}
	u, err := st.UserCreate(ctx, store.NewUser{Name: name, Role: mlops.RoleAdmin, PasswordHash: auth.HashPassword(pw)})
	if errors.Is(err, mlops.ErrConflict) {
		return nil // another server starting at the same time created it
	}
	if err != nil {
		return fmt.Errorf("MLOPS_BOOTSTRAP_ADMIN: create admin %s: %w", name, err)
	}
	e.Logger.Info("created admin "+u.Name, "user", u.Name, "source", "MLOPS_BOOTSTRAP_ADMIN")
	return nil
}

// isLoopback reports whether a listen address (host:port) only accepts
// connections from this machine: localhost or a loopback IP. An empty host,
// 0.0.0.0, :: and every other name listen wider.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
