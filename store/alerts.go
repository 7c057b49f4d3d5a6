package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mlopsdev/mlops"
)

const alertColumns = `id, alert_type, severity, title, message, status, acknowledged_by, acknowledged_at,
	resolved_by, resolved_at, resolution_notes, related_data, created_at, model_id, dedup_key, occurrences,
	last_seen_at`

func scanAlert(sc scanner) (mlops.Alert, error) {
	var (
		a                  mlops.Alert
		ackBy, resBy, note sql.NullString
		ackAt, resAt       sql.NullTime
		related            []byte
		modelID            sql.NullInt64
		dedupKey           sql.NullString
		lastSeen           sql.NullTime
	)
	err := sc.Scan(&a.ID, &a.AlertType, &a.Severity, &a.Title, &a.Message, &a.Status, &ackBy, &ackAt,
		&resBy, &resAt, &note, &related, &a.CreatedAt, &modelID, &dedupKey, &a.Occurrences, &lastSeen)
	if err != nil {
		return a, err
	}
	a.ModelID, a.DedupKey = nullInt(modelID), nullString(dedupKey)
	a.LastSeenAt = a.CreatedAt.UTC()
	if lastSeen.Valid {
		a.LastSeenAt = lastSeen.Time.UTC()
	}
	a.AcknowledgedBy, a.AcknowledgedAt = nullString(ackBy), nullTime(ackAt)
	a.ResolvedBy, a.ResolvedAt, a.ResolutionNotes = nullString(resBy), nullTime(resAt), nullString(note)
	a.RelatedData = rawJSON(related)
	a.CreatedAt = utc(a.CreatedAt)
	return a, nil
}

// AlertCreate raises an alert in status active (the seed's create_alert)
// and records alert.created.
func (s *Store) AlertCreate(ctx context.Context, in mlops.NewAlert) (mlops.Alert, error) {
	if err := in.Validate(); err != nil {
		return mlops.Alert{}, err
	}
	return auditedRow(ctx, s, func(tx *Store) (mlops.Alert, []change, error) {
		a, err := scanAlert(tx.writer().QueryRowContext(ctx, `
			INSERT INTO alerts (alert_type, severity, title, message, status, related_data, created_at)
			VALUES ($1, $2, $3, $4, 'active', $5, $6) RETURNING `+alertColumns,
			in.AlertType, string(in.Severity), in.Title, in.Message, jsonArg(in.RelatedData, "{}"), tx.Now()))
		if err != nil {
			return a, nil, classify(err)
		}
		return a, []change{alertChange("alert.created", nil, a)}, nil
	})
}

// AlertRaiseByKey raises the alert of a recurring condition, named by key
// (its dedup_key) and tied to a model version: while an alert with that key
// is open (active or acknowledged), it counts one more occurrence on that
// alert (occurrences + 1, last_seen_at now, message and related_data
// replaced) and records alert.repeated with the alert before and after;
// otherwise it inserts a new active alert and records alert.created.
// created reports which. The partial unique index ux_alerts_dedup_open
// makes sure that concurrent raisers of one key never open two alerts: the
// open alert is read (and on PostgreSQL locked) first, and an insert that
// loses a race counts its occurrence on the winner's alert instead.
func (s *Store) AlertRaiseByKey(ctx context.Context, key string, modelID int64, in mlops.NewAlert) (a mlops.Alert, created bool, err error) {
	if err := in.Validate(); err != nil {
		return a, false, err
	}
	if key == "" || len(key) > mlops.MaxNameLen {
		return a, false, mlops.Invalid("dedup_key", "must be 1 to %d bytes, got %d", mlops.MaxNameLen, len(key))
	}
	related := jsonArg(in.RelatedData, "{}")
	err = s.audited(ctx, func(tx *Store) ([]change, error) {
		now := tx.Now()
		for attempt := 0; ; attempt++ {
			prev, err := scanAlert(tx.writer().QueryRowContext(ctx, `SELECT `+alertColumns+` FROM alerts
				WHERE dedup_key = $1 AND status <> 'resolved'`+tx.forUpdate(), key))
			if err == nil {
				a, err = scanAlert(tx.writer().QueryRowContext(ctx, `UPDATE alerts
					SET occurrences = occurrences + 1, last_seen_at = $2, message = $3, related_data = $4
					WHERE id = $1 RETURNING `+alertColumns, prev.ID, now, in.Message, related))
				if err != nil {
					return nil, classify(err)
				}
				return []change{alertChange("alert.repeated", &prev, a)}, nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return nil, classify(err)
			}
			a, err = scanAlert(tx.writer().QueryRowContext(ctx, `
				INSERT INTO alerts (alert_type, severity, title, message, status, related_data, created_at,
					model_id, dedup_key, occurrences, last_seen_at)
				VALUES ($1, $2, $3, $4, 'active', $5, $6, $7, $8, 1, $6)
				ON CONFLICT (dedup_key) WHERE status <> 'resolved' DO NOTHING
				RETURNING `+alertColumns,
				in.AlertType, string(in.Severity), in.Title, in.Message, related, now, modelID, key))
			if err == nil {
				created = true
				return []change{alertChange("alert.created", nil, a)}, nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return nil, modelRef(classify(err), "model_id", modelID)
			}
			// Another transaction raised it since the read: count on that one.
			if attempt == 2 {
				return nil, fmt.Errorf("%w: alert %q keeps being raised and resolved concurrently (retry)", mlops.ErrConflict, key)
			}
		}
	})
	return a, created, err
}

// alertChange is the event of a change to an alert; before is nil for a
// new one.
func alertChange(event string, before *mlops.Alert, after mlops.Alert) change {
	c := change{event: event, entityType: "alert", entityID: entityID(after.ID), after: after}
	if before != nil {
		c.before = *before
	}
	return c
}

// forUpdate is the clause that locks the rows a SELECT reads until the
// transaction ends: on PostgreSQL; SQLite's one writer already excludes
// every other.
func (s *Store) forUpdate() string {
	if s.engine == Postgres {
		return ` FOR UPDATE`
	}
	return ``
}

// alertLocked reads an alert inside a transaction, locking it until the
// transaction ends.
func (s *Store) alertLocked(ctx context.Context, id int64) (mlops.Alert, error) {
	return getOne(s.writer().QueryRowContext(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id = $1`+s.forUpdate(), id),
		scanAlert, "alert %d", id)
}

// AlertGet returns one alert.
func (s *Store) AlertGet(ctx context.Context, id int64) (mlops.Alert, error) {
	return getOne(s.primary().QueryRowContext(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id = $1`, id), scanAlert,
		"alert %d", id)
}

// AlertFilter selects alerts for AlertList.
type AlertFilter struct {
	Status   mlops.AlertStatus // empty: every status
	Severity mlops.Severity    // empty: every severity
	Since    time.Time         // zero: no lower bound
	Page
}

// AlertList lists alerts newest first.
func (s *Store) AlertList(ctx context.Context, f AlertFilter) ([]mlops.Alert, string, error) {
	return listNewest(ctx, s, f.Page, f.where, `SELECT `+alertColumns+` FROM alerts`, scanAlert,
		func(a mlops.Alert) Cursor { return Cursor{a.CreatedAt, a.ID} })
}

// where returns the filter's conditions.
func (f AlertFilter) where() (query, error) {
	var q query
	if err := whereOneOf(&q, "status", f.Status, mlops.AlertStatuses); err != nil {
		return q, err
	}
	if err := whereOneOf(&q, "severity", f.Severity, mlops.Severities); err != nil {
		return q, err
	}
	if !f.Since.IsZero() {
		q.add("created_at >= ?", f.Since.UTC())
	}
	return q, nil
}

// AlertAcknowledge moves an active alert to acknowledged (the seed's
// acknowledge_alert) and records alert.acknowledged. Acknowledging an
// acknowledged or resolved alert is a *mlops.TransitionError.
func (s *Store) AlertAcknowledge(ctx context.Context, id int64, user string) (mlops.Alert, error) {
	if err := mlops.ValidateActor("user", user); err != nil {
		return mlops.Alert{}, err
	}
	return s.alertTransition(ctx, id, mlops.AlertAcknowledged, `UPDATE alerts
		SET status = 'acknowledged', acknowledged_by = $2, acknowledged_at = $3
		WHERE id = $1 AND status = 'active' RETURNING `+alertColumns, user, s.Now())
}

// AlertResolve moves an active or acknowledged alert to resolved (the
// seed's resolve_alert) and records alert.resolved.
func (s *Store) AlertResolve(ctx context.Context, id int64, user, notes string) (mlops.Alert, error) {
	if err := errors.Join(mlops.ValidateActor("user", user), mlops.ValidateText("notes", notes)); err != nil {
		return mlops.Alert{}, firstValidation(err)
	}
	var n *string
	if notes != "" {
		n = &notes
	}
	return s.alertTransition(ctx, id, mlops.AlertResolved, `UPDATE alerts
		SET status = 'resolved', resolved_by = $2, resolved_at = $3, resolution_notes = $4
		WHERE id = $1 AND status IN ('active', 'acknowledged') RETURNING `+alertColumns, user, s.Now(), n)
}

// alertTransition runs the conditional UPDATE of a transition (id is $1,
// args follow) and records alert.<to> with the alert before and after. The
// alert is read, and on PostgreSQL locked, before the UPDATE; the UPDATE's
// own condition still decides, so a racing loser gets the TransitionError.
func (s *Store) alertTransition(ctx context.Context, id int64, to mlops.AlertStatus, update string, args ...any) (mlops.Alert, error) {
	var a mlops.Alert
	err := s.audited(ctx, func(tx *Store) ([]change, error) {
		before, err := tx.alertLocked(ctx, id)
		if err != nil {
			return nil, err
		}
		a, err = scanAlert(tx.writer().QueryRowContext(ctx, update, append([]any{id}, args...)...))
		if err != nil {
			return nil, tx.alertRefused(ctx, err, id, to)
		}
		return []change{alertChange("alert."+string(to), &before, a)}, nil
	})
	return a, err
}

func (s *Store) alertRefused(ctx context.Context, err error, id int64, to mlops.AlertStatus) error {
	if !errors.Is(err, sql.ErrNoRows) {
		return classify(err)
	}
	cur, gerr := s.AlertGet(ctx, id)
	if gerr != nil {
		return gerr
	}
	te := &mlops.TransitionError{Kind: "alert", Key: fmt.Sprint(id), From: string(cur.Status), To: string(to)}
	switch {
	case cur.Status == mlops.AlertResolved && cur.ResolvedBy != nil:
		te.By, te.At = *cur.ResolvedBy, cur.ResolvedAt.Format(time.RFC3339)
	case cur.Status == mlops.AlertAcknowledged && cur.AcknowledgedBy != nil:
		te.By, te.At = *cur.AcknowledgedBy, cur.AcknowledgedAt.Format(time.RFC3339)
	}
	return te
}
