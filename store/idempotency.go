package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mlopsdev/mlops"
)

// Idempotency keys (table idempotency_keys, migration 00007). A request
// that creates may carry a key of its client's choosing; a repeat of it
// (the same caller and route, key and body) within IdempotencyTTL is
// answered what the first one was, and creates nothing. Two ways to use
// them:
//
//   - around any write: IdempotencyClaim before it, then KeyClaim.Complete
//     with the answer, or KeyClaim.Release when the request failed (a
//     failed request leaves no key, so its client can fix it and retry).
//     The write and the answer are committed one after the other, so a
//     crash between them leaves the key pending; IdempotencyClaim hands a
//     pending key over to a retry once its lease has passed.
//   - inside a batch write: WithIdempotencyKey. PredictionCreateSeq,
//     PredictionCreateBatch and MetricCreateBatch then claim the key first
//     in their own transaction and store their answer with their rows, so
//     the batch and its key are committed together or not at all, and a
//     concurrent repeat waits for that commit (PostgreSQL: on the primary
//     key; SQLite: the single writer) and then finds the answer.

// IdempotencyTTL is how long a key is remembered: a request with the key of
// one older than this is a new request.
const IdempotencyTTL = 24 * time.Hour

// IdempotencyKey names one request that its client may repeat.
type IdempotencyKey struct {
	// Scope is the caller and the route (for example
	// `token 3 "ci" POST /api/v1/alerts`): keys of different scopes never
	// meet, so no caller is answered another's answer.
	Scope string
	// Key is the client's Idempotency-Key: 1 to 255 characters.
	Key string
	// BodyHash is the SHA-256 of the request body.
	BodyHash [sha256.Size]byte
}

// Answer is the answer a request was given, stored with its key.
type Answer struct {
	Status      int // 2xx: only successful answers are stored
	ContentType string
	Body        []byte
}

// Replayed is the error of a request whose key was answered before, within
// IdempotencyTTL, for the same body: Answer is that answer, to give again.
type Replayed struct {
	Answer Answer
}

// Error says that the request was answered before; the answer is r.Answer.
func (r *Replayed) Error() string {
	return fmt.Sprintf("the request was answered before (status %d)", r.Answer.Status)
}

var (
	// ErrIdempotencyKeyReused means the key was used within IdempotencyTTL
	// for a request with another body.
	ErrIdempotencyKeyReused = errors.New("this Idempotency-Key was used within the last 24 hours for a request with another body; use a new key for a new request")
	// ErrIdempotencyKeyInProgress means the first request with the key is
	// still being answered. It wraps mlops.ErrConflict.
	ErrIdempotencyKeyInProgress = fmt.Errorf("a request with this Idempotency-Key is in progress; retry: %w", mlops.ErrConflict)
)

// KeyClaim is an idempotency key a request holds while it is answered.
type KeyClaim struct {
	s  *Store
	k  IdempotencyKey
	at time.Time // the created_at of the claimed row: the claim holds while it matches
}

// IdempotencyClaim claims k for a request about to be answered. It returns
// the claim, or:
//   - *Replayed when k was answered before for the same body;
//   - ErrIdempotencyKeyReused when k was used for another body;
//   - ErrIdempotencyKeyInProgress when another request holds k, pending for
//     less than lease (a claim pending longer is taken over: its request
//     died before it could complete it).
//
// A key older than IdempotencyTTL is claimed as if it were new. Inside a
// transaction (InTx) the claim is part of it.
func (s *Store) IdempotencyClaim(ctx context.Context, k IdempotencyKey, lease time.Duration) (*KeyClaim, error) {
	now := s.Now()
	q := s.writer()
	// A round ends when the row is claimed or read; it is repeated only
	// when the row changed between the two (removed, or taken over).
	for range 3 {
		res, err := q.ExecContext(ctx, `INSERT INTO idempotency_keys (scope, idempotency_key, body_hash, created_at)
			VALUES ($1, $2, $3, $4) ON CONFLICT (scope, idempotency_key) DO NOTHING`, k.Scope, k.Key, k.BodyHash[:], now)
		if err != nil {
			return nil, classify(err)
		}
		if claimed, err := oneRow(res); err != nil || claimed {
			return claimFor(s, k, now, err)
		}
		var (
			hash   []byte
			status sql.NullInt64
			ct     sql.NullString
			body   []byte
			at     time.Time
		)
		err = q.QueryRowContext(ctx, `SELECT body_hash, status, content_type, body, created_at FROM idempotency_keys
			WHERE scope = $1 AND idempotency_key = $2`, k.Scope, k.Key).Scan(&hash, &status, &ct, &body, &at)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, classify(err)
		}
		at = utc(at)
		same := bytes.Equal(hash, k.BodyHash[:])
		switch {
		case !at.After(now.Add(-IdempotencyTTL)), !status.Valid && same && !at.After(now.Add(-lease)):
			// Expired, or abandoned: take it over, unless another request
			// just did (created_at changed).
			res, err := q.ExecContext(ctx, `UPDATE idempotency_keys
				SET body_hash = $3, status = NULL, content_type = NULL, body = NULL, created_at = $4
				WHERE scope = $1 AND idempotency_key = $2 AND created_at = $5`, k.Scope, k.Key, k.BodyHash[:], now, at)
			if err != nil {
				return nil, classify(err)
			}
			if claimed, err := oneRow(res); err != nil || claimed {
				return claimFor(s, k, now, err)
			}
		case !same:
			return nil, ErrIdempotencyKeyReused
		case status.Valid:
			return nil, &Replayed{Answer: Answer{Status: int(status.Int64), ContentType: ct.String, Body: body}}
		default:
			return nil, ErrIdempotencyKeyInProgress
		}
	}
	return nil, ErrIdempotencyKeyInProgress
}

// oneRow reports whether a statement changed one row.
func oneRow(res sql.Result) (bool, error) {
	n, err := res.RowsAffected()
	return n == 1, classify(err)
}

func claimFor(s *Store, k IdempotencyKey, at time.Time, err error) (*KeyClaim, error) {
	if err != nil {
		return nil, err
	}
	return &KeyClaim{s: s, k: k, at: at}, nil
}

// Complete stores a, the answer of the claim's request (a 2xx), so that a
// repeat is given it. A claim that was taken over meanwhile keeps the
// answer stored first.
func (c *KeyClaim) Complete(ctx context.Context, a Answer) error {
	if a.Status < 200 || a.Status > 299 {
		return fmt.Errorf("store: an idempotency key stores only a 2xx answer, got %d", a.Status)
	}
	if a.Body == nil {
		a.Body = []byte{} // NULL means pending
	}
	_, err := c.s.writer().ExecContext(ctx, `UPDATE idempotency_keys SET status = $3, content_type = $4, body = $5
		WHERE scope = $1 AND idempotency_key = $2 AND status IS NULL`, c.k.Scope, c.k.Key, a.Status, a.ContentType, a.Body)
	return classify(err)
}

// Release gives up the claim of a request that failed: a retry with the
// key is a new request. A claim taken over meanwhile is left to its new
// holder.
func (c *KeyClaim) Release(ctx context.Context) error {
	_, err := c.s.writer().ExecContext(ctx, `DELETE FROM idempotency_keys
		WHERE scope = $1 AND idempotency_key = $2 AND status IS NULL AND created_at = $3`, c.k.Scope, c.k.Key, c.at)
	return classify(err)
}

type idempotencyKeyCtx struct{}

// WithIdempotencyKey returns ctx carrying k for the batch writes
// (PredictionCreateSeq, PredictionCreateBatch, MetricCreateBatch): they
// claim it first in their transaction, return *Replayed (and write nothing)
// when it was answered before, and store their answer with their rows: 201
// and {"count": n, "ids": [...]}, the new ids in input order. Like the actor (WithActor), the key is part of what the
// write records, and it has to join the write's own transaction.
func WithIdempotencyKey(ctx context.Context, k IdempotencyKey) context.Context {
	return context.WithValue(ctx, idempotencyKeyCtx{}, k)
}

func idempotencyKeyFrom(ctx context.Context) (IdempotencyKey, bool) {
	k, ok := ctx.Value(idempotencyKeyCtx{}).(IdempotencyKey)
	return k, ok
}

// batchAnswer is the answer a batch write stores with its key: 201 and
// {"count": n, "ids": [...]}, the new ids in input order.
func batchAnswer(ids []int64) Answer {
	if ids == nil {
		ids = []int64{}
	}
	body, _ := json.Marshal(struct {
		Count int     `json:"count"`
		IDs   []int64 `json:"ids"`
	}{len(ids), ids}) // cannot fail
	return Answer{Status: 201, ContentType: "application/json", Body: body}
}

// batchKey claims the key ctx carries (WithIdempotencyKey), if any, in the
// transaction tx; done stores the batch's answer in it. Without a key, done
// does nothing.
func (tx *Store) batchKey(ctx context.Context) (done func(ids []int64) error, err error) {
	k, ok := idempotencyKeyFrom(ctx)
	if !ok {
		return func([]int64) error { return nil }, nil
	}
	if tx.tx == nil {
		return nil, errors.New("store: batchKey outside a transaction")
	}
	// Inside the transaction no claim of the key is ever seen pending: the
	// batch that made it commits it with its answer, or not at all.
	c, err := tx.IdempotencyClaim(ctx, k, IdempotencyTTL)
	if err != nil {
		return nil, err
	}
	return func(ids []int64) error { return c.Complete(ctx, batchAnswer(ids)) }, nil
}

// IdempotencyPrune deletes the keys older than IdempotencyTTL, a thousand
// at a time, and returns how many it deleted (mlops serve runs it every
// ten minutes). A key past its time is ignored whether or not it is
// deleted yet.
func (s *Store) IdempotencyPrune(ctx context.Context) (int64, error) {
	const batch = 1000
	cutoff := s.Now().Add(-IdempotencyTTL)
	return pruneBatches(batch, nil, func() (int64, error) {
		res, err := s.writer().ExecContext(ctx, fmt.Sprintf(`DELETE FROM idempotency_keys WHERE (scope, idempotency_key) IN
			(SELECT scope, idempotency_key FROM idempotency_keys WHERE created_at <= $1 LIMIT %d)`, batch), cutoff)
		if err != nil {
			return 0, classify(err)
		}
		return res.RowsAffected()
	})
}
