package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/mlopsdev/mlops"
)

// Accounts: users (people), tokens (programs), the UI's sessions and failed
// sign-ins. The store keeps hashes only; hashing passwords and making
// secrets is internal/auth's job, so no secret ever reaches this package.
//
// Audit: user.created, user.updated, token.created, token.revoked and
// signin.failed are recorded with the change (entity user or token, by
// name). Events carry mlops.User and mlops.Token, which hold no hash; a new
// password shows only as "password_changed": true. Sessions and token use
// are not audited: they change no record anyone decides on.

const userColumns = `id, name, role, disabled, source, created_at, updated_at`

func scanUser(sc scanner) (mlops.User, error) {
	var u mlops.User
	err := sc.Scan(&u.ID, &u.Name, &u.Role, &u.Disabled, &u.Source, &u.CreatedAt, &u.UpdatedAt)
	u.CreatedAt, u.UpdatedAt = utc(u.CreatedAt), utc(u.UpdatedAt)
	return u, err
}

// NewUser is a user to create. PasswordHash is empty for a user created by
// the single sign-on proxy (Source "proxy"), who cannot sign in with a
// password.
type NewUser struct {
	Name         string
	Role         mlops.Role
	PasswordHash string
	Source       string // "local" (default) or "proxy"
}

func (in NewUser) validate() error {
	v := &mlops.ValidationError{}
	if fe := mlops.ValidateAccountName("name", in.Name); fe != nil {
		v.Fields = append(v.Fields, *fe)
	}
	if !in.Role.Valid() {
		v.Add("role", "must be one of viewer, pipeline, agent, reviewer, admin, got %q", in.Role)
	}
	if in.Source != "" && in.Source != "local" && in.Source != "proxy" {
		v.Add("source", "must be local or proxy, got %q", in.Source)
	}
	return v.Err()
}

// UserCreate creates a user and records user.created. A taken name is
// ErrConflict.
func (s *Store) UserCreate(ctx context.Context, in NewUser) (mlops.User, error) {
	if err := in.validate(); err != nil {
		return mlops.User{}, err
	}
	if in.Source == "" {
		in.Source = "local"
	}
	return auditedRow(ctx, s, func(tx *Store) (mlops.User, []change, error) {
		u, err := scanUser(tx.writer().QueryRowContext(ctx, `
			INSERT INTO users (name, role, password_hash, source, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $5) RETURNING `+userColumns,
			in.Name, string(in.Role), in.PasswordHash, in.Source, tx.Now()))
		if err != nil {
			return u, nil, conflict(err, "user %q already exists", in.Name)
		}
		return u, []change{{event: "user.created", entityType: "user", entityID: u.Name, after: u}}, nil
	})
}

// UserGet returns a user by name.
func (s *Store) UserGet(ctx context.Context, name string) (mlops.User, error) {
	return getOne(s.primary().QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE name = $1`, name), scanUser,
		"user %q", name)
}

// UserByID returns a user by id.
func (s *Store) UserByID(ctx context.Context, id int64) (mlops.User, error) {
	return getOne(s.primary().QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id), scanUser,
		"user %d", id)
}

// UserPasswordHash returns a user with the stored password hash, for
// checking a sign-in. The hash must not leave the caller.
func (s *Store) UserPasswordHash(ctx context.Context, name string) (mlops.User, string, error) {
	var hash string
	u, err := scanUser(scanFunc(func(dest ...any) error {
		return s.primary().QueryRowContext(ctx, `SELECT `+userColumns+`, password_hash FROM users WHERE name = $1`, name).
			Scan(append(dest, &hash)...)
	}))
	if err != nil {
		return u, "", notFound(err, "user %q", name)
	}
	return u, hash, nil
}

// scanFunc adapts a function to scanner.
type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

// UserList lists every user by name.
func (s *Store) UserList(ctx context.Context) ([]mlops.User, error) {
	rows, err := s.primary().QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY name`)
	return collect(rows, err, scanUser)
}

// UserChange is what UserUpdate changes; nil fields stay.
type UserChange struct {
	Role         *mlops.Role
	Disabled     *bool
	PasswordHash *string
}

// userAudited is a user as an event shows it after a change: the record,
// and whether the password changed (never the hash).
type userAudited struct {
	mlops.User
	PasswordChanged bool `json:"password_changed,omitempty"`
}

// UserUpdate changes a user and records user.updated. Disabling a user or
// changing their password also ends their sessions.
func (s *Store) UserUpdate(ctx context.Context, name string, c UserChange) (mlops.User, error) {
	if c.Role != nil {
		if err := oneOf("role", *c.Role, mlops.Roles); err != nil {
			return mlops.User{}, err
		}
	}
	var u mlops.User
	err := s.InTx(ctx, func(tx *Store) error {
		before, err := scanUser(tx.writer().QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE name = $1`+tx.forUpdate(), name))
		if err != nil {
			return notFound(err, "user %q", name)
		}
		var role, hash any
		var disabled any
		if c.Role != nil {
			role = string(*c.Role)
		}
		if c.PasswordHash != nil {
			hash = *c.PasswordHash
		}
		if c.Disabled != nil {
			disabled = *c.Disabled
		}
		u, err = scanUser(tx.writer().QueryRowContext(ctx, `
			UPDATE users SET role = COALESCE($2, role), password_hash = COALESCE($3, password_hash),
				disabled = COALESCE($4, disabled), updated_at = $5
			WHERE name = $1 RETURNING `+userColumns, name, role, hash, disabled, tx.Now()))
		if err != nil {
			return notFound(err, "user %q", name)
		}
		if u.Disabled || c.PasswordHash != nil {
			if _, err := tx.writer().ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1`, u.ID); err != nil {
				return classify(err)
			}
		}
		return tx.audit(ctx, change{event: "user.updated", entityType: "user", entityID: u.Name,
			before: before, after: userAudited{User: u, PasswordChanged: c.PasswordHash != nil}})
	})
	return u, err
}

// AccountsExist reports whether any user or token exists (revoked tokens
// and disabled users count: once accounts were set up, the open mode is
// over).
func (s *Store) AccountsExist(ctx context.Context) (bool, error) {
	var n int
	err := s.primary().QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM (SELECT 1 FROM users LIMIT 1) u) + (SELECT COUNT(*) FROM (SELECT 1 FROM api_tokens LIMIT 1) t)`).Scan(&n)
	return n > 0, classify(err)
}

const tokenColumns = `id, name, role, created_by, created_at, expires_at, revoked_at, last_used_at`

func scanToken(sc scanner) (mlops.Token, error) {
	var (
		t                      mlops.Token
		expires, revoked, used sql.NullTime
	)
	err := sc.Scan(&t.ID, &t.Name, &t.Role, &t.CreatedBy, &t.CreatedAt, &expires, &revoked, &used)
	t.CreatedAt = utc(t.CreatedAt)
	t.ExpiresAt, t.RevokedAt, t.LastUsedAt = nullTime(expires), nullTime(revoked), nullTime(used)
	return t, err
}

// NewToken is a token to create: the hash of its secret, never the secret.
type NewToken struct {
	Name       string
	Role       mlops.Role
	SecretHash string // hex SHA-256 of the secret
	CreatedBy  string
	ExpiresAt  *time.Time
}

// TokenCreate stores a token and records token.created. A name held by a
// live token is ErrConflict.
func (s *Store) TokenCreate(ctx context.Context, in NewToken) (mlops.Token, error) {
	v := &mlops.ValidationError{}
	if fe := mlops.ValidateAccountName("name", in.Name); fe != nil {
		v.Fields = append(v.Fields, *fe)
	}
	if !in.Role.Valid() {
		v.Add("role", "must be one of viewer, pipeline, agent, reviewer, admin, got %q", in.Role)
	}
	if len(in.SecretHash) != 64 {
		v.Add("secret_hash", "must be a hex SHA-256")
	}
	if in.ExpiresAt != nil && !in.ExpiresAt.After(s.Now()) {
		v.Add("expires", "must be in the future")
	}
	if err := v.Err(); err != nil {
		return mlops.Token{}, err
	}
	var expires any
	if in.ExpiresAt != nil {
		expires = in.ExpiresAt.UTC().Truncate(time.Microsecond)
	}
	return auditedRow(ctx, s, func(tx *Store) (mlops.Token, []change, error) {
		t, err := scanToken(tx.writer().QueryRowContext(ctx, `
			INSERT INTO api_tokens (name, role, secret_hash, created_by, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+tokenColumns,
			in.Name, string(in.Role), in.SecretHash, in.CreatedBy, tx.Now(), expires))
		if err != nil {
			return t, nil, conflict(err, "a token named %q already exists; revoke it first or choose another name", in.Name)
		}
		return t, []change{{event: "token.created", entityType: "token", entityID: t.Name, after: t}}, nil
	})
}

// TokenList lists tokens by name; revoked ones only when includeRevoked.
func (s *Store) TokenList(ctx context.Context, includeRevoked bool) ([]mlops.Token, error) {
	cond := ` WHERE revoked_at IS NULL`
	if includeRevoked {
		cond = ``
	}
	rows, err := s.primary().QueryContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens`+cond+` ORDER BY name, id`)
	return collect(rows, err, scanToken)
}

// TokenBySecretHash finds a token by the hash of its secret, revoked and
// expired ones included (the caller decides).
func (s *Store) TokenBySecretHash(ctx context.Context, hash string) (mlops.Token, error) {
	return getOne(s.primary().QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE secret_hash = $1`, hash),
		scanToken, "token")
}

// TokenRevoke revokes the live token with that name and records
// token.revoked.
func (s *Store) TokenRevoke(ctx context.Context, name string) (mlops.Token, error) {
	return auditedRow(ctx, s, func(tx *Store) (mlops.Token, []change, error) {
		t, err := scanToken(tx.writer().QueryRowContext(ctx, `
			UPDATE api_tokens SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL RETURNING `+tokenColumns,
			name, tx.Now()))
		if err != nil {
			return t, nil, notFound(err, "live token %q", name)
		}
		// The UPDATE changed revoked_at alone, from null.
		before := t
		before.RevokedAt = nil
		return t, []change{{event: "token.revoked", entityType: "token", entityID: t.Name, before: before, after: t}}, nil
	})
}

// TokenTouch records that a token was used at t.
func (s *Store) TokenTouch(ctx context.Context, id int64, at time.Time) error {
	_, err := s.writer().ExecContext(ctx, `UPDATE api_tokens SET last_used_at = $2 WHERE id = $1`, id, at.UTC().Truncate(time.Microsecond))
	return classify(err)
}

// Session is a signed-in browser's session.
type Session struct {
	UserID     int64
	CreatedAt  time.Time
	LastSeenAt time.Time
}

// SessionCreate stores a session, begun at now, by the hash of its cookie
// value.
func (s *Store) SessionCreate(ctx context.Context, idHash string, userID int64, now time.Time) error {
	now = now.UTC().Truncate(time.Microsecond)
	_, err := s.writer().ExecContext(ctx, `INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at) VALUES ($1, $2, $3, $3)`,
		idHash, userID, now)
	return classify(err)
}

// SessionGet returns a session by the hash of its cookie value.
func (s *Store) SessionGet(ctx context.Context, idHash string) (Session, error) {
	var ss Session
	err := s.primary().QueryRowContext(ctx, `SELECT user_id, created_at, last_seen_at FROM sessions WHERE id_hash = $1`, idHash).
		Scan(&ss.UserID, &ss.CreatedAt, &ss.LastSeenAt)
	if err != nil {
		return ss, notFound(err, "session")
	}
	ss.CreatedAt, ss.LastSeenAt = utc(ss.CreatedAt), utc(ss.LastSeenAt)
	return ss, nil
}

// SessionTouch records activity on a session.
func (s *Store) SessionTouch(ctx context.Context, idHash string, at time.Time) error {
	_, err := s.writer().ExecContext(ctx, `UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1`, idHash, at.UTC().Truncate(time.Microsecond))
	return classify(err)
}

// SessionDelete ends a session (sign-out). Deleting a missing one is not an
// error.
func (s *Store) SessionDelete(ctx context.Context, idHash string) error {
	_, err := s.writer().ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = $1`, idHash)
	return classify(err)
}

// SessionsPrune deletes sessions idle since before cutoff.
func (s *Store) SessionsPrune(ctx context.Context, cutoff time.Time) (int64, error) {
	r, err := s.writer().ExecContext(ctx, `DELETE FROM sessions WHERE last_seen_at < $1`, cutoff.UTC())
	if err != nil {
		return 0, classify(err)
	}
	return r.RowsAffected()
}

// SignInFailureAdd records a failed sign-in for name at a time, and
// signin.failed (entity user/<name>, whether or not that user exists).
func (s *Store) SignInFailureAdd(ctx context.Context, name string, at time.Time) error {
	return s.audited(ctx, func(tx *Store) ([]change, error) {
		if _, err := tx.writer().ExecContext(ctx, `INSERT INTO signin_failures (name, at) VALUES ($1, $2)`,
			name, at.UTC().Truncate(time.Microsecond)); err != nil {
			return nil, classify(err)
		}
		// A name that is no user may be a password typed into the name
		// field: the audit log names only existing users.
		var known int
		if err := tx.writer().QueryRowContext(ctx, `SELECT count(*) FROM users WHERE name = $1`, name).Scan(&known); err != nil {
			return nil, classify(err)
		}
		if known == 0 {
			return []change{{event: "signin.failed", entityType: "user", entityID: "(unknown)", after: map[string]any{"known_user": false}}}, nil
		}
		return []change{{event: "signin.failed", entityType: "user", entityID: name, after: map[string]any{"name": name, "known_user": true}}}, nil
	})
}

// SignInFailures counts the failed sign-ins for name since a time, and
// returns the time of the last one.
func (s *Store) SignInFailures(ctx context.Context, name string, since time.Time) (int, time.Time, error) {
	var (
		n    int
		last sql.NullTime
	)
	// MAX over a timestamp column reads back as text on SQLite; order instead.
	err := s.primary().QueryRowContext(ctx, `SELECT COUNT(*) FROM signin_failures WHERE name = $1 AND at >= $2`,
		name, since.UTC()).Scan(&n)
	if err != nil || n == 0 {
		return n, time.Time{}, classify(err)
	}
	err = s.primary().QueryRowContext(ctx, `SELECT at FROM signin_failures WHERE name = $1 ORDER BY at DESC, id DESC LIMIT 1`, name).Scan(&last)
	return n, last.Time.UTC(), classify(err)
}

// SignInFailuresClear forgets the failed sign-ins of name (after a
// successful one), and every failure older than before.
func (s *Store) SignInFailuresClear(ctx context.Context, name string, before time.Time) error {
	_, err := s.writer().ExecContext(ctx, `DELETE FROM signin_failures WHERE name = $1 OR at < $2`, name, before.UTC())
	return classify(err)
}
