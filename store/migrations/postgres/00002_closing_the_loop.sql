-- +goose Up
-- Closing the loop: alerts that deduplicate a persisting condition, per-model
-- rule settings, and a lease table (used on SQLite; PostgreSQL serialises
-- rule runs with pg_try_advisory_xact_lock instead).

-- An alert may name the model version it is about; the rules set it, and the
-- timeline finds a model's alerts by it.
ALTER TABLE alerts ADD COLUMN model_id BIGINT REFERENCES model_versions (id);
-- A condition's identity ("drift/12"); NULL for alerts raised by hand.
ALTER TABLE alerts ADD COLUMN dedup_key TEXT CHECK (dedup_key IS NULL OR length(dedup_key) BETWEEN 1 AND 255);
-- How often the condition was seen while the alert stayed open, and when last.
ALTER TABLE alerts ADD COLUMN occurrences BIGINT NOT NULL DEFAULT 1 CHECK (occurrences >= 1);
ALTER TABLE alerts ADD COLUMN last_seen_at TIMESTAMPTZ;
UPDATE alerts SET last_seen_at = created_at;
-- At most one open (active or acknowledged) alert per condition: a rule that
-- fires again updates it (INSERT ... ON CONFLICT DO UPDATE) instead of adding one.
CREATE UNIQUE INDEX ux_alerts_dedup_open ON alerts (dedup_key) WHERE status <> 'resolved';
-- A model's alerts in time order (timeline).
CREATE INDEX ix_alerts_model_created ON alerts (model_id, created_at, id);

-- Rule settings per model name; a model without a row has its rules off.
CREATE TABLE model_rules (
    model_name               TEXT    PRIMARY KEY CHECK (length(model_name) BETWEEN 1 AND 255),
    enabled                  BOOLEAN NOT NULL DEFAULT false,
    drift_enabled            BOOLEAN NOT NULL DEFAULT true,
    psi_threshold            DOUBLE PRECISION NOT NULL DEFAULT 0.2 CHECK (psi_threshold > 0 AND psi_threshold < 1e300),
    ks_threshold             DOUBLE PRECISION NOT NULL DEFAULT 0.1 CHECK (ks_threshold > 0 AND ks_threshold <= 1),
    min_samples              BIGINT  NOT NULL DEFAULT 30 CHECK (min_samples >= 1),
    current_window_seconds   BIGINT  NOT NULL DEFAULT 86400 CHECK (current_window_seconds > 0),
    reference_window_seconds BIGINT  NOT NULL DEFAULT 604800 CHECK (reference_window_seconds > 0),
    metric                   TEXT    NOT NULL DEFAULT 'accuracy' CHECK (metric IN ('accuracy', 'precision', 'recall', 'f1')),
    metric_threshold         DOUBLE PRECISION CHECK (metric_threshold IS NULL OR metric_threshold BETWEEN 0 AND 1),
    metric_window_seconds    BIGINT  NOT NULL DEFAULT 86400 CHECK (metric_window_seconds > 0),
    metric_min_labeled       BIGINT  NOT NULL DEFAULT 30 CHECK (metric_min_labeled >= 1),
    positive_class           BIGINT  NOT NULL DEFAULT 1,
    updated_at               TIMESTAMPTZ NOT NULL
);

CREATE TABLE rule_leases (
    name       TEXT        PRIMARY KEY,
    holder     TEXT        NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE IF EXISTS rule_leases;
DROP TABLE IF EXISTS model_rules;
DROP INDEX IF EXISTS ix_alerts_model_created;
DROP INDEX IF EXISTS ux_alerts_dedup_open;
ALTER TABLE alerts DROP COLUMN IF EXISTS last_seen_at;
ALTER TABLE alerts DROP COLUMN IF EXISTS occurrences;
ALTER TABLE alerts DROP COLUMN IF EXISTS dedup_key;
ALTER TABLE alerts DROP COLUMN IF EXISTS model_id;
