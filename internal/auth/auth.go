// Package auth answers "who is asking, and may they?" for the API and the
// admin UI: it reads the credentials of a request (a Bearer token, Basic
// with a user's password, the UI's session cookie, or a trusted single
// sign-on proxy's header), checks them against the store, and decides a
// permission from the role (mlops.Role.Can).
//
// Checks are cached in memory for CacheTTL (default 1 s), bounded in
// entries, so a token costs one hash and a map read per request, and a
// revoked token, ended session or disabled user is refused by every
// running server within CacheTTL. Secrets never leave this package except
// as hashes for the store.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
)

// Mode is MLOPS_AUTH.
type Mode string

// The modes of docs/api.md.
const (
	// ModeAuto is open while no account exists, then needs credentials.
	ModeAuto Mode = "auto"
	// ModeRequired always needs credentials.
	ModeRequired Mode = "required"
	// ModeOff needs none; names come from request bodies.
	ModeOff Mode = "off"
)

// ParseMode reads MLOPS_AUTH ("" is auto).
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return ModeAuto, nil
	case ModeAuto, ModeRequired, ModeOff:
		return m, nil
	}
	return "", fmt.Errorf("MLOPS_AUTH=%q is not a mode; use auto, required or off", s)
}

// Lockout: after MaxFailures failed sign-ins for one name within
// FailureWindow, sign-ins for that name are refused (429) for FirstLockout,
// doubling with each further failure, up to FailureWindow.
const (
	MaxFailures   = 5
	FailureWindow = 15 * time.Minute
	FirstLockout  = 30 * time.Second
)

// SessionCookie is the name of the admin UI's session cookie.
const SessionCookie = "mlops_session"

// Options configure New. The zero value is auto mode with the defaults.
type Options struct {
	Mode Mode
	// SessionIdle ends a UI session after this long without a request
	// (MLOPS_SESSION_IDLE). Default 12h.
	SessionIdle time.Duration
	// CacheTTL is how long a checked credential is trusted before the
	// store is asked again: the revocation delay. Default 1s.
	CacheTTL time.Duration
	// MaxCached bounds each credential cache. Default 10,000.
	MaxCached int
	// ProxyHeader names the header a single sign-on proxy sets to the
	// user's name (MLOPS_AUTH_PROXY_HEADER); "" disables it.
	ProxyHeader string
	// ProxyTrusted are the addresses the header counts from
	// (MLOPS_AUTH_PROXY_TRUSTED).
	ProxyTrusted []netip.Prefix
	// ProxyRole is the role of a user created on first sight through the
	// proxy (MLOPS_AUTH_PROXY_ROLE). Default viewer.
	ProxyRole mlops.Role
	// SecureCookies marks the session cookie Secure (set when serving TLS).
	SecureCookies bool
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives failed checks (names only, never secrets).
	Logger *slog.Logger
}

// Authenticator checks credentials. It is safe for concurrent use.
type Authenticator struct {
	st   *store.Store
	opts Options
	sf   singleflight.Group

	mu       sync.RWMutex
	entries  map[string]*entry // key: kind prefix + hash
	accounts struct {
		exist   bool
		checked time.Time
	}
}

// entry is one checked credential.
type entry struct {
	p       mlops.Principal
	err     error     // a refusal, cached like a success
	checked time.Time // when the store was last asked
	expires time.Time // token expiry (zero: none)
	seen    time.Time // session: last_seen_at as stored; token: last_used_at
	hash    string    // Basic: the password hash the password was checked against
}

// New returns an Authenticator over st.
func New(st *store.Store, opts Options) *Authenticator {
	if opts.Mode == "" {
		opts.Mode = ModeAuto
	}
	if opts.SessionIdle <= 0 {
		opts.SessionIdle = 12 * time.Hour
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = time.Second
	}
	if opts.MaxCached <= 0 {
		opts.MaxCached = 10000
	}
	if opts.ProxyRole == "" {
		opts.ProxyRole = mlops.RoleViewer
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Authenticator{st: st, opts: opts, entries: map[string]*entry{}}
}

// Mode returns the mode.
func (a *Authenticator) Mode() Mode { return a.opts.Mode }

// SecureCookies reports whether cookies are marked Secure.
func (a *Authenticator) SecureCookies() bool { return a.opts.SecureCookies }

func (a *Authenticator) now() time.Time { return a.opts.Now().UTC() }

// OpenPrincipal is the principal of a request in the open mode (auth off,
// or auto with no account yet): anonymous, and allowed everything.
var OpenPrincipal = mlops.Principal{Name: "anonymous", Kind: mlops.KindAnonymous, Role: mlops.RoleAdmin}

// nobody is a request without credentials where credentials are needed.
var nobody = mlops.Principal{Name: "anonymous", Kind: mlops.KindAnonymous}

// Error is a refused request: 401 (no or bad credentials), 403 (a role
// without the permission) or 429 (too many failed sign-ins).
type Error struct {
	Status     int
	Detail     string
	RetryAfter time.Duration // 429 only

	// verified: the password was right (the user is disabled), so the
	// refusal may be cached without weakening the lockout.
	verified bool
}

func (e *Error) Error() string { return e.Detail }

func unauthorized(format string, args ...any) *Error {
	return &Error{Status: http.StatusUnauthorized, Detail: fmt.Sprintf(format, args...)}
}

// Challenge is the WWW-Authenticate value of a 401 from the API.
const Challenge = `Bearer realm="mlops", Basic realm="mlops", charset="UTF-8"`

// Authenticate returns who makes r. A request without credentials is OpenPrincipal
// when the mode allows it, else an anonymous principal without a role. Bad
// credentials are an *Error (401 or 429); an unreachable store is a store
// error (503).
func (a *Authenticator) Authenticate(r *http.Request) (mlops.Principal, error) {
	if a == nil || a.opts.Mode == ModeOff {
		return OpenPrincipal, nil
	}
	ctx := r.Context()
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, cred, _ := strings.Cut(h, " ")
		cred = strings.TrimSpace(cred)
		switch strings.ToLower(scheme) {
		case "bearer":
			return a.token(ctx, cred)
		case "basic":
			name, pw, ok := r.BasicAuth()
			if !ok {
				return nobody, unauthorized("the Basic credentials are not base64 of name:password")
			}
			return a.basic(ctx, name, pw)
		}
		return nobody, unauthorized("unsupported Authorization scheme %q; use Bearer with a token or Basic with a user's name and password", scheme)
	}
	if a.opts.ProxyHeader != "" {
		if name := strings.TrimSpace(r.Header.Get(a.opts.ProxyHeader)); name != "" && a.trusted(r.RemoteAddr) {
			return a.proxy(ctx, name)
		}
	}
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		return a.session(ctx, c.Value)
	}
	open, err := a.open(ctx)
	if err != nil {
		return nobody, err
	}
	if open {
		return OpenPrincipal, nil
	}
	return nobody, nil
}

// open reports whether a request without credentials is allowed
// everything: auth off, or auto mode before the first account.
func (a *Authenticator) open(ctx context.Context) (bool, error) {
	switch a.opts.Mode {
	case ModeOff:
		return true, nil
	case ModeRequired:
		return false, nil
	}
	a.mu.RLock()
	exist, checked := a.accounts.exist, a.accounts.checked
	a.mu.RUnlock()
	if exist || a.now().Sub(checked) < a.opts.CacheTTL {
		return !exist, nil
	}
	v, err, _ := a.sf.Do("accounts", func() (any, error) {
		ok, err := a.st.AccountsExist(ctx)
		if err != nil {
			return false, err
		}
		a.mu.Lock()
		a.accounts.exist, a.accounts.checked = ok, a.now()
		a.mu.Unlock()
		return ok, nil
	})
	if err != nil {
		return false, err
	}
	return !v.(bool), nil
}

// Open reports whether requests without credentials are allowed
// everything right now (auth off, or auto mode before the first account).
func (a *Authenticator) Open(ctx context.Context) (bool, error) {
	if a == nil {
		return true, nil
	}
	return a.open(ctx)
}

func (a *Authenticator) trusted(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, p := range a.opts.ProxyTrusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// cached returns the entry under key, checking the store through load when
// it is missing or older than CacheTTL. Concurrent misses share one load.
func (a *Authenticator) cached(ctx context.Context, key string, load func(old *entry) (*entry, error)) (*entry, error) {
	now := a.now()
	a.mu.RLock()
	e := a.entries[key]
	a.mu.RUnlock()
	if e != nil && now.Sub(e.checked) < a.opts.CacheTTL {
		return e, nil
	}
	v, err, _ := a.sf.Do(key, func() (any, error) {
		ne, err := load(e)
		if err != nil { // not cached: the store failed, or a refusal that must not be
			return nil, err
		}
		ne.checked = a.now()
		a.mu.Lock()
		if len(a.entries) >= a.opts.MaxCached {
			a.evictLocked()
		}
		a.entries[key] = ne
		a.mu.Unlock()
		return ne, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*entry), nil
}

// evictLocked makes room: expired entries first, then any half (map order
// is random, so this is a random eviction).
func (a *Authenticator) evictLocked() {
	now := a.now()
	for k, e := range a.entries {
		if now.Sub(e.checked) >= a.opts.CacheTTL {
			delete(a.entries, k)
		}
	}
	for k := range a.entries {
		if len(a.entries) < a.opts.MaxCached/2 {
			break
		}
		delete(a.entries, k)
	}
}

// forget drops a cached credential (after sign-out).
func (a *Authenticator) forget(key string) {
	a.mu.Lock()
	delete(a.entries, key)
	a.mu.Unlock()
}

func (a *Authenticator) token(ctx context.Context, secret string) (mlops.Principal, error) {
	if !strings.HasPrefix(secret, TokenPrefix) {
		return nobody, unauthorized("the Bearer credential is not an mlops token (they start with %s); create one with mlops token create", TokenPrefix)
	}
	hash := HashSecret(secret)
	e, err := a.cached(ctx, "t:"+hash, func(old *entry) (*entry, error) {
		t, err := a.st.TokenBySecretHash(ctx, hash)
		if errors.Is(err, mlops.ErrNotFound) {
			return &entry{p: nobody, err: unauthorized("unknown token; check the secret, or create a token with mlops token create")}, nil
		}
		if err != nil {
			return nil, err
		}
		ne := &entry{p: mlops.Principal{Name: t.Name, Kind: mlops.KindToken, Role: t.Role, ID: t.ID}}
		if t.ExpiresAt != nil {
			ne.expires = *t.ExpiresAt
		}
		if t.RevokedAt != nil {
			ne.err = unauthorized("token %s was revoked at %s; ask an admin for a new one", t.Name, t.RevokedAt.Format(time.RFC3339))
		}
		// last_used_at: at most one write a minute per token.
		now := a.now()
		if ne.err == nil && (t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) >= time.Minute) {
			if err := a.st.TokenTouch(ctx, t.ID, now); err != nil {
				a.opts.Logger.Warn("could not record a token's use", "token", t.Name, "error", err.Error())
			}
		}
		return ne, nil
	})
	if err != nil {
		return nobody, err
	}
	if e.err != nil {
		return e.p, e.err
	}
	if !e.expires.IsZero() && !a.now().Before(e.expires) {
		return nobody, unauthorized("token %s expired at %s; ask an admin for a new one", e.p.Name, e.expires.Format(time.RFC3339))
	}
	return e.p, nil
}

func (a *Authenticator) basic(ctx context.Context, name, pw string) (mlops.Principal, error) {
	key := "b:" + HashSecret(name+"\x00"+pw)
	e, err := a.cached(ctx, key, func(old *entry) (*entry, error) {
		u, hash, err := a.st.UserPasswordHash(ctx, name)
		if err == nil && old != nil && old.err == nil && old.hash == hash && !u.Disabled {
			// The same password hash as checked before: no new argon2 run.
			return &entry{p: mlops.Principal{Name: u.Name, Kind: mlops.KindUser, Role: u.Role, ID: u.ID}, hash: hash}, nil
		}
		if err != nil && !errors.Is(err, mlops.ErrNotFound) {
			return nil, err
		}
		p, verr := a.verifyPassword(ctx, name, pw)
		var ae *Error
		if errors.As(verr, &ae) && ae.verified {
			return &entry{p: nobody, err: ae}, nil // a disabled user's right password
		}
		if verr != nil {
			// Other refusals are not cached: every wrong password is a
			// failed sign-in that counts towards the lockout.
			return nil, verr
		}
		return &entry{p: p, hash: hash}, nil
	})
	if err != nil {
		return nobody, err
	}
	return e.p, e.err
}

// verifyPassword checks a sign-in (Basic or the /login form), applying the
// lockout and recording a failure.
func (a *Authenticator) verifyPassword(ctx context.Context, name, pw string) (mlops.Principal, error) {
	now := a.now()
	n, last, err := a.st.SignInFailures(ctx, name, now.Add(-FailureWindow))
	if err != nil {
		return nobody, err
	}
	if until := lockedUntil(n, last); now.Before(until) {
		wait := until.Sub(now).Round(time.Second)
		if wait < time.Second {
			wait = time.Second
		}
		return nobody, &Error{Status: http.StatusTooManyRequests, RetryAfter: wait, Detail: fmt.Sprintf(
			"too many failed sign-ins for %s; try again in %s", name, wait)}
	}
	u, hash, err := a.st.UserPasswordHash(ctx, name)
	switch {
	case errors.Is(err, mlops.ErrNotFound):
		CheckPassword(dummyHash, pw) // as slow as a real check
	case err != nil:
		return nobody, err
	}
	if err != nil || !CheckPassword(hash, pw) {
		if ferr := a.st.SignInFailureAdd(ctx, name, now); ferr != nil {
			return nobody, ferr
		}
		if u.ID != 0 { // an unknown name may be a password typed into the name field: not logged
			a.opts.Logger.Warn("failed sign-in", "user", name)
		} else {
			a.opts.Logger.Warn("failed sign-in for a name that is no user")
		}
		return nobody, unauthorized("wrong user name or password")
	}
	if u.Disabled {
		e := unauthorized("user %s is disabled; ask an admin", u.Name)
		e.verified = true
		return nobody, e
	}
	if n > 0 {
		if err := a.st.SignInFailuresClear(ctx, name, now.Add(-FailureWindow)); err != nil {
			return nobody, err
		}
	}
	return mlops.Principal{Name: u.Name, Kind: mlops.KindUser, Role: u.Role, ID: u.ID}, nil
}

// lockedUntil is the end of the lockout after n failures within the
// window, the last at last.
func lockedUntil(n int, last time.Time) time.Time {
	if n < MaxFailures {
		return time.Time{}
	}
	lock := FirstLockout
	for i := MaxFailures; i < n && lock < FailureWindow; i++ {
		lock *= 2
	}
	return last.Add(min(lock, FailureWindow))
}

func (a *Authenticator) session(ctx context.Context, value string) (mlops.Principal, error) {
	hash := HashSecret(value)
	e, err := a.cached(ctx, "s:"+hash, func(old *entry) (*entry, error) {
		ss, err := a.st.SessionGet(ctx, hash)
		if errors.Is(err, mlops.ErrNotFound) {
			return &entry{p: nobody, err: unauthorized("your session has ended; sign in again")}, nil
		}
		if err != nil {
			return nil, err
		}
		u, err := a.st.UserByID(ctx, ss.UserID)
		if err != nil {
			return nil, err
		}
		if u.Disabled {
			return &entry{p: nobody, err: unauthorized("user %s is disabled; ask an admin", u.Name)}, nil
		}
		ne := &entry{p: mlops.Principal{Name: u.Name, Kind: mlops.KindUser, Role: u.Role, ID: u.ID}, seen: ss.LastSeenAt}
		if now := a.now(); now.Sub(ss.LastSeenAt) < a.opts.SessionIdle && now.Sub(ss.LastSeenAt) >= time.Minute {
			if err := a.st.SessionTouch(ctx, hash, now); err == nil {
				ne.seen = now
			}
		}
		return ne, nil
	})
	if err != nil {
		return nobody, err
	}
	if e.err != nil {
		return e.p, e.err
	}
	if a.now().Sub(e.seen) >= a.opts.SessionIdle {
		return nobody, unauthorized("your session ended after %s without use; sign in again", a.opts.SessionIdle)
	}
	return e.p, nil
}

func (a *Authenticator) proxy(ctx context.Context, name string) (mlops.Principal, error) {
	e, err := a.cached(ctx, "p:"+name, func(old *entry) (*entry, error) {
		u, err := a.st.UserGet(ctx, name)
		if errors.Is(err, mlops.ErrNotFound) {
			u, err = a.st.UserCreate(ctx, store.NewUser{Name: name, Role: a.opts.ProxyRole, Source: "proxy"})
			if errors.Is(err, mlops.ErrConflict) { // another server created it first
				u, err = a.st.UserGet(ctx, name)
			}
			if err == nil {
				a.opts.Logger.Info("user created from the sign-on proxy", "user", name, "role", string(u.Role))
			}
		}
		if _, ok := mlops.AsValidation(err); ok {
			return &entry{p: nobody, err: unauthorized("the sign-on proxy's %s header is not a valid user name", a.opts.ProxyHeader)}, nil
		}
		if err != nil {
			return nil, err
		}
		if u.Disabled {
			return &entry{p: nobody, err: unauthorized("user %s is disabled; ask an admin", u.Name)}, nil
		}
		return &entry{p: mlops.Principal{Name: u.Name, Kind: mlops.KindUser, Role: u.Role, ID: u.ID}}, nil
	})
	if err != nil {
		return nobody, err
	}
	return e.p, e.err
}

// SignIn checks a user's name and password (the /login form) and starts a
// session. It returns the cookie to set.
func (a *Authenticator) SignIn(ctx context.Context, name, pw string) (*http.Cookie, mlops.Principal, error) {
	p, err := a.verifyPassword(ctx, name, pw)
	if err != nil {
		return nil, p, err
	}
	value, hash := NewSecret()
	value = strings.TrimPrefix(value, TokenPrefix)
	hash = HashSecret(value)
	if err := a.st.SessionCreate(ctx, hash, p.ID, a.now()); err != nil {
		return nil, p, err
	}
	return a.cookie(value, 0), p, nil
}

// SignOut ends the session of the request's cookie, on every server, and
// returns the cookie that clears it in the browser.
func (a *Authenticator) SignOut(r *http.Request) (*http.Cookie, error) {
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		hash := HashSecret(c.Value)
		if err := a.st.SessionDelete(r.Context(), hash); err != nil {
			return nil, err
		}
		a.forget("s:" + hash)
	}
	return a.cookie("", -1), nil
}

func (a *Authenticator) cookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: SessionCookie, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: a.opts.SecureCookies}
}

// Authorize decides whether principal p, authenticated with error authErr,
// may use permission perm: nil when allowed, else an *Error (401, 403,
// 429) or a store error.
func Authorize(p mlops.Principal, authErr error, perm mlops.Permission) error {
	if authErr != nil {
		return authErr
	}
	if p.Can(perm) {
		return nil
	}
	if p.Role == "" {
		return unauthorized("credentials needed: send Authorization: Bearer with a token (mlops token create), or Basic with a user's name and password")
	}
	roles := make([]string, 0, 5)
	for _, r := range mlops.RolesWith(perm) {
		roles = append(roles, string(r))
	}
	return &Error{Status: http.StatusForbidden, Detail: fmt.Sprintf(
		"this needs the %s permission (roles %s); %s %s has role %s", perm, strings.Join(roles, ", "), p.Kind, p.Name, p.Role)}
}

type ctxKey struct{}

// Caller is what the middleware learned about a request: who, and what went
// wrong checking their credentials.
type Caller struct {
	Principal mlops.Principal
	Err       error
}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, ctxKey{}, c)
}

// CallerFrom returns the caller stored in ctx (by Attach). Without one it
// is an anonymous caller without a role, who may do nothing that needs a
// permission: deny by default.
func CallerFrom(ctx context.Context) Caller {
	if c, ok := ctx.Value(ctxKey{}).(Caller); ok {
		return c
	}
	return Caller{Principal: nobody}
}

// Attach authenticates r and returns it with its Caller in the context. A
// request that already carries one is returned as is, so nested handlers
// (the API and the UI mounted in it) authenticate once. A nil
// Authenticator attaches OpenPrincipal (no auth).
func (a *Authenticator) Attach(r *http.Request) *http.Request {
	if _, ok := r.Context().Value(ctxKey{}).(Caller); ok {
		return r
	}
	p, err := a.Authenticate(r)
	return r.WithContext(WithCaller(r.Context(), Caller{Principal: p, Err: err}))
}
