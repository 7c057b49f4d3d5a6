// Package webui is the admin UI of mlops: server-rendered html/template
// pages, a small stylesheet and the script that draws their charts (with a
// vendored uPlot, chart.go), embedded in the binary, that show the
// platform's state and take the decisions the autonomous agent asks for
// (approvals, alert handling, model activation). It reads and writes through
// *store.Store directly, not through the JSON API.
//
// Every form POSTs and then redirects (303) to a page that shows a flash
// message. Cross-site form posts are refused by http.CrossOriginProtection.
//
// With an Authenticator, every page needs the read permission and every
// form the permission of its decision; a visitor without credentials is
// sent to the sign-in page (/login), and the controls a role cannot use are
// not shown. The acting person is then the signed-in account. In the open
// mode (no sign-in) the name comes from a form field and is remembered in a
// cookie to prefill the next form. Every change is recorded in the audit
// log under that person (store.WithActor), which reviewers read at /audit.
//
// Deciding an action is never one keystroke: no field of the decision form
// submits it on Enter, and approving a high or critical action asks for a
// second confirmation on a page of its own.
package webui

import (
	"bytes"
	"context"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/internal/auth"
	"github.com/mlopsdev/mlops/store"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Options configure New. Every field is optional.
type Options struct {
	// Logger receives request errors and the decisions taken in the UI.
	// Default: discard.
	Logger *slog.Logger
	// Now is the clock used for relative ages and time windows ("last
	// 24 h"). Default time.Now.
	Now func() time.Time
	// TrustedOrigins are other origins ("https://admin.example.com") whose
	// pages may post the UI's forms, such as a proxy's public address.
	// Default: same origin only.
	TrustedOrigins []string
	// Auth signs users in and out (/login, /logout). Nil: no sign-in, and
	// every visitor may do everything (MLOPS_AUTH=off).
	Auth *auth.Authenticator
}

// Page sizes: no page loads unbounded rows.
const (
	pageSize         = 50
	overviewModels   = 50
	overviewPending  = 5
	modelsPerPage    = 20
	versionsPerModel = 10
	selectLimit      = 200
)

type server struct {
	st    *store.Store
	auth  *auth.Authenticator // nil: open, no sign-in
	log   *slog.Logger
	now   func() time.Time
	pages map[string]*template.Template
}

// New returns the admin UI handler, to be mounted at "/". It serves the
// pages "/", "/models", "/models/compare", "/models/{id}", "/approvals",
// "/alerts", "/drift", "/ui/metrics", "/predictions" (and its CSV,
// "/predictions.csv"), "/audit", "/login" (with "POST /logout")
// and "/static/...", and never answers
// "/api/", "/healthz", "/readyz", "/metrics" or "/openapi.json" with a page
// of its own (those belong to the JSON API; anything unknown is a 404 page).
func New(st *store.Store, opts Options) (http.Handler, error) {
	if st == nil {
		return nil, errors.New("webui: New needs a store")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &server{st: st, auth: opts.Auth, log: opts.Logger, now: opts.Now, pages: map[string]*template.Template{}}
	for _, name := range []string{"overview", "models", "model", "approvals", "alerts", "drift", "metrics", "predictions", "audit", "confirm", "login", "error", "drift_report", "timeline", "compare"} {
		t, err := template.New(name).Funcs(s.funcs()).ParseFS(assets, "templates/layout.html", "templates/charts.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("webui: parse template %s: %w", name, err)
		}
		s.pages[name] = t
	}
	static, err := fs.Sub(assets, "static")
	if err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))
	// Signing out needs no permission: an ended sign-in must still be
	// able to clear its cookie.
	mux.Handle("GET /login", s.public(s.loginForm))
	mux.Handle("POST /login", s.public(s.login))
	mux.Handle("POST /logout", s.public(s.logout))
	read := mlops.PermRead
	mux.Handle("GET /{$}", s.handle(read, s.overview))
	mux.Handle("GET /models", s.handle(read, s.models))
	mux.Handle("GET /models/compare", s.handle(read, s.compare))
	mux.Handle("GET /models/{id}", s.handle(read, s.model))
	mux.Handle("POST /models/{id}/activate", s.handle(mlops.PermActivate, s.activate))
	mux.Handle("POST /models/{id}/drift-check", s.handle(mlops.PermIngest, s.driftCheck()))
	mux.Handle("GET /models/{id}/timeline", s.handle(read, s.timeline))
	mux.Handle("GET /approvals", s.handle(read, s.approvals))
	mux.Handle("POST /approvals/decide", s.handle(mlops.PermReview, s.decide))
	mux.Handle("GET /alerts", s.handle(read, s.alerts))
	mux.Handle("POST /alerts/{id}/acknowledge", s.handle(mlops.PermReview, s.alertAcknowledge))
	mux.Handle("POST /alerts/{id}/resolve", s.handle(mlops.PermReview, s.alertResolve))
	mux.Handle("POST /alerts/silences", s.handle(mlops.PermReview, s.silenceCreate))
	mux.Handle("POST /alerts/silences/{id}/expire", s.handle(mlops.PermReview, s.silenceExpire))
	mux.Handle("GET /drift", s.handle(read, s.drift))
	mux.Handle("GET /drift/{id}", s.handle(read, s.driftReport))
	mux.Handle("GET /ui/metrics", s.handle(read, s.metrics))
	mux.Handle("GET /predictions", s.handle(read, s.predictions))
	mux.Handle("GET /predictions.csv", s.handle(read, s.predictionsCSV))
	mux.Handle("GET /audit", s.handle(mlops.PermAudit, s.audit))
	mux.Handle("/", s.handle(read, func(w http.ResponseWriter, r *http.Request) error {
		return httpErr(http.StatusNotFound, "There is no page at %s. Use the navigation above.", r.URL.Path)
	}))

	cop := http.NewCrossOriginProtection()
	for _, o := range opts.TrustedOrigins {
		if err := cop.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("webui: trusted origin %q: %w (use scheme://host[:port], as in https://admin.example.com)", o, err)
		}
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, httpErr(http.StatusForbidden,
			"This form was submitted from another site and was refused (cross-site request forgery protection). Open the page at %s and submit it from there.", r.Host))
	}))
	// The caller is attached before the cross-origin check, so its refusal
	// page shows who is signed in, and the headers cover that page too.
	return securityHeaders(s.attach(cop.Handler(mux))), nil
}

func cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		h.ServeHTTP(w, r)
	})
}

// securityHeaders forbids framing (clickjacking of the decision buttons),
// inline script and any remote resource: the only scripts are the UI's own
// files (the charts).
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

// httpError is an error shown to the user as a page with a status code.
type httpError struct {
	status int
	msg    string
	signIn bool   // offer the sign-in page
	back   string // a page to go back to ("/approvals"), or ""
}

func (e *httpError) Error() string { return e.msg }

func httpErr(status int, format string, args ...any) error {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

func (s *server) renderError(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := http.StatusInternalServerError, "Something went wrong on our side; the error was logged. Try again, and report it if it persists."
	var he *httpError
	var ve *mlops.ValidationError
	var ae *auth.Error
	signIn, back := false, ""
	switch {
	case errors.As(err, &he):
		status, msg, signIn, back = he.status, he.msg, he.signIn, he.back
	case errors.As(err, &ae):
		status, msg = ae.Status, capitalize(ae.Detail)+"."
		if ae.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(ae.RetryAfter.Seconds()))))
		}
	case errors.As(err, &ve):
		status, msg = http.StatusBadRequest, "The address has an invalid parameter: "+ve.Error()
	case errors.Is(err, mlops.ErrNotFound):
		status, msg = http.StatusNotFound, capitalize(err.Error())+"."
	case errors.Is(err, mlops.ErrForbidden):
		status, msg = http.StatusForbidden, refusal(err, mlops.ErrForbidden)+" Nothing was changed."
	case errors.Is(err, mlops.ErrUnavailable):
		status, msg = http.StatusServiceUnavailable, "The database is not answering. Check that it is running and that DATABASE_URL points to it, then reload this page."
	case errors.Is(err, context.Canceled):
		return
	}
	if status >= 500 {
		s.log.ErrorContext(r.Context(), "webui: request failed", "method", r.Method, "path", r.URL.Path, "error", err.Error())
	}
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, status, "error", http.StatusText(status), "", map[string]any{"Status": status, "Message": msg, "SignIn": signIn, "Back": back})
}

// pageData is what the layout template receives.
type pageData struct {
	Title string
	Nav   string
	Flash *flash
	Actor string          // the name remembered from the last form (open mode)
	User  mlops.Principal // the caller; its role decides which controls show
	Now   time.Time
	Data  any
}

func (s *server) render(w http.ResponseWriter, r *http.Request, status int, page, title, nav string, data any) {
	pd := pageData{Title: title, Nav: nav, Flash: takeFlash(w, r), Actor: actorFromCookie(r), User: caller(r), Now: s.now().UTC(), Data: data}
	var buf bytes.Buffer
	if err := s.pages[page].ExecuteTemplate(&buf, "layout", pd); err != nil {
		s.log.ErrorContext(r.Context(), "webui: render", "page", page, "error", err.Error())
		http.Error(w, "The page could not be rendered; the error was logged.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if w.Header().Get("Cache-Control") == "" {
		w.Header().Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// flash is a one-time message shown on the page a form redirects to.
type flash struct {
	Kind string `json:"k"` // ok, warn or error
	Msg  string `json:"m"`
}

const (
	flashCookie = "mlops_flash"
	actorCookie = "mlops_actor"
)

// redirect answers a form POST with 303 See Other to target, carrying msg.
func redirect(w http.ResponseWriter, r *http.Request, target, kind, msg string) {
	b, _ := json.Marshal(flash{Kind: kind, Msg: msg})
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: base64.RawURLEncoding.EncodeToString(b), Path: "/",
		MaxAge: 60, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return nil
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return nil
	}
	var f flash
	if json.Unmarshal(b, &f) != nil || f.Msg == "" {
		return nil
	}
	switch f.Kind {
	case "ok", "warn", "error":
	default:
		f.Kind = "ok"
	}
	return &f
}

// rememberActor keeps the name typed into a form, to prefill the next one.
func rememberActor(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: actorCookie, Value: url.QueryEscape(name), Path: "/",
		MaxAge: 30 * 24 * 3600, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

func actorFromCookie(r *http.Request) string {
	c, err := r.Cookie(actorCookie)
	if err != nil {
		return ""
	}
	v, err := url.QueryUnescape(c.Value)
	if err != nil {
		return ""
	}
	return v
}

// formActor reads and checks the acting person's name from a form.
func formActor(r *http.Request, field string) (string, error) {
	name := strings.TrimSpace(r.PostFormValue(field))
	if name == "" {
		return "", errors.New("enter your name: it is recorded with the decision")
	}
	if err := mlops.ValidateActor(field, name); err != nil {
		return "", err
	}
	return name, nil
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// withQuery returns the request's path and query with key set to value
// (removed when value is empty); every other parameter is kept.
func withQuery(r *http.Request, kv ...string) string {
	q := r.URL.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			q.Del(kv[i])
		} else {
			q.Set(kv[i], kv[i+1])
		}
	}
	if len(q) == 0 {
		return r.URL.Path
	}
	return r.URL.Path + "?" + q.Encode()
}
