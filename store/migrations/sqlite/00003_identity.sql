-- +goose Up
-- Identity: people (users), programs (tokens), the UI's sign-in sessions,
-- and failed sign-ins (for the lockout that several servers share).
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    role          TEXT    NOT NULL CHECK (role IN ('viewer', 'pipeline', 'agent', 'reviewer', 'admin')),
    -- argon2id in PHC string form; empty for a user created by the SSO proxy.
    password_hash TEXT    NOT NULL DEFAULT '',
    source        TEXT    NOT NULL DEFAULT 'local' CHECK (source IN ('local', 'proxy')),
    disabled      BOOLEAN NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    CONSTRAINT uq_users_name UNIQUE (name)
);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    role         TEXT    NOT NULL CHECK (role IN ('viewer', 'pipeline', 'agent', 'reviewer', 'admin')),
    -- SHA-256 of the secret, hex: the secret itself is never stored.
    secret_hash  TEXT    NOT NULL CHECK (length(secret_hash) = 64),
    created_by   TEXT    NOT NULL DEFAULT '',
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP,
    revoked_at   TIMESTAMP,
    last_used_at TIMESTAMP,
    CONSTRAINT uq_api_tokens_secret UNIQUE (secret_hash)
);
-- A name names one live token; a revoked one frees its name.
CREATE UNIQUE INDEX ux_api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;

CREATE TABLE sessions (
    -- SHA-256 of the cookie's value, hex.
    id_hash      TEXT    PRIMARY KEY CHECK (length(id_hash) = 64),
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL
);
CREATE INDEX ix_sessions_user ON sessions (user_id);
CREATE INDEX ix_sessions_last_seen ON sessions (last_seen_at);

CREATE TABLE signin_failures (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT    NOT NULL,
    at   TIMESTAMP NOT NULL
);
CREATE INDEX ix_signin_failures_name_at ON signin_failures (name, at);

-- +goose Down
DROP TABLE IF EXISTS signin_failures;
DROP TABLE IF EXISTS sessions;
DROP TABLE IF EXISTS api_tokens;
DROP TABLE IF EXISTS users;
