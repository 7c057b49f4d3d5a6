package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/mlopsdev/mlops/internal/auth"
	"github.com/mlopsdev/mlops/store"
)

// Every route that creates (answers 201) takes an Idempotency-Key header:
// a repeat of a request (the same caller, route, key and body) within 24
// hours is answered what the first one was, and creates nothing; the same
// key with another body is a 422. Only 2xx answers are kept, so a refused
// request can be fixed and sent again with its key. A request without the
// header pays one map lookup.
//
// The batch routes claim the key in the transaction that stores the batch
// (batchKey, store.WithIdempotencyKey): the batch and its answer are
// committed together, so a retry finds either nothing or the whole batch,
// even when the server died between the commit and the answer. Every other
// route goes through replay: the key is claimed (a pending row) before the
// handler runs and completed with the answer after, before the client gets
// it. A concurrent request with the key meanwhile is a 409; a key left
// pending by a server that died in between is taken over by a retry after
// keyLease, which then runs the request again.

const (
	idempotencyHeader = "Idempotency-Key"
	maxIdempotencyKey = 255 // characters
)

// keysInTransaction marks, in huma.Operation.Metadata, a route whose store
// write claims the request's key in its own transaction (the batches).
const keysInTransaction = "idempotency-keys-in-transaction"

// keyLease is how long a key stays pending before a retry may take it
// over: twice the longest a handler's database work may take.
func (s *Server) keyLease() time.Duration { return max(2*s.timeout, 30*time.Second) }

// idempotent prepares op, a route that creates, for the Idempotency-Key
// header: it documents the header and the 409 of a request in progress,
// and puts replay in front of op's middlewares, unless the route claims
// keys itself (keysInTransaction).
func (s *Server) idempotent(op *huma.Operation) {
	op.Parameters = append(op.Parameters, &huma.Param{
		Name: idempotencyHeader, In: "header",
		Description: "Makes the request safe to retry: a repeat with the same key and the same body within 24 hours " +
			"is answered what the first request was, and creates nothing; the same key with another body is a 422, " +
			"and a repeat while the first request is still being answered a 409. Keys are per caller.",
		Schema: &huma.Schema{Type: huma.TypeString, MinLength: ptr(1), MaxLength: ptr(maxIdempotencyKey)},
	})
	op.Errors = append(op.Errors, http.StatusConflict)
	if op.Metadata[keysInTransaction] == true {
		return
	}
	op.Middlewares = append(huma.Middlewares{s.replay}, op.Middlewares...)
}

func ptr[T any](v T) *T { return &v }

// idempotencyKey returns the request's Idempotency-Key and whether it has
// one; a key that is empty, longer than 255 characters, not UTF-8 or sent
// twice is a 422 naming the header.
func idempotencyKey(r *http.Request) (string, bool, error) {
	vals, keyed := r.Header[idempotencyHeader]
	if !keyed {
		return "", false, nil
	}
	var (
		msg string
		k   string
	)
	if len(vals) == 1 {
		k = vals[0]
	}
	switch {
	case len(vals) > 1:
		msg = "is sent more than once: send one key"
	case k == "":
		msg = "is empty: send 1 to 255 characters that name this request (a UUID, for example), or leave the header out"
	case !utf8.ValidString(k):
		msg = "is not UTF-8 text"
	case utf8.RuneCountInString(k) > maxIdempotencyKey:
		msg = fmt.Sprintf("has %d characters; send at most %d", utf8.RuneCountInString(k), maxIdempotencyKey)
	default:
		return k, true, nil
	}
	return "", true, keyProblem(msg)
}

func keyProblem(msg string) error {
	d := &huma.ErrorDetail{Location: "header." + idempotencyHeader, Message: msg}
	return newProblem(http.StatusUnprocessableEntity, summarize([]*huma.ErrorDetail{d}), d)
}

// keyError is the answer to a key the store refused: another body is a 422
// naming the header; any other error is mapped as every store error is (a
// request in progress: 409).
func keyError(err error) error {
	if errors.Is(err, store.ErrIdempotencyKeyReused) {
		return keyProblem(store.ErrIdempotencyKeyReused.Error())
	}
	return err
}

// scope is who sends r to which route: a key is looked up only among the
// caller's own, for the path r was sent to.
func scope(ctx context.Context, r *http.Request) string {
	p := auth.CallerFrom(ctx).Principal
	return fmt.Sprintf("%s %d %q %s %s", p.Kind, p.ID, p.Name, r.Method, r.URL.Path)
}

// replay is the middleware of a route that creates (see idempotent). A
// request with a key has its body read whole (at most the route's limit,
// within the idle timeout) and hashed, then claims its key: a repeat is
// answered the stored answer at once; otherwise the handler runs, its
// answer is held back until the key is completed (a 2xx) or released (any
// other status), and then sent.
func (s *Server) replay(ctx huma.Context, next func(huma.Context)) {
	r, w := humago.Unwrap(ctx)
	key, keyed, err := idempotencyKey(r)
	if !keyed {
		next(ctx)
		return
	}
	if err != nil {
		s.refuse(ctx.Context(), w, err)
		return
	}
	limit := ctx.Operation().MaxBodyBytes
	if r.ContentLength > limit {
		next(ctx) // refused with 413 without reading it; no key is kept
		return
	}
	rc := http.NewResponseController(w)
	buf, err := readSmall(w, r, rc, s.bodyIdle, limit)
	if err != nil {
		w.Header().Set("Connection", "close")
		s.refuse(ctx.Context(), w, s.problem(ctx.Context(), "body", decodeFailure(err, limit)))
		return
	}
	_ = rc.SetReadDeadline(time.Time{})
	r.Body = io.NopCloser(bytes.NewReader(buf.Bytes()))
	k := store.IdempotencyKey{Scope: scope(ctx.Context(), r), Key: key, BodyHash: sha256.Sum256(buf.Bytes())}

	// The key's own statements outlive a client that goes away: its write
	// may be committed, and the retry must find the answer.
	keyCtx := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx.Context()), s.timeout)
	}
	cctx, cancel := keyCtx()
	claim, err := s.st.IdempotencyClaim(cctx, k, s.keyLease())
	cancel()
	var rep *store.Replayed
	switch {
	case errors.As(err, &rep):
		writeAnswer(w, rep.Answer)
		return
	case err != nil:
		s.refuse(ctx.Context(), w, keyError(err))
		return
	}

	held := &heldAnswer{ResponseWriter: w}
	settled := false
	settle := func() {
		settled = true
		cctx, cancel := keyCtx()
		defer cancel()
		a := store.Answer{Status: held.status, ContentType: w.Header().Get("Content-Type"), Body: held.body.Bytes()}
		var err error
		if a.Status >= 200 && a.Status <= 299 {
			err = claim.Complete(cctx, a)
		} else {
			err = claim.Release(cctx)
		}
		if err != nil {
			s.log.WarnContext(ctx.Context(), "storing the answer of an Idempotency-Key failed; a retry takes the key over after its lease",
				"request_id", requestID(ctx.Context()), "lease", s.keyLease(), "error", err.Error())
		}
	}
	defer func() {
		if !settled { // the handler panicked
			settle()
		}
	}()
	next(humago.NewContext(ctx.Operation(), r.WithContext(ctx.Context()), held))
	settle()
	if held.status != 0 {
		w.WriteHeader(held.status)
		_, _ = w.Write(held.body.Bytes())
	}
}

// writeAnswer gives a stored answer again.
func writeAnswer(w http.ResponseWriter, a store.Answer) {
	w.Header().Set("Content-Type", a.ContentType)
	w.WriteHeader(a.Status)
	_, _ = w.Write(a.Body)
}

// heldAnswer holds a handler's answer back (the headers go to the
// underlying writer's map, unsent) until its key is settled.
type heldAnswer struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (h *heldAnswer) WriteHeader(code int) {
	if h.status == 0 {
		h.status = code
	}
}

func (h *heldAnswer) Write(b []byte) (int, error) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	return h.body.Write(b)
}

// Unwrap exposes the underlying writer to http.ResponseController (read
// deadlines).
func (h *heldAnswer) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// batchKey is the middleware of a batch route with keysInTransaction, after
// receiveBatch: a request with a key hands it to the store write
// (store.WithIdempotencyKey) with the hash of the body received.
func (s *Server) batchKey(ctx huma.Context, next func(huma.Context)) {
	r, w := humago.Unwrap(ctx)
	key, keyed, err := idempotencyKey(r)
	if !keyed {
		next(ctx)
		return
	}
	if err != nil {
		s.refuse(ctx.Context(), w, err)
		return
	}
	raw, err := decodedBody[*blocks](ctx.Context())
	if err != nil {
		next(ctx) // the handler answers the body's error; no key is kept
		return
	}
	h := sha256.New()
	for _, b := range raw.b {
		h.Write(b)
	}
	k := store.IdempotencyKey{Scope: scope(ctx.Context(), r), Key: key}
	h.Sum(k.BodyHash[:0])
	next(humago.NewContext(ctx.Operation(), r.WithContext(store.WithIdempotencyKey(ctx.Context(), k)), w))
}

// replayedBatch is the answer to a batch whose key was answered before
// (err is *store.Replayed): the stored ids, written as every batch answer
// is.
func replayedBatch(err error) (*body[BatchResult], bool) {
	var rep *store.Replayed
	if !errors.As(err, &rep) {
		return nil, false
	}
	var res BatchResult
	if json.Unmarshal(rep.Answer.Body, &res) != nil || res.IDs == nil {
		return nil, false // answered as the error it is: a bug
	}
	return &body[BatchResult]{Body: res}, true
}
