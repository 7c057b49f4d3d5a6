package cli

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// serve writes one access-log line per request; a write(2) per line is a
// noticeable share of the CPU of the single-prediction hot path, so serve's
// log output is written in batches.
const (
	logFlushSize  = 32 << 10               // flush once this much is pending
	logFlushDelay = 100 * time.Millisecond // and at most this long after a line was logged
)

// newBufferedLogger returns a text logger over w whose Info and Debug lines
// reach w at most delay late (or once limit bytes are pending), and whose
// Warn and Error records are written at once, after everything logged before
// them. Close the buffer to write out what is pending.
func newBufferedLogger(w io.Writer, limit int, delay time.Duration) (*slog.Logger, *logBuffer) {
	b := &logBuffer{w: w, limit: limit, delay: delay}
	return slog.New(flushHandler{Handler: slog.NewTextHandler(b, nil), buf: b}), b
}

// logBuffer batches writes to w. Every Write is kept whole, so a line is
// never split (slog writes one record per Write). Errors from w drop the
// data: failing stderr must not stop serving.
type logBuffer struct {
	w     io.Writer
	limit int
	delay time.Duration

	// flushMu is held across taking the pending data and writing it, so
	// concurrent flushes keep the order; mu only guards the pending data,
	// so loggers do not wait while w is being written.
	flushMu sync.Mutex
	spare   []byte // the buffer to fill next; guarded by flushMu

	mu     sync.Mutex
	buf    []byte
	timer  *time.Timer // created on the first pending write
	armed  bool        // the timer will flush buf
	closed bool        // no more batching: every Write is written at once
}

// Write appends p to the pending data; it never fails.
func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	b.buf = append(b.buf, p...)
	now := b.closed || len(b.buf) >= b.limit
	if !now && !b.armed {
		// Only pending data arms the timer, so an idle server does not tick.
		b.armed = true
		if b.timer == nil {
			b.timer = time.AfterFunc(b.delay, b.Flush)
		} else {
			b.timer.Reset(b.delay)
		}
	}
	b.mu.Unlock()
	if now {
		b.Flush()
	}
	return len(p), nil
}

// Flush writes out everything written before it was called.
func (b *logBuffer) Flush() {
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	b.mu.Lock()
	out := b.buf
	b.buf = b.spare[:0]
	b.armed = false // a timer still pending fires early, harmlessly
	b.mu.Unlock()
	if len(out) > 0 {
		_, _ = b.w.Write(out) // on error the lines are lost, never retried
	}
	if cap(out) > 4*b.limit {
		out = nil // do not keep the memory of a rare burst
	}
	b.spare = out[:0]
}

// Close writes out what is pending; later writes are written at once.
func (b *logBuffer) Close() error {
	b.mu.Lock()
	b.closed = true
	if b.timer != nil {
		b.timer.Stop()
	}
	b.mu.Unlock()
	b.Flush()
	return nil
}

// flushHandler flushes buf after every record at Warn or above, so problems
// are on stderr at once, after the lines logged before them.
type flushHandler struct {
	slog.Handler
	buf *logBuffer
}

func (h flushHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		h.buf.Flush()
	}
	return err
}

func (h flushHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return flushHandler{Handler: h.Handler.WithAttrs(attrs), buf: h.buf}
}

func (h flushHandler) WithGroup(name string) slog.Handler {
	return flushHandler{Handler: h.Handler.WithGroup(name), buf: h.buf}
}
