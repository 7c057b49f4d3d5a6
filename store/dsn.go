package store

import (
	"fmt"
	"net/url"
	"strings"
)

// Engine names a supported database engine.
type Engine string

// Supported engines.
const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// Target is a parsed DATABASE_URL.
type Target struct {
	Engine Engine
	// Path is the SQLite file path, or ":memory:".
	Path string
	// URL is the PostgreSQL connection URL in the form pgx understands.
	URL string
	// Redacted is the URL with any password replaced, safe for logs and errors.
	Redacted string
}

// ParseURL understands the DATABASE_URL forms of docs/api.md: sqlite:///rel.db,
// sqlite:////abs.db, sqlite:///:memory:, postgresql://, postgres:// and
// SQLAlchemy's postgresql+driver://.
func ParseURL(raw string) (Target, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return Target{}, fmt.Errorf("DATABASE_URL is empty; set it to sqlite:///./mlops.db or postgresql://user:pass@host:5432/db")
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return Target{}, fmt.Errorf("DATABASE_URL %q has no scheme; use sqlite:///./mlops.db or postgresql://user:pass@host:5432/db", RedactURL(raw))
	}
	base, _, _ := strings.Cut(strings.ToLower(scheme), "+")
	switch base {
	case "sqlite", "sqlite3":
		// SQLAlchemy: sqlite:///relative/path, sqlite:////absolute/path.
		// The part after "://" is "/path"; strip exactly one slash.
		path := strings.TrimPrefix(rest, "/")
		if q := strings.IndexByte(path, '?'); q >= 0 {
			path = path[:q]
		}
		if path == "" {
			path = ":memory:"
		}
		return Target{Engine: SQLite, Path: path, Redacted: raw}, nil
	case "postgres", "postgresql", "pgsql":
		u, err := url.Parse("postgres://" + rest)
		if err != nil {
			return Target{}, fmt.Errorf("DATABASE_URL is not a valid PostgreSQL URL (%s); expected postgresql://user:pass@host:5432/db", RedactURL(raw))
		}
		return Target{Engine: Postgres, URL: u.String(), Redacted: u.Redacted()}, nil
	default:
		return Target{}, fmt.Errorf("DATABASE_URL scheme %q is not supported; use sqlite:/// or postgresql://", scheme)
	}
}

// RedactURL hides the password of a URL-shaped string. Strings that do not
// parse are returned with everything between "://" and "@" masked.
func RedactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		return u.Redacted()
	}
	if i := strings.Index(raw, "://"); i >= 0 {
		if j := strings.LastIndexByte(raw, '@'); j > i {
			return raw[:i+3] + "xxxxx" + raw[j:]
		}
	}
	return raw
}

// sqliteDSN builds the modernc.org/sqlite DSN: WAL with synchronous=FULL
// (every commit reaches the disk before it returns, so an acknowledged
// write survives a power loss, not only a crash of the process; group commit
// shares that flush between concurrent writers), busy timeout, foreign keys,
// times SQLite can read, and BEGIN IMMEDIATE so a write transaction takes
// the write lock up front instead of failing to upgrade later.
func sqliteDSN(path string, memName string) string {
	const pragmas = "_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)&_time_format=sqlite&_txlock=immediate"
	if path == ":memory:" {
		return "file:" + memName + "?mode=memory&cache=shared&" + pragmas
	}
	esc := strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(path)
	return "file:" + esc + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&" + pragmas
}

// redactErr returns err's text with the password of t's URL masked; driver
// errors sometimes quote the connection string.
func redactErr(err error, t Target) string {
	msg := err.Error()
	if u, perr := url.Parse(t.URL); perr == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}
