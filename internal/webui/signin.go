package webui

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/internal/auth"
	"github.com/mlopsdev/mlops/store"
)

// caller is who makes r, as Attach found it. A caller whose credentials
// were refused is nobody, even when the refusal names a role (a revoked
// token still has one).
func caller(r *http.Request) mlops.Principal {
	c := auth.CallerFrom(r.Context())
	if c.Err != nil {
		return mlops.Principal{}
	}
	return c.Principal
}

// attach authenticates every request once, before anything else reads the
// caller (a no-op when the JSON API mounting the UI has done it already),
// and records the caller as the actor of the changes the request makes. The
// JSON API around the UI sets the same actor; only it knows the request id,
// which it has put on the response by now.
func (s *server) attach(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = s.auth.Attach(r)
		ctx := r.Context()
		p := auth.CallerFrom(ctx).Principal
		a := store.Actor{Name: p.Name, Kind: p.Kind, RequestID: w.Header().Get("X-Request-ID"), RemoteAddr: r.RemoteAddr}
		if a.RequestID == "" {
			a.RequestID = store.ActorFrom(ctx).RequestID
		}
		h.ServeHTTP(w, r.WithContext(store.WithActor(ctx, a)))
	})
}

// actAs returns the request's context with the changes it makes recorded
// under name: in the open mode the caller is anonymous, and name is the one
// typed into the form. A signed-in caller stays the actor, whatever name says.
func actAs(r *http.Request, name string) context.Context {
	ctx := r.Context()
	if caller(r).Authenticated() || name == "" {
		return ctx
	}
	a := store.ActorFrom(ctx)
	a.Name, a.Kind = name, mlops.KindAnonymous
	return store.WithActor(ctx, a)
}

// handle serves a page or form that needs perm. Without credentials a page
// sends the browser to the sign-in page and a form is refused; a role
// without perm gets a 403 page that names it, before fn runs, so a forged
// form changes nothing.
func (s *server) handle(perm mlops.Permission, fn func(http.ResponseWriter, *http.Request) error) http.Handler {
	return s.public(func(w http.ResponseWriter, r *http.Request) error {
		c := auth.CallerFrom(r.Context())
		err := auth.Authorize(c.Principal, c.Err, perm)
		var ae *auth.Error
		if err == nil {
			return fn(w, r)
		}
		if !errors.As(err, &ae) {
			return err // the store: a 503 page
		}
		if ae.Status == http.StatusForbidden && r.Method == http.MethodPost {
			return httpErr(http.StatusForbidden, "%s. Nothing was changed.", capitalize(ae.Detail))
		}
		if ae.Status != http.StatusUnauthorized {
			return err
		}
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			target := "/login?next=" + url.QueryEscape(r.URL.RequestURI())
			if c.Err != nil {
				// A sign-in that ended: say why on the sign-in page.
				redirect(w, r, target, "warn", capitalize(ae.Detail)+".")
			} else {
				http.Redirect(w, r, target, http.StatusSeeOther)
			}
			return nil
		}
		msg := "You are not signed in, so this form was refused and nothing changed. Sign in, then submit it again."
		if c.Err != nil {
			msg = capitalize(ae.Detail) + "; this form was refused and nothing changed."
		}
		return &httpError{status: http.StatusForbidden, msg: msg, signIn: true}
	})
}

// public serves a route that needs no credentials (the sign-in page,
// sign-out); handle wraps it for everything else.
func (s *server) public(fn func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			// Forms carry a name, a comment or notes: 1 MiB is plenty.
			r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		}
		if err := fn(w, r); err != nil {
			s.renderError(w, r, err)
		}
	})
}

// Can reports whether the caller may use perm ("review", "activate"), so a
// page shows only the controls the role can use. An unknown permission is
// an error, so a misspelt one fails the page's test instead of quietly
// hiding a control.
func (pd pageData) Can(perm string) (bool, error) {
	p := mlops.Permission(perm)
	if !slices.Contains(mlops.Permissions, p) {
		return false, fmt.Errorf("unknown permission %q", perm)
	}
	return pd.User.Can(p), nil
}

// actingName is who takes a decision: the signed-in account, whatever the
// form says, or in the open mode the name typed into the form field
// (remembered to prefill the next form).
func actingName(w http.ResponseWriter, r *http.Request, field string) (string, error) {
	if p := caller(r); p.Authenticated() {
		return p.Name, nil
	}
	name, err := formActor(r, field)
	if err != nil {
		return "", err
	}
	rememberActor(w, name)
	return name, nil
}

// localPath returns next when it is a path on this site, else "/", so the
// sign-in page cannot be used to send someone to another site
// ("//evil.example", and "/\evil.example", which browsers read alike).
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n\t") {
		return "/"
	}
	return next
}

type loginData struct {
	Next  string
	Name  string
	Error string
}

// openUI reports whether the UI needs no sign-in (no Authenticator, auth
// off, or auto mode before the first account).
func (s *server) openUI(r *http.Request) (bool, error) {
	if s.auth == nil {
		return true, nil
	}
	return s.auth.Open(r.Context())
}

func (s *server) loginForm(w http.ResponseWriter, r *http.Request) error {
	next := localPath(r.URL.Query().Get("next"))
	open, err := s.openUI(r)
	if err != nil {
		return err
	}
	switch {
	case open:
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil
	case caller(r).Authenticated():
		http.Redirect(w, r, next, http.StatusSeeOther)
		return nil
	}
	s.render(w, r, http.StatusOK, "login", "Sign in", "", loginData{Next: next})
	return nil
}

func (s *server) login(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	open, err := s.openUI(r)
	if err != nil {
		return err
	}
	if open {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil
	}
	d := loginData{Next: localPath(r.PostFormValue("next")), Name: strings.TrimSpace(r.PostFormValue("name"))}
	pw := r.PostFormValue("password")
	if d.Name == "" || pw == "" {
		d.Error = "Enter your user name and your password."
		s.render(w, r, http.StatusUnauthorized, "login", "Sign in", "", d)
		return nil
	}
	cookie, p, err := s.auth.SignIn(ctx, d.Name, pw)
	var ae *auth.Error
	if errors.As(err, &ae) {
		d.Error = capitalize(ae.Detail) + "."
		if ae.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(ae.RetryAfter.Seconds()))))
		}
		s.render(w, r, ae.Status, "login", "Sign in", "", d)
		return nil
	}
	if err != nil {
		return err
	}
	// Signing in again in the same browser ends the previous sign-in.
	if _, err := s.auth.SignOut(r); err != nil {
		return err
	}
	http.SetCookie(w, cookie)
	s.log.InfoContext(ctx, "webui: signed in", "user", p.Name, "role", string(p.Role))
	redirect(w, r, d.Next, "ok", fmt.Sprintf("Signed in as %s (%s).", p.Name, p.Role))
	return nil
}

func (s *server) logout(w http.ResponseWriter, r *http.Request) error {
	if s.auth == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil
	}
	cookie, err := s.auth.SignOut(r)
	if err != nil {
		return err
	}
	http.SetCookie(w, cookie)
	redirect(w, r, "/login", "ok", "You are signed out.")
	return nil
}
