-- +goose Up
-- Closing the loop: alerts that deduplicate a persisting condition, per-model
-- rule settings, and a lease that lets one process at a time run the rules.

-- An alert may name the model version it is about; the rules set it, and the
-- timeline finds a model's alerts by it.
ALTER TABLE alerts ADD COLUMN model_id INTEGER REFERENCES model_versions (id);
-- A condition's identity ("drift/12"); NULL for alerts raised by hand.
ALTER TABLE alerts ADD COLUMN dedup_key TEXT CHECK (dedup_key IS NULL OR length(dedup_key) BETWEEN 1 AND 255);
-- How often the condition was seen while the alert stayed open, and when last.
ALTER TABLE alerts ADD COLUMN occurrences INTEGER NOT NULL DEFAULT 1 CHECK (occurrences >= 1);
ALTER TABLE alerts ADD COLUMN last_seen_at TIMESTAMP;
UPDATE alerts SET last_seen_at = created_at;
-- At most one open (active or acknowledged) alert per condition: a rule that
-- fires again updates it (INSERT ... ON CONFLICT DO UPDATE) instead of adding one.
CREATE UNIQUE INDEX ux_alerts_dedup_open ON alerts (dedup_key) WHERE status <> 'resolved';
-- A model's alerts in time order (timeline).
CREATE INDEX ix_alerts_model_created ON alerts (model_id, created_at, id);

-- Rule settings per model name; a model without a row has its rules off.
CREATE TABLE model_rules (
    model_name               TEXT    PRIMARY KEY CHECK (length(model_name) BETWEEN 1 AND 255),
    enabled                  BOOLEAN NOT NULL DEFAULT 0 CHECK (enabled IN (0, 1)),
    drift_enabled            BOOLEAN NOT NULL DEFAULT 1 CHECK (drift_enabled IN (0, 1)),
    psi_threshold            REAL    NOT NULL DEFAULT 0.2 CHECK (psi_threshold > 0 AND psi_threshold < 1e300),
    ks_threshold             REAL    NOT NULL DEFAULT 0.1 CHECK (ks_threshold > 0 AND ks_threshold <= 1),
    min_samples              INTEGER NOT NULL DEFAULT 30 CHECK (min_samples >= 1),
    current_window_seconds   INTEGER NOT NULL DEFAULT 86400 CHECK (current_window_seconds > 0),
    reference_window_seconds INTEGER NOT NULL DEFAULT 604800 CHECK (reference_window_seconds > 0),
    metric                   TEXT    NOT NULL DEFAULT 'accuracy' CHECK (metric IN ('accuracy', 'precision', 'recall', 'f1')),
    metric_threshold         REAL    CHECK (metric_threshold IS NULL OR metric_threshold BETWEEN 0 AND 1),
    metric_window_seconds    INTEGER NOT NULL DEFAULT 86400 CHECK (metric_window_seconds > 0),
    metric_min_labeled       INTEGER NOT NULL DEFAULT 30 CHECK (metric_min_labeled >= 1),
    positive_class           INTEGER NOT NULL DEFAULT 1,
    updated_at               TIMESTAMP NOT NULL
);

-- A named lease: RulesRun on SQLite takes it for a bounded time so that two
-- processes sharing the file do not evaluate the rules at once.
CREATE TABLE rule_leases (
    name       TEXT      PRIMARY KEY,
    holder     TEXT      NOT NULL,
    expires_at TIMESTAMP NOT NULL
);

-- +goose Down
DROP TABLE rule_leases;
DROP TABLE model_rules;
DROP INDEX ix_alerts_model_created;
DROP INDEX ux_alerts_dedup_open;
ALTER TABLE alerts DROP COLUMN last_seen_at;
ALTER TABLE alerts DROP COLUMN occurrences;
ALTER TABLE alerts DROP COLUMN dedup_key;
ALTER TABLE alerts DROP COLUMN model_id;
