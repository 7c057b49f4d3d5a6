// Package mlops holds the domain of the mlops platform: the six record kinds
// the seed specification names (model versions, predictions, drift reports,
// agent actions, performance metrics and alerts), their enums, the rules that
// validate them and the state transitions they may take.
//
// The package has no I/O. The store package persists these types on SQLite
// or PostgreSQL; internal/httpapi serves them as JSON.
package mlops

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Sentinel errors. Callers test them with errors.Is; the HTTP layer maps each
// to one status code.
var (
	// ErrNotFound means the addressed record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means the write collides with existing data, such as a
	// duplicate (model_name, version) or action_id.
	ErrConflict = errors.New("conflict")
	// ErrInvalidTransition means the record is not in a state that allows the
	// requested transition (approving a rejected action, resolving a resolved
	// alert). Nothing was changed. It wraps ErrConflict.
	ErrInvalidTransition = fmt.Errorf("invalid state transition: %w", ErrConflict)
	// ErrUnavailable means the database could not be reached.
	ErrUnavailable = errors.New("database unavailable")
	// ErrForbidden means the caller may not do this to this record, whatever
	// their role (approving an action they proposed themselves).
	ErrForbidden = errors.New("forbidden")
)

// TransitionError reports a refused state transition with the state the
// record was found in. It matches ErrInvalidTransition and ErrConflict.
type TransitionError struct {
	Kind   string // "action" or "alert"
	Key    string // the action_id or alert id
	From   string // the state the record is in
	To     string // the state that was requested
	By     string // who moved it to From, when known
	At     string // when it moved to From (RFC 3339), when known
	Detail string // optional extra explanation
}

func (e *TransitionError) Error() string {
	msg := fmt.Sprintf("%s %s is %s and cannot become %s", e.Kind, e.Key, e.From, e.To)
	if e.By != "" {
		msg += fmt.Sprintf(" (%s by %s", e.From, e.By)
		if e.At != "" {
			msg += " at " + e.At
		}
		msg += ")"
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Unwrap makes errors.Is(err, ErrInvalidTransition) true.
func (e *TransitionError) Unwrap() error { return ErrInvalidTransition }

// FieldError is one invalid field. Field is a dotted path such as
// "probability" or "predictions[3].features".
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every invalid field of a request. Nothing is stored
// when it is returned.
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// Add records one invalid field.
func (e *ValidationError) Add(field, format string, args ...any) {
	e.Fields = append(e.Fields, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Err returns e when it holds at least one field error, else nil. The fields
// are sorted so messages are stable.
func (e *ValidationError) Err() error {
	if e == nil || len(e.Fields) == 0 {
		return nil
	}
	sort.SliceStable(e.Fields, func(i, j int) bool { return e.Fields[i].Field < e.Fields[j].Field })
	return e
}

// Prefix returns a copy of e whose field paths start with prefix, as in
// "predictions[3]." + "probability".
func (e *ValidationError) Prefix(prefix string) *ValidationError {
	out := &ValidationError{Fields: make([]FieldError, len(e.Fields))}
	for i, f := range e.Fields {
		out.Fields[i] = FieldError{Field: prefix + f.Field, Message: f.Message}
	}
	return out
}

// Invalid returns a ValidationError for a single field.
func Invalid(field, format string, args ...any) error {
	v := &ValidationError{}
	v.Add(field, format, args...)
	return v
}

// AsValidation returns the ValidationError inside err, if any.
func AsValidation(err error) (*ValidationError, bool) {
	var v *ValidationError
	ok := errors.As(err, &v)
	return v, ok
}
