package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// bulkInsert inserts len(ids) rows into table in the store's transaction
// and fills ids in input order. row fills vals (len(cols) values, in cols
// order) with row i; vals is reused, so no row is held after it is sent.
func (s *Store) bulkInsert(ctx context.Context, table string, cols []string, row func(i int, vals []any), ids []int64, errPrefix string) error {
	i := 0
	got, err := s.bulkRows(ctx, table, cols, func(vals []any) (bool, error) {
		if i == len(ids) {
			return false, nil
		}
		row(i, vals)
		i++
		return true, nil
	}, errPrefix)
	copy(ids, got)
	return err
}

// bulkRows inserts the rows next gives into table in the store's
// transaction and returns their ids in input order: the one bulk path of
// each engine, COPY on PostgreSQL (copyNumbered), multi-row INSERTs on
// SQLite (insertChunks). next fills vals and reports false after the last
// row; an error from it stops the insert and is returned.
func (s *Store) bulkRows(ctx context.Context, table string, cols []string, next func(vals []any) (bool, error), errPrefix string) ([]int64, error) {
	if s.engine == SQLite {
		return s.insertChunks(ctx, table, cols, next, errPrefix)
	}
	return s.copyNumbered(ctx, table, cols, next)
}

// copyNumbered COPYs the rows next gives into table inside the store's
// transaction (next fills vals and reports false after the last row; it is
// called while COPY sends the rows before, so a caller that decodes its
// input in next overlaps that work with the database's), letting the id
// column's default number them, and returns the ids in input order. COPY
// draws the defaults row by row in input order, so the ids increase with
// it. They are the values after the one drawn just before the COPY, unless
// another session drew from the sequence meanwhile; then they are read back
// as this transaction's rows in that range.
func (s *Store) copyNumbered(ctx context.Context, table string, cols []string, next func(vals []any) (bool, error)) ([]int64, error) {
	if s.tx == nil {
		return nil, errors.New("store: copyNumbered outside a transaction")
	}
	var ids []int64
	err := s.txConnRaw(ctx, func(conn *pgx.Conn) error {
		var (
			partitioned bool
			seq         string
		)
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_partitioned_table WHERE partrelid = to_regclass($1)),
			pg_get_serial_sequence($1, 'id')`, table).Scan(&partitioned, &seq); err != nil {
			return classify(err)
		}
		if partitioned {
			// Ids carry their row's time (partitions.go).
			var err error
			ids, err = s.copyPartitioned(ctx, conn, table, seq, cols, next)
			return err
		}
		var before, last int64
		if err := conn.QueryRow(ctx, `SELECT nextval(pg_get_serial_sequence($1, 'id'))`, table).Scan(&before); err != nil {
			return classify(err)
		}
		vals := make([]any, len(cols))
		n, err := conn.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromFunc(func() ([]any, error) {
			if more, err := next(vals); !more || err != nil {
				return nil, err
			}
			return vals, nil
		}))
		if err != nil {
			return classify(err)
		}
		if n == 0 {
			return nil
		}
		if err := conn.QueryRow(ctx, `SELECT currval(pg_get_serial_sequence($1, 'id'))`, table).Scan(&last); err != nil {
			return classify(err)
		}
		if last-before == n {
			ids = make([]int64, n)
			for i := range ids {
				ids[i] = before + 1 + int64(i)
			}
			return nil
		}
		r, err := conn.Query(ctx, `SELECT id FROM `+table+` WHERE id > $1 AND id <= $2
			AND xmin::text = (txid_current() % 4294967296)::text ORDER BY id`, before, last)
		if err != nil {
			return classify(err)
		}
		if ids, err = pgx.CollectRows(r, pgx.RowTo[int64]); err != nil {
			return classify(err)
		}
		if int64(len(ids)) != n {
			return fmt.Errorf("store: found %d new ids in %s, wanted %d", len(ids), table, n)
		}
		return nil
	})
	return ids, err
}

// sqliteChunk is how many rows one multi-row INSERT carries on SQLite
// (7 columns x 100 rows stays far below SQLite's 32,766 parameters).
const sqliteChunk = 100

// insertChunks inserts the rows next gives into table with multi-row
// INSERTs of sqliteChunk rows on the transaction's single writer and
// returns their ids. SQLite gives an AUTOINCREMENT table's new rows
// consecutive ids above sqlite_sequence, and the write transaction (BEGIN
// IMMEDIATE) excludes every other writer, so the ids are known without
// RETURNING; the last one is checked against last_insert_rowid(). errPrefix
// names an item ("predictions[%d].").
func (s *Store) insertChunks(ctx context.Context, table string, cols []string, next func(vals []any) (bool, error), errPrefix string) ([]int64, error) {
	if s.tx == nil || s.engine != SQLite {
		return nil, fmt.Errorf("store: insertChunks needs a SQLite transaction")
	}
	var seq int64
	if err := s.tx.QueryRowContext(ctx, `SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = $1), 0)`, table).Scan(&seq); err != nil {
		return nil, classify(err)
	}
	stmts := map[int]*sql.Stmt{} // by row count: the full chunk and the remainder
	defer func() {
		for _, st := range stmts {
			st.Close()
		}
	}()
	vals := make([]any, len(cols))
	args := make([]any, 0, sqliteChunk*len(cols))
	n := 0
	for more := true; more; {
		args = args[:0]
		size := 0
		for size < sqliteChunk {
			ok, err := next(vals)
			if err != nil {
				return nil, err
			}
			if !ok {
				more = false
				break
			}
			args = append(args, vals...)
			size++
		}
		if size == 0 {
			break
		}
		st, ok := stmts[size]
		if !ok {
			var err error
			if st, err = s.tx.PrepareContext(ctx, multiInsertSQL(table, cols, size)); err != nil {
				return nil, classify(err)
			}
			stmts[size] = st
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			// The database refused one of these rows (the Go checks passed):
			// name the chunk's first item; the message says which constraint.
			return nil, prefixErr(classify(err), fmt.Sprintf(errPrefix, n))
		}
		n += size
	}
	if n == 0 {
		return nil, nil
	}
	var last int64
	if err := s.tx.QueryRowContext(ctx, `SELECT last_insert_rowid()`).Scan(&last); err != nil {
		return nil, classify(err)
	}
	if last != seq+int64(n) {
		return nil, fmt.Errorf("store: bulk insert into %s got ids up to %d, expected %d", table, last, seq+int64(n))
	}
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = seq + 1 + int64(i)
	}
	return ids, nil
}

func multiInsertSQL(table string, cols []string, n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES ")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for j := range cols {
			if j > 0 {
				b.WriteByte(',')
			}
			// Anonymous "?" placeholders: with "$N" the driver looks up each
			// parameter's name, which costs O(parameters) per parameter.
			b.WriteByte('?')
		}
		b.WriteByte(')')
	}
	return b.String()
}
