-- +goose Up
-- The seed's six tables. Times are UTC, stored as SQLite time strings
-- (the driver's _time_format=sqlite) so SQLite's date functions can read them.
CREATE TABLE model_versions (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    model_name       TEXT    NOT NULL CHECK (length(model_name) BETWEEN 1 AND 255),
    version          TEXT    NOT NULL CHECK (length(version) BETWEEN 1 AND 255),
    algorithm        TEXT    NOT NULL CHECK (length(algorithm) BETWEEN 1 AND 255),
    accuracy         REAL    CHECK (accuracy BETWEEN 0 AND 1),
    f1_score         REAL    CHECK (f1_score BETWEEN 0 AND 1),
    "precision"      REAL    CHECK ("precision" BETWEEN 0 AND 1),
    recall           REAL    CHECK (recall BETWEEN 0 AND 1),
    roc_auc          REAL    CHECK (roc_auc BETWEEN 0 AND 1),
    hyperparameters  TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(hyperparameters)),
    feature_names    TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(feature_names)),
    status           TEXT    NOT NULL DEFAULT 'training'
                             CHECK (status IN ('training', 'staging', 'production', 'archived')),
    is_active        BOOLEAN NOT NULL DEFAULT 0 CHECK (is_active IN (0, 1)),
    model_path       TEXT    NOT NULL DEFAULT '',
    metadata_path    TEXT    NOT NULL DEFAULT '',
    training_samples INTEGER CHECK (training_samples >= 0),
    created_at       TIMESTAMP NOT NULL,
    activated_at     TIMESTAMP,
    CONSTRAINT uq_model_versions_name_version UNIQUE (model_name, version),
    CONSTRAINT ck_model_versions_active_is_production CHECK (NOT is_active OR status = 'production')
);
-- At most one active version per model name, held by the database itself.
CREATE UNIQUE INDEX ux_model_versions_one_active ON model_versions (model_name) WHERE is_active;
CREATE INDEX ix_model_versions_created ON model_versions (created_at, id);
CREATE INDEX ix_model_versions_name_created ON model_versions (model_name, created_at, id);
CREATE INDEX ix_model_versions_status ON model_versions (status);
CREATE INDEX ix_model_versions_activated ON model_versions (activated_at) WHERE is_active;

CREATE TABLE predictions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id    INTEGER NOT NULL REFERENCES model_versions (id),
    features    TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(features)),
    prediction  INTEGER NOT NULL,
    probability REAL    CHECK (probability BETWEEN 0 AND 1),
    latency_ms  REAL    CHECK (latency_ms BETWEEN 0 AND 1.7976931348623157e308),
    actual      INTEGER,
    created_at  TIMESTAMP NOT NULL
);
-- Recent predictions of a model, newest first, paged by (created_at, id).
CREATE INDEX ix_predictions_model_created ON predictions (model_id, created_at, id);
-- Retention (prune) scans by age.
CREATE INDEX ix_predictions_created ON predictions (created_at);

CREATE TABLE drift_reports (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id           INTEGER NOT NULL REFERENCES model_versions (id),
    drift_detected     BOOLEAN NOT NULL CHECK (drift_detected IN (0, 1)),
    drift_score        REAL    CHECK (drift_score BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308),
    drifted_features   TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(drifted_features)),
    n_drifted_features INTEGER NOT NULL DEFAULT 0 CHECK (n_drifted_features >= 0),
    report_path        TEXT    NOT NULL DEFAULT '',
    reference_size     INTEGER CHECK (reference_size >= 0),
    current_size       INTEGER CHECK (current_size >= 0),
    details            TEXT    CHECK (details IS NULL OR json_valid(details)),
    created_at         TIMESTAMP NOT NULL
);
CREATE INDEX ix_drift_reports_model_created ON drift_reports (model_id, created_at, id);
CREATE INDEX ix_drift_reports_created ON drift_reports (created_at, id);

CREATE TABLE agent_actions (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    action_id         TEXT    NOT NULL CHECK (length(action_id) BETWEEN 1 AND 255),
    action_type       TEXT    NOT NULL CHECK (length(action_type) BETWEEN 1 AND 255),
    description       TEXT    NOT NULL DEFAULT '',
    risk_level        TEXT    NOT NULL CHECK (risk_level IN ('low', 'medium', 'high', 'critical')),
    requires_approval BOOLEAN NOT NULL DEFAULT 1 CHECK (requires_approval IN (0, 1)),
    issue_id          TEXT    NOT NULL DEFAULT '',
    issue_type        TEXT    NOT NULL DEFAULT '',
    issue_severity    TEXT    NOT NULL DEFAULT '',
    status            TEXT    NOT NULL DEFAULT 'pending'
                              CHECK (status IN ('pending', 'approved', 'rejected', 'executed', 'failed')),
    reviewed_by       TEXT,
    reviewed_at       TIMESTAMP,
    review_comment    TEXT,
    executed_at       TIMESTAMP,
    execution_result  TEXT    CHECK (execution_result IS NULL OR json_valid(execution_result)),
    parameters        TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(parameters)),
    created_at        TIMESTAMP NOT NULL,
    CONSTRAINT uq_agent_actions_action_id UNIQUE (action_id)
);
CREATE INDEX ix_agent_actions_status_created ON agent_actions (status, created_at, id);
CREATE INDEX ix_agent_actions_created ON agent_actions (created_at, id);
CREATE INDEX ix_agent_actions_issue ON agent_actions (issue_id);

CREATE TABLE performance_metrics (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    metric_name  TEXT    NOT NULL CHECK (length(metric_name) BETWEEN 1 AND 255),
    metric_value REAL    NOT NULL CHECK (metric_value BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308),
    model_id     INTEGER REFERENCES model_versions (id),
    created_at   TIMESTAMP NOT NULL,
    metadata     TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(metadata))
);
-- Series by name over time; the second covers the optional model filter.
CREATE INDEX ix_metrics_name_created ON performance_metrics (metric_name, created_at);
CREATE INDEX ix_metrics_name_model_created ON performance_metrics (metric_name, model_id, created_at);
CREATE INDEX ix_metrics_model ON performance_metrics (model_id);
CREATE INDEX ix_metrics_created ON performance_metrics (created_at);

CREATE TABLE alerts (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_type       TEXT    NOT NULL CHECK (length(alert_type) BETWEEN 1 AND 255),
    severity         TEXT    NOT NULL CHECK (severity IN ('info', 'low', 'medium', 'high', 'critical')),
    title            TEXT    NOT NULL CHECK (length(title) BETWEEN 1 AND 255),
    message          TEXT    NOT NULL DEFAULT '',
    status           TEXT    NOT NULL DEFAULT 'active'
                             CHECK (status IN ('active', 'acknowledged', 'resolved')),
    acknowledged_by  TEXT,
    acknowledged_at  TIMESTAMP,
    resolved_by      TEXT,
    resolved_at      TIMESTAMP,
    resolution_notes TEXT,
    created_at       TIMESTAMP NOT NULL,
    related_data     TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(related_data))
);
CREATE INDEX ix_alerts_status_created ON alerts (status, created_at, id);
CREATE INDEX ix_alerts_created ON alerts (created_at, id);

-- +goose Down
DROP TABLE alerts;
DROP TABLE performance_metrics;
DROP TABLE agent_actions;
DROP TABLE drift_reports;
DROP TABLE predictions;
DROP TABLE model_versions;
