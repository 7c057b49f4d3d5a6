-- +goose Up
-- Per-hour rollups of the metric points, beside the per-minute ones: count,
-- sum, min and max per metric, model version (0: none) and hour (Unix
-- seconds, a multiple of 3600). The store keeps them in the same
-- transaction as the points; bucketed series of an hour or more read whole
-- hours from here. Keyed as the minute rows are from now on (below).
CREATE TABLE metric_rollups_hourly (
    metric_name TEXT    NOT NULL,
    model_key   INTEGER NOT NULL,
    hour        INTEGER NOT NULL CHECK (hour % 3600 = 0),
    n           INTEGER NOT NULL CHECK (n > 0),
    total       REAL    NOT NULL,
    lo          REAL    NOT NULL,
    hi          REAL    NOT NULL,
    PRIMARY KEY (metric_name, hour, model_key)
) WITHOUT ROWID;
INSERT INTO metric_rollups_hourly (metric_name, model_key, hour, n, total, lo, hi)
SELECT metric_name, model_key, (minute / 3600) * 3600, sum(n), sum(total), min(lo), max(hi)
FROM metric_rollups GROUP BY 1, 2, 3;
-- The minute rows are keyed by metric, then minute, then model, so that a
-- series over every model ranges over minutes too (with a model, it reads
-- the models of each minute and keeps one).
CREATE TABLE metric_rollups_by_minute (
    metric_name TEXT    NOT NULL,
    model_key   INTEGER NOT NULL,
    minute      INTEGER NOT NULL CHECK (minute % 60 = 0),
    n           INTEGER NOT NULL CHECK (n > 0),
    total       REAL    NOT NULL,
    lo          REAL    NOT NULL,
    hi          REAL    NOT NULL,
    PRIMARY KEY (metric_name, minute, model_key)
) WITHOUT ROWID;
INSERT INTO metric_rollups_by_minute SELECT metric_name, model_key, minute, n, total, lo, hi FROM metric_rollups;
DROP TABLE metric_rollups;
ALTER TABLE metric_rollups_by_minute RENAME TO metric_rollups;

-- +goose Down
CREATE TABLE metric_rollups_by_model (
    metric_name TEXT    NOT NULL,
    model_key   INTEGER NOT NULL,
    minute      INTEGER NOT NULL CHECK (minute % 60 = 0),
    n           INTEGER NOT NULL CHECK (n > 0),
    total       REAL    NOT NULL,
    lo          REAL    NOT NULL,
    hi          REAL    NOT NULL,
    PRIMARY KEY (metric_name, model_key, minute)
) WITHOUT ROWID;
INSERT INTO metric_rollups_by_model SELECT metric_name, model_key, minute, n, total, lo, hi FROM metric_rollups;
DROP TABLE metric_rollups;
ALTER TABLE metric_rollups_by_model RENAME TO metric_rollups;
DROP TABLE metric_rollups_hourly;
