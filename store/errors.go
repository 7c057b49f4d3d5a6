package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/mlopsdev/mlops"
)

// errForeignKey marks a foreign-key violation; the method that ran the
// statement knows which id was missing and turns it into a ValidationError.
var errForeignKey = errors.New("foreign key violation")

// notFound turns sql.ErrNoRows into a descriptive ErrNotFound and
// classifies anything else.
func notFound(err error, format string, args ...any) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), mlops.ErrNotFound)
	}
	return classify(err)
}

// conflict classifies err and, when it is a unique violation, says what
// already exists instead of the driver's words.
func conflict(err error, format string, args ...any) error {
	err = classify(err)
	if errors.Is(err, mlops.ErrConflict) {
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), mlops.ErrConflict)
	}
	return err
}

// classify maps a driver error to the domain's sentinel errors, by error
// code and never by message text. It is the only place that knows driver
// error codes. Errors it does not recognise are returned unchanged.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return mlops.ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "23505":
			return fmt.Errorf("%w: %s", mlops.ErrConflict, pgErr.Detail)
		case pgErr.Code == "23503":
			return fmt.Errorf("%w: %s", errForeignKey, pgErr.Detail)
		case pgErr.Code == "23514", pgErr.Code == "23502", pgErr.Code == "22P02", pgErr.Code == "22021",
			pgErr.Code == "22P05", pgErr.Code == "22003":
			// check, not-null, invalid text, bad encoding, unsupported
			// unicode escape (NUL in jsonb), numeric out of range.
			return mlops.Invalid(constraintField(pgErr.ConstraintName, pgErr.ColumnName), "rejected by the database: %s", pgErr.Message)
		case pgErr.Code == "40P01", pgErr.Code == "40001":
			return fmt.Errorf("%w: %s (retry the request)", mlops.ErrConflict, pgErr.Message)
		case strings.HasPrefix(pgErr.Code, "08"), pgErr.Code == "57P01", pgErr.Code == "57P02",
			pgErr.Code == "57P03", pgErr.Code == "53300":
			return fmt.Errorf("%w: %s", mlops.ErrUnavailable, pgErr.Message)
		}
		return err
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		switch sqErr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %s", mlops.ErrConflict, sqErr.Error())
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%w: %s", errForeignKey, sqErr.Error())
		case sqlite3.SQLITE_CONSTRAINT_CHECK, sqlite3.SQLITE_CONSTRAINT_NOTNULL:
			return mlops.Invalid("record", "rejected by the database: %s", sqErr.Error())
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_BUSY_SNAPSHOT, sqlite3.SQLITE_BUSY_TIMEOUT:
			return fmt.Errorf("%w: database is busy (%s)", mlops.ErrUnavailable, sqErr.Error())
		case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL:
			return fmt.Errorf("%w: %s", mlops.ErrUnavailable, sqErr.Error())
		}
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	if errors.As(err, &connErr) || errors.As(err, &netErr) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, sql.ErrConnDone) || pgconn.SafeToRetry(err) || isClosedConn(err) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) { // connection cut mid-answer
		return fmt.Errorf("%w: %s", mlops.ErrUnavailable, err.Error())
	}
	return err
}

// isSQLiteBusy reports whether err is SQLite's SQLITE_BUSY (any extended code).
func isSQLiteBusy(err error) bool {
	var sqErr *sqlite.Error
	return errors.As(err, &sqErr) && sqErr.Code()&0xff == sqlite3.SQLITE_BUSY
}

// isClosedConn recognises pgx's "conn closed" errors, which carry no code.
func isClosedConn(err error) bool {
	var pgc interface{ SafeToRetry() bool }
	return errors.As(err, &pgc) || errors.Is(err, net.ErrClosed)
}

// constraintField turns a PostgreSQL constraint name such as
// "predictions_probability_check" into the field it guards ("probability").
func constraintField(constraint, column string) string {
	if column != "" {
		return column
	}
	c := strings.TrimSuffix(constraint, "_check")
	for _, table := range []string{"model_versions_", "predictions_", "drift_reports_", "agent_actions_", "performance_metrics_", "alerts_"} {
		if strings.HasPrefix(c, table) {
			return strings.TrimPrefix(c, table)
		}
	}
	if c == "" {
		return "record"
	}
	return c
}
