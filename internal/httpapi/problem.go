package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/validation"

	"github.com/mlopsdev/mlops"
)

// newProblem returns an RFC 9457 problem document (huma's ErrorModel is
// one: type, title, status, detail, errors[{location, message}]).
func newProblem(status int, detail string, details ...*huma.ErrorDetail) *huma.ErrorModel {
	return &huma.ErrorModel{Status: status, Title: http.StatusText(status), Detail: detail, Errors: details}
}

// problem maps an error from the store or a handler to its HTTP status: the
// one place that knows the table. loc ("body" or "query") is where the
// request's fields came from; a store field "predictions[3].probability"
// becomes the location "body.predictions[3].probability".
func (s *Server) problem(ctx context.Context, loc string, err error) error {
	var (
		se huma.StatusError
		ve *mlops.ValidationError
	)
	switch {
	case errors.As(err, &se):
		return err
	case errors.As(err, &ve):
		details := make([]*huma.ErrorDetail, len(ve.Fields))
		for i, f := range ve.Fields {
			details[i] = &huma.ErrorDetail{Location: join(loc, f.Field), Message: f.Message}
		}
		return newProblem(http.StatusUnprocessableEntity, summarize(details), details...)
	case errors.Is(err, mlops.ErrNotFound):
		return newProblem(http.StatusNotFound, err.Error())
	case errors.Is(err, mlops.ErrForbidden):
		return newProblem(http.StatusForbidden, strings.TrimSuffix(err.Error(), ": "+mlops.ErrForbidden.Error()))
	case errors.Is(err, mlops.ErrConflict): // also ErrInvalidTransition
		return newProblem(http.StatusConflict, strings.TrimSuffix(err.Error(), ": "+mlops.ErrConflict.Error()))
	case errors.Is(err, mlops.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		s.log.WarnContext(ctx, "database unavailable", "request_id", requestID(ctx), "error", err.Error())
		return huma.ErrorWithHeaders(newProblem(http.StatusServiceUnavailable,
			"the database is unavailable; retry later (GET /readyz reports when it is back)"),
			http.Header{"Retry-After": {"1"}})
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		// The client went away; nobody reads this answer.
		return newProblem(499, "the client closed the request")
	}
	if s.schemaBehind(ctx) {
		// Not a bug: the server runs (serve --no-migrate) on a database whose
		// migrations are not applied, so tables or columns are missing.
		s.log.WarnContext(ctx, "request failed on an unmigrated database", "request_id", requestID(ctx), "error", err.Error())
		return huma.ErrorWithHeaders(newProblem(http.StatusServiceUnavailable,
			"the database schema is not up to date (migrations are pending); run mlops migrate upgrade, "+
				"or start mlops serve without --no-migrate (GET /readyz reports when it is ready)"),
			http.Header{"Retry-After": {"1"}})
	}
	s.log.ErrorContext(ctx, "internal error", "request_id", requestID(ctx), "error", err.Error())
	return newProblem(http.StatusInternalServerError, fmt.Sprintf(
		"internal error; this is a bug, please report it with the request id %s", requestID(ctx)))
}

// schemaBehind reports whether the database answers and has pending
// migrations. It runs only on the error path.
func (s *Server) schemaBehind(ctx context.Context) bool {
	m, err := s.st.Migrator()
	if err != nil {
		return false
	}
	pending, err := m.Pending(context.WithoutCancel(ctx))
	return err == nil && pending
}

// summarize turns field errors into one detail line.
func summarize(details []*huma.ErrorDetail) string {
	parts := make([]string, 0, 3)
	for i, d := range details {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d more", len(details)-3))
			break
		}
		parts = append(parts, d.Location+": "+d.Message)
	}
	return "the request is invalid: " + strings.Join(parts, "; ")
}

// tidyProblem rewrites the problems huma itself produces (malformed JSON,
// schema validation) to our conventions: every location names the field
// (a missing required property is reported at body.<name>, not body), no
// request body or object is echoed back, and detail says what is wrong.
func tidyProblem(_ huma.Context, _ string, v any) (any, error) {
	em, ok := v.(*huma.ErrorModel)
	if !ok {
		return v, nil
	}
	details := em.Errors[:0]
	for _, d := range em.Errors {
		if d == nil {
			continue
		}
		if name, ok := requiredProperty(d.Message); ok {
			d.Location += "." + name
			d.Message = "is required"
		} else if d.Message == validation.MsgUnexpectedProperty {
			d.Message = fmt.Sprintf("unknown field %q: remove it (see /openapi.json for the accepted fields)", lastSegment(d.Location))
		}
		switch v := d.Value.(type) {
		case map[string]any, []any:
			d.Value = nil
		case string:
			if len(v) > 200 {
				d.Value = v[:200] + "..."
			}
		}
		if d.Location == "body" {
			d.Value = nil // the whole request body
		}
		details = append(details, d)
	}
	em.Errors = details
	switch {
	case em.Status == http.StatusBadRequest && len(details) == 1 && details[0].Location == "body":
		em.Detail = "the request body is not valid JSON: " + details[0].Message
	case em.Status == http.StatusUnprocessableEntity && len(details) > 0 && em.Detail == "validation failed":
		em.Detail = summarize(details)
	case em.Status == http.StatusUnsupportedMediaType:
		em.Detail = "the request body must be JSON (Content-Type: application/json)"
	case em.Status == http.StatusRequestEntityTooLarge:
		em.Detail = strings.Replace(em.Detail, "request body is too large limit=", "the request body exceeds the limit of ", 1)
	}
	return em, nil
}

func requiredProperty(msg string) (string, bool) {
	prefix, suffix, _ := strings.Cut(validation.MsgExpectedRequiredProperty, "%s")
	rest, ok := strings.CutPrefix(msg, prefix)
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, suffix)
}

func lastSegment(loc string) string {
	if i := strings.LastIndexByte(loc, '.'); i >= 0 {
		return loc[i+1:]
	}
	return loc
}

// writeProblem writes a problem outside huma's handler flow (middleware,
// streams, unknown routes).
func writeProblem(w http.ResponseWriter, p *huma.ErrorModel) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// noRoute answers unknown paths (404) and known paths with another method
// (405), as problem documents.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "" && pattern != "/" && pattern != "/api/" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeProblem(w, newProblem(http.StatusMethodNotAllowed,
			fmt.Sprintf("%s is not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(allowed, " or "))))
		return
	}
	writeProblem(w, newProblem(http.StatusNotFound,
		fmt.Sprintf("no route %s %s; the routes are listed in /openapi.json", r.Method, r.URL.Path)))
}
