package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/mlopsdev/mlops"
)

// Limits of list queries.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Cursor is a keyset position: the (created_at, id) of the last row of a
// page. Rows inserted while a client pages never shift its next page.
type Cursor struct {
	CreatedAt time.Time
	ID        int64
}

// Encode returns the opaque text form of c.
func (c Cursor) Encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("v1:%d:%d", c.CreatedAt.UnixMicro(), c.ID)))
}

// DecodeCursor parses a cursor issued by Encode. An empty string is the
// first page (nil).
func DecodeCursor(s string) (*Cursor, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	parts := strings.Split(string(b), ":")
	if err != nil || len(parts) != 3 || parts[0] != "v1" {
		return nil, mlops.Invalid("cursor", "is not a cursor this service issued; pass next_cursor from a previous page unchanged")
	}
	us, err1 := strconv.ParseInt(parts[1], 10, 64)
	id, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || id <= 0 {
		return nil, mlops.Invalid("cursor", "is not a cursor this service issued; pass next_cursor from a previous page unchanged")
	}
	return &Cursor{CreatedAt: time.UnixMicro(us).UTC(), ID: id}, nil
}

// Page is the paging input of list methods.
type Page struct {
	// Limit is the page size: 0 means DefaultLimit; values above MaxLimit
	// are refused. A negative Limit means no limit (library use only).
	Limit int
	// Cursor is next_cursor of the previous page, or empty.
	Cursor string
}

func (p Page) resolve() (limit int, cur *Cursor, err error) {
	limit = p.Limit
	switch {
	case limit == 0:
		limit = DefaultLimit
	case limit > MaxLimit:
		return 0, nil, mlops.Invalid("limit", "must be between 1 and %d, got %d", MaxLimit, limit)
	}
	cur, err = DecodeCursor(p.Cursor)
	return limit, cur, err
}

// query accumulates a WHERE clause with $N placeholders. Only fixed SQL
// fragments go into it; user values always go into args.
type query struct {
	where []string
	args  []any
}

// add appends a condition; "?" in cond is replaced by the next placeholder(s).
func (q *query) add(cond string, args ...any) {
	for _, a := range args {
		q.args = append(q.args, a)
		cond = strings.Replace(cond, "?", "$"+strconv.Itoa(len(q.args)), 1)
	}
	q.where = append(q.where, cond)
}

// keyset adds the condition for rows older than the cursor (newest first).
func (q *query) keyset(cur *Cursor) {
	if cur != nil {
		q.add("(created_at < ? OR (created_at = ? AND id < ?))", cur.CreatedAt, cur.CreatedAt, cur.ID)
	}
}

// whereOneOf adds "col = v" to q unless v is empty (no filter); a v that
// is not one of all is a *mlops.ValidationError on col.
func whereOneOf[T ~string](q *query, col string, v T, all []T) error {
	if v == "" {
		return nil
	}
	if err := oneOf(col, v, all); err != nil {
		return err
	}
	q.add(col+" = ?", string(v))
	return nil
}

func (q *query) sql() string {
	if len(q.where) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(q.where, " AND ")
}

// limitSQL returns " LIMIT n" asking for one extra row to know whether a
// next page exists, or "" when unlimited.
func limitSQL(limit int) string {
	if limit < 0 {
		return ""
	}
	return " LIMIT " + strconv.Itoa(limit+1)
}

// newestFirst is the order of the keyset-paged lists (see query.keyset).
const newestFirst = "created_at DESC, id DESC"

// listPage runs one page of sel (SELECT columns FROM table) with q's
// conditions, ordered by order, and returns the page's rows and the cursor
// of the next page ("" on the last).
func listPage[T any](ctx context.Context, db querier, sel string, q query, order string, limit int,
	scan func(scanner) (T, error), key func(T) Cursor) ([]T, string, error) {
	rows, err := db.QueryContext(ctx, sel+q.sql()+` ORDER BY `+order+limitSQL(limit), q.args...)
	items, err := collect(rows, err, scan)
	if err != nil {
		return nil, "", err
	}
	items, next := trimPage(items, limit, key)
	return items, next, nil
}

// listNewest lists one page of sel newest first: it resolves p, then asks
// where for the filter's conditions, and pages by (created_at, id).
func listNewest[T any](ctx context.Context, s *Store, p Page, where func() (query, error), sel string,
	scan func(scanner) (T, error), key func(T) Cursor) ([]T, string, error) {
	limit, cur, err := p.resolve()
	if err != nil {
		return nil, "", err
	}
	q, err := where()
	if err != nil {
		return nil, "", err
	}
	q.keyset(cur)
	return listPage(ctx, s.reader(), sel, q, newestFirst, limit, scan, key)
}

// trimPage cuts the extra row and returns the next cursor.
func trimPage[T any](items []T, limit int, key func(T) Cursor) ([]T, string) {
	if limit < 0 || len(items) <= limit {
		return items, ""
	}
	items = items[:limit]
	return items, key(items[len(items)-1]).Encode()
}

// oneOf is nil when v is one of all, else a *mlops.ValidationError on
// field that lists all.
func oneOf[T ~string](field string, v T, all []T) error {
	if slices.Contains(all, v) {
		return nil
	}
	names := make([]string, len(all))
	for i, a := range all {
		names[i] = string(a)
	}
	return mlops.Invalid(field, "must be one of %s, got %q", strings.Join(names, ", "), v)
}

// jsonArgNoCopy is jsonArg for the bulk paths: the argument shares raw's
// bytes instead of copying them (a 16 MiB batch would otherwise hold its
// features twice). raw must not change until the statement has run.
func jsonArgNoCopy(raw mlops.JSON, empty string) string {
	if len(raw) == 0 {
		return empty
	}
	return unsafe.String(&raw[0], len(raw))
}

// jsonArg turns a JSON document into a query argument: text on both
// engines (jsonb takes text input; SQLite stores text).
func jsonArg(raw mlops.JSON, empty string) string {
	if len(raw) == 0 {
		return empty
	}
	return string(raw)
}

func nullJSONArg(raw mlops.JSON) any {
	if len(raw) == 0 {
		return nil
	}
	return string(raw)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only called with []string and maps of plain values
	}
	return string(b)
}

func utc(t time.Time) time.Time { return t.UTC() }

func nullTime(nt sql.NullTime) *time.Time {
	if !nt.Valid {
		return nil
	}
	t := nt.Time.UTC()
	return &t
}

func nullString(ns sql.NullString) *string {
	if !ns.Valid {
		return nil
	}
	return &ns.String
}

func nullFloat(nf sql.NullFloat64) *float64 {
	if !nf.Valid {
		return nil
	}
	return &nf.Float64
}

func nullInt(ni sql.NullInt64) *int64 {
	if !ni.Valid {
		return nil
	}
	return &ni.Int64
}

// rawJSON copies a scanned JSON column (nil stays nil).
func rawJSON(b []byte) mlops.JSON {
	if b == nil {
		return nil
	}
	return append(mlops.JSON(nil), b...)
}

func stringList(b []byte) ([]string, error) {
	out := []string{}
	if len(b) == 0 {
		return out, nil
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decode stored string list: %w", err)
	}
	return out, nil
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// getOne scans the one row of a query; no row is an ErrNotFound naming
// what format and args describe.
func getOne[T any](row *sql.Row, scan func(scanner) (T, error), format string, args ...any) (T, error) {
	v, err := scan(row)
	if err != nil {
		return v, notFound(err, format, args...)
	}
	return v, nil
}

// collect runs a query and scans every row with scan.
func collect[T any](rows *sql.Rows, err error, scan func(scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, classify(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	return out, nil
}
