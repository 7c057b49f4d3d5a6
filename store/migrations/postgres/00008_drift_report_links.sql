-- +goose Up
-- The alerts and actions that name a drift report: a rule's drift alert
-- names it in related_data.drift_report_id, its retrain action in
-- parameters.drift_report_id, and a client may do the same. The id is
-- indexed in its text form (->> on the jsonb columns), so a JSON number
-- (17) and a string ("17") are found alike; only the rows that name a
-- report are in the index. The store's queries (store/driftrefs.go) repeat
-- these expressions exactly.
CREATE INDEX ix_alerts_drift_report
    ON alerts ((related_data ->> 'drift_report_id'), created_at, id)
    WHERE (related_data ->> 'drift_report_id') IS NOT NULL;
CREATE INDEX ix_agent_actions_drift_report
    ON agent_actions ((parameters ->> 'drift_report_id'), created_at, id)
    WHERE (parameters ->> 'drift_report_id') IS NOT NULL;

-- +goose Down
DROP INDEX ix_agent_actions_drift_report;
DROP INDEX ix_alerts_drift_report;
