-- +goose Up
-- The answers given to requests that carried an Idempotency-Key, so that a
-- repeat (the same caller, route, key and body) within 24 hours is answered
-- the same and creates nothing. scope names the caller and the route
-- (`token 3 "ci" POST /api/v1/alerts`): no caller reads another's answer.
-- body_hash is the SHA-256 of the request body. status, content_type and
-- body are NULL while the first request is being answered.
CREATE TABLE idempotency_keys (
    scope           TEXT        NOT NULL,
    idempotency_key TEXT        NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    body_hash       BYTEA       NOT NULL CHECK (length(body_hash) = 32),
    status          INTEGER     CHECK (status BETWEEN 200 AND 299),
    content_type    TEXT,
    body            BYTEA,
    created_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (scope, idempotency_key),
    CONSTRAINT ck_idempotency_keys_answer CHECK ((status IS NULL) = (body IS NULL) AND (status IS NULL) = (content_type IS NULL))
);
-- The keys past their 24 hours, for mlops serve to delete.
CREATE INDEX ix_idempotency_keys_created ON idempotency_keys (created_at);

-- +goose Down
DROP TABLE idempotency_keys;
