-- +goose Up
-- Per-minute rollups of the metric points: count, sum, min and max per
-- metric, model version (0: none) and minute (Unix seconds, a multiple of
-- 60). The store keeps them in the same transaction as the points they
-- summarise, and answers bucketed series (1m to 1d) from them.
CREATE TABLE metric_rollups (
    metric_name TEXT             NOT NULL,
    model_key   BIGINT           NOT NULL,
    minute      BIGINT           NOT NULL CHECK (minute % 60 = 0),
    n           BIGINT           NOT NULL CHECK (n > 0),
    total       DOUBLE PRECISION NOT NULL,
    lo          DOUBLE PRECISION NOT NULL,
    hi          DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (metric_name, model_key, minute)
);
INSERT INTO metric_rollups (metric_name, model_key, minute, n, total, lo, hi)
SELECT metric_name, coalesce(model_id, 0), (floor(extract(epoch FROM created_at))::bigint / 60) * 60,
       count(*), sum(metric_value), min(metric_value), max(metric_value)
FROM performance_metrics GROUP BY 1, 2, 3;

-- +goose Down
DROP TABLE metric_rollups;
