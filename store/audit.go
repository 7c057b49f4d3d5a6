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
	"sync"
	"time"

	"github.com/mlopsdev/mlops"
)

// The audit log: every change of state writes one event in the same
// transaction as the change, so a rolled-back change leaves none and a
// committed one always has one. Committed events are then sealed into one
// hash chain, in the order they are found committed: the sealer locks the
// one-row audit_head table, gives each unsealed event the next seq, its
// predecessor's hash as prev_hash and its own hash, and moves the head.
//
// On SQLite, whose single writer runs one transaction at a time anyway, the
// writing transaction seals its own events before it commits. On
// PostgreSQL the change does not wait for the chain: holding the head until
// commit would make every audited change of every server wait for the
// previous one's disk flush. A sealer seals them shortly after (mlops serve
// runs one every 250 ms; several servers' sealers take turns on the
// head, so the chain stays one line), and AuditVerify seals what is pending
// before it checks. Prediction ingest never touches the audit tables.

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
	by         *Actor // nil: the ctx's actor
}

// audit writes events for changes in the store's transaction: as the
// change's actor, or the ctx's. On SQLite they are sealed into the chain
// as they are written (see the package comment on the audit log).
func (s *Store) audit(ctx context.Context, changes ...change) error {
	if s.tx == nil {
		return errors.New("store: audit outside a transaction")
	}
	if len(changes) == 0 || s.noAudit {
		return nil
	}
	ctxActor := ActorFrom(ctx)
	now := s.Now()
	st, err := s.auditStatements(ctx)
	if err != nil {
		return err
	}
	var head *chainHead
	if s.engine == SQLite {
		// The single writer runs one transaction at a time: every event
		// committed before this one is sealed, so this one is sealed now.
		var h chainHead
		if err := st.head.QueryRowContext(ctx).Scan(&h.seq, &h.hash); err != nil {
			return classify(err)
		}
		head = &h
	}
	for _, c := range changes {
		actor := ctxActor
		if c.by != nil {
			actor = *c.by
		}
		e := mlops.AuditEvent{At: now, Actor: actor.Name, ActorKind: actor.Kind, Event: c.event,
			EntityType: c.entityType, EntityID: c.entityID, RequestID: actor.RequestID, RemoteAddr: actor.RemoteAddr}
		var err error
		if e.Before, err = canonicalValue(c.before); err != nil {
			return err
		}
		if e.After, err = canonicalValue(c.after); err != nil {
			return err
		}
		var seq, prev, hash any
		if head != nil {
			head.link(&e)
			seq, prev, hash = *e.Seq, *e.PrevHash, *e.Hash
		}
		if _, err := st.insert.ExecContext(ctx, e.At, e.Actor, string(e.ActorKind), e.Event, e.EntityType, e.EntityID,
			nullText(e.Before), nullText(e.After), e.RequestID, e.RemoteAddr, seq, prev, hash); err != nil {
			return classify(err)
		}
	}
	if head != nil {
		_, err := st.move.ExecContext(ctx, head.seq, head.hash)
		return classify(err)
	}
	return nil
}

const (
	auditInsertSQL = `INSERT INTO audit_events (at, actor, actor_kind, event, entity_type, entity_id, before, after,
		request_id, remote_addr, seq, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`
	auditHeadSQL = `SELECT last_seq, last_hash FROM audit_head WHERE id = 1`
	auditMoveSQL = `UPDATE audit_head SET last_seq = $1, last_hash = $2 WHERE id = 1`
)

// prepared holds statements prepared on the SQLite writer, which parses
// every statement it is given: preparing the audit statements in every
// audited transaction cost a quarter of an approval, and the statements of
// a single metric point a fifth of its write. Shared by a store and its
// transaction-bound copies.
type prepared struct {
	sqls  []string
	mu    sync.Mutex
	ready bool
	stmts []*sql.Stmt // as sqls, once ready
}

func newPrepared(sqls ...string) *prepared { return &prepared{sqls: sqls} }

// prepare prepares the statements on db unless done. It runs before a
// transaction takes the writer's one connection (preparing inside one
// would wait for that connection forever). Before their tables exist it
// fails, and the plain statements run instead.
func (p *prepared) prepare(ctx context.Context, db *sql.DB) {
	p.mu.Lock()
	ready := p.ready
	p.mu.Unlock()
	if ready {
		return
	}
	// Not under mu: preparing waits for the writer's connection, which a
	// transaction that needs mu may hold.
	var sts []*sql.Stmt
	closeAll := func() {
		for _, st := range sts {
			st.Close()
		}
	}
	for _, q := range p.sqls {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			closeAll()
			return
		}
		sts = append(sts, st)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ready { // another transaction prepared them meanwhile
		closeAll()
		return
	}
	p.stmts, p.ready = sts, true
}

// stmt is a statement of s's transaction: the i-th of p prepared on
// SQLite (unless DATABASE_ECHO, which logs each statement as it runs),
// else the plain text.
func (s *Store) stmt(ctx context.Context, p *prepared, i int) execQuerier {
	if s.engine == SQLite && !s.echo && s.tx != nil {
		p.mu.Lock()
		ready := p.ready
		p.mu.Unlock()
		if ready {
			return s.tx.StmtContext(ctx, p.stmts[i])
		}
	}
	return plainStmt{s.writer(), p.sqls[i]}
}

// execQuerier runs one statement with its arguments.
type execQuerier interface {
	ExecContext(ctx context.Context, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, args ...any) *sql.Row
}

// auditStmts are the statements audit runs, bound to the transaction.
type auditStmts struct {
	insert, head, move execQuerier
}

// auditStatements returns the audit statements for s's transaction.
func (s *Store) auditStatements(ctx context.Context) (auditStmts, error) {
	return auditStmts{insert: s.stmt(ctx, s.auditPrep, 0), head: s.stmt(ctx, s.auditPrep, 1), move: s.stmt(ctx, s.auditPrep, 2)}, nil
}

// plainStmt runs one statement's text on a querier.
type plainStmt struct {
	q   querier
	sql string
}

func (p plainStmt) ExecContext(ctx context.Context, args ...any) (sql.Result, error) {
	return p.q.ExecContext(ctx, p.sql, args...)
}

func (p plainStmt) QueryRowContext(ctx context.Context, args ...any) *sql.Row {
	return p.q.QueryRowContext(ctx, p.sql, args...)
}

// chainHead is the end of the chain: the last position and its hash.
type chainHead struct {
	seq  int64
	hash string
}

// link makes e the next event of the chain and moves h to it.
func (h *chainHead) link(e *mlops.AuditEvent) {
	seq, prev := h.seq+1, h.hash
	e.Seq, e.PrevHash = &seq, &prev
	hash := ChainHash(*e)
	e.Hash = &hash
	h.seq, h.hash = seq, hash
}

// lockHead reads the chain head inside the store's transaction and, on
// PostgreSQL, locks it until the commit (SQLite's writer is exclusive).
func (s *Store) lockHead(ctx context.Context) (chainHead, error) {
	lock := ``
	if s.engine == Postgres {
		lock = ` FOR UPDATE`
	}
	var h chainHead
	err := s.writer().QueryRowContext(ctx, auditHeadSQL+lock).Scan(&h.seq, &h.hash)
	return h, classify(err)
}

func (s *Store) moveHead(ctx context.Context, h chainHead) error {
	_, err := s.writer().ExecContext(ctx, auditMoveSQL, h.seq, h.hash)
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

// auditedRow is audited for a method that writes one record: fn returns
// the record with the changes to record, and auditedRow returns it.
func auditedRow[T any](ctx context.Context, s *Store, fn func(tx *Store) (T, []change, error)) (T, error) {
	var row T
	err := s.audited(ctx, func(tx *Store) ([]change, error) {
		var changes []change
		var err error
		row, changes, err = fn(tx)
		return changes, err
	})
	return row, err
}

// sealBatch bounds the events one sealing transaction takes.
const sealBatch = 1000

// sealPending seals committed, unsealed events into the chain, oldest id
// first, at most limit (0: sealBatch), inside the store's transaction. On
// PostgreSQL it waits for the head while another sealer holds it, then
// sees what that one sealed.
func (s *Store) sealPending(ctx context.Context, limit int) (int, error) {
	if limit <= 0 {
		limit = sealBatch
	}
	head, err := s.lockHead(ctx)
	if err != nil {
		return 0, err
	}
	w := s.writer()
	rows, err := w.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_events WHERE seq IS NULL ORDER BY id LIMIT $1`, limit)
	events, err := collect(rows, err, scanAudit)
	if err != nil || len(events) == 0 {
		return 0, err
	}
	for _, e := range events {
		head.link(&e)
		if _, err := w.ExecContext(ctx, `UPDATE audit_events SET seq = $2, prev_hash = $3, hash = $4 WHERE id = $1 AND seq IS NULL`,
			e.ID, *e.Seq, *e.PrevHash, *e.Hash); err != nil {
			return 0, classify(err)
		}
	}
	return len(events), s.moveHead(ctx, head)
}

// AuditSeal seals every committed event not yet in the hash chain, in
// transactions of up to 1,000 events, and returns how many it sealed. Safe
// to run from several servers at once.
func (s *Store) AuditSeal(ctx context.Context) (int64, error) {
	var total int64
	for {
		var n int
		err := s.InTx(ctx, func(tx *Store) error {
			var err error
			n, err = tx.sealPending(ctx, sealBatch)
			return err
		})
		total += int64(n)
		if err != nil || n < sealBatch {
			return total, err
		}
	}
}

// AuditUnsealed counts the committed events not yet sealed into the chain.
func (s *Store) AuditUnsealed(ctx context.Context) (int64, error) {
	var n int64
	err := s.primary().QueryRowContext(ctx, `SELECT count(*) FROM audit_events WHERE seq IS NULL`).Scan(&n)
	return n, classify(err)
}

func nullText(j mlops.JSON) any {
	if j == nil {
		return nil
	}
	return string(j)
}

// canonicalValue marshals v for an event: a struct's fields in their
// declared order, a map's keys sorted, no insignificant space (what
// encoding/json writes); raw JSON compacted. nil stays nil. The text is
// stored as written and hashed as stored.
func canonicalValue(v any) (mlops.JSON, error) {
	if v == nil {
		return nil, nil
	}
	if raw, ok := v.(mlops.JSON); ok {
		if raw == nil {
			return nil, nil
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		return mlops.JSON(buf.Bytes()), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("audit: encode %T: %w", v, err)
	}
	return mlops.JSON(b), nil
}

// auditTime is how an event's time is written in its canonical JSON.
const auditTime = "2006-01-02T15:04:05.000000Z"

// ChainHash is a sealed event's hash: hex SHA-256 over its prev_hash and
// its canonical JSON.
func ChainHash(e mlops.AuditEvent) string {
	h := sha256.New()
	if e.PrevHash != nil {
		h.Write([]byte(*e.PrevHash))
	}
	h.Write(CanonicalEvent(e))
	return hex.EncodeToString(h.Sum(nil))
}

// CanonicalEvent is the JSON an event's hash covers: every field but id,
// prev_hash and hash, keys sorted, no space; before and after as stored.
// (seq, not id, is the event's place: ids are handed out before commit and
// may skip numbers.)
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
	var seq int64
	if e.Seq != nil {
		seq = *e.Seq
	}
	field("actor", e.Actor)
	field("actor_kind", string(e.ActorKind))
	field("after", e.After)
	field("at", e.At.UTC().Format(auditTime))
	field("before", e.Before)
	field("entity_id", e.EntityID)
	field("entity_type", e.EntityType)
	field("event", e.Event)
	field("remote_addr", e.RemoteAddr)
	field("request_id", e.RequestID)
	field("seq", seq)
	b.WriteByte('}')
	return b.Bytes()
}

const auditColumns = `id, at, actor, actor_kind, event, entity_type, entity_id, before, after, request_id,
	remote_addr, seq, prev_hash, hash`

func scanAudit(sc scanner) (mlops.AuditEvent, error) {
	var (
		e              mlops.AuditEvent
		before, after  sql.NullString
		seq            sql.NullInt64
		prevHash, hash sql.NullString
	)
	err := sc.Scan(&e.ID, &e.At, &e.Actor, &e.ActorKind, &e.Event, &e.EntityType, &e.EntityID, &before, &after,
		&e.RequestID, &e.RemoteAddr, &seq, &prevHash, &hash)
	e.At = utc(e.At)
	if before.Valid {
		e.Before = mlops.JSON(before.String)
	}
	if after.Valid {
		e.After = mlops.JSON(after.String)
	}
	e.Seq, e.PrevHash, e.Hash = nullInt(seq), nullString(prevHash), nullString(hash)
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
	return listPage(ctx, s.reader(), `SELECT `+auditColumns+` FROM audit_events`, q, "id DESC", limit, scanAudit,
		func(e mlops.AuditEvent) Cursor { return Cursor{e.At, e.ID} })
}

// AuditEventsOf returns the events about one record, oldest first.
func (s *Store) AuditEventsOf(ctx context.Context, entityType, entityID string) ([]mlops.AuditEvent, error) {
	rows, err := s.reader().QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_events
		WHERE entity_type = $1 AND entity_id = $2 ORDER BY id`, entityType, entityID)
	return collect(rows, err, scanAudit)
}

// AuditProblem is the first event at which the chain does not hold: ID is
// the event's id, Seq its place in the chain (for a missing event, the
// place that is empty, and ID the event after the gap).
type AuditProblem struct {
	ID     int64
	Seq    int64
	Reason string
}

func (p *AuditProblem) Error() string {
	return fmt.Sprintf("audit event %d (chain position %d): %s", p.ID, p.Seq, p.Reason)
}

// AuditVerify seals what is pending, then walks the chain in seq order
// from event id from (0: the start; the events before it are trusted) and
// returns the number of events checked, or an *AuditProblem naming the
// first event that was edited, removed, reordered or not linked to its
// predecessor. progress, when set, is called every 10,000 events.
func (s *Store) AuditVerify(ctx context.Context, from int64, progress func(checked, lastID int64)) (int64, error) {
	if _, err := s.AuditSeal(ctx); err != nil {
		return 0, err
	}
	// The walk ends at the head as it is now: sealers of running servers
	// may extend the chain meanwhile, and those events are for the next run.
	var headSeq int64
	var headHash string
	if err := s.primary().QueryRowContext(ctx, auditHeadSQL).Scan(&headSeq, &headHash); err != nil {
		return 0, classify(err)
	}
	startSeq := int64(0)
	if from > 0 {
		var seq sql.NullInt64
		if err := s.primary().QueryRowContext(ctx, `SELECT seq FROM audit_events WHERE id = $1`, from).Scan(&seq); err != nil {
			return 0, notFound(err, "audit event %d (choose an id that exists, or leave --from out)", from)
		}
		startSeq = seq.Int64
	}
	var (
		checked  int64
		prevSeq  int64
		prevHash string
		prevID   int64
		first    = true
	)
	const page = 10000
	after := startSeq - 1
	for {
		rows, err := s.primary().QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_events
			WHERE seq IS NOT NULL AND seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3`, after, headSeq, page)
		events, err := collect(rows, err, scanAudit)
		if err != nil {
			return checked, err
		}
		for _, e := range events {
			seq, ph := *e.Seq, *e.PrevHash
			if first {
				first = false
				if err := s.checkChainStart(ctx, e, from > 0); err != nil {
					return checked, err
				}
			} else {
				if seq != prevSeq+1 {
					return checked, &AuditProblem{ID: e.ID, Seq: prevSeq + 1, Reason: fmt.Sprintf(
						"is missing: the chain jumps from event %d (position %d) to event %d (position %d)", prevID, prevSeq, e.ID, seq)}
				}
				if ph != prevHash {
					return checked, &AuditProblem{ID: e.ID, Seq: seq, Reason: fmt.Sprintf(
						"its prev_hash is not the hash of event %d before it (an event was changed, removed or reordered)", prevID)}
				}
			}
			if ChainHash(e) != *e.Hash {
				return checked, &AuditProblem{ID: e.ID, Seq: seq, Reason: "its content does not match its hash (the event was edited)"}
			}
			prevSeq, prevHash, prevID = seq, *e.Hash, e.ID
			checked++
			if progress != nil && checked%page == 0 {
				progress(checked, e.ID)
			}
		}
		if len(events) < page {
			break
		}
		after = *events[len(events)-1].Seq
	}
	if first {
		if headSeq != 0 && from == 0 {
			return 0, &AuditProblem{Seq: headSeq, Reason: "is the chain's head, but the log holds no sealed event (events were removed)"}
		}
		return 0, nil
	}
	if headSeq != prevSeq || headHash != prevHash {
		return checked, &AuditProblem{ID: prevID, Seq: headSeq, Reason: fmt.Sprintf(
			"is the chain's head, but the last event is at position %d (events at the end were removed, or the head was changed)", prevSeq)}
	}
	if progress != nil {
		progress(checked, prevID)
	}
	return checked, nil
}

// checkChainStart checks the first event a walk sees: the genesis, or the
// event the walk was asked to start from, or the first after events that
// prune removed, vouched for by a checkpoint naming its prev_hash.
func (s *Store) checkChainStart(ctx context.Context, e mlops.AuditEvent, trusted bool) error {
	seq, ph := *e.Seq, *e.PrevHash
	if trusted {
		return nil
	}
	if seq == 1 {
		if ph != GenesisHash {
			return &AuditProblem{ID: e.ID, Seq: 1, Reason: "is the first event but its prev_hash is not the genesis hash"}
		}
		return nil
	}
	rows, err := s.primary().QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_events
		WHERE event = 'audit.pruned' AND seq IS NOT NULL ORDER BY seq DESC`)
	cps, err := collect(rows, err, scanAudit)
	if err != nil {
		return err
	}
	for _, cp := range cps {
		var c struct {
			Through int64  `json:"pruned_through_seq"`
			Anchor  string `json:"anchor_hash"`
		}
		if json.Unmarshal(cp.After, &c) == nil && c.Through == seq-1 && c.Anchor == ph {
			return nil
		}
	}
	return &AuditProblem{ID: e.ID, Seq: seq - 1, Reason: "is missing before the first remaining event, and no prune checkpoint accounts for it (events were deleted)"}
}

// AuditPruneCount counts the events AuditPrune(cutoff) would delete: the
// sealed ones older than cutoff, never the newest.
func (s *Store) AuditPruneCount(ctx context.Context, cutoff time.Time) (int64, error) {
	var n int64
	err := s.reader().QueryRowContext(ctx, `SELECT count(*) FROM audit_events WHERE seq IS NOT NULL AND at < $1
		AND seq < (SELECT last_seq FROM audit_head WHERE id = 1)`, cutoff.UTC()).Scan(&n)
	return n, classify(err)
}

// AuditPrune deletes the sealed events older than cutoff and records an
// audit.pruned checkpoint naming the last deleted event's hash, so the
// chain still verifies. The newest sealed event is never deleted.
func (s *Store) AuditPrune(ctx context.Context, cutoff time.Time) (int64, error) {
	if _, err := s.AuditSeal(ctx); err != nil {
		return 0, err
	}
	var deleted int64
	err := s.audited(ctx, func(tx *Store) ([]change, error) {
		w := tx.writer()
		head, err := tx.lockHead(ctx)
		if err != nil {
			return nil, err
		}
		var through sql.NullInt64
		if err := w.QueryRowContext(ctx, `SELECT MAX(seq) FROM audit_events WHERE seq IS NOT NULL AND at < $1 AND seq < $2`,
			cutoff.UTC(), head.seq).Scan(&through); err != nil {
			return nil, classify(err)
		}
		if !through.Valid {
			return nil, nil
		}
		var anchor string
		if err := w.QueryRowContext(ctx, `SELECT hash FROM audit_events WHERE seq = $1`, through.Int64).Scan(&anchor); err != nil {
			return nil, classify(err)
		}
		if _, err := w.ExecContext(ctx, `INSERT INTO audit_prune_permit (id, through_seq) VALUES (1, $1)`, through.Int64); err != nil {
			return nil, classify(err)
		}
		r, err := w.ExecContext(ctx, `DELETE FROM audit_events WHERE seq IS NOT NULL AND seq <= $1`, through.Int64)
		if err != nil {
			return nil, classify(err)
		}
		deleted, _ = r.RowsAffected()
		if _, err := w.ExecContext(ctx, `DELETE FROM audit_prune_permit WHERE id = 1`); err != nil {
			return nil, classify(err)
		}
		return []change{{event: "audit.pruned", entityType: "audit_events", entityID: strconv.FormatInt(through.Int64, 10),
			after: map[string]any{"pruned_through_seq": through.Int64, "anchor_hash": anchor, "deleted": deleted,
				"older_than": cutoff.UTC().Format(time.RFC3339)}}}, nil
	})
	if err != nil {
		return deleted, err
	}
	_, err = s.AuditSeal(ctx)
	return deleted, err
}

// entityID formats a numeric id for an event.
func entityID(id int64) string { return strconv.FormatInt(id, 10) }
