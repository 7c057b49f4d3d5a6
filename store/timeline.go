package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mlopsdev/mlops"
)

// Timeline event kinds, in the order that breaks ties between events of
// the same instant (a later kind sorts later).
const (
	EventModelRegistered   = "model.registered"
	EventModelActivated    = "model.activated"
	EventModelArchived     = "model.archived"
	EventDriftReported     = "drift.reported"
	EventAlertRaised       = "alert.raised"
	EventAlertAcknowledged = "alert.acknowledged"
	EventAlertResolved     = "alert.resolved"
	EventActionProposed    = "action.proposed"
	EventActionApproved    = "action.approved"
	EventActionRejected    = "action.rejected"
	EventActionExecuted    = "action.executed"
	EventActionFailed      = "action.failed"
)

var eventKinds = []string{"", EventModelRegistered, EventModelActivated, EventModelArchived, EventDriftReported,
	EventAlertRaised, EventAlertAcknowledged, EventAlertResolved, EventActionProposed, EventActionApproved,
	EventActionRejected, EventActionExecuted, EventActionFailed}

// TimelineEvent is one thing that happened to a model version.
type TimelineEvent struct {
	At   time.Time `json:"at"`
	Kind string    `json:"kind"`
	// Subject is the record the event is about: model_version,
	// drift_report, alert or action; SubjectID its id, and Ref how the API
	// addresses it (the action_id for actions, else the id).
	Subject   string  `json:"subject"`
	SubjectID int64   `json:"subject_id"`
	Ref       string  `json:"ref"`
	Actor     *string `json:"actor"`
	Summary   string  `json:"summary"`
}

// timelineCursor is the keyset position of the last event of a page. Its
// text starts with t2: a t1 cursor was issued when the timeline ran newest
// first, and reading it in the other direction would skip events.
type timelineCursor struct {
	at   time.Time
	kind int
	id   int64
}

func (c timelineCursor) encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("t2:%d:%d:%d", c.at.UnixMicro(), c.kind, c.id)))
}

func decodeTimelineCursor(s string) (*timelineCursor, error) {
	if s == "" {
		return nil, nil
	}
	bad := mlops.Invalid("cursor", "is not a timeline cursor this service issued; pass next_cursor from a previous page unchanged")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad
	}
	parts := strings.Split(string(b), ":")
	if len(parts) != 4 || parts[0] != "t2" {
		return nil, bad
	}
	us, err1 := strconv.ParseInt(parts[1], 10, 64)
	k, err2 := strconv.Atoi(parts[2])
	id, err3 := strconv.ParseInt(parts[3], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || k < 1 || k >= len(eventKinds) || id <= 0 {
		return nil, bad
	}
	return &timelineCursor{at: time.UnixMicro(us).UTC(), kind: k, id: id}, nil
}

// timelineSQL is one UNION ALL over everything that happened to model
// version $1. Each branch reads an index on the model (primary key,
// ix_drift_reports_model_created, ix_alerts_model_created) and actions are
// found through their issue (ix_agent_actions_issue): actions about one of
// the model's alerts or drift reports.
const timelineSQL = `WITH acts AS (
		SELECT act.id, act.action_id, act.action_type, act.status, act.created_at, act.reviewed_by, act.reviewed_at, act.executed_at
		FROM alerts al JOIN agent_actions act ON act.issue_type = 'alert' AND act.issue_id = CAST(al.id AS TEXT)
		WHERE al.model_id = $1
		UNION ALL
		SELECT act.id, act.action_id, act.action_type, act.status, act.created_at, act.reviewed_by, act.reviewed_at, act.executed_at
		FROM drift_reports d JOIN agent_actions act ON act.issue_type = 'drift_report' AND act.issue_id = CAST(d.id AS TEXT)
		WHERE d.model_id = $1
	)
	SELECT at, k, id, ref, actor, detail FROM (
		SELECT created_at AS at, 1 AS k, id, CAST(id AS TEXT) AS ref,
			(SELECT a.actor FROM audit_events a WHERE a.entity_type = 'model_version' AND a.entity_id = CAST($1 AS TEXT)
				AND a.event = 'model.registered' ORDER BY a.id LIMIT 1) AS actor,
			version AS detail
			FROM model_versions WHERE id = $1
		UNION ALL
		SELECT activated_at, 2, id, CAST(id AS TEXT),
			(SELECT a.actor FROM audit_events a WHERE a.entity_type = 'model_version' AND a.entity_id = CAST($1 AS TEXT)
				AND a.event = 'model.activated' ORDER BY a.id DESC LIMIT 1),
			version FROM model_versions
			WHERE id = $1 AND activated_at IS NOT NULL
		UNION ALL
		SELECT (SELECT min(o.activated_at) FROM model_versions o
				WHERE o.model_name = mv.model_name AND o.activated_at > mv.activated_at),
			3, id, CAST(id AS TEXT), NULL, version FROM model_versions mv
			WHERE id = $1 AND NOT is_active AND activated_at IS NOT NULL
		UNION ALL
		SELECT created_at, 4, id, CAST(id AS TEXT), NULL, CAST(drifted_features AS TEXT) FROM drift_reports WHERE model_id = $1
		UNION ALL
		SELECT created_at, 5, id, CAST(id AS TEXT), NULL, title FROM alerts WHERE model_id = $1
		UNION ALL
		SELECT acknowledged_at, 6, id, CAST(id AS TEXT), acknowledged_by, title FROM alerts
			WHERE model_id = $1 AND acknowledged_at IS NOT NULL
		UNION ALL
		SELECT resolved_at, 7, id, CAST(id AS TEXT), resolved_by, title FROM alerts
			WHERE model_id = $1 AND resolved_at IS NOT NULL
		UNION ALL
		SELECT created_at, 8, id, action_id, NULL, action_type FROM acts
		UNION ALL
		SELECT reviewed_at, CASE WHEN status = 'rejected' THEN 10 ELSE 9 END, id, action_id, reviewed_by, action_type
			FROM acts WHERE reviewed_at IS NOT NULL
		UNION ALL
		SELECT executed_at, CASE WHEN status = 'failed' THEN 12 ELSE 11 END, id, action_id, NULL, action_type
			FROM acts WHERE executed_at IS NOT NULL
	) AS e WHERE at IS NOT NULL`

// Timeline returns what happened to a model version, oldest first: its
// registration, activation and archival, its drift reports, its alerts
// raised, acknowledged and resolved, and the actions proposed about those
// alerts or drift reports, approved, rejected, executed or failed. Events
// of one instant follow the order of their kinds, then of their subjects'
// ids. It is one query, paged by a keyset cursor over (time, kind, id):
// the next page starts after the last event of this one, so events added
// while a client pages never shift its next page.
//
// A version re-activated shows only its latest activation (activated_at
// is overwritten); it reads as archived at the activation of the version
// that replaced it. Who registered and who activated the version come
// from the audit log (null for changes older than the audit log).
func (s *Store) Timeline(ctx context.Context, modelID int64, p Page) ([]TimelineEvent, string, error) {
	limit := p.Limit
	switch {
	case limit == 0:
		limit = DefaultLimit
	case limit > MaxLimit:
		return nil, "", mlops.Invalid("limit", "must be between 1 and %d, got %d", MaxLimit, limit)
	}
	cur, err := decodeTimelineCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	if _, err := s.ModelVersionGet(ctx, modelID); err != nil {
		return nil, "", err
	}
	q := timelineSQL
	args := []any{modelID}
	if cur != nil {
		q += ` AND (at > $2 OR (at = $2 AND (k > $3 OR (k = $3 AND id > $4))))`
		args = append(args, cur.at, cur.kind, cur.id)
	}
	q += ` ORDER BY at, k, id` + limitSQL(limit)
	var keys []timelineCursor
	events := []TimelineEvent{}
	err = s.eachRow(ctx, q, args, func(sc scanner) error {
		var (
			at     nullableTime
			k      int
			id     int64
			ref    string
			actor  sql.NullString
			detail sql.NullString
		)
		if err := sc.Scan(&at, &k, &id, &ref, &actor, &detail); err != nil {
			return err
		}
		if k < 1 || k >= len(eventKinds) {
			return fmt.Errorf("timeline: unknown event kind %d", k)
		}
		events = append(events, timelineEvent(at.Time, k, id, ref, nullString(actor), detail.String))
		keys = append(keys, timelineCursor{at: at.Time, kind: k, id: id})
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	if limit < 0 || len(events) <= limit {
		return events, "", nil
	}
	return events[:limit], keys[limit-1].encode(), nil
}

func timelineEvent(at time.Time, k int, id int64, ref string, actor *string, detail string) TimelineEvent {
	e := TimelineEvent{At: at.UTC(), Kind: eventKinds[k], SubjectID: id, Ref: ref, Actor: actor}
	switch {
	case k <= 3:
		e.Subject = "model_version"
		e.Summary = fmt.Sprintf("version %s %s", detail, strings.TrimPrefix(e.Kind, "model."))
	case k == 4:
		e.Subject = "drift_report"
		features, _ := stringList([]byte(detail))
		if len(features) == 0 {
			e.Summary = fmt.Sprintf("drift report %d: no drift", id)
		} else {
			e.Summary = fmt.Sprintf("drift report %d: drift in %s", id, strings.Join(features, ", "))
		}
	case k <= 7:
		e.Subject = "alert"
		e.Summary = fmt.Sprintf("alert %d %s: %s", id, strings.TrimPrefix(e.Kind, "alert."), detail)
	default:
		e.Subject = "action"
		e.Summary = fmt.Sprintf("action %s (%s) %s", ref, detail, strings.TrimPrefix(e.Kind, "action."))
	}
	if actor != nil && *actor != "" {
		e.Summary += " by " + *actor
	}
	return e
}
