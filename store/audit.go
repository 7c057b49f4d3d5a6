package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/mlopsdev/mlops"
)

// The audit log: every change of state writes one event in the same
// transaction as the change, so a rolled-back change leaves none and a
// committed one always has one. Events form a hash chain through the one-row
// audit_head table, which each audited transaction locks last, just before
// it commits: writers from any number of servers append one line, and
// nothing else (prediction ingest) waits for it.

// GenesisHash is the prev_hash of the first event.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// Actor is who a change is recorded under, and from where.
type Actor struct {
	Name       string
	Kind       mlops.PrincipalKind
	RequestID  string
	RemoteAddr string
}

// System is the actor of changes nobody asked for (rules, expiry).
var System = Actor{Name: "system", Kind: mlops.KindSystem}

type actorKey struct{}

// WithActor returns ctx carrying the actor that changes made with it are
// recorded under. Without one, changes are recorded under System.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor carried by ctx, or System.
func ActorFrom(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey{}).(Actor); ok && a.Name != "" {
		return a
	}
	return System
}

// change is one event to record: what happened to which record, with the
// record before and after (any value that marshals to JSON; nil: none).
type change struct {
	event      string
	entityType string
	entityID   string
	before     any
	after      any
}

// audit appends events for changes, as the given actor or the ctx's. It
// must run inside a transaction, as its last statements: it locks the
// chain head until the commit.
func (s *Store) audit(ctx context.Context, changes ...change) error {
	if s.tx == nil {
		return errors.New("store: audit outside a transaction")
	}
	if len(changes) == 0 {
		return nil
	}
	actor := ActorFrom(ctx)
	w := s.writer()
	lock := ``
	if s.engine == Postgres {
		lock = ` FOR UPDATE`
	}
	var (
		lastID   int64
		lastHash string
	)
	if err := w.QueryRowContext(ctx, `SELECT last_id, last_hash FROM audit_head WHERE id = 1`+lock).Scan(&lastID, &lastHash); err != nil {
		return classify(err)
	}
	now := s.Now()
	for _, c := range changes {
		before, err := canonicalValue(c.before)
		if err != nil {
			return err
		}
		after, err := canonicalValue(c.after)
		if err != nil {
			return err
		}
		e := mlops.AuditEvent{ID: lastID + 1, At: now, Actor: actor.Name, ActorKind: actor.Kind, Event: c.event,
			EntityType: c.entityType, EntityID: c.entityID, Before: before, After: after,
			RequestID: actor.RequestID, RemoteAddr: actor.RemoteAddr, PrevHash: lastHash}
		e.Hash = ChainHash(e)
		if _, err := w.ExecContext(ctx, `INSERT INTO audit_events (id, at, actor, actor_kind, event, entity_type,
			entity_id, before, after, request_id, remote_addr, prev_hash, hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			e.ID, e.At, e.Actor, string(e.ActorKind), e.Event, e.EntityType, e.EntityID, nullText(e.Before),
			nullText(e.After), e.RequestID, e.RemoteAddr, e.PrevHash, e.Hash); err != nil {
			return classify(err)
		}
		lastID, lastHash = e.ID, e.Hash
	}
	_, err := w.ExecContext(ctx, `UPDATE audit_head SET last_id = $1, last_hash = $2 WHERE id = 1`, lastID, lastHash)
	return classify(err)
}

// audited runs fn in a transaction and records the changes it returns, in
// the same transaction.
func (s *Store) audited(ctx context.Context, fn func(tx *Store) ([]change, error)) error {
	return s.InTx(ctx, func(tx *Store) error {
		changes, err := fn(tx)
		if err != nil {
			return err
		}
		return tx.audit(ctx, changes...)
	})
}

func nullText(j mlops.JSON) any {
	if j == nil {
		return nil
	}
	return string(j)
}

// canonicalValue marshals v to canonical JSON: object keys sorted, no
// insignificant space, numbers as written. nil stays nil.
func canonicalValue(v any) (mlops.JSON, error) {
	if v == nil {
		return nil, nil
	}
	raw, ok := v.(mlops.JSON)
	if !ok {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("audit: encode %T: %w", v, err)
		}
		raw = b
	}
	if raw == nil {
		return nil, nil
	}
	return canonicalJSON(raw)
}

func canonicalJSON(raw []byte) (mlops.JSON, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, fmt.Errorf("audit: decode: %w", err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(x); err != nil { // maps encode with sorted keys
		return nil, err
	}
	return mlops.JSON(bytes.TrimRight(buf.Bytes(), "\n")), nil
}

// auditTime is how an event's time is written in its canonical JSON.
const auditTime = "2006-01-02T15:04:05.000000Z"

// ChainHash is an event's hash: hex SHA-256 over prev_hash and the event's
// canonical JSON (every field but prev_hash and hash, keys sorted).
func ChainHash(e mlops.AuditEvent) string {
	h := sha256.New()
	h.Write([]byte(e.PrevHash))
	h.Write(CanonicalEvent(e))
	return hex.EncodeToString(h.Sum(nil))
}

// CanonicalEvent is the JSON an event's hash covers.
func CanonicalEvent(e mlops.AuditEvent) []byte {
	var b bytes.Buffer
	field := func(name string, v any) {
		if b.Len() == 0 {
			b.WriteByte('{')
		} else {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(name))
		b.WriteByte(':')
		switch x := v.(type) {
		case mlops.JSON:
			if x == nil {
				b.WriteString("null")
			} else {
				b.Write(x)
			}
		default:
			j, _ := json.Marshal(x) // strings and integers only
			b.Write(j)
		}
	}
	// Keys in sorted order.
	field("actor", e.Actor)
	field("actor_kind", string(e.ActorKind))
	field("after", e.After)
	field("at", e.At.UTC().Format(auditTime))
	field("before", e.Before)
	field("entity_id", e.EntityID)
	field("entity_type", e.EntityType)
	field("event", e.Event)
	field("id", e.ID)
	field("remote_addr", e.RemoteAddr)
	field("request_id", e.RequestID)
	b.WriteByte('}')
	return b.Bytes()
}

const auditColumns = `id, at, actor, actor_kind, event, entity_type, entity_id, before, after, request_id,
	remote_addr, prev_hash, hash`

func scanAudit(sc scanner) (mlops.AuditEvent, error) {
	var (
		e             mlops.AuditEvent
		before, after sql.NullString
	)
	err := sc.Scan(&e.ID, &e.At, &e.Actor, &e.ActorKind, &e.Event, &e.EntityType, &e.EntityID, &before, &after,
		&e.RequestID, &e.RemoteAddr, &e.PrevHash, &e.Hash)
	e.At = utc(e.At)
	if before.Valid {
		e.Before = mlops.JSON(before.String)
	}
	if after.Valid {
		e.After = mlops.JSON(after.String)
	}
	return e, err
}

// AuditFilter selects events for AuditList; empty fields select all.
type AuditFilter struct {
	EntityType string
	EntityID   string
	Actor      string
	Event      string
	Since      time.Time
	Until      time.Time
	Page
}

// AuditList lists events newest first.
func (s *Store) AuditList(ctx context.Context, f AuditFilter) ([]mlops.AuditEvent, string, error) {
	limit, cur, err := f.Page.resolve()
	if err != nil {
		return nil, "", err
	}
	var q query
	for _, c := range []struct {
		col, v string
	}{{"entity_type", f.EntityType}, {"entity_id", f.EntityID}, {"actor", f.Actor}, {"event", f.Event}} {
		if c.v != "" {
			q.add(c.col+" = ?", c.v)
		}
	}
	if !f.Since.IsZero() {
		q.add("at >= ?", f.Since.UTC())
	}
	if !f.Until.IsZero() {
		q.add("at < ?", f.Until.UTC())
	}
	if cur != nil {
		q.add("id < ?", cur.ID)
	}
	rows, err := s.reader().QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_events`+q.sql()+
		` ORDER BY id DESC`+limitSQL(limit), q.args...)
	items, err := collect(rows, err, scanAudit)
	if err != nil {
		return nil, "", err
	}
	items, next := trimPage(items, limit, func(e mlops.AuditEvent) Cursor { return Cursor{e.At, e.ID} })
	return items, next, nil
}

// AuditEventsOf returns the events about one record, oldest first.
func (s *Store) AuditEventsOf(ctx context.Context, entityType, entityID string) ([]mlops.AuditEvent, error) {
	rows, err := s.reader().QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_events
		WHERE entity_type = $1 AND entity_id = $2 ORDER BY id`, entityType, entityID)
	return collect(rows, err, scanAudit)
}

// AuditProblem is the first event at which the chain does not hold.
type AuditProblem struct {
	ID     int64
	Reason string
}

func (p *AuditProblem) Error() string {
	return fmt.Sprintf("audit event %d: %s", p.ID, p.Reason)
}

// AuditVerify walks the chain from event from (0: the first) and returns
// the number of events checked, or an *AuditProblem naming the first event
// that is edited, missing, reordered or not linked to its predecessor.
// progress, when set, is called every 10,000 events.
func (s *Store) AuditVerify(ctx context.Context, from int64, progress func(checked, lastID int64)) (int64, error) {
	var (
		checked  int64
		prevID   int64
		prevHash string
		first    = true
	)
	const page = 10000
	after := from - 1
	for {
		rows, err := s.reader().QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_events WHERE id > $1 ORDER BY id LIMIT $2`, after, page)
		events, err := collect(rows, err, scanAudit)
		if err != nil {
			return checked, err
		}
		for _, e := range events {
			if first {
				first = false
				if err := s.checkChainStart(ctx, e, from); err != nil {
					return checked, err
				}
			} else {
				if e.ID != prevID+1 {
					return checked, &AuditProblem{ID: prevID + 1, Reason: fmt.Sprintf("is missing (the chain jumps from %d to %d)", prevID, e.ID)}
				}
				if e.PrevHash != prevHash {
					return checked, &AuditProblem{ID: e.ID, Reason: fmt.Sprintf("prev_hash does not match the hash of event %d (an event was changed, removed or reordered)", prevID)}
				}
			}
			if h := ChainHash(e); h != e.Hash {
				return checked, &AuditProblem{ID: e.ID, Reason: "its content does not match its hash (the event was edited)"}
			}
			prevID, prevHash = e.ID, e.Hash
			checked++
			if progress != nil && checked%page == 0 {
				progress(checked, e.ID)
			}
		}
		if len(events) < page {
			break
		}
		after = events[len(events)-1].ID
	}
	if first {
		return 0, nil
	}
	// The head must point at the last event.
	var headID int64
	var headHash string
	if err := s.reader().QueryRowContext(ctx, `SELECT last_id, last_hash FROM audit_head WHERE id = 1`).Scan(&headID, &headHash); err != nil {
		return checked, classify(err)
	}
	if headID != prevID || headHash != prevHash {
		return checked, &AuditProblem{ID: headID, Reason: fmt.Sprintf("is the chain's head, but the last event is %d (events at the end were removed or the head was changed)", prevID)}
	}
	if progress != nil {
		progress(checked, prevID)
	}
	return checked, nil
}

// checkChainStart checks the first event a walk sees: it is the genesis,
// or the walk started later (from > 1, trusted as given), or prune removed
// the events before it and left a checkpoint naming its prev_hash.
func (s *Store) checkChainStart(ctx context.Context, e mlops.AuditEvent, from int64) error {
	if from > 1 {
		if e.ID != from {
			return &AuditProblem{ID: from, Reason: fmt.Sprintf("is missing (the first event from %d is %d)", from, e.ID)}
		}
		return nil
	}
	if e.ID == 1 {
		if e.PrevHash != GenesisHash {
			return &AuditProblem{ID: 1, Reason: "is the first event but its prev_hash is not the genesis hash"}
		}
		return nil
	}
	// Events before e were pruned: a checkpoint must vouch for e.prev_hash.
	rows, err := s.reader().QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_events WHERE event = 'audit.pruned' ORDER BY id DESC`)
	cps, err := collect(rows, err, scanAudit)
	if err != nil {
		return err
	}
	for _, cp := range cps {
		var c struct {
			Through int64  `json:"pruned_through_id"`
			Anchor  string `json:"anchor_hash"`
		}
		if json.Unmarshal(cp.After, &c) == nil && c.Through == e.ID-1 && c.Anchor == e.PrevHash {
			return nil
		}
	}
	return &AuditProblem{ID: e.ID - 1, Reason: "is missing, and no prune checkpoint accounts for it (events were deleted)"}
}

// AuditPrune deletes the events older than cutoff and appends an
// audit.pruned checkpoint naming the last deleted event's hash, so the
// chain still verifies. The newest event is never deleted.
func (s *Store) AuditPrune(ctx context.Context, cutoff time.Time) (int64, error) {
	var deleted int64
	err := s.audited(ctx, func(tx *Store) ([]change, error) {
		w := tx.writer()
		var through sql.NullInt64
		if err := w.QueryRowContext(ctx, `SELECT MAX(id) FROM audit_events WHERE at < $1 AND id < (SELECT last_id FROM audit_head WHERE id = 1)`,
			cutoff.UTC()).Scan(&through); err != nil {
			return nil, classify(err)
		}
		if !through.Valid {
			return nil, nil
		}
		var anchor string
		if err := w.QueryRowContext(ctx, `SELECT hash FROM audit_events WHERE id = $1`, through.Int64).Scan(&anchor); err != nil {
			return nil, classify(err)
		}
		if _, err := w.ExecContext(ctx, `INSERT INTO audit_prune_permit (id, through_id) VALUES (1, $1)`, through.Int64); err != nil {
			return nil, classify(err)
		}
		r, err := w.ExecContext(ctx, `DELETE FROM audit_events WHERE id <= $1`, through.Int64)
		if err != nil {
			return nil, classify(err)
		}
		deleted, _ = r.RowsAffected()
		if _, err := w.ExecContext(ctx, `DELETE FROM audit_prune_permit WHERE id = 1`); err != nil {
			return nil, classify(err)
		}
		return []change{{event: "audit.pruned", entityType: "audit_events", entityID: strconv.FormatInt(through.Int64, 10),
			after: map[string]any{"pruned_through_id": through.Int64, "anchor_hash": anchor, "deleted": deleted,
				"older_than": cutoff.UTC().Format(time.RFC3339)}}}, nil
	})
	return deleted, err
}

// entityID formats a numeric id for an event.
func entityID(id int64) string { return strconv.FormatInt(id, 10) }
