-- +goose Up
-- Per-hour rollups of the predictions, kept by the store in the same
-- transaction as the rows they summarise, so that reports and pages over
-- long ranges read hours instead of rows.
--
-- prediction_rollups counts the predictions per model version, hour (Unix
-- seconds, a multiple of 3600), predicted class, ground truth (labeled 0
-- with actual 0: not known yet) and probability bin (-1: none; 2k: exactly
-- k/10; 2k+1: between k/10 and (k+1)/10, so that a range whose bounds are
-- tenths, inclusive or not, is a range of bins). Recording the ground
-- truth moves a row from one count to another.
CREATE TABLE prediction_rollups (
    model_id   BIGINT NOT NULL,
    hour       BIGINT NOT NULL CHECK (hour % 3600 = 0),
    prediction BIGINT NOT NULL,
    labeled    SMALLINT NOT NULL CHECK (labeled IN (0, 1)),
    actual     BIGINT NOT NULL,
    probability_bin BIGINT NOT NULL CHECK (probability_bin BETWEEN -1 AND 20),
    n          BIGINT NOT NULL,
    PRIMARY KEY (model_id, hour, prediction, labeled, actual, probability_bin)
);
-- prediction_latency_rollups is a histogram of the latencies per model
-- version and hour: bins whose bounds grow by 2 % (bin b holds the
-- latencies in (1.02^(b-1), 1.02^b]; -1000000 holds 0), each with the
-- count, sum, smallest and largest latency it holds. Percentiles come from
-- it within the width of one bin, and exactly when the bin holds one value.
CREATE TABLE prediction_latency_rollups (
    model_id BIGINT           NOT NULL,
    hour     BIGINT           NOT NULL CHECK (hour % 3600 = 0),
    bin      BIGINT           NOT NULL,
    n        BIGINT           NOT NULL CHECK (n > 0),
    total    DOUBLE PRECISION NOT NULL,
    lo       DOUBLE PRECISION NOT NULL,
    hi       DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (model_id, hour, bin)
);
-- Summaries over every model version range over hours.
CREATE INDEX ix_prediction_rollups_hour ON prediction_rollups (hour);
CREATE INDEX ix_prediction_latency_rollups_hour ON prediction_latency_rollups (hour);
INSERT INTO prediction_rollups (model_id, hour, prediction, labeled, actual, probability_bin, n)
SELECT model_id, floor(extract(epoch FROM created_at) / 3600)::bigint * 3600, prediction,
    CASE WHEN actual IS NULL THEN 0 ELSE 1 END, coalesce(actual, 0),
    CASE WHEN probability IS NULL THEN -1 WHEN probability = 0.0 / 10 THEN 0 WHEN probability < 1.0 / 10 THEN 1 WHEN probability = 1.0 / 10 THEN 2 WHEN probability < 2.0 / 10 THEN 3 WHEN probability = 2.0 / 10 THEN 4 WHEN probability < 3.0 / 10 THEN 5 WHEN probability = 3.0 / 10 THEN 6 WHEN probability < 4.0 / 10 THEN 7 WHEN probability = 4.0 / 10 THEN 8 WHEN probability < 5.0 / 10 THEN 9 WHEN probability = 5.0 / 10 THEN 10 WHEN probability < 6.0 / 10 THEN 11 WHEN probability = 6.0 / 10 THEN 12 WHEN probability < 7.0 / 10 THEN 13 WHEN probability = 7.0 / 10 THEN 14 WHEN probability < 8.0 / 10 THEN 15 WHEN probability = 8.0 / 10 THEN 16 WHEN probability < 9.0 / 10 THEN 17 WHEN probability = 9.0 / 10 THEN 18 WHEN probability < 10.0 / 10 THEN 19 ELSE 20 END,
    count(*)
FROM predictions GROUP BY 1, 2, 3, 4, 5, 6;
INSERT INTO prediction_latency_rollups (model_id, hour, bin, n, total, lo, hi)
SELECT model_id, floor(extract(epoch FROM created_at) / 3600)::bigint * 3600,
    CASE WHEN latency_ms <= 0 THEN -1000000 ELSE ceil(ln(latency_ms) / ln(1.02))::bigint END,
    count(*), sum(latency_ms), min(latency_ms), max(latency_ms)
FROM predictions WHERE latency_ms IS NOT NULL GROUP BY 1, 2, 3;

-- +goose Down
DROP TABLE prediction_latency_rollups;
DROP TABLE prediction_rollups;
