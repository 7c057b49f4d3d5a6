package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Time partitions (PostgreSQL only; docs/partitions.md). predictions and
// performance_metrics may be range-partitioned on created_at, a partition
// a day, week or month, with a DEFAULT partition for rows no partition
// covers. The layout lives in the database: a table is partitioned when
// pg_partitioned_table says so, so every process agrees without being told.
// mlops partitions migrate converts an existing database; SQLite keeps its
// single tables and the same store API.
//
// Ids carry their time on a partitioned table, so a lookup by id reaches
// one partition: id = hour << 33 | (sequence value & (2^33-1)), with hour
// the hours since the Unix epoch of created_at (0 for rows before
// 1970-01-01T01:00). Ids stay below 2^53 until 2089. Rows that existed
// before the migration keep their ids; partition_legacy_ids maps ranges of
// them to the times of their rows.

// PartitionedTables are the tables that can be partitioned, in the order
// the commands treat them.
var PartitionedTables = []string{"predictions", "performance_metrics"}

// ErrPartitionsSQLite is returned by the partition commands on SQLite.
var ErrPartitionsSQLite = errors.New("partitions are a PostgreSQL feature: DATABASE_URL names an SQLite database, whose tables are never partitioned; point DATABASE_URL at PostgreSQL")

// PartitionPeriod is the time range of one partition: a day, a week
// (Monday to Monday) or a calendar month, in UTC (MLOPS_PARTITION).
type PartitionPeriod string

// The partition periods.
const (
	PartitionDay   PartitionPeriod = "day"
	PartitionWeek  PartitionPeriod = "week"
	PartitionMonth PartitionPeriod = "month"
)

// DefaultPartitionAhead is how many periods after the current one
// PartitionsEnsure creates by default.
const DefaultPartitionAhead = 7

// DefaultPartitionPast is how many periods before the current one the
// migration creates partitions for by default; older rows go to the
// DEFAULT partition.
const DefaultPartitionPast = 100

// ParsePartitionPeriod reads day, week or month.
func ParsePartitionPeriod(s string) (PartitionPeriod, error) {
	switch p := PartitionPeriod(strings.ToLower(strings.TrimSpace(s))); p {
	case PartitionDay, PartitionWeek, PartitionMonth:
		return p, nil
	}
	return "", fmt.Errorf("partition period %q is not valid: use day, week or month", s)
}

// floor is the start of the period holding t.
func (p PartitionPeriod) floor(t time.Time) time.Time {
	t = t.UTC()
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	switch p {
	case PartitionWeek:
		return d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7))
	case PartitionMonth:
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return d
}

// next is the first period start after t.
func (p PartitionPeriod) next(t time.Time) time.Time {
	f := p.floor(t)
	switch p {
	case PartitionWeek:
		return f.AddDate(0, 0, 7)
	case PartitionMonth:
		return f.AddDate(0, 1, 0)
	}
	return f.AddDate(0, 0, 1)
}

// The id of a row in a partitioned table.
const (
	idSeqBits = 33
	idSeqMask = 1<<idSeqBits - 1
)

// idHour is the hour field of a new id for a row created at t.
func idHour(t time.Time) int64 { return max(0, floorTo(t.Unix(), 3600)/3600) }

// partitionedID is the id of a row created at t with sequence value seq.
func partitionedID(seq int64, at time.Time) int64 { return idHour(at)<<idSeqBits | seq&idSeqMask }

// newIDSQL is the SQL of a new row's id in table from seq (a value of the
// table's sequence) and at (its created_at, a timestamptz): seq itself on
// an unpartitioned table, the time-carrying id on a partitioned one. The
// layout is read by the statement itself, so a process that has not
// noticed a migration still writes the right ids.
func newIDSQL(table, seq, at string) string {
	return `CASE WHEN (SELECT EXISTS (SELECT FROM pg_partitioned_table WHERE partrelid = to_regclass('` + table + `')))
		THEN (greatest(floor(extract(epoch FROM ` + at + `) / 3600), 0)::bigint << ` + strconv.Itoa(idSeqBits) + `) | (` + seq + ` & ` + strconv.FormatInt(idSeqMask, 10) + `)
		ELSE ` + seq + ` END`
}

// partitionLayout is what the store knows of one table's layout.
type partitionLayout struct {
	partitioned bool
	legacyMax   int64 // the largest id of a row older than the migration
	// legacy are the id ranges of the rows older than the migration with
	// the times of their rows (partition_legacy_ids), by id_from: a
	// thousand for 10 M rows copied 10,000 a batch.
	legacy []legacyRange
}

// legacyRange is one row of partition_legacy_ids.
type legacyRange struct {
	idFrom, idTo int64
	from, to     time.Time
}

// partitionState is shared by a store and its transaction-bound copies.
type partitionState struct {
	mu     sync.RWMutex
	tables map[string]partitionLayout
}

func (p *partitionState) get(table string) partitionLayout {
	if p == nil {
		return partitionLayout{}
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.tables[table]
}

// loadPartitions reads the layout of the partitionable tables. Lookups by
// id use it to reach one partition; without it they are still right, only
// slower.
func (s *Store) loadPartitions(ctx context.Context) error {
	if s.engine != Postgres {
		return nil
	}
	m := map[string]partitionLayout{}
	for _, t := range PartitionedTables {
		var l partitionLayout
		var legacy bool
		err := s.primary().QueryRowContext(ctx, `SELECT EXISTS (SELECT FROM pg_partitioned_table WHERE partrelid = to_regclass($1)),
			to_regclass('partition_legacy_ids') IS NOT NULL`, t).Scan(&l.partitioned, &legacy)
		if err != nil {
			return classify(err)
		}
		if l.partitioned && legacy {
			rows, err := s.primary().QueryContext(ctx, `SELECT id_from, id_to, created_from, created_to
				FROM partition_legacy_ids WHERE table_name = $1 ORDER BY id_from`, t)
			if l.legacy, err = collect(rows, err, func(sc scanner) (legacyRange, error) {
				var r legacyRange
				return r, sc.Scan(&r.idFrom, &r.idTo, &r.from, &r.to)
			}); err != nil {
				return err
			}
			if len(l.legacy) > 0 {
				l.legacyMax = l.legacy[len(l.legacy)-1].idTo
			}
		}
		m[t] = l
	}
	s.parts.mu.Lock()
	s.parts.tables = m
	s.parts.mu.Unlock()
	return nil
}

// Partitioned reports whether table is partitioned, as the store last read
// it (at Open, and after PartitionsMigrate and PartitionsEnsure).
func (s *Store) Partitioned(table string) bool { return s.parts.get(table).partitioned }

// predictionWhereID is the condition selecting the prediction with id, its
// placeholders starting at $n, and their arguments: id = $n, and on a
// partitioned table a range of created_at that lets the planner reach one
// partition. Every statement that addresses a prediction by id uses it.
func (s *Store) predictionWhereID(id int64, n int) (string, []any) {
	return s.whereID("predictions", id, n)
}

// whereID is predictionWhereID for any partitionable table.
func (s *Store) whereID(table string, id int64, n int) (string, []any) {
	p := "$" + strconv.Itoa(n)
	l := s.parts.get(table)
	if !l.partitioned {
		return "id = " + p, []any{id}
	}
	hour := id >> idSeqBits
	switch {
	case id > 0 && id <= l.legacyMax:
		// A row older than the migration: the time range of its batch,
		// as values, so the planner prunes before planning the partitions.
		i, _ := slices.BinarySearchFunc(l.legacy, id, func(r legacyRange, id int64) int { return cmp.Compare(r.idFrom, id+1) })
		if i == 0 || l.legacy[i-1].idTo < id {
			return "id = " + p, []any{id} // in no range: a search of every partition finds nothing
		}
		r := l.legacy[i-1]
		return "id = " + p + " AND created_at >= $" + strconv.Itoa(n+1) + " AND created_at <= $" + strconv.Itoa(n+2),
			[]any{id, r.from, r.to}
	case hour <= 0:
		// Created before 1970-01-01T01:00 (the DEFAULT partition).
		return "id = " + p + " AND created_at < $" + strconv.Itoa(n+1), []any{id, time.Unix(3600, 0).UTC()}
	default:
		from := time.Unix(hour*3600, 0).UTC()
		return "id = " + p + " AND created_at >= $" + strconv.Itoa(n+1) + " AND created_at < $" + strconv.Itoa(n+2),
			[]any{id, from, from.Add(time.Hour)}
	}
}

// partitionedNow reads from the database, in the store's transaction when
// there is one, whether table is partitioned.
func (s *Store) partitionedNow(ctx context.Context, q querier, table string) (bool, error) {
	if s.engine != Postgres {
		return false, nil
	}
	var on bool
	err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT FROM pg_partitioned_table WHERE partrelid = to_regclass($1))`, table).Scan(&on)
	return on, classify(err)
}

// copyPartitioned is copyNumbered for a partitioned table: the ids are
// drawn from the table's sequence seq (named once by the caller:
// pg_get_serial_sequence in the statement that draws the values would run
// for every value) and computed here from each row's created_at (column
// of cols). The rows stream into one COPY per chunk of drawn values,
// chunks doubling from 256 to 4,096 rows, so that next still runs while
// the rows before are sent, and a small batch draws few values (drawing
// costs about half a microsecond a value); the values of a chunk left
// unused are skipped.
func (s *Store) copyPartitioned(ctx context.Context, conn *pgx.Conn, table, seq string, cols []string, next func(vals []any) (bool, error)) ([]int64, error) {
	at := slices.Index(cols, "created_at")
	if at < 0 {
		return nil, fmt.Errorf("store: a row of partitioned %s needs created_at", table)
	}
	var ids []int64
	vals := make([]any, len(cols))
	row := make([]any, len(cols)+1)
	withID := append([]string{"id"}, cols...)
	sizes := []int{256, 512, 1024, 2048, 4096}
	var failed error // from next: CopyFrom wraps what its source returns
	for k, done := 0, false; !done; k++ {
		var seqs []int64
		if err := conn.QueryRow(ctx, `SELECT array_agg(nextval($1::regclass)) FROM generate_series(1, $2)`,
			seq, sizes[min(k, len(sizes)-1)]).Scan(&seqs); err != nil {
			return nil, classify(err)
		}
		i := 0
		_, err := conn.CopyFrom(ctx, pgx.Identifier{table}, withID, pgx.CopyFromFunc(func() ([]any, error) {
			if i == len(seqs) {
				return nil, nil
			}
			more, err := next(vals)
			if err != nil || !more {
				done, failed = true, err
				return nil, err
			}
			t, ok := vals[at].(time.Time)
			if !ok {
				failed = fmt.Errorf("store: created_at of %s is %T, not a time", table, vals[at])
				return nil, failed
			}
			copy(row[1:], vals)
			row[0] = partitionedID(seqs[i], t)
			ids = append(ids, row[0].(int64))
			i++
			return row, nil
		}))
		if failed != nil {
			return nil, failed
		}
		if err != nil {
			return nil, classify(err)
		}
	}
	return ids, nil
}

// Partition is one partition of a partitioned table.
type Partition struct {
	Table string // predictions or performance_metrics
	Name  string
	// From and To bound created_at, [From, To); both zero for the DEFAULT
	// partition.
	From, To time.Time
	Default  bool
	// Rows is exact when RowsExact, else PostgreSQL's estimate
	// (pg_class.reltuples, as of the last VACUUM or ANALYZE; -1: never
	// estimated).
	Rows      int64
	RowsExact bool
	Bytes     int64 // on disk, with indexes and TOAST
}

// partitionsOf lists the partitions of table, oldest first, the DEFAULT
// partition first of all.
func partitionsOf(ctx context.Context, q querier, table string) ([]Partition, error) {
	rows, err := q.QueryContext(ctx, `
		SELECT c.relname, b[1]::timestamptz, b[2]::timestamptz, c.reltuples::bigint, pg_total_relation_size(c.oid)
		FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		CROSS JOIN LATERAL (SELECT regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']*)''\) TO \(''([^'']*)''\)') AS b) x
		WHERE i.inhparent = to_regclass($1)
		ORDER BY 2 NULLS FIRST`, table)
	return collect(rows, err, func(sc scanner) (Partition, error) {
		p := Partition{Table: table}
		var from, to sql.NullTime
		err := sc.Scan(&p.Name, &from, &to, &p.Rows, &p.Bytes)
		p.Default = !from.Valid
		if from.Valid {
			p.From, p.To = from.Time.UTC(), to.Time.UTC()
		}
		return p, err
	})
}

// PartitionList lists the partitions of every partitioned table, oldest
// first. exact counts each partition's rows (a scan of every one);
// otherwise Rows is PostgreSQL's estimate.
func (s *Store) PartitionList(ctx context.Context, exact bool) ([]Partition, error) {
	if s.engine != Postgres {
		return nil, ErrPartitionsSQLite
	}
	var out []Partition
	for _, t := range PartitionedTables {
		ps, err := partitionsOf(ctx, s.primary(), t)
		if err != nil {
			return nil, err
		}
		for i := range ps {
			if exact {
				if err := s.primary().QueryRowContext(ctx, `SELECT count(*) FROM `+pgx.Identifier{ps[i].Name}.Sanitize()).Scan(&ps[i].Rows); err != nil {
					return nil, classify(err)
				}
				ps[i].RowsExact = true
			}
		}
		out = append(out, ps...)
	}
	return out, nil
}

// partitionName is the name of table's partition starting at from.
func partitionName(table string, from time.Time) string {
	return table + "_p" + from.UTC().Format("20060102")
}

// pgTime is t as a timestamptz literal (no user text ever reaches it).
func pgTime(t time.Time) string { return "'" + t.UTC().Format("2006-01-02 15:04:05+00") + "'" }

// ensurePartitions creates table's partitions (named after parent, which
// is table itself or the table a migration fills) up to the period holding
// until, starting at the end of the last one or at from when there is
// none or it ends earlier, and the DEFAULT partition if missing. Rows the
// DEFAULT partition holds in a new range move into it. It returns the
// partitions created.
func (s *Store) ensurePartitions(ctx context.Context, parent, table string, period PartitionPeriod, from, until time.Time) ([]string, error) {
	var created []string
	for {
		c, err := s.ensureSomePartitions(ctx, parent, table, period, from, until)
		created = append(created, c...)
		if err != nil || len(c) < partitionsPerTx {
			return created, err
		}
	}
}

// partitionsPerTx bounds the partitions one transaction creates: each
// takes a handful of locks until the commit, and PostgreSQL's lock table
// is sized for about 64 a connection.
const partitionsPerTx = 32

// ensureSomePartitions is one transaction of ensurePartitions: it creates
// at most partitionsPerTx partitions.
func (s *Store) ensureSomePartitions(ctx context.Context, parent, table string, period PartitionPeriod, from, until time.Time) ([]string, error) {
	var created []string
	err := s.InTx(ctx, func(tx *Store) error {
		// One process at a time per table.
		if _, err := tx.writer().ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('mlops partitions ' || current_schema() || '.' || $1))`, parent); err != nil {
			return classify(err)
		}
		ps, err := partitionsOf(ctx, tx.writer(), parent)
		if err != nil {
			return err
		}
		def := table + "_default"
		hasDefault := false
		start := period.floor(from)
		for _, p := range ps {
			if p.Default {
				hasDefault, def = true, p.Name
			} else if p.To.After(start) {
				start = p.To
			}
		}
		if !hasDefault {
			if _, err := tx.writer().ExecContext(ctx, `CREATE TABLE `+def+` PARTITION OF `+parent+` DEFAULT`); err != nil {
				return classify(err)
			}
			created = append(created, def)
		}
		for start.Before(period.next(until)) && len(created) < partitionsPerTx {
			end := period.next(start)
			name := partitionName(table, start)
			var strays bool
			if err := tx.writer().QueryRowContext(ctx, `SELECT EXISTS (SELECT FROM `+def+` WHERE created_at >= $1 AND created_at < $2)`,
				start, end).Scan(&strays); err != nil {
				return classify(err)
			}
			bounds := ` FOR VALUES FROM (` + pgTime(start) + `) TO (` + pgTime(end) + `)`
			stmts := []string{`CREATE TABLE ` + name + ` PARTITION OF ` + parent + bounds}
			if strays {
				// The DEFAULT partition holds rows of this range: move them
				// into the new table before it becomes a partition.
				stmts = []string{
					`CREATE TABLE ` + name + ` (LIKE ` + parent + ` INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`,
					`WITH moved AS (DELETE FROM ` + def + ` WHERE created_at >= ` + pgTime(start) + ` AND created_at < ` + pgTime(end) +
						` RETURNING *) INSERT INTO ` + name + ` SELECT * FROM moved`,
					`ALTER TABLE ` + parent + ` ATTACH PARTITION ` + name + bounds,
				}
			}
			for _, q := range stmts {
				if _, err := tx.writer().ExecContext(ctx, q); err != nil {
					return fmt.Errorf("create partition %s: %w", name, classify(err))
				}
			}
			created = append(created, name)
			start = end
		}
		return nil
	})
	return created, err
}

// PartitionsEnsure creates, for every partitioned table, the partitions of
// the current period and of the ahead periods after it that are missing
// (mlops partitions ensure; mlops serve runs it at start and every hour).
// A table that is not partitioned is left alone. It returns the partitions
// created.
func (s *Store) PartitionsEnsure(ctx context.Context, period PartitionPeriod, ahead int) ([]string, error) {
	if s.engine != Postgres {
		return nil, ErrPartitionsSQLite
	}
	if _, err := ParsePartitionPeriod(string(period)); err != nil {
		return nil, err
	}
	if err := s.loadPartitions(ctx); err != nil {
		return nil, err
	}
	now := s.Now()
	until := now
	for range ahead {
		until = period.next(until)
	}
	var created []string
	for _, t := range PartitionedTables {
		if !s.Partitioned(t) {
			continue
		}
		c, err := s.ensurePartitions(ctx, t, t, period, now, until)
		created = append(created, c...)
		if err != nil {
			return created, fmt.Errorf("%s: %w", t, err)
		}
	}
	return created, nil
}

// dropPartitionsBefore drops, oldest first, the partitions of table that
// end at or before cutoff, each in its own transaction with the rollups of
// its range (the metric rollups, or the prediction rollups), and returns
// the rows they held and their names. progress gets the running total
// after each.
func (s *Store) dropPartitionsBefore(ctx context.Context, table string, cutoff time.Time, progress func(int64)) (int64, []string, error) {
	ps, err := partitionsOf(ctx, s.primary(), table)
	if err != nil {
		return 0, nil, err
	}
	var total int64
	var dropped []string
	for _, p := range ps {
		if p.Default || p.To.After(cutoff) {
			continue
		}
		var n int64
		err := s.InTx(ctx, func(tx *Store) error {
			if err := tx.writer().QueryRowContext(ctx, `SELECT count(*) FROM `+p.Name).Scan(&n); err != nil {
				return classify(err)
			}
			from, to := p.From.Unix(), p.To.Unix()
			switch table {
			case "performance_metrics":
				for _, l := range []rollupLevel{minuteRollups, hourRollups} {
					if _, err := tx.writer().ExecContext(ctx, `DELETE FROM `+l.table+` WHERE `+l.col+` >= $1 AND `+l.col+` < $2`, from, to); err != nil {
						return classify(err)
					}
				}
			case "predictions":
				if err := tx.forgetPredictionRollups(ctx, from, to); err != nil {
					return err
				}
			}
			for _, q := range []string{`ALTER TABLE ` + table + ` DETACH PARTITION ` + p.Name, `DROP TABLE ` + p.Name} {
				if _, err := tx.writer().ExecContext(ctx, q); err != nil {
					return classify(err)
				}
			}
			return nil
		})
		if err != nil {
			return total, dropped, fmt.Errorf("drop partition %s: %w", p.Name, err)
		}
		total += n
		dropped = append(dropped, p.Name)
		if progress != nil {
			progress(total)
		}
	}
	return total, dropped, nil
}

// MigrateProgress reports a partition migration's progress: rows of table
// copied so far, of about total.
type MigrateProgress struct {
	Table         string
	Copied, Total int64
	Done          bool // the table has just been swapped for its partitioned copy
}

// PartitionsMigrateOptions tune PartitionsMigrate.
type PartitionsMigrateOptions struct {
	Period PartitionPeriod // default day
	Batch  int             // rows copied per transaction; default 10000
	Ahead  int             // periods created after the current one; default DefaultPartitionAhead
	// Past bounds the partitions created for the rows already stored: from
	// the oldest row's period, at most Past periods before the current one
	// (older rows go to the DEFAULT partition). Default DefaultPartitionPast.
	Past int
	// Progress, when set, is called after each batch and when a table is
	// done.
	Progress func(MigrateProgress)
}

// ErrAlreadyPartitioned is returned by PartitionsMigrate when every table
// is partitioned already.
var ErrAlreadyPartitioned = errors.New("predictions and performance_metrics are already partitioned: nothing to migrate (mlops partitions list shows the partitions)")

// PartitionsMigrate converts predictions and performance_metrics into the
// partitioned layout (mlops partitions migrate), table by table: it
// creates <table>_new, partitioned, with partitions from the oldest row's
// period (at most Past periods back) to Ahead periods after now, then
// copies the rows in id order, Batch a transaction, remembering the last
// id copied in partition_migrations so that a rerun after an interruption
// continues where it stopped. Writes made meanwhile are logged by triggers
// on the table and copied again. The last step, in one transaction that
// locks the table, copies the rest, swaps the names and hands the sequence
// over. Every row keeps its id; partition_legacy_ids remembers the times of
// the id ranges copied, for lookups by id. It returns ErrAlreadyPartitioned
// when there is nothing left to do.
func (s *Store) PartitionsMigrate(ctx context.Context, o PartitionsMigrateOptions) error {
	if s.engine != Postgres {
		return ErrPartitionsSQLite
	}
	if s.tx != nil {
		return errors.New("store: PartitionsMigrate runs its own transactions")
	}
	if o.Period == "" {
		o.Period = PartitionDay
	}
	if _, err := ParsePartitionPeriod(string(o.Period)); err != nil {
		return err
	}
	if o.Batch <= 0 {
		o.Batch = 10000
	}
	if o.Ahead <= 0 {
		o.Ahead = DefaultPartitionAhead
	}
	if o.Past <= 0 {
		o.Past = DefaultPartitionPast
	}
	if n := s.wdb.Stats().MaxOpenConnections; n > 0 && n < 2 {
		return errors.New("partitioning needs two database connections (one holds its lock): set DATABASE_POOL_SIZE to 2 or more")
	}
	// One migration at a time: an advisory lock held on a connection of its
	// own for the whole run.
	conn, err := s.wdb.Conn(ctx)
	if err != nil {
		return classify(err)
	}
	defer conn.Close()
	var got bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock(hashtext('mlops partitions migrate ' || current_schema()))`).Scan(&got); err != nil {
		return classify(err)
	}
	if !got {
		return errors.New("another mlops partitions migrate is running on this database; wait for it to finish")
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtext('mlops partitions migrate ' || current_schema()))`)

	left := 0
	for _, t := range PartitionedTables {
		on, err := s.partitionedNow(ctx, s.primary(), t)
		if err != nil {
			return err
		}
		if on {
			continue
		}
		var exists bool
		if err := s.primary().QueryRowContext(ctx, `SELECT to_regclass($1) IS NOT NULL`, t).Scan(&exists); err != nil {
			return classify(err)
		}
		if !exists {
			return fmt.Errorf("table %s does not exist: run mlops migrate upgrade first", t)
		}
		left++
		if err := s.migrateTable(ctx, t, o); err != nil {
			return fmt.Errorf("partition %s: %w (run the command again to continue where it stopped)", t, err)
		}
	}
	if left == 0 {
		return ErrAlreadyPartitioned
	}
	// Nothing is left half done: drop the migration's machinery.
	for _, q := range []string{`DROP TABLE IF EXISTS partition_migration_log`, `DROP TABLE IF EXISTS partition_migrations`,
		`DROP FUNCTION IF EXISTS partition_migration_log()`} {
		if _, err := s.writer().ExecContext(ctx, q); err != nil {
			return classify(err)
		}
	}
	return s.loadPartitions(ctx)
}

// migrationSetupSQL creates the tables and the trigger function the
// migration keeps its state in.
const migrationSetupSQL = `
CREATE TABLE IF NOT EXISTS partition_legacy_ids (
    table_name   TEXT        NOT NULL,
    id_from      BIGINT      NOT NULL,
    id_to        BIGINT      NOT NULL,
    created_from TIMESTAMPTZ NOT NULL,
    created_to   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (table_name, id_from)
);
CREATE TABLE IF NOT EXISTS partition_migrations (
    table_name TEXT PRIMARY KEY,
    last_id    BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS partition_migration_log (
    table_name TEXT        NOT NULL,
    id         BIGINT      NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE OR REPLACE FUNCTION partition_migration_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO partition_migration_log (table_name, id, created_at) SELECT TG_TABLE_NAME, id, created_at FROM new_rows;
    ELSE
        INSERT INTO partition_migration_log (table_name, id, created_at) SELECT TG_TABLE_NAME, id, created_at FROM old_rows;
    END IF;
    RETURN NULL;
END $$;`

var indexDefRE = regexp.MustCompile(`^CREATE (UNIQUE )?INDEX (\S+) ON (\S+) (USING .*)$`)

// migrateTable converts one table (see PartitionsMigrate).
func (s *Store) migrateTable(ctx context.Context, table string, o PartitionsMigrateOptions) error {
	newT := table + "_new"
	var started bool
	if err := s.primary().QueryRowContext(ctx, `SELECT to_regclass($1) IS NOT NULL AND to_regclass('partition_migrations') IS NOT NULL`, newT).Scan(&started); err != nil {
		return classify(err)
	}
	if !started {
		if err := s.migrateSetup(ctx, table, o); err != nil {
			return err
		}
	}
	if err := s.migratePartitions(ctx, table, o); err != nil {
		return err
	}
	var cols []string
	rows, err := s.primary().QueryContext(ctx, `SELECT column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, newT)
	if cols, err = collect(rows, err, func(sc scanner) (string, error) {
		var c string
		return c, sc.Scan(&c)
	}); err != nil {
		return err
	}
	colList := strings.Join(cols, ", ")
	var last, total int64
	if err := s.primary().QueryRowContext(ctx, `SELECT last_id, (SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = to_regclass($1))
		FROM partition_migrations WHERE table_name = $1`, table).Scan(&last, &total); err != nil {
		return fmt.Errorf("read the migration's state: %w", classify(err))
	}
	var copied int64
	if err := s.primary().QueryRowContext(ctx, `SELECT count(*) FROM `+newT).Scan(&copied); err != nil {
		return classify(err)
	}
	claim := 10 * o.Batch
	for {
		var n, claimed int64
		err := s.InTx(ctx, func(tx *Store) error {
			var err error
			if n, last, err = tx.copyRange(ctx, table, colList, last, o.Batch); err != nil {
				return err
			}
			claimed, err = tx.resync(ctx, table, colList, last, claim)
			return err
		})
		if err != nil {
			return err
		}
		copied += n
		if o.Progress != nil && n > 0 {
			o.Progress(MigrateProgress{Table: table, Copied: copied, Total: max(total, copied)})
		}
		if n == 0 && claimed < int64(claim) {
			break
		}
	}
	// The last step: everything that is left, under a lock, then the swap.
	err = s.InTx(ctx, func(tx *Store) error {
		if _, err := tx.writer().ExecContext(ctx, `LOCK TABLE `+table+` IN ACCESS EXCLUSIVE MODE`); err != nil {
			return classify(err)
		}
		for {
			var n int64
			var err error
			if n, last, err = tx.copyRange(ctx, table, colList, last, o.Batch); err != nil {
				return err
			}
			copied += n
			if n == 0 {
				break
			}
		}
		for {
			claimed, err := tx.resync(ctx, table, colList, last, claim)
			if err != nil {
				return err
			}
			if claimed == 0 {
				break
			}
		}
		var names []string
		rows, err := tx.writer().QueryContext(ctx, `SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
			WHERE i.indrelid = to_regclass($1) AND NOT i.indisprimary`, newT)
		if names, err = collect(rows, err, func(sc scanner) (string, error) {
			var c string
			return c, sc.Scan(&c)
		}); err != nil {
			return err
		}
		stmts := []string{
			`SELECT setval('` + newT + `_id_seq', greatest(nextval(pg_get_serial_sequence('` + table + `', 'id')), ` + strconv.FormatInt(last, 10) + `, 1))`,
			`DROP TABLE ` + table,
			`ALTER TABLE ` + newT + ` RENAME TO ` + table,
			`ALTER SEQUENCE ` + newT + `_id_seq RENAME TO ` + table + `_id_seq`,
			`ALTER TABLE ` + table + ` RENAME CONSTRAINT ` + newT + `_pkey TO ` + table + `_pkey`,
		}
		for _, ix := range names {
			stmts = append(stmts, `ALTER INDEX `+ix+` RENAME TO `+strings.TrimSuffix(ix, "_new"))
		}
		stmts = append(stmts,
			`DELETE FROM partition_migrations WHERE table_name = '`+table+`'`,
			`DELETE FROM partition_migration_log WHERE table_name = '`+table+`'`)
		for _, q := range stmts {
			if _, err := tx.writer().ExecContext(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", q, classify(err))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if o.Progress != nil {
		o.Progress(MigrateProgress{Table: table, Copied: copied, Total: copied, Done: true})
	}
	return nil
}

// migrateSetup creates table's partitioned copy, the migration's state and the triggers that log the writes made meanwhile,
// in one transaction.
func (s *Store) migrateSetup(ctx context.Context, table string, o PartitionsMigrateOptions) error {
	newT := table + "_new"
	return s.InTx(ctx, func(tx *Store) error {
		w := tx.writer()
		if _, err := w.ExecContext(ctx, migrationSetupSQL); err != nil {
			return classify(err)
		}
		var maxID int64
		if err := w.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM `+table).Scan(&maxID); err != nil {
			return classify(err)
		}
		if maxID > idSeqMask {
			return fmt.Errorf("%s has ids up to %d, beyond the %d a partitioned table leaves for rows older than the migration", table, maxID, int64(idSeqMask))
		}
		var idx []string
		rows, err := w.QueryContext(ctx, `SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = to_regclass($1) AND NOT indisprimary ORDER BY indexrelid`, table)
		if idx, err = collect(rows, err, func(sc scanner) (string, error) {
			var d string
			return d, sc.Scan(&d)
		}); err != nil {
			return err
		}
		var fks []string
		rows, err = w.QueryContext(ctx, `SELECT 'ADD CONSTRAINT ' || quote_ident(conname) || ' ' || pg_get_constraintdef(oid)
			FROM pg_constraint WHERE conrelid = to_regclass($1) AND contype = 'f' ORDER BY conname`, table)
		if fks, err = collect(rows, err, func(sc scanner) (string, error) {
			var d string
			return d, sc.Scan(&d)
		}); err != nil {
			return err
		}
		stmts := []string{
			`CREATE TABLE ` + newT + ` (LIKE ` + table + ` INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS) PARTITION BY RANGE (created_at)`,
			// Each process caches 100 values: drawing them is most of what a
			// batch costs beyond the COPY itself.
			`CREATE SEQUENCE ` + newT + `_id_seq CACHE 100 OWNED BY ` + newT + `.id`,
			`ALTER TABLE ` + newT + ` ADD PRIMARY KEY (id, created_at)`,
		}
		for _, d := range idx {
			m := indexDefRE.FindStringSubmatch(d)
			if m == nil {
				return fmt.Errorf("cannot copy index %q of %s", d, table)
			}
			if m[1] != "" {
				return fmt.Errorf("%s has a unique index (%s) without created_at, which a partitioned table cannot hold; drop it first", table, m[2])
			}
			stmts = append(stmts, `CREATE INDEX `+m[2]+`_new ON `+newT+` `+m[4])
		}
		for _, fk := range fks {
			stmts = append(stmts, `ALTER TABLE `+newT+` `+fk)
		}
		stmts = append(stmts,
			`INSERT INTO partition_migrations (table_name, last_id) VALUES ('`+table+`', 0)`,
			`CREATE TRIGGER partition_migration_ins AFTER INSERT ON `+table+` REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION partition_migration_log()`,
			`CREATE TRIGGER partition_migration_upd AFTER UPDATE ON `+table+` REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION partition_migration_log()`,
			`CREATE TRIGGER partition_migration_del AFTER DELETE ON `+table+` REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION partition_migration_log()`,
		)
		for _, q := range stmts {
			if _, err := w.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", q, classify(err))
			}
		}
		return nil
	})
}

// migratePartitions creates the partitions of table's partitioned copy:
// from the oldest row's period (at most o.Past periods back, and not
// before 1970) to o.Ahead periods after now, in transactions of their own;
// a rerun creates only those still missing.
func (s *Store) migratePartitions(ctx context.Context, table string, o PartitionsMigrateOptions) error {
	var oldest sql.NullTime
	if err := s.primary().QueryRowContext(ctx, `SELECT min(created_at) FROM `+table).Scan(&oldest); err != nil {
		return classify(err)
	}
	now := s.Now()
	from := now
	if oldest.Valid {
		from = oldest.Time
	}
	floor := now
	for range o.Past {
		floor = o.Period.floor(floor.Add(-time.Nanosecond))
	}
	from = maxTime(from, floor, time.Unix(0, 0))
	until := now
	for range o.Ahead {
		until = o.Period.next(until)
	}
	_, err := s.ensurePartitions(ctx, table+"_new", table, o.Period, from, until)
	return err
}

func maxTime(ts ...time.Time) time.Time {
	m := ts[0]
	for _, t := range ts[1:] {
		if t.After(m) {
			m = t
		}
	}
	return m
}

// copyRange copies the next batch rows of table above id last into its
// partitioned copy, records the batch's id and time range in
// partition_legacy_ids and the new last id in partition_migrations, and
// returns how many rows it copied and the new last id.
func (s *Store) copyRange(ctx context.Context, table, cols string, last int64, batch int) (int64, int64, error) {
	var (
		n      int64
		maxID  sql.NullInt64
		lo, hi sql.NullTime
	)
	err := s.writer().QueryRowContext(ctx, `WITH b AS (SELECT `+cols+` FROM `+table+` WHERE id > $1 ORDER BY id LIMIT `+strconv.Itoa(batch)+`),
		ins AS (INSERT INTO `+table+`_new (`+cols+`) SELECT `+cols+` FROM b)
		SELECT count(*), max(id), min(created_at), max(created_at) FROM b`, last).Scan(&n, &maxID, &lo, &hi)
	if err != nil || n == 0 {
		return 0, last, classify(err)
	}
	if _, err := s.writer().ExecContext(ctx, `INSERT INTO partition_legacy_ids (table_name, id_from, id_to, created_from, created_to) VALUES ($1, $2, $3, $4, $5)`,
		table, last+1, maxID.Int64, lo.Time, hi.Time); err != nil {
		return 0, last, classify(err)
	}
	if _, err := s.writer().ExecContext(ctx, `UPDATE partition_migrations SET last_id = $2 WHERE table_name = $1`, table, maxID.Int64); err != nil {
		return 0, last, classify(err)
	}
	return n, maxID.Int64, nil
}

// resync takes up to limit logged writes of table and copies the rows they
// touched again, as they are now, for those at or below id last (the rows
// above it are still to be copied by copyRange); it widens the time range
// of their partition_legacy_ids entries to their times. It returns how
// many log entries it took.
func (s *Store) resync(ctx context.Context, table, cols string, last int64, limit int) (int64, error) {
	w := s.writer()
	rows, err := w.QueryContext(ctx, `DELETE FROM partition_migration_log WHERE ctid IN (
		SELECT ctid FROM partition_migration_log WHERE table_name = $1 LIMIT `+strconv.Itoa(limit)+`) RETURNING id, created_at`, table)
	type entry struct {
		id int64
		at time.Time
	}
	got, err := collect(rows, err, func(sc scanner) (entry, error) {
		var e entry
		return e, sc.Scan(&e.id, &e.at)
	})
	if err != nil || len(got) == 0 {
		return 0, err
	}
	var ids []int64
	var ats []time.Time
	seen := map[int64]bool{}
	for _, e := range got {
		if e.id > last {
			continue
		}
		ids, ats = append(ids, e.id), append(ats, e.at)
		seen[e.id] = true
	}
	if len(ids) == 0 {
		return int64(len(got)), nil
	}
	distinct := make([]int64, 0, len(seen))
	for id := range seen {
		distinct = append(distinct, id)
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`DELETE FROM ` + table + `_new WHERE (id, created_at) IN (SELECT * FROM unnest($1::bigint[], $2::timestamptz[]))`, []any{ids, ats}},
		{`INSERT INTO ` + table + `_new (` + cols + `) SELECT ` + cols + ` FROM ` + table + ` WHERE id = ANY($1)`, []any{distinct}},
		{`UPDATE partition_legacy_ids m SET created_from = least(m.created_from, a.lo), created_to = greatest(m.created_to, a.hi)
			FROM (SELECT (SELECT l.id_from FROM partition_legacy_ids l WHERE l.table_name = $1 AND l.id_from <= r.id ORDER BY l.id_from DESC LIMIT 1) AS id_from,
					min(r.created_at) AS lo, max(r.created_at) AS hi
				FROM ` + table + ` r WHERE r.id = ANY($2) GROUP BY 1) a
			WHERE m.table_name = $1 AND m.id_from = a.id_from`, []any{table, distinct}},
	} {
		if _, err := w.ExecContext(ctx, q.sql, q.args...); err != nil {
			return 0, classify(err)
		}
	}
	return int64(len(got)), nil
}
