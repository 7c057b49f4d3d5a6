package store_test

// Benchmarks of the store on both engines, each beside a raw-driver
// baseline on the same database in the same run (sub-benchmark "raw"), so
// the library's overhead reads as a ratio. Run them with
//
//	MLOPS_TEST_DATABASE_URL=postgres://... go test ./store/ -run '^$' -bench . -benchtime 1s
//
// Without MLOPS_TEST_DATABASE_URL the PostgreSQL half skips. Figures and
// the machine they ran on are in docs/benchmarks.md.

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// benchEnv is a migrated store and raw driver handles on the same database.
type benchEnv struct {
	engine store.Engine
	s      *store.Store
	rawW   *sql.DB // raw writes: SQLite one connection (like the store's writer), PostgreSQL a pool
	rawR   *sql.DB // raw reads
	pgURL  string  // PostgreSQL: for pgx.Connect (CopyFrom)
	model  mlops.ModelVersion
}

const benchPool = 24 // connections: enough for 16 clients on PostgreSQL

func openBench(b *testing.B, engine store.Engine) *benchEnv {
	b.Helper()
	url := storetest.URL(b, engine)
	e := &benchEnv{engine: engine, s: storetest.OpenURL(b, url, store.Options{PoolSize: benchPool})}
	t, err := store.ParseURL(url)
	if err != nil {
		b.Fatal(err)
	}
	if engine == store.SQLite {
		// The pragmas the store uses: WAL, NORMAL sync, foreign keys.
		dsn := "file:" + t.Path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)" +
			"&_pragma=foreign_keys(ON)&_time_format=sqlite&_txlock=immediate"
		e.rawW = benchOpen(b, "sqlite", dsn)
		e.rawW.SetMaxOpenConns(1)
		e.rawR = benchOpen(b, "sqlite", dsn)
		e.rawR.SetMaxOpenConns(benchPool)
	} else {
		e.pgURL = t.URL
		e.rawW = benchOpen(b, "pgx", t.URL)
		e.rawW.SetMaxOpenConns(benchPool)
		e.rawW.SetMaxIdleConns(benchPool)
		e.rawR = e.rawW
	}
	e.model, err = e.s.ModelVersionCreate(context.Background(), mlops.NewModelVersion{
		ModelName: "bench", Version: "v1", Algorithm: "RandomForest"})
	if err != nil {
		b.Fatal(err)
	}
	return e
}

func benchOpen(b *testing.B, driver, dsn string) *sql.DB {
	b.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// eachBenchEngine runs fn as a sub-benchmark per engine with a fresh
// database.
func eachBenchEngine(b *testing.B, fn func(b *testing.B, e *benchEnv)) {
	for _, engine := range storetest.Engines {
		b.Run(string(engine), func(b *testing.B) { fn(b, openBench(b, engine)) })
	}
}

func benchPrediction(modelID int64, i int) mlops.NewPrediction {
	return mlops.NewPrediction{ModelID: modelID, Features: mlops.JSON(`{"age": 42, "income": 52000.5}`),
		Prediction: int64(i % 2), Probability: ptr(0.87), LatencyMS: ptr(3.2)}
}

const rawInsertSQL = `INSERT INTO predictions (model_id, features, prediction, probability, latency_ms, actual, created_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`

// rawInsert is the baseline of one prediction write: a prepared INSERT in
// autocommit, the same statement the store runs.
func rawInsert(ctx context.Context, stmt *sql.Stmt, p mlops.NewPrediction) error {
	var id int64
	return stmt.QueryRowContext(ctx, p.ModelID, string(p.Features), p.Prediction, p.Probability, p.LatencyMS, p.Actual,
		time.Now().UTC()).Scan(&id)
}

func prepare(b *testing.B, db *sql.DB, query string) *sql.Stmt {
	b.Helper()
	stmt, err := db.Prepare(query)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stmt.Close() })
	return stmt
}

// runClients runs b.N operations spread over clients goroutines and
// reports rows/s (rowsPerOp rows per operation) and per-operation latency
// percentiles.
func runClients(b *testing.B, clients, rowsPerOp int, op func(ctx context.Context, i int) error) {
	b.Helper()
	ctx := context.Background()
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		mu    sync.Mutex
		lat   = make([]time.Duration, 0, b.N)
		first error
	)
	b.ResetTimer()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, b.N/clients+1)
			defer func() {
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			}()
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N {
					return
				}
				start := time.Now()
				if err := op(ctx, i); err != nil {
					mu.Lock()
					first = cmpOr(first, err)
					mu.Unlock()
					return
				}
				mine = append(mine, time.Since(start))
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if first != nil {
		b.Fatal(first)
	}
	reportRows(b, rowsPerOp)
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)*50/100])/1e6, "p50-ms")
		b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)])/1e6, "p99-ms")
	}
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func reportRows(b *testing.B, rowsPerOp int) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(rowsPerOp*b.N)/s, "rows/s")
	}
}

// BenchmarkPredictionCreate: one prediction per transaction, from one
// client and from 16 concurrent clients; raw is a prepared INSERT in
// autocommit on the same driver.
func BenchmarkPredictionCreate(b *testing.B) {
	eachBenchEngine(b, func(b *testing.B, e *benchEnv) {
		stmt := prepare(b, e.rawW, rawInsertSQL)
		for _, clients := range []int{1, 16} {
			b.Run(fmt.Sprintf("clients%d/ours", clients), func(b *testing.B) {
				runClients(b, clients, 1, func(ctx context.Context, i int) error {
					_, err := e.s.PredictionCreate(ctx, benchPrediction(e.model.ID, i))
					return err
				})
			})
			b.Run(fmt.Sprintf("clients%d/raw", clients), func(b *testing.B) {
				runClients(b, clients, 1, func(ctx context.Context, i int) error {
					return rawInsert(ctx, stmt, benchPrediction(e.model.ID, i))
				})
			})
		}
	})
}

// BenchmarkIngester: single-prediction writes through the group-commit
// Ingester; compare with BenchmarkPredictionCreate at the same number of
// clients (same run).
func BenchmarkIngester(b *testing.B) {
	eachBenchEngine(b, func(b *testing.B, e *benchEnv) {
		for _, clients := range []int{1, 16, 64} {
			b.Run(fmt.Sprintf("clients%d", clients), func(b *testing.B) {
				g := store.NewIngester(e.s, store.IngesterOptions{})
				runClients(b, clients, 1, func(ctx context.Context, i int) error {
					_, err := g.Log(ctx, benchPrediction(e.model.ID, i))
					return err
				})
				if err := g.Close(context.Background()); err != nil {
					b.Fatal(err)
				}
				st := g.Stats()
				if st.Batches > 0 {
					b.ReportMetric(float64(st.Rows)/float64(st.Batches), "rows/batch")
				}
			})
		}
	})
}

// BenchmarkPredictionCreateBatch: 10,000 predictions in one call; raw is
// pgx CopyFrom on PostgreSQL and a prepared INSERT loop in one transaction
// on SQLite.
func BenchmarkPredictionCreateBatch(b *testing.B) {
	const n = 10_000
	eachBenchEngine(b, func(b *testing.B, e *benchEnv) {
		batch := make([]mlops.NewPrediction, n)
		for i := range batch {
			batch[i] = benchPrediction(e.model.ID, i)
		}
		b.Run("ours", func(b *testing.B) {
			ctx := context.Background()
			for range b.N {
				if _, err := e.s.PredictionCreateBatch(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			reportRows(b, n)
		})
		b.Run("raw", func(b *testing.B) {
			ctx := context.Background()
			if e.engine == store.Postgres {
				conn, err := pgx.Connect(ctx, e.pgURL)
				if err != nil {
					b.Fatal(err)
				}
				defer conn.Close(ctx)
				b.ResetTimer()
				for range b.N {
					now := time.Now().UTC()
					rows := make([][]any, n)
					for i, p := range batch {
						rows[i] = []any{p.ModelID, string(p.Features), p.Prediction, p.Probability, p.LatencyMS, p.Actual, now}
					}
					if _, err := conn.CopyFrom(ctx, pgx.Identifier{"predictions"},
						[]string{"model_id", "features", "prediction", "probability", "latency_ms", "actual", "created_at"},
						pgx.CopyFromRows(rows)); err != nil {
						b.Fatal(err)
					}
				}
				reportRows(b, n)
				return
			}
			for range b.N {
				tx, err := e.rawW.BeginTx(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				stmt, err := tx.PrepareContext(ctx, rawInsertSQL)
				if err != nil {
					b.Fatal(err)
				}
				now := time.Now().UTC()
				for _, p := range batch {
					var id int64
					if err := stmt.QueryRowContext(ctx, p.ModelID, string(p.Features), p.Prediction, p.Probability,
						p.LatencyMS, p.Actual, now).Scan(&id); err != nil {
						b.Fatal(err)
					}
				}
				stmt.Close()
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			reportRows(b, n)
		})
	})
}

// BenchmarkModelVersionActivate: 8 goroutines activating random versions
// of one model; no-audit is the same code without the audit insert, raw the
// same statements by hand in one transaction.
func BenchmarkModelVersionActivate(b *testing.B) {
	const clients, versions = 8, 10
	eachBenchEngine(b, func(b *testing.B, e *benchEnv) {
		ctx := context.Background()
		ids := make([]int64, versions)
		for i := range ids {
			m, err := e.s.ModelVersionCreate(ctx, mlops.NewModelVersion{ModelName: "churn", Version: fmt.Sprintf("v%d", i),
				Algorithm: "RandomForest"})
			if err != nil {
				b.Fatal(err)
			}
			ids[i] = m.ID
		}
		b.Run("ours", func(b *testing.B) {
			runClients(b, clients, 1, func(ctx context.Context, i int) error {
				_, err := e.s.ModelVersionActivate(ctx, ids[rand.IntN(versions)])
				return err
			})
		})
		plain := store.WithoutAudit(e.s)
		b.Run("no-audit", func(b *testing.B) {
			runClients(b, clients, 1, func(ctx context.Context, i int) error {
				_, err := plain.ModelVersionActivate(ctx, ids[rand.IntN(versions)])
				return err
			})
		})
		b.Run("raw", func(b *testing.B) {
			runClients(b, clients, 1, func(ctx context.Context, i int) error {
				return rawActivate(ctx, e, ids[rand.IntN(versions)])
			})
		})
	})
}

// rawActivate is ModelVersionActivate written by hand on the raw driver:
// the same statements (read the version, archive the active one, activate,
// record the activation), without the audit event.
func rawActivate(ctx context.Context, e *benchEnv, id int64) error {
	tx, err := e.rawW.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var name string
	if err := tx.QueryRowContext(ctx, `SELECT model_name FROM model_versions WHERE id = $1`, id).Scan(&name); err != nil {
		return err
	}
	if e.engine == store.Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, name); err != nil {
			return err
		}
	}
	var active bool
	var version string
	if err := tx.QueryRowContext(ctx, `SELECT is_active, version FROM model_versions WHERE id = $1`, id).Scan(&active, &version); err != nil {
		return err
	}
	if active {
		return tx.Commit()
	}
	now := time.Now().UTC()
	if _, err := tx.ExecContext(ctx, `UPDATE model_versions SET is_active = false, status = 'archived'
		WHERE model_name = $1 AND is_active AND id <> $2`, name, id); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE model_versions SET is_active = true, status = 'production', activated_at = $2
		WHERE id = $1`, id, now); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO model_activations (model_name, model_id, at) VALUES ($1, $2, $3)`, name, id, now); err != nil {
		return err
	}
	return tx.Commit()
}

// BenchmarkActionApprove: 8 goroutines each approving its own pending
// actions (one approval needed); no-audit is the same code without the
// audit insert, raw the same statements by hand (lock the row, check,
// record the approval, update) without the audit event.
func BenchmarkActionApprove(b *testing.B) {
	const clients = 8
	eachBenchEngine(b, func(b *testing.B, e *benchEnv) {
		ctx := store.WithActor(context.Background(), store.Actor{Name: "agent", Kind: mlops.KindToken})
		rctx := store.WithActor(context.Background(), store.Actor{Name: "rita", Kind: mlops.KindUser})
		var seq atomic.Int64
		pending := func(b *testing.B, prefix string) []string {
			b.Helper()
			ids := make([]string, b.N)
			for i := range ids {
				ids[i] = fmt.Sprintf("%s-%d", prefix, seq.Add(1))
				if _, err := e.s.ActionCreate(ctx, mlops.NewAgentAction{ActionID: ids[i], ActionType: "retrain",
					RiskLevel: mlops.RiskMedium}); err != nil {
					b.Fatal(err)
				}
			}
			return ids
		}
		b.Run("ours", func(b *testing.B) {
			ids := pending(b, "ours")
			runClients(b, clients, 1, func(_ context.Context, i int) error {
				_, err := e.s.ActionApprove(rctx, ids[i], "rita", "ok")
				return err
			})
		})
		plain := store.WithoutAudit(e.s)
		b.Run("no-audit", func(b *testing.B) {
			ids := pending(b, "plain")
			runClients(b, clients, 1, func(_ context.Context, i int) error {
				_, err := plain.ActionApprove(rctx, ids[i], "rita", "ok")
				return err
			})
		})
		b.Run("raw", func(b *testing.B) {
			ids := pending(b, "raw")
			runClients(b, clients, 1, func(ctx context.Context, i int) error {
				return rawApprove(ctx, e, ids[i])
			})
		})
	})
}

// rawApprove is ActionApprove written by hand on the raw driver, without
// the audit event.
func rawApprove(ctx context.Context, e *benchEnv, actionID string) error {
	tx, err := e.rawW.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	lock := ``
	if e.engine == store.Postgres {
		lock = ` FOR UPDATE`
	}
	now := time.Now().UTC()
	var (
		id                 int64
		status, by, byKind string
		expires            sql.NullTime
		risk               string
	)
	if err := tx.QueryRowContext(ctx, `SELECT id, status, risk_level, proposed_by, proposed_by_kind, expires_at
		FROM agent_actions WHERE action_id = $1`+lock, actionID).Scan(&id, &status, &risk, &by, &byKind, &expires); err != nil {
		return err
	}
	if status != "pending" || (by == "rita" && byKind == "user") {
		return fmt.Errorf("raw approve: %s is %s", actionID, status)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO action_approvals (action_id, by_name, by_kind, at, comment)
		VALUES ($1, $2, $3, $4, $5)`, id, "rita", "user", now, "ok"); err != nil {
		return err
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM action_approvals WHERE action_id = $1`, id).Scan(&n); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE agent_actions SET status = 'approved', reviewed_by = $2, reviewed_at = $3,
		review_comment = $4 WHERE action_id = $1 AND status = 'pending'`, actionID, "rita", now, "ok"); err != nil {
		return err
	}
	return tx.Commit()
}

// Scale of the read benchmarks: 1 M predictions of one model and 1 M
// points of one metric, spread evenly over 30 days, so the last 24 h hold
// about 33,000 rows.
const (
	seedRows = 1_000_000
	seedSpan = 30 * 24 * time.Hour
)

// seed fills predictions and performance_metrics with seedRows rows each,
// in the database (INSERT ... SELECT from generate_series or a recursive
// CTE), and returns the end of the seeded span.
func seed(b *testing.B, e *benchEnv) time.Time {
	b.Helper()
	ctx := context.Background()
	end := time.Now().UTC().Truncate(time.Second)
	start := end.Add(-seedSpan).Unix()
	step := float64(seedSpan/time.Second) / seedRows // seconds between rows
	began := time.Now()
	var stmts []string
	if e.engine == store.Postgres {
		stmts = []string{
			fmt.Sprintf(`INSERT INTO predictions (model_id, features, prediction, probability, latency_ms, created_at)
				SELECT %d, '{"age": 42, "income": 52000.5}', i %% 2, random(), random() * 10,
					to_timestamp(%d + i * %f) FROM generate_series(1, %d) i`, e.model.ID, start, step, seedRows),
			fmt.Sprintf(`INSERT INTO performance_metrics (metric_name, metric_value, model_id, created_at)
				SELECT 'accuracy', random(), %d, to_timestamp(%d + i * %f) FROM generate_series(1, %d) i`,
				e.model.ID, start, step, seedRows),
			`ANALYZE predictions`, `ANALYZE performance_metrics`,
		}
	} else {
		// Times in the driver's _time_format=sqlite form, whole seconds.
		ts := fmt.Sprintf(`datetime(%d + CAST(i * %f AS INTEGER), 'unixepoch') || '+00:00'`, start, step)
		stmts = []string{
			fmt.Sprintf(`WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < %d)
				INSERT INTO predictions (model_id, features, prediction, probability, latency_ms, created_at)
				SELECT %d, '{"age": 42, "income": 52000.5}', i %% 2, abs(random() %% 1000) / 1000.0,
					abs(random() %% 10000) / 1000.0, %s FROM seq`, seedRows, e.model.ID, ts),
			fmt.Sprintf(`WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < %d)
				INSERT INTO performance_metrics (metric_name, metric_value, model_id, created_at)
				SELECT 'accuracy', abs(random() %% 1000) / 1000.0, %d, %s FROM seq`, seedRows, e.model.ID, ts),
			`ANALYZE`,
		}
	}
	for _, q := range stmts {
		if _, err := e.rawW.ExecContext(ctx, q); err != nil {
			b.Fatalf("seed: %v", err)
		}
	}
	b.Logf("%s: seeded %d predictions and %d metric points in %s", e.engine, seedRows, seedRows,
		time.Since(began).Round(time.Millisecond))
	return end
}

// BenchmarkRead1M: reads over 1 M rows, seeded once per engine for all of
// its sub-benchmarks. recent_first100 and recent_window are the 24 h
// window of predictions (first page of 100, whole window of ~33k rows);
// series_raw streams all 1 M metric points and buckets_1h aggregates them
// per hour in SQL. raw is the same query hand-written on the raw driver.
func BenchmarkRead1M(b *testing.B) {
	eachBenchEngine(b, func(b *testing.B, e *benchEnv) {
		end := seed(b, e)
		since := end.Add(-24 * time.Hour)
		const recentSQL = `SELECT id, model_id, features, prediction, probability, latency_ms, actual, created_at
			FROM predictions WHERE model_id = $1 AND created_at >= $2 ORDER BY created_at DESC, id DESC`
		first100 := prepare(b, e.rawR, recentSQL+` LIMIT 100`)
		window := prepare(b, e.rawR, recentSQL)
		series := prepare(b, e.rawR, `SELECT created_at, metric_value FROM performance_metrics
			WHERE metric_name = $1 ORDER BY created_at, id`)
		bucketSQL := `SELECT (unixepoch(created_at) / 3600) * 3600 AS bucket, count(*), avg(metric_value),
			min(metric_value), max(metric_value) FROM performance_metrics WHERE metric_name = $1
			GROUP BY bucket ORDER BY bucket`
		if e.engine == store.Postgres {
			bucketSQL = `SELECT floor(extract(epoch from created_at) / 3600)::bigint * 3600 AS bucket, count(*),
				avg(metric_value), min(metric_value), max(metric_value) FROM performance_metrics
				WHERE metric_name = $1 GROUP BY bucket ORDER BY bucket`
		}
		buckets := prepare(b, e.rawR, bucketSQL)

		// readCase reports rows/s of the rows returned, or of the points
		// aggregated when scanned > 0 (buckets).
		readCase := func(name string, scanned int, ours, raw func(ctx context.Context) (int, error)) {
			for _, v := range []struct {
				name string
				fn   func(ctx context.Context) (int, error)
			}{{"ours", ours}, {"raw", raw}} {
				b.Run(name+"/"+v.name, func(b *testing.B) {
					ctx := context.Background()
					rows := 0
					for range b.N {
						n, err := v.fn(ctx)
						if err != nil {
							b.Fatal(err)
						}
						rows = n
					}
					b.ReportMetric(float64(rows), "rows/op")
					if scanned > 0 {
						b.ReportMetric(float64(scanned*b.N)/b.Elapsed().Seconds(), "points/s")
						return
					}
					reportRows(b, rows)
				})
			}
		}
		readCase("recent_first100", 0, func(ctx context.Context) (int, error) {
			items, _, err := e.s.PredictionList(ctx, store.PredictionFilter{ModelID: e.model.ID, Since: since, Page: store.Page{Limit: 100}})
			return len(items), err
		}, func(ctx context.Context) (int, error) {
			return rawPredictions(ctx, first100, e.model.ID, since)
		})
		readCase("recent_window", 0, func(ctx context.Context) (int, error) {
			items, _, err := e.s.PredictionList(ctx, store.PredictionFilter{ModelID: e.model.ID, Since: since, Page: store.Page{Limit: -1}})
			return len(items), err
		}, func(ctx context.Context) (int, error) {
			return rawPredictions(ctx, window, e.model.ID, since)
		})
		readCase("series_raw", 0, func(ctx context.Context) (int, error) {
			n := 0
			err := e.s.MetricSeriesEach(ctx, store.MetricFilter{Name: "accuracy"}, func(store.MetricPoint) error {
				n++
				return nil
			})
			return n, err
		}, func(ctx context.Context) (int, error) {
			rows, err := series.QueryContext(ctx, "accuracy")
			if err != nil {
				return 0, err
			}
			defer rows.Close()
			n := 0
			for rows.Next() {
				var at time.Time
				var v float64
				if err := rows.Scan(&at, &v); err != nil {
					return n, err
				}
				n++
			}
			return n, rows.Err()
		})
		readCase("buckets_1h", seedRows, func(ctx context.Context) (int, error) {
			bs, err := e.s.MetricBuckets(ctx, store.MetricFilter{Name: "accuracy"}, "1h")
			return len(bs), err
		}, func(ctx context.Context) (int, error) {
			rows, err := buckets.QueryContext(ctx, "accuracy")
			if err != nil {
				return 0, err
			}
			defer rows.Close()
			n := 0
			for rows.Next() {
				var start, count int64
				var avg, lo, hi float64
				if err := rows.Scan(&start, &count, &avg, &lo, &hi); err != nil {
					return n, err
				}
				n++
			}
			return n, rows.Err()
		})
	})
}

// rawPredictions reads a recent-predictions query into a slice, as
// hand-written code returning the list would.
func rawPredictions(ctx context.Context, stmt *sql.Stmt, modelID int64, since time.Time) (int, error) {
	rows, err := stmt.QueryContext(ctx, modelID, since)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var out []mlops.Prediction
	for rows.Next() {
		var (
			p             mlops.Prediction
			features      []byte
			prob, latency sql.NullFloat64
			actual        sql.NullInt64
		)
		if err := rows.Scan(&p.ID, &p.ModelID, &features, &p.Prediction, &prob, &latency, &actual, &p.CreatedAt); err != nil {
			return len(out), err
		}
		p.Features = append(mlops.JSON(nil), features...)
		if prob.Valid {
			p.Probability = &prob.Float64
		}
		if latency.Valid {
			p.LatencyMS = &latency.Float64
		}
		if actual.Valid {
			p.Actual = &actual.Int64
		}
		out = append(out, p)
	}
	return len(out), rows.Err()
}
