package cli

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlopsdev/mlops/store/storetest"
)

// lineNumbers returns the n= value of every "msg=line" record in logs, in
// order, and fails on any line that is not one whole record.
func lineNumbers(t *testing.T, logs string) []string {
	t.Helper()
	whole := regexp.MustCompile(`^time=\S+ level=(INFO|ERROR) msg=line n=(\S+)$`)
	var ns []string
	for _, l := range strings.Split(strings.TrimSuffix(logs, "\n"), "\n") {
		m := whole.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("not one whole record: %q", l)
		}
		ns = append(ns, m[2])
	}
	return ns
}

// TestLogBufferInfoLate: Info lines are not written while they are logged,
// and are written, whole and in order, when the buffer flushes; the delay's
// timer flushes on its own.
func TestLogBufferInfoLate(t *testing.T) {
	t.Parallel()
	var w storetest.LogBuffer
	log, b := newBufferedLogger(&w, logFlushSize, time.Hour)
	defer b.Close()
	for i := range 3 {
		log.Info("line", "n", i)
	}
	if got := w.String(); got != "" {
		t.Fatalf("info lines written at once: %q", got)
	}
	b.Flush()
	if got := strings.Join(lineNumbers(t, w.String()), ","); got != "0,1,2" {
		t.Fatalf("lines %s, want 0,1,2", got)
	}

	var w2 storetest.LogBuffer
	log2, b2 := newBufferedLogger(&w2, logFlushSize, 10*time.Millisecond)
	defer b2.Close()
	log2.Info("line", "n", 7)
	waitFor(t, 10*time.Second, "the timer's flush", func() bool { return strings.Count(w2.String(), "\n") == 1 })
}

// TestLogBufferErrorAtOnce: an Error record is written before the call
// returns, after the Info lines logged before it; so is a Warn from a
// logger derived with With.
func TestLogBufferErrorAtOnce(t *testing.T) {
	t.Parallel()
	var w storetest.LogBuffer
	log, b := newBufferedLogger(&w, logFlushSize, time.Hour)
	defer b.Close()
	log.Info("line", "n", 0)
	log.Info("line", "n", 1)
	log.Error("line", "n", 2)
	if got := strings.Join(lineNumbers(t, w.String()), ","); got != "0,1,2" {
		t.Fatalf("after the error: lines %s, want 0,1,2", got)
	}
	log.With("k", "v").WithGroup("g").Warn("warned")
	if got := w.String(); !strings.Contains(got, "level=WARN msg=warned k=v") {
		t.Fatalf("a warning from a derived logger is not written at once:\n%s", got)
	}
}

// TestLogBufferSizeFlush: more than the limit is written without waiting
// for the timer.
func TestLogBufferSizeFlush(t *testing.T) {
	t.Parallel()
	var w storetest.LogBuffer
	log, b := newBufferedLogger(&w, logFlushSize, time.Hour)
	defer b.Close()
	pad := strings.Repeat("x", 100)
	n := 0
	for ; n*len(pad) < 2*logFlushSize; n++ {
		log.Info("line", "n", fmt.Sprintf("%d-%s", n, pad))
	}
	got := w.String()
	if len(got) < logFlushSize {
		t.Fatalf("%d bytes written after logging %d lines of %d bytes; want at least %d", len(got), n, len(pad), logFlushSize)
	}
	ns := lineNumbers(t, got)
	for i, v := range ns {
		if want := fmt.Sprintf("%d-%s", i, pad); v != want {
			t.Fatalf("line %d is n=%s", i, v)
		}
	}
	b.Close()
	if got := len(lineNumbers(t, w.String())); got != n {
		t.Fatalf("%d lines after Close, want %d", got, n)
	}
}

// TestLogBufferClose: Close writes out what is pending; lines logged after
// it are written at once.
func TestLogBufferClose(t *testing.T) {
	t.Parallel()
	var w storetest.LogBuffer
	log, b := newBufferedLogger(&w, logFlushSize, time.Hour)
	log.Info("line", "n", 0)
	log.Info("line", "n", 1)
	b.Close()
	if got := strings.Join(lineNumbers(t, w.String()), ","); got != "0,1" {
		t.Fatalf("after Close: lines %s, want 0,1", got)
	}
	log.Info("line", "n", 2)
	if got := strings.Join(lineNumbers(t, w.String()), ","); got != "0,1,2" {
		t.Fatalf("after logging past Close: lines %s, want 0,1,2", got)
	}
}

// TestLogBufferConcurrent: 32 goroutines logging at once, with the size,
// the timer and Warn flushes all racing: every line is written exactly
// once, whole.
func TestLogBufferConcurrent(t *testing.T) {
	t.Parallel()
	const goroutines, each = 32, 500
	var w storetest.LogBuffer
	log, b := newBufferedLogger(&w, 4<<10, time.Millisecond)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				if i%97 == 0 {
					log.Error("line", "n", fmt.Sprintf("%d-%d", g, i))
				} else {
					log.Info("line", "n", fmt.Sprintf("%d-%d", g, i))
				}
			}
		})
	}
	wg.Wait()
	b.Close()
	seen := make(map[string]int)
	for _, n := range lineNumbers(t, w.String()) {
		seen[n]++
	}
	for g := range goroutines {
		for i := range each {
			if k := fmt.Sprintf("%d-%d", g, i); seen[k] != 1 {
				t.Fatalf("line %s written %d times, want once", k, seen[k])
			}
		}
	}
	if len(seen) != goroutines*each {
		t.Fatalf("%d distinct lines, want %d", len(seen), goroutines*each)
	}
}

// failingWriter fails every write, as a closed stderr would.
type failingWriter struct{ calls atomic.Int64 }

func (f *failingWriter) Write(p []byte) (int, error) {
	f.calls.Add(1)
	return 0, errors.New("write /dev/stderr: broken pipe")
}

// TestLogBufferWriteErrors: a failing writer does not block or panic
// logging; the data is dropped.
func TestLogBufferWriteErrors(t *testing.T) {
	t.Parallel()
	var w failingWriter
	log, b := newBufferedLogger(&w, 1<<10, time.Millisecond)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 2000 {
			log.Info("line", "n", i)
			if i%100 == 0 {
				log.Error("line", "n", i)
			}
		}
		b.Close()
		log.Info("line", "n", "after close")
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second): // only guards against a hang
		t.Fatal("logging to a failing writer blocked")
	}
	if w.calls.Load() == 0 {
		t.Fatal("the writer was never called")
	}
}

// waitFor polls cond until it holds or within has passed.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s not there within %v", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
