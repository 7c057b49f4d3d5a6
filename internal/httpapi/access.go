package httpapi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/internal/auth"
)

// Who may call what. Every operation declares the permission it needs where
// it is registered (handle, or declare for the few registered by hand);
// authorize enforces it in one place, before the body is read. An operation
// that declares nothing is refused to everyone but admins.

// Route-level permissions beside mlops.Permissions.
const (
	// permPublic: never needs credentials (/healthz, /readyz).
	permPublic mlops.Permission = "public"
	// permAnyone: answers every caller, anonymous included (/whoami).
	permAnyone mlops.Permission = "anyone"
)

// permissionKey is where an operation's permission is kept: in its
// Metadata for authorize, and as an OpenAPI extension for clients.
const permissionKey = "x-permission"

// Security schemes of the OpenAPI document.
var securitySchemes = map[string]*huma.SecurityScheme{
	"bearer": {Type: "http", Scheme: "bearer", Description: "A token (mlops token create); its secret starts with mlops_."},
	"basic":  {Type: "http", Scheme: "basic", Description: "A user's name and password (mlops user create)."},
	"session": {Type: "apiKey", In: "cookie", Name: auth.SessionCookie,
		Description: "The admin UI's session, set by signing in at /login."},
}

// declare records perm on op: in its metadata (enforced by authorize), as
// its OpenAPI security requirement (the roles that have it, as scopes), in
// the x-permission extension, and with the statuses it adds.
func declare(op *huma.Operation, perm mlops.Permission) {
	if op.Metadata == nil {
		op.Metadata = map[string]any{}
	}
	op.Metadata[permissionKey] = perm
	if op.Extensions == nil {
		op.Extensions = map[string]any{}
	}
	op.Extensions[permissionKey] = string(perm)
	switch perm {
	case permPublic:
		op.Security = []map[string][]string{{}}
		return
	case permAnyone:
		op.Security = []map[string][]string{{}, {"bearer": {}}, {"basic": {}}, {"session": {}}}
		op.Errors = append(op.Errors, http.StatusUnauthorized, http.StatusTooManyRequests)
		return
	}
	var roles []string
	for _, r := range mlops.RolesWith(perm) {
		roles = append(roles, string(r))
	}
	op.Security = []map[string][]string{{"bearer": roles}, {"basic": roles}, {"session": roles}}
	note := fmt.Sprintf("Needs the %s permission (roles: %s).", perm, strings.Join(roles, ", "))
	if op.Description == "" {
		op.Description = note
	} else {
		op.Description += "\n\n" + note
	}
	op.Errors = append(op.Errors, http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests)
	slices.Sort(op.Errors)
	op.Errors = slices.Compact(op.Errors)
}

// declared is declare for an operation registered with huma.Register.
func declared(perm mlops.Permission, op huma.Operation) huma.Operation {
	declare(&op, perm)
	return op
}

// permissionOf is the permission an operation declared; admin when none.
func permissionOf(op *huma.Operation) mlops.Permission {
	if op != nil {
		if p, ok := op.Metadata[permissionKey].(mlops.Permission); ok && p != "" {
			return p
		}
	}
	return mlops.PermAdmin
}

// authorize is the API's one access check, run before every operation's
// own middlewares and before its body is read.
func (s *Server) authorize(ctx huma.Context, next func(huma.Context)) {
	perm := permissionOf(ctx.Operation())
	if perm == permPublic {
		next(ctx)
		return
	}
	c := auth.CallerFrom(ctx.Context())
	var err error
	if perm == permAnyone {
		err = c.Err
	} else {
		err = auth.Authorize(c.Principal, c.Err, perm)
	}
	if err == nil {
		next(ctx)
		return
	}
	_, w := humago.Unwrap(ctx)
	s.refuse(ctx.Context(), w, err)
}

// refuse answers a request that authentication or authorization refused.
func (s *Server) refuse(ctx context.Context, w http.ResponseWriter, err error) {
	var ae *auth.Error
	if !errors.As(err, &ae) {
		// The store failed while checking credentials: 503 (or a 500 bug).
		p := s.problem(ctx, "query", err)
		var he huma.HeadersError
		if errors.As(p, &he) {
			for k, v := range he.GetHeaders() {
				w.Header()[k] = v
			}
		}
		em := newProblem(http.StatusInternalServerError, "internal error")
		errors.As(p, &em)
		writeProblem(w, em)
		return
	}
	switch ae.Status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", auth.Challenge)
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(ae.RetryAfter.Seconds()))))
	}
	writeProblem(w, newProblem(ae.Status, ae.Detail))
}

// refused answers and reports true for a request refused before routing:
// an unsafe cross-site request (a browser's Sec-Fetch-Site, or an Origin
// that is not this server's), or a body sent to /api/ that is not JSON.
func (s *Server) refused(w http.ResponseWriter, r *http.Request) bool {
	if err := s.cop.Check(r); err != nil {
		writeProblem(w, newProblem(http.StatusForbidden,
			"cross-site request refused: a page on another site may not change anything here (the browser marked this request cross-origin); "+
				"programs send no Origin or Sec-Fetch-Site header, and pages of this server are same-origin"))
		return true
	}
	if !jsonBody(r) {
		writeProblem(w, newProblem(http.StatusUnsupportedMediaType,
			"the request body must be JSON: send Content-Type: application/json (with curl: -H 'Content-Type: application/json')"))
		return true
	}
	return false
}

// jsonBody reports whether r may go on: anything but a request to /api/
// with a body whose Content-Type is not JSON.
func jsonBody(r *http.Request) bool {
	if !strings.HasPrefix(r.URL.Path, "/api/") || r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return true
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	ct := r.Header.Get("Content-Type")
	if ct == "application/json" { // the common case, without parsing
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// callerName is the name a decision is recorded under: with credentials,
// the caller's own (a different name in the body is refused, so nobody
// decides under another's name); in the open mode, the name the body gives.
func callerName(ctx context.Context, field, given string) (string, error) {
	p := auth.CallerFrom(ctx).Principal
	if !p.Authenticated() {
		return given, nil
	}
	if given != "" && given != p.Name {
		return "", mlops.Invalid(field, "must be left out or be your own name %q: decisions are recorded under the caller's identity, got %q", p.Name, given)
	}
	return p.Name, nil
}
