package mlops

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Role is what an account may do: one of Roles.
type Role string

// The roles of docs/api.md's table, from least to most.
const (
	RoleViewer   Role = "viewer"
	RolePipeline Role = "pipeline"
	RoleAgent    Role = "agent"
	RoleReviewer Role = "reviewer"
	RoleAdmin    Role = "admin"
)

// Roles lists every valid Role.
var Roles = []Role{RoleViewer, RolePipeline, RoleAgent, RoleReviewer, RoleAdmin}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return oneOf(r, Roles) }

// Permission is one row of the roles table: a kind of thing a caller may
// do. Every route and UI control declares the one it needs.
type Permission string

// The permissions of docs/api.md's roles table.
const (
	// PermRead: read every record, report and page.
	PermRead Permission = "read"
	// PermIngest: register model versions; log predictions, ground truth
	// and metrics; post drift reports and run drift checks.
	PermIngest Permission = "ingest"
	// PermActivate: activate a model version.
	PermActivate Permission = "activate"
	// PermAct: create alerts; propose actions; report an action executed
	// or failed.
	PermAct Permission = "act"
	// PermReview: approve or reject actions; acknowledge or resolve alerts.
	PermReview Permission = "review"
	// PermAudit: read the audit log.
	PermAudit Permission = "audit"
	// PermAdmin: manage users and tokens, run rules, and everything no
	// other permission names (deny by default).
	PermAdmin Permission = "admin"
)

// Permissions lists every Permission.
var Permissions = []Permission{PermRead, PermIngest, PermActivate, PermAct, PermReview, PermAudit, PermAdmin}

// grants is docs/api.md's roles table. An admin may do everything.
var grants = map[Role][]Permission{
	RoleViewer:   {PermRead},
	RolePipeline: {PermRead, PermIngest, PermActivate},
	RoleAgent:    {PermRead, PermIngest, PermAct},
	RoleReviewer: {PermRead, PermActivate, PermReview, PermAudit},
	RoleAdmin:    Permissions,
}

// Can reports whether role r has permission p. An unknown role or
// permission has nothing.
func (r Role) Can(p Permission) bool { return slices.Contains(grants[r], p) }

// RolesWith lists the roles that have permission p, in the order of Roles.
func RolesWith(p Permission) []Role {
	var out []Role
	for _, r := range Roles {
		if r.Can(p) {
			out = append(out, r)
		}
	}
	return out
}

// PrincipalKind says what kind of caller a Principal is.
type PrincipalKind string

// Principal kinds (docs/api.md's actor_kind).
const (
	KindUser      PrincipalKind = "user"
	KindToken     PrincipalKind = "token"
	KindAnonymous PrincipalKind = "anonymous"
	KindSystem    PrincipalKind = "system"
)

// Principal is who makes a request: a user, a token, or anonymous. An
// anonymous principal with a role is the open mode (no accounts, or auth
// off); one without a role has no credentials where they are needed.
type Principal struct {
	Name string        `json:"name"`
	Kind PrincipalKind `json:"kind" enum:"user,token,anonymous"`
	Role Role          `json:"role" doc:"Empty for a caller without credentials."`
	// ID is the user's or token's row id (0 when anonymous).
	ID int64 `json:"-"`
}

// Can reports whether the principal's role has permission p.
func (p Principal) Can(perm Permission) bool { return p.Role.Can(perm) }

// Authenticated reports whether the principal is a user or token.
func (p Principal) Authenticated() bool { return p.Kind == KindUser || p.Kind == KindToken }

// User is a person's account. Its password is stored only as a hash and
// never leaves the store.
type User struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Role      Role      `json:"role" enum:"viewer,pipeline,agent,reviewer,admin"`
	Disabled  bool      `json:"disabled"`
	Source    string    `json:"source" enum:"local,proxy" doc:"local: has a password; proxy: created by the single sign-on proxy header."`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Token is a program's credential. Its secret is shown once, at creation,
// and stored only as a hash.
type Token struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Role       Role       `json:"role" enum:"viewer,pipeline,agent,reviewer,admin"`
	CreatedBy  string     `json:"created_by"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at" doc:"null: never expires."`
	RevokedAt  *time.Time `json:"revoked_at" doc:"null until revoked."`
	LastUsedAt *time.Time `json:"last_used_at" doc:"null until first used; updated at most once a minute."`
}

// Active reports whether t can be used at now.
func (t Token) Active(now time.Time) bool {
	return t.RevokedAt == nil && (t.ExpiresAt == nil || now.Before(*t.ExpiresAt))
}

// MinPasswordLength is the shortest password an account may have.
const MinPasswordLength = 12

// ValidateAccountName checks a user or token name: 1–100 characters,
// printable, no spaces or colons (a colon would end the name in Basic
// auth), so it is safe to show and log.
func ValidateAccountName(field, name string) *FieldError {
	msg := ""
	switch {
	case name == "":
		msg = "is required"
	case len(name) > 100:
		msg = "must be at most 100 bytes"
	case strings.ContainsFunc(name, func(r rune) bool { return r == ':' || unicode.IsSpace(r) || !unicode.IsPrint(r) }):
		msg = fmt.Sprintf("must not contain spaces, colons or control characters, got %q", name)
	default:
		return nil
	}
	return &FieldError{Field: field, Message: msg}
}

// ValidatePassword checks a new password's length.
func ValidatePassword(field, pw string) *FieldError {
	if n := len([]rune(pw)); n < MinPasswordLength {
		return &FieldError{Field: field, Message: fmt.Sprintf("must be at least %d characters, got %d", MinPasswordLength, n)}
	}
	return nil
}

// ApprovalPolicy is how actions are decided (MLOPS_TWO_PERSON,
// MLOPS_ACTION_TTL). The zero value is one approval and no expiry.
type ApprovalPolicy struct {
	// TwoPersonFrom is the lowest risk level that needs two different
	// reviewers (high: high and critical); empty: none.
	TwoPersonFrom RiskLevel
	// TTL is how long a pending action waits for a decision before it
	// expires; 0: never.
	TTL time.Duration
}

// RequiredApprovals is the number of different reviewers an action of risk
// r needs.
func (p ApprovalPolicy) RequiredApprovals(r RiskLevel) int {
	if p.TwoPersonFrom == "" {
		return 1
	}
	if slices.Index(RiskLevels, r) >= slices.Index(RiskLevels, p.TwoPersonFrom) {
		return 2
	}
	return 1
}

// AuditEvent is one change of state in the audit log. Before and After are
// the record's fields (never a secret); Hash is SHA-256 over PrevHash and
// the event's canonical JSON (Seq included), so an edited, deleted or
// reordered event breaks the chain.
type AuditEvent struct {
	ID         int64         `json:"id"`
	At         time.Time     `json:"at"`
	Actor      string        `json:"actor"`
	ActorKind  PrincipalKind `json:"actor_kind" enum:"user,token,anonymous,system"`
	Event      string        `json:"event" doc:"What happened: model.activated, action.approved, ..."`
	EntityType string        `json:"entity_type"`
	EntityID   string        `json:"entity_id"`
	Before     JSON          `json:"before" doc:"The record before the change (null when created)."`
	After      JSON          `json:"after" doc:"The record after the change."`
	RequestID  string        `json:"request_id"`
	RemoteAddr string        `json:"remote_addr"`
	// Seq is the event's place in the hash chain, and PrevHash and Hash its
	// links; null until the event is sealed into the chain (at its commit
	// on SQLite, within about a second on PostgreSQL).
	Seq      *int64  `json:"seq"`
	PrevHash *string `json:"prev_hash"`
	Hash     *string `json:"hash"`
}
