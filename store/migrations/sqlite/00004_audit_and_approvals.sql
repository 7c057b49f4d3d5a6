-- +goose Up
-- The audit log (the seventh table) with its hash chain, the approval rules
-- (who proposed an action, each approval, expiry) and the activation history.

-- Every change of state, append-only. Events are written in the
-- transaction of the change, then sealed into one hash chain: seq is the
-- event's place in it (gap-free), hash = SHA-256(prev_hash || canonical JSON
-- of the event). On SQLite the
-- event is sealed in its own transaction; on PostgreSQL by a sealer shortly
-- after (see store/audit.go). before and after keep the exact canonical text
-- that was hashed.
CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TIMESTAMP NOT NULL,
    actor       TEXT    NOT NULL,
    actor_kind  TEXT    NOT NULL CHECK (actor_kind IN ('user', 'token', 'anonymous', 'system')),
    event       TEXT    NOT NULL CHECK (length(event) BETWEEN 1 AND 100),
    entity_type TEXT    NOT NULL,
    entity_id   TEXT    NOT NULL,
    before      TEXT    CHECK (before IS NULL OR json_valid(before)),
    after       TEXT    CHECK (after IS NULL OR json_valid(after)),
    request_id  TEXT    NOT NULL DEFAULT '',
    remote_addr TEXT    NOT NULL DEFAULT '',
    seq         INTEGER,
    prev_hash   TEXT    CHECK (prev_hash IS NULL OR length(prev_hash) = 64),
    hash        TEXT    CHECK (hash IS NULL OR length(hash) = 64),
    CONSTRAINT ck_audit_events_sealed CHECK ((seq IS NULL) = (hash IS NULL) AND (seq IS NULL) = (prev_hash IS NULL))
);
-- One event per chain position: with the head lock, the chain cannot fork.
CREATE UNIQUE INDEX ux_audit_events_seq ON audit_events (seq) WHERE seq IS NOT NULL;
-- Only the record index: every index entry is written in the change's own
-- transaction, and SQLite pays for each (by actor or time, the audit list
-- reads newest first by id instead; PostgreSQL keeps those two indexes).
CREATE INDEX ix_audit_events_entity ON audit_events (entity_type, entity_id, id);
CREATE INDEX ix_audit_events_unsealed ON audit_events (id) WHERE seq IS NULL;

-- The chain head: one row, locked by whoever seals events into the chain,
-- so events from any number of servers form one line.
CREATE TABLE audit_head (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq  BIGINT  NOT NULL,
    last_hash TEXT    NOT NULL CHECK (length(last_hash) = 64)
);
INSERT INTO audit_head (id, last_seq, last_hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- While mlops prune --what audit runs, the events up to through_seq may be
-- deleted; nothing else may delete an event.
CREATE TABLE audit_prune_permit (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    through_seq BIGINT  NOT NULL
);

-- An event can only be sealed (seq, prev_hash and hash set once, nothing
-- else changed); it can never be changed or deleted otherwise.
-- +goose StatementBegin
CREATE TRIGGER audit_events_append_only_update BEFORE UPDATE ON audit_events
WHEN NOT (OLD.seq IS NULL AND NEW.seq IS NOT NULL AND NEW.id IS OLD.id AND NEW.at IS OLD.at
    AND NEW.actor IS OLD.actor AND NEW.actor_kind IS OLD.actor_kind AND NEW.event IS OLD.event
    AND NEW.entity_type IS OLD.entity_type AND NEW.entity_id IS OLD.entity_id AND NEW.before IS OLD.before
    AND NEW.after IS OLD.after AND NEW.request_id IS OLD.request_id AND NEW.remote_addr IS OLD.remote_addr)
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only: an event cannot be changed');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_events_append_only_delete BEFORE DELETE ON audit_events
WHEN NOT EXISTS (SELECT 1 FROM audit_prune_permit WHERE OLD.seq IS NOT NULL AND OLD.seq <= through_seq)
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only: only mlops prune --what audit removes events');
END;
-- +goose StatementEnd

-- Actions: who proposed them, and the new status expired. SQLite cannot
-- change a CHECK constraint in place, so the table is rebuilt.
CREATE TABLE agent_actions_new (
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
                              CHECK (status IN ('pending', 'approved', 'rejected', 'executed', 'failed', 'expired')),
    reviewed_by       TEXT,
    reviewed_at       TIMESTAMP,
    review_comment    TEXT,
    executed_at       TIMESTAMP,
    execution_result  TEXT    CHECK (execution_result IS NULL OR json_valid(execution_result)),
    parameters        TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(parameters)),
    created_at        TIMESTAMP NOT NULL,
    proposed_by       TEXT    NOT NULL DEFAULT '',
    proposed_by_kind  TEXT    NOT NULL DEFAULT 'anonymous'
                              CHECK (proposed_by_kind IN ('user', 'token', 'anonymous', 'system')),
    expires_at        TIMESTAMP,
    CONSTRAINT uq_agent_actions_action_id UNIQUE (action_id)
);
INSERT INTO agent_actions_new (id, action_id, action_type, description, risk_level, requires_approval, issue_id,
    issue_type, issue_severity, status, reviewed_by, reviewed_at, review_comment, executed_at, execution_result,
    parameters, created_at)
SELECT id, action_id, action_type, description, risk_level, requires_approval, issue_id, issue_type,
    issue_severity, status, reviewed_by, reviewed_at, review_comment, executed_at, execution_result,
    parameters, created_at FROM agent_actions;
DROP TABLE agent_actions;
ALTER TABLE agent_actions_new RENAME TO agent_actions;
CREATE INDEX ix_agent_actions_status_created ON agent_actions (status, created_at, id);
CREATE INDEX ix_agent_actions_created ON agent_actions (created_at, id);
CREATE INDEX ix_agent_actions_issue ON agent_actions (issue_id);
CREATE INDEX ix_agent_actions_pending_expiry ON agent_actions (expires_at) WHERE status = 'pending';

-- One row per approval of an action; a reviewer approves an action once.
CREATE TABLE action_approvals (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    action_id   INTEGER NOT NULL REFERENCES agent_actions (id) ON DELETE CASCADE,
    by_name     TEXT    NOT NULL,
    by_kind     TEXT    NOT NULL CHECK (by_kind IN ('user', 'token', 'anonymous', 'system')),
    at          TIMESTAMP NOT NULL,
    comment     TEXT    NOT NULL DEFAULT '',
    CONSTRAINT uq_action_approvals_reviewer UNIQUE (action_id, by_kind, by_name)
);

-- Which version of a model was made active when: GET /models/active?at=.
CREATE TABLE model_activations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    model_name  TEXT    NOT NULL,
    model_id    INTEGER NOT NULL REFERENCES model_versions (id),
    at          TIMESTAMP NOT NULL
);
CREATE INDEX ix_model_activations_name_at ON model_activations (model_name, at, id);
INSERT INTO model_activations (model_name, model_id, at)
SELECT model_name, id, activated_at FROM model_versions WHERE activated_at IS NOT NULL ORDER BY activated_at, id;

-- +goose Down
DROP TABLE IF EXISTS model_activations;
DROP TABLE IF EXISTS action_approvals;
CREATE TABLE agent_actions_old (
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
INSERT INTO agent_actions_old (id, action_id, action_type, description, risk_level, requires_approval, issue_id,
    issue_type, issue_severity, status, reviewed_by, reviewed_at, review_comment, executed_at, execution_result,
    parameters, created_at)
SELECT id, action_id, action_type, description, risk_level, requires_approval, issue_id, issue_type,
    issue_severity, CASE status WHEN 'expired' THEN 'rejected' ELSE status END, reviewed_by, reviewed_at,
    review_comment, executed_at, execution_result, parameters, created_at FROM agent_actions;
DROP TABLE agent_actions;
ALTER TABLE agent_actions_old RENAME TO agent_actions;
CREATE INDEX ix_agent_actions_status_created ON agent_actions (status, created_at, id);
CREATE INDEX ix_agent_actions_created ON agent_actions (created_at, id);
CREATE INDEX ix_agent_actions_issue ON agent_actions (issue_id);
DROP TABLE IF EXISTS audit_prune_permit;
DROP TABLE IF EXISTS audit_head;
DROP TRIGGER IF EXISTS audit_events_append_only_delete;
DROP TRIGGER IF EXISTS audit_events_append_only_update;
DROP TABLE IF EXISTS audit_events;
