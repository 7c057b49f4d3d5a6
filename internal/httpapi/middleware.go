package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/mlopsdev/mlops/internal/auth"
	"github.com/mlopsdev/mlops/store"
)

type requestIDKey struct{}

// requestID returns the request id stored in ctx ("" outside a request).
func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// validRequestID accepts a client's X-Request-ID when it is short, printable
// ASCII without spaces, so it is safe to log and echo.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// recorder captures the status and size of a response.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Flush lets streamed responses reach the client.
func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap exposes the underlying writer to http.ResponseController.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// middleware wraps every request: a request id (X-Request-ID in and out),
// panic recovery (a 500 problem, logged with the id), request metrics by
// route pattern and status, and one log line.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-ID")
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-ID", id)
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
		rec := &recorder{ResponseWriter: w}
		s.m.inflight.Inc()
		defer func() {
			s.m.inflight.Dec()
			p := recover()
			aborted := p == http.ErrAbortHandler
			if p != nil && !aborted {
				s.log.ErrorContext(r.Context(), "panic serving request", "request_id", id,
					"method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if rec.status == 0 {
					writeProblem(rec, newProblem(http.StatusInternalServerError, fmt.Sprintf(
						"internal error; this is a bug, please report it with the request id %s", id)))
				}
			}
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			route := r.Pattern // set by the mux on this very request
			if route == "" {
				route = "unmatched"
			}
			d := time.Since(start)
			s.m.observe(route, status, d)
			level := slog.LevelInfo
			if status >= 500 {
				level = slog.LevelError
			}
			attrs := []slog.Attr{
				slog.String("method", r.Method), slog.String("route", route), slog.String("path", r.URL.Path),
				slog.Int("status", status), slog.Duration("duration", d), slog.Int64("bytes", rec.bytes),
				slog.String("request_id", id),
			}
			if aborted {
				attrs = append(attrs, slog.Bool("aborted", true))
			}
			s.log.LogAttrs(r.Context(), level, "request", attrs...)
			if aborted {
				panic(p)
			}
		}()
		if s.refused(rec, r) {
			return
		}
		r = s.auth.Attach(r) // the deferred log reads r.Pattern from this request
		p := auth.CallerFrom(r.Context()).Principal
		r = r.WithContext(store.WithActor(r.Context(), store.Actor{Name: p.Name, Kind: p.Kind, RequestID: id, RemoteAddr: r.RemoteAddr}))
		next.ServeHTTP(rec, r)
	})
}
