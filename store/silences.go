package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/mlopsdev/mlops"
)

// Silences: while one is in force (not expired, until in the future), the
// rules raise no new alert it matches (monitor asks SilenceMatch before
// raising). A silence ends by itself when its until passes: every query
// compares until with the store's clock, so no job has to end it.

const silenceColumns = `id, alert_type, model_name, severity, until, comment, created_by, created_at, expired_by, expired_at`

// scanSilence returns the scan function of silences read at now, which
// decides Active.
func scanSilence(now time.Time) func(scanner) (mlops.Silence, error) {
	return func(sc scanner) (mlops.Silence, error) {
		var (
			s                     mlops.Silence
			alertType, model, sev sql.NullString
			expiredBy             sql.NullString
			expiredAt             sql.NullTime
		)
		err := sc.Scan(&s.ID, &alertType, &model, &sev, &s.Until, &s.Comment, &s.CreatedBy, &s.CreatedAt, &expiredBy, &expiredAt)
		if err != nil {
			return s, err
		}
		s.Matchers.AlertType, s.Matchers.ModelName = nullString(alertType), nullString(model)
		if sev.Valid {
			v := mlops.Severity(sev.String)
			s.Matchers.Severity = &v
		}
		s.ExpiredBy, s.ExpiredAt = nullString(expiredBy), nullTime(expiredAt)
		s.Until, s.CreatedAt = utc(s.Until), utc(s.CreatedAt)
		s.Active = s.ActiveAt(now)
		return s, nil
	}
}

// silenceCovers is the condition under which the silence s (alert_silences
// under the alias s) is in force at now and matches an alert of alertType,
// about a model named modelName (NULL: none), with severity. Each argument
// is a SQL expression, a placeholder or a column: this is the one
// definition of what a silence matches, for the rules (SilenceMatch) and
// for the alerts shown as silenced (AlertTriageList).
func silenceCovers(alertType, modelName, severity, now string) string {
	return `s.expired_at IS NULL AND s.until > ` + now +
		` AND (s.alert_type IS NULL OR s.alert_type = ` + alertType + `)` +
		` AND (s.model_name IS NULL OR s.model_name = ` + modelName + `)` +
		` AND (s.severity IS NULL OR s.severity = ` + severity + `)`
}

// optional is a nullable matcher as a query argument.
func optional[T ~string](p *T) any {
	if p == nil {
		return nil
	}
	return string(*p)
}

// SilenceCreate stores a silence, created by the actor of ctx, and records
// silence.created. Until must lie in the future.
func (s *Store) SilenceCreate(ctx context.Context, in mlops.NewSilence) (mlops.Silence, error) {
	now := s.Now()
	if err := in.ValidateAt(now); err != nil {
		return mlops.Silence{}, err
	}
	m := in.Matchers
	var out mlops.Silence
	err := s.audited(ctx, func(tx *Store) ([]change, error) {
		var err error
		out, err = scanSilence(now)(tx.writer().QueryRowContext(ctx, `
			INSERT INTO alert_silences (alert_type, model_name, severity, until, comment, created_by, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING `+silenceColumns,
			optional(m.AlertType), optional(m.ModelName), optional(m.Severity), in.Until.UTC().Truncate(time.Microsecond),
			in.Comment, ActorFrom(ctx).Name, now))
		if err != nil {
			return nil, classify(err)
		}
		return []change{{event: "silence.created", entityType: "silence", entityID: entityID(out.ID), after: out}}, nil
	})
	return out, err
}

// SilenceList lists silences newest first: with activeOnly, only those in
// force now.
func (s *Store) SilenceList(ctx context.Context, activeOnly bool, p Page) ([]mlops.Silence, string, error) {
	limit, cur, err := p.resolve()
	if err != nil {
		return nil, "", err
	}
	now := s.Now()
	var q query
	if activeOnly {
		q.add("expired_at IS NULL AND until > ?", now)
	}
	q.keyset(cur)
	rows, err := s.reader().QueryContext(ctx, `SELECT `+silenceColumns+` FROM alert_silences`+q.sql()+
		` ORDER BY created_at DESC, id DESC`+limitSQL(limit), q.args...)
	items, err := collect(rows, err, scanSilence(now))
	if err != nil {
		return nil, "", err
	}
	items, next := trimPage(items, limit, func(x mlops.Silence) Cursor { return Cursor{x.CreatedAt, x.ID} })
	return items, next, nil
}

// SilenceExpire ends a silence in force now, under the actor of ctx, and
// records silence.expired. A silence that has ended already (expired, or
// past its until) is a *mlops.TransitionError saying how it ended.
func (s *Store) SilenceExpire(ctx context.Context, id int64) (mlops.Silence, error) {
	var out mlops.Silence
	err := s.audited(ctx, func(tx *Store) ([]change, error) {
		now := tx.Now()
		var err error
		out, err = scanSilence(now)(tx.writer().QueryRowContext(ctx, `UPDATE alert_silences
			SET expired_by = $2, expired_at = $3
			WHERE id = $1 AND expired_at IS NULL AND until > $3 RETURNING `+silenceColumns,
			id, ActorFrom(ctx).Name, now))
		if errors.Is(err, sql.ErrNoRows) {
			return nil, tx.silenceEnded(ctx, id, now)
		}
		if err != nil {
			return nil, classify(err)
		}
		// The UPDATE set expired_by and expired_at alone, from null.
		before := out
		before.ExpiredBy, before.ExpiredAt, before.Active = nil, nil, true
		return []change{{event: "silence.expired", entityType: "silence", entityID: entityID(id), before: before, after: out}}, nil
	})
	return out, err
}

// silenceEnded explains why silence id could not be expired: it does not
// exist, or it ended already.
func (s *Store) silenceEnded(ctx context.Context, id int64, now time.Time) error {
	cur, err := scanSilence(now)(s.writer().QueryRowContext(ctx, `SELECT `+silenceColumns+` FROM alert_silences WHERE id = $1`, id))
	if err != nil {
		return notFound(err, "silence %d", id)
	}
	te := &mlops.TransitionError{Kind: "silence", Key: entityID(id), From: "expired", To: "expired"}
	if cur.ExpiredAt != nil {
		te.By, te.At = *cur.ExpiredBy, cur.ExpiredAt.Format(time.RFC3339)
	} else {
		te.Detail = "its until (" + cur.Until.Format(time.RFC3339) + ") has passed"
	}
	return te
}

// SilenceMatch returns the silence in force that covers an alert of
// alertType about the model modelName ("" for an alert about none) with
// severity sev; of several, the one that lasts longest. found is false when
// none covers it.
func (s *Store) SilenceMatch(ctx context.Context, alertType, modelName string, sev mlops.Severity) (sil mlops.Silence, found bool, err error) {
	var model any
	if modelName != "" {
		model = modelName
	}
	now := s.Now()
	sil, err = scanSilence(now)(s.primary().QueryRowContext(ctx, `SELECT `+silenceColumns+` FROM alert_silences s
		WHERE `+silenceCovers("$2", "$3", "$4", "$1")+` ORDER BY s.until DESC, s.id DESC LIMIT 1`,
		now, alertType, model, string(sev)))
	if errors.Is(err, sql.ErrNoRows) {
		return sil, false, nil
	}
	if err != nil {
		return sil, false, classify(err)
	}
	return sil, true, nil
}
