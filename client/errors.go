package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mlopsdev/mlops"
)

// Error is an answer other than 2xx: an RFC 9457 problem document (the
// server answers every error as one) with the request it answers. Test for
// it with errors.As, or with IsNotFound, IsConflict and friends.
type Error struct {
	// Method and Path name the request ("POST", "/api/v1/models").
	Method, Path string
	// StatusCode is the HTTP status; Title its text.
	StatusCode int
	Title      string
	// Detail says what went wrong and what to do.
	Detail string
	// Fields lists the fields at fault of a 422, each with its location:
	// "body.predictions[3].probability", "query.limit", "path.id".
	Fields []FieldError
	// RequestID is the X-Request-ID of the answer: the server's log line
	// of the request carries it.
	RequestID string
	// RetryAfter is the wait the server asked for (429, 503), or 0.
	RetryAfter time.Duration
}

// FieldError is one field at fault in a request.
type FieldError struct {
	Location string `json:"location"`
	Message  string `json:"message"`
	Value    any    `json:"value,omitempty"`
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mlops: %s %s: %d", e.Method, e.Path, e.StatusCode)
	if e.Title != "" {
		b.WriteString(" " + e.Title)
	}
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	return b.String()
}

// Is makes an *Error match the root package's sentinel of its status:
// mlops.ErrNotFound (404), mlops.ErrConflict (409), mlops.ErrForbidden
// (403) and mlops.ErrUnavailable (503).
func (e *Error) Is(target error) bool {
	switch target {
	case mlops.ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case mlops.ErrConflict:
		return e.StatusCode == http.StatusConflict
	case mlops.ErrForbidden:
		return e.StatusCode == http.StatusForbidden
	case mlops.ErrUnavailable:
		return e.StatusCode == http.StatusServiceUnavailable
	}
	return false
}

// Field returns the error of the field at location ("body.model_id"), if
// the answer names it.
func (e *Error) Field(location string) (FieldError, bool) {
	for _, f := range e.Fields {
		if f.Location == location {
			return f, true
		}
	}
	return FieldError{}, false
}

// problem is the wire form of a problem document.
type problem struct {
	Title  string       `json:"title"`
	Status int          `json:"status"`
	Detail string       `json:"detail"`
	Errors []FieldError `json:"errors"`
}

// newError reads the answer res (its body raw) as an *Error.
func newError(method, path string, res *http.Response, raw []byte) *Error {
	e := &Error{Method: method, Path: path, StatusCode: res.StatusCode, Title: http.StatusText(res.StatusCode),
		RequestID: res.Header.Get("X-Request-ID"), RetryAfter: retryAfter(res.Header.Get("Retry-After"))}
	var p problem
	if json.Unmarshal(raw, &p) == nil && (p.Title != "" || p.Detail != "") {
		if p.Title != "" {
			e.Title = p.Title
		}
		e.Detail, e.Fields = p.Detail, p.Errors
		return e
	}
	// Not a problem document: a proxy's page, say. Keep its start.
	text := strings.TrimSpace(string(raw))
	if len(text) > 200 {
		text = text[:200] + "..."
	}
	e.Detail = text
	return e
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// StatusCode returns the HTTP status of err if it is (or wraps) an *Error,
// else 0.
func StatusCode(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.StatusCode
	}
	return 0
}

// IsNotFound reports whether err is a 404: no record has that id or name.
func IsNotFound(err error) bool { return StatusCode(err) == http.StatusNotFound }

// IsConflict reports whether err is a 409: the record exists already, or
// is not in a state that allows the transition.
func IsConflict(err error) bool { return StatusCode(err) == http.StatusConflict }

// IsInvalid reports whether err is a 422: a field, query parameter or
// cursor failed validation (Error.Fields names them).
func IsInvalid(err error) bool { return StatusCode(err) == http.StatusUnprocessableEntity }

// IsUnauthorized reports whether err is a 401: credentials missing or
// refused.
func IsUnauthorized(err error) bool { return StatusCode(err) == http.StatusUnauthorized }

// IsForbidden reports whether err is a 403: the caller's role lacks the
// permission, or the caller may not decide their own proposal.
func IsForbidden(err error) bool { return StatusCode(err) == http.StatusForbidden }

// IsUnavailable reports whether err is a 503: the database is unreachable
// or its migrations are pending. Safe requests were retried already.
func IsUnavailable(err error) bool { return StatusCode(err) == http.StatusServiceUnavailable }
