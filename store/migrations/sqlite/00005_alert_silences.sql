-- +goose Up
-- Alert silences: while one is active (not expired, until in the future),
-- the rules raise no new alert it matches. A NULL matcher matches any value;
-- at least one is set.
CREATE TABLE alert_silences (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_type  TEXT    CHECK (length(alert_type) BETWEEN 1 AND 255),
    model_name  TEXT    CHECK (length(model_name) BETWEEN 1 AND 255),
    severity    TEXT    CHECK (severity IN ('info', 'low', 'medium', 'high', 'critical')),
    until       TIMESTAMP NOT NULL,
    comment     TEXT    NOT NULL CHECK (length(comment) >= 1),
    created_by  TEXT    NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    expired_by  TEXT,
    expired_at  TIMESTAMP,
    CONSTRAINT ck_alert_silences_matcher CHECK (alert_type IS NOT NULL OR model_name IS NOT NULL OR severity IS NOT NULL),
    CONSTRAINT ck_alert_silences_expired CHECK ((expired_by IS NULL) = (expired_at IS NULL))
);
-- The list, newest first; the silences in force, by when they end.
CREATE INDEX ix_alert_silences_created ON alert_silences (created_at, id);
CREATE INDEX ix_alert_silences_until ON alert_silences (until) WHERE expired_at IS NULL;

-- +goose Down
DROP TABLE alert_silences;
