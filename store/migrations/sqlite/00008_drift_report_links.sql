-- +goose Up
-- The alerts and actions that name a drift report: a rule's drift alert
-- names it in related_data.drift_report_id, its retrain action in
-- parameters.drift_report_id, and a client may do the same. The id is
-- indexed in its text form, so a JSON number (17) and a string ("17") are
-- found alike; only the rows that name a report are in the index. The
-- store's queries (store/driftrefs.go) repeat these expressions exactly.
CREATE INDEX ix_alerts_drift_report
    ON alerts (CAST(json_extract(related_data, '$.drift_report_id') AS TEXT), created_at, id)
    WHERE CAST(json_extract(related_data, '$.drift_report_id') AS TEXT) IS NOT NULL;
CREATE INDEX ix_agent_actions_drift_report
    ON agent_actions (CAST(json_extract(parameters, '$.drift_report_id') AS TEXT), created_at, id)
    WHERE CAST(json_extract(parameters, '$.drift_report_id') AS TEXT) IS NOT NULL;

-- +goose Down
DROP INDEX ix_agent_actions_drift_report;
DROP INDEX ix_alerts_drift_report;
