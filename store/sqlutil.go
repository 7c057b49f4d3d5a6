package store

import (
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
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

// trimPage cuts the extra row and returns the next cursor.
func trimPage[T any](items []T, limit int, key func(T) Cursor) ([]T, string) {
	if limit < 0 || len(items) <= limit {
		return items, ""
	}
	items = items[:limit]
	return items, key(items[len(items)-1]).Encode()
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
