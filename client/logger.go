package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/api"
)

// FullPolicy says what Log does when the logger's queue is full.
type FullPolicy int

const (
	// Block waits up to LoggerOptions.BlockTimeout for room, then returns
	// ErrQueueFull.
	Block FullPolicy = iota
	// DropOldest drops the oldest queued prediction to make room; the
	// drops are counted in LoggerStats.Dropped.
	DropOldest
	// ReturnError returns ErrQueueFull at once.
	ReturnError
)

// Errors of Log.
var (
	ErrQueueFull    = errors.New("mlops: the prediction logger's queue is full")
	ErrLoggerClosed = errors.New("mlops: the prediction logger is closed")
)

// LoggerOptions configure a PredictionLogger. The zero value is usable.
type LoggerOptions struct {
	// MaxBatch is the most predictions one request carries: a batch is
	// sent as soon as this many are queued. Default 5000, at most
	// MaxBatchItems and QueueSize.
	MaxBatch int
	// FlushInterval is how often the predictions queued, however few, are
	// sent. Default 1s.
	FlushInterval time.Duration
	// QueueSize bounds the predictions waiting to be sent, besides those in
	// the batches being sent. Default 100,000.
	QueueSize int
	// OnFull is what Log does when the queue is full. Default Block.
	OnFull FullPolicy
	// BlockTimeout bounds the wait of Log under Block; a negative value
	// waits for as long as it takes. Default 1s.
	BlockTimeout time.Duration
	// Senders is how many batches are sent at once. Default 2.
	Senders int
	// Retry spaces the attempts of a batch that failed for a reason that
	// may pass (the server unreachable, 429, 502, 503, 504). MaxAttempts 0,
	// the default, retries until Close gives up; after MaxAttempts the
	// batch counts as failed. Every attempt of a batch carries the same
	// Idempotency-Key, so a batch the server stored but whose answer was
	// lost is not stored again.
	Retry RetryPolicy
	// OnStored, if set, is called from the sending goroutine with each
	// batch stored: the new ids in the order of preds.
	OnStored func(ids []int64, preds []api.NewPrediction)
	// OnFailed, if set, is called from the sending goroutine with the
	// predictions the server refused (a 4xx such as a 422 for an unknown
	// model_id) and its error; they are not sent again. A refused batch
	// is sent again without the items the 422 names, so a bad prediction
	// fails alone.
	OnFailed func(err error, preds []api.NewPrediction)
}

// LoggerStats are a PredictionLogger's counters.
type LoggerStats struct {
	Logged   int64 // accepted by Log
	Sent     int64 // stored: their batch was answered 201
	Batches  int64 // batches stored
	Retried  int64 // attempts of a batch repeated after a failure that may pass
	Dropped  int64 // dropped from the full queue (DropOldest)
	Rejected int64 // refused by Log with ErrQueueFull
	Failed   int64 // refused by the server, or out of attempts; not sent again
	Queued   int   // waiting in the queue now
	InFlight int   // in batches being sent now
}

// UnsentError is Close's answer when its context ended before every
// prediction was sent.
type UnsentError struct {
	// Predictions were accepted by Log and are not known to be stored:
	// still queued, or in a batch whose answer never came (the server may
	// have stored such a batch).
	Predictions []api.NewPrediction
	// Err is why they were not sent: the context's error, joined with the
	// last error of a batch, if any.
	Err error
}

func (e *UnsentError) Error() string {
	return fmt.Sprintf("mlops: prediction logger closed with %d predictions not sent: %v", len(e.Predictions), e.Err)
}

func (e *UnsentError) Unwrap() error { return e.Err }

// PredictionLogger logs predictions in the background: Log queues one and
// returns at once, and goroutines of the logger send the queue in batches
// (POST /api/v1/predictions/batch) every FlushInterval or MaxBatch
// predictions. A batch that fails for a reason that may pass is sent again
// with backoff, with the same Idempotency-Key, so every prediction Log
// accepted is stored exactly once, unless the server refuses it (OnFailed),
// DropOldest drops it, or Close gives up on it (UnsentError).
//
// Call Close before the program exits. A PredictionLogger is safe for
// concurrent use.
type PredictionLogger struct {
	c *Client
	o LoggerOptions

	mu       sync.Mutex
	ring     []api.NewPrediction // the queue: n predictions from head, wrapping
	head, n  int
	headSeq  uint64              // sequence number of ring[head]
	nextSeq  uint64              // sequence number of the next prediction logged
	flushTo  uint64              // batches are cut, however small, until headSeq reaches this
	inflight map[uint64]int      // first sequence number → size of each batch being sent
	room     chan struct{}       // closed when room frees up, for Log under Block
	progress chan struct{}       // closed when a batch settles or a prediction is dropped, for Flush
	closing  bool                // Close was called
	lastErr  error               // the last error of a batch
	unsent   []api.NewPrediction // batches abandoned when Close gave up

	wake   chan struct{} // tells the dispatcher to look at the queue
	work   chan *batch   // cut batches, to the senders
	ctx    context.Context
	cancel context.CancelFunc // ends the senders' requests and waits when Close gives up
	done   chan struct{}      // closed when the dispatcher and the senders have returned

	closeOnce sync.Once
	closeErr  error

	logged, sent, batches, retried, dropped, rejected, failed atomic.Int64
}

// batch is a run of consecutive predictions, from sequence number seq.
type batch struct {
	seq  uint64
	rows []api.NewPrediction
}

// NewPredictionLogger starts a logger that sends through c.
func NewPredictionLogger(c *Client, o LoggerOptions) *PredictionLogger {
	if o.MaxBatch <= 0 {
		o.MaxBatch = 5000
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = time.Second
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 100_000
	}
	o.MaxBatch = min(o.MaxBatch, MaxBatchItems, o.QueueSize)
	if o.BlockTimeout == 0 {
		o.BlockTimeout = time.Second
	}
	if o.Senders <= 0 {
		o.Senders = 2
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &PredictionLogger{c: c, o: o, ring: make([]api.NewPrediction, o.QueueSize),
		inflight: map[uint64]int{}, room: make(chan struct{}), progress: make(chan struct{}),
		wake: make(chan struct{}, 1), work: make(chan *batch), ctx: ctx, cancel: cancel, done: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Go(l.dispatch)
	for range o.Senders {
		wg.Go(l.sender)
	}
	go func() {
		wg.Wait()
		close(l.done)
	}()
	return l
}

// Log queues p to be sent, and returns at once unless the queue is full
// (see LoggerOptions.OnFull). A prediction the server would refuse for its
// own fields (mlops.NewPrediction.Validate: a model_id below 1, a
// probability outside [0, 1], features that are not a JSON object) is
// refused here, with a *mlops.ValidationError. The logger keeps p: do not
// change p.Features after the call.
func (l *PredictionLogger) Log(p api.NewPrediction) error {
	dp := mlops.NewPrediction{ModelID: p.ModelID, Features: mlops.JSON(p.Features), Probability: p.Probability, LatencyMS: p.LatencyMS}
	if err := dp.Validate(); err != nil {
		return err
	}
	var timeout <-chan time.Time
	l.mu.Lock()
	for l.n == len(l.ring) && !l.closing {
		switch l.o.OnFull {
		case DropOldest:
			l.ring[l.head] = api.NewPrediction{}
			l.head = (l.head + 1) % len(l.ring)
			l.n--
			l.headSeq++
			l.dropped.Add(1)
			l.advanced()
		case ReturnError:
			l.mu.Unlock()
			l.rejected.Add(1)
			return ErrQueueFull
		default:
			if timeout == nil && l.o.BlockTimeout > 0 {
				t := time.NewTimer(l.o.BlockTimeout)
				defer t.Stop()
				timeout = t.C
			}
			room := l.room
			l.mu.Unlock()
			select {
			case <-room:
			case <-timeout:
				l.rejected.Add(1)
				return ErrQueueFull
			}
			l.mu.Lock()
		}
	}
	if l.closing {
		l.mu.Unlock()
		return ErrLoggerClosed
	}
	l.ring[(l.head+l.n)%len(l.ring)] = p
	l.n++
	l.nextSeq++
	full := l.n >= l.o.MaxBatch
	l.mu.Unlock()
	l.logged.Add(1)
	if full {
		l.poke()
	}
	return nil
}

// Flush sends every prediction logged before the call and returns when
// each is stored or refused (see OnFailed), or when ctx ends.
func (l *PredictionLogger) Flush(ctx context.Context) error {
	l.mu.Lock()
	target := l.nextSeq
	l.flushTo = max(l.flushTo, target)
	l.mu.Unlock()
	l.poke()
	for {
		l.mu.Lock()
		if l.watermark() >= target {
			l.mu.Unlock()
			return nil
		}
		progress, left, last := l.progress, int(target-l.watermark()), l.lastErr
		l.mu.Unlock()
		select {
		case <-progress:
		case <-l.done:
			l.mu.Lock()
			settled := l.watermark() >= target
			l.mu.Unlock()
			if settled {
				return nil
			}
			return fmt.Errorf("mlops: flush: the logger was closed with predictions not sent: %w", ErrLoggerClosed)
		case <-ctx.Done():
			return fmt.Errorf("mlops: flush: %d predictions not sent yet: %w", left, errors.Join(ctx.Err(), last))
		}
	}
}

// Close stops accepting predictions, sends those queued and returns when
// all are stored or refused: nil. When ctx ends first it gives up: the
// batches being sent are abandoned, and the answer is an *UnsentError
// listing every prediction not known to be stored. Calling Close again
// returns the first call's answer.
func (l *PredictionLogger) Close(ctx context.Context) error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closing = true
		close(l.room) // wakes Log calls blocked on a full queue, for good
		l.mu.Unlock()
		l.poke()
		select {
		case <-l.done:
		case <-ctx.Done():
			l.cancel()
			<-l.done
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		unsent := l.unsent
		for i := range l.n {
			unsent = append(unsent, l.ring[(l.head+i)%len(l.ring)])
		}
		if len(unsent) > 0 {
			l.closeErr = &UnsentError{Predictions: unsent, Err: errors.Join(ctx.Err(), l.lastErr)}
		}
		l.cancel()
	})
	<-l.done
	return l.closeErr
}

// Stats returns the logger's counters.
func (l *PredictionLogger) Stats() LoggerStats {
	l.mu.Lock()
	queued, inflight := l.n, 0
	for _, n := range l.inflight {
		inflight += n
	}
	l.mu.Unlock()
	return LoggerStats{Logged: l.logged.Load(), Sent: l.sent.Load(), Batches: l.batches.Load(),
		Retried: l.retried.Load(), Dropped: l.dropped.Load(), Rejected: l.rejected.Load(),
		Failed: l.failed.Load(), Queued: queued, InFlight: inflight}
}

// poke tells the dispatcher to look at the queue.
func (l *PredictionLogger) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// watermark is the sequence number of the oldest prediction not settled
// (stored, refused or dropped). l.mu is held.
func (l *PredictionLogger) watermark() uint64 {
	w := l.headSeq
	for seq := range l.inflight {
		w = min(w, seq)
	}
	return w
}

// advanced wakes the Flush calls waiting for the watermark. l.mu is held.
func (l *PredictionLogger) advanced() {
	close(l.progress)
	l.progress = make(chan struct{})
}

// dispatch cuts the queue into batches for the senders: a full batch as
// soon as there is one, and every FlushInterval, or on Flush and Close,
// whatever is queued.
func (l *PredictionLogger) dispatch() {
	tick := time.NewTicker(l.o.FlushInterval)
	defer tick.Stop()
	for {
		for {
			b, last := l.cut()
			if last {
				close(l.work)
				return
			}
			if b == nil {
				break
			}
			select {
			case l.work <- b:
			case <-l.ctx.Done():
				l.abandon(b)
				l.settle(b)
				return
			}
		}
		select {
		case <-l.wake:
		case <-tick.C:
			l.mu.Lock()
			l.flushTo = max(l.flushTo, l.nextSeq)
			l.mu.Unlock()
		case <-l.ctx.Done():
			return
		}
	}
}

// cut takes the next batch off the queue, if one is due; last is true when
// the logger is closing and the queue is empty.
func (l *PredictionLogger) cut() (b *batch, last bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == 0 {
		return nil, l.closing
	}
	if l.n < l.o.MaxBatch && !l.closing && l.headSeq >= l.flushTo {
		return nil, false
	}
	size := min(l.n, l.o.MaxBatch)
	b = &batch{seq: l.headSeq, rows: make([]api.NewPrediction, size)}
	for i := range size {
		j := (l.head + i) % len(l.ring)
		b.rows[i] = l.ring[j]
		l.ring[j] = api.NewPrediction{}
	}
	l.head = (l.head + size) % len(l.ring)
	l.n -= size
	l.headSeq += uint64(size)
	l.inflight[b.seq] = size
	if !l.closing { // else room is closed for good: Log no longer waits
		close(l.room)
		l.room = make(chan struct{})
	}
	return b, false
}

// abandon keeps b's predictions for Close's answer.
func (l *PredictionLogger) abandon(b *batch) {
	l.mu.Lock()
	l.unsent = append(l.unsent, b.rows...)
	l.mu.Unlock()
}

// settle marks b done, whatever became of its predictions.
func (l *PredictionLogger) settle(b *batch) {
	l.mu.Lock()
	delete(l.inflight, b.seq)
	l.advanced()
	l.mu.Unlock()
}

func (l *PredictionLogger) sender() {
	for {
		select {
		case b, ok := <-l.work:
			if !ok {
				return
			}
			l.send(b)
		case <-l.ctx.Done():
			return
		}
	}
}

// part is a run of a batch's predictions sent under one Idempotency-Key.
type part struct {
	key  string
	rows []api.NewPrediction
}

// send stores b: each part is sent until it is stored, refused, out of
// attempts, or the logger gives up. A 422 naming items splits them off;
// a 413 halves the part.
func (l *PredictionLogger) send(b *batch) {
	defer l.settle(b)
	parts := []part{{key: NewIdempotencyKey(), rows: b.rows}}
	attempt := 0
	for len(parts) > 0 {
		p := parts[0]
		res, err := l.c.predictionBatchOnce(l.ctx, p.key, p.rows)
		if err == nil && len(res.IDs) != len(p.rows) {
			err = fmt.Errorf("mlops: a batch of %d predictions was answered %d ids", len(p.rows), len(res.IDs))
		}
		if err == nil {
			l.sent.Add(int64(len(p.rows)))
			l.batches.Add(1)
			if l.o.OnStored != nil {
				l.o.OnStored(res.IDs, p.rows)
			}
			parts, attempt = parts[1:], 0
			continue
		}
		if l.ctx.Err() != nil {
			for _, p := range parts {
				l.abandon(&batch{rows: p.rows})
			}
			return
		}
		l.mu.Lock()
		l.lastErr = err
		l.mu.Unlock()
		if wait, again := retryable(err, attempt > 0); again {
			if l.o.Retry.MaxAttempts > 0 && attempt+1 >= l.o.Retry.MaxAttempts {
				l.fail(err, p.rows)
				parts, attempt = parts[1:], 0
				continue
			}
			l.retried.Add(1)
			sleep(l.ctx, l.o.Retry.delay(attempt, wait))
			attempt++
			continue
		}
		parts, attempt = append(l.split(err, p), parts[1:]...), 0
	}
}

// itemAt reads the index of a batch item in a field location.
var itemAt = regexp.MustCompile(`^body\.predictions\[(\d+)\]`)

// split handles a part the server refused with err: the items a 422 names
// fail, and the others form a new part (a new body, so a new key); a part
// too large for one request (413) is halved; anything else fails whole.
func (l *PredictionLogger) split(err error, p part) []part {
	var e *Error
	errors.As(err, &e)
	switch {
	case e != nil && e.StatusCode == http.StatusRequestEntityTooLarge && len(p.rows) > 1:
		h := len(p.rows) / 2
		return []part{{key: NewIdempotencyKey(), rows: p.rows[:h]}, {key: NewIdempotencyKey(), rows: p.rows[h:]}}
	case e != nil && e.StatusCode == http.StatusUnprocessableEntity:
		bad := map[int]bool{}
		for _, f := range e.Fields {
			m := itemAt.FindStringSubmatch(f.Location)
			if m == nil {
				bad = nil // a fault of the whole request: every item fails
				break
			}
			i, _ := strconv.Atoi(m[1])
			if i < len(p.rows) {
				bad[i] = true
			}
		}
		if len(bad) == 0 {
			break
		}
		var good, refused []api.NewPrediction
		for i, r := range p.rows {
			if bad[i] {
				refused = append(refused, r)
			} else {
				good = append(good, r)
			}
		}
		l.fail(err, refused)
		if len(good) == 0 {
			return nil
		}
		return []part{{key: NewIdempotencyKey(), rows: good}}
	}
	l.fail(err, p.rows)
	return nil
}

func (l *PredictionLogger) fail(err error, rows []api.NewPrediction) {
	l.failed.Add(int64(len(rows)))
	if l.o.OnFailed != nil {
		l.o.OnFailed(err, rows)
	}
}

// predictionBatchOnce sends one batch once, under key.
func (c *Client) predictionBatchOnce(ctx context.Context, key string, rows []api.NewPrediction) (api.BatchResult, error) {
	var out api.BatchResult
	r := c.newCall(http.MethodPost, "/api/v1/predictions/batch", nil)
	r.key, r.retry, r.body = key, NoRetry, api.PredictionBatch{Predictions: rows}
	return out, c.do(ctx, r, &out)
}
