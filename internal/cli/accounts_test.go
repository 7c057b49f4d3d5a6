package cli

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/internal/auth"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// runWithInput is run with input as standard input.
func runWithInput(t *testing.T, dbURL, input string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	old := stdin
	stdin = strings.NewReader(input)
	defer func() { stdin = old }()
	return run(t, dbURL, args...)
}

func TestUserCommands(t *testing.T) {
	storetest.EachURL(t, func(t *testing.T, url string) {
		ctx := context.Background()
		st := storetest.OpenURL(t, url, store.Options{})
		const pw, pw2 = "correct horse battery", "staple-staple-staple"
		var outputs []string
		record := func(code int, out, errs string) (int, string, string) {
			outputs = append(outputs, out, errs)
			return code, out, errs
		}

		code, out, errs := record(runWithInput(t, url, "short-pw\n", "user", "create", "alice", "--role", "reviewer", "--password-stdin"))
		if code == 0 || !strings.Contains(errs, "at least 12 characters") {
			t.Fatalf("short password: code %d, out %q, err %q; want non-zero naming the 12-character minimum", code, out, errs)
		}
		if _, err := st.UserGet(ctx, "alice"); err == nil {
			t.Fatal("a user was created despite the short password")
		}
		code, out, errs = record(runWithInput(t, url, "", "user", "create", "alice", "--role", "reviewer"))
		if code == 0 || !strings.Contains(errs, "--password-stdin") {
			t.Fatalf("no terminal and no --password-stdin: code %d, err %q; want advice to use --password-stdin", code, errs)
		}
		if code, _, errs = run(t, url, "user", "create", "alice", "--role", "boss", "--password-stdin"); code != 2 || !strings.Contains(errs, "reviewer") {
			t.Fatalf("bad role: code %d, err %q; want a usage error listing the roles", code, errs)
		}
		if code, _, errs = run(t, url, "user", "create", "alice", "--password-stdin"); code != 2 || !strings.Contains(errs, "--role") {
			t.Fatalf("no role: code %d, err %q", code, errs)
		}

		code, out, errs = record(runWithInput(t, url, pw+"\n", "user", "create", "alice", "--role", "reviewer", "--password-stdin"))
		if code != 0 || strings.TrimSpace(out) != "created user alice (role reviewer)" {
			t.Fatalf("user create: code %d, out %q, err %q", code, out, errs)
		}
		u, hash, err := st.UserPasswordHash(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if u.Role != mlops.RoleReviewer || u.Source != "local" || u.Disabled {
			t.Errorf("stored user: %+v", u)
		}
		if !auth.CheckPassword(hash, pw) {
			t.Error("the stored hash does not verify the password (without its trailing newline)")
		}
		if strings.Contains(hash, pw) {
			t.Error("the password is stored in clear")
		}

		code, out, errs = record(runWithInput(t, url, pw+"\n", "user", "create", "alice", "--role", "admin", "--password-stdin"))
		if code == 0 || !strings.Contains(errs, "already exists") || strings.Count(errs, "\n") != 1 {
			t.Fatalf("duplicate user: code %d, err %q; want one line saying it already exists", code, errs)
		}

		code, out, errs = record(run(t, url, "user", "list"))
		if code != 0 || !strings.Contains(out, "NAME") || !strings.Contains(out, "alice") || !strings.Contains(out, "reviewer") ||
			!strings.Contains(out, "local") || !strings.Contains(out, "false") {
			t.Fatalf("user list: code %d, out %q, err %q", code, out, errs)
		}

		code, out, errs = record(run(t, url, "user", "set-role", "alice", "admin"))
		if code != 0 || !strings.Contains(out, "now has role admin (was reviewer)") {
			t.Fatalf("set-role: code %d, out %q, err %q", code, out, errs)
		}
		if u, _ := st.UserGet(ctx, "alice"); u.Role != mlops.RoleAdmin {
			t.Errorf("after set-role: role %q, want admin", u.Role)
		}
		if code, _, errs = run(t, url, "user", "set-role", "nobody", "admin"); code != 1 || !strings.Contains(errs, "no user named nobody") {
			t.Errorf("set-role of a missing user: code %d, err %q", code, errs)
		}
		if code, _, _ = run(t, url, "user", "set-role", "alice", "king"); code != 2 {
			t.Errorf("set-role to a bad role: code %d, want 2", code)
		}

		if code, out, errs = record(run(t, url, "user", "disable", "alice")); code != 0 || !strings.Contains(out, "disabled user alice") {
			t.Fatalf("disable: code %d, out %q, err %q", code, out, errs)
		}
		if u, _ := st.UserGet(ctx, "alice"); !u.Disabled {
			t.Error("after disable: the user is not disabled")
		}
		if code, out, _ = record(run(t, url, "user", "list")); code != 0 || !strings.Contains(out, "true") {
			t.Errorf("user list after disable: %q", out)
		}
		if code, out, errs = record(run(t, url, "user", "enable", "alice")); code != 0 {
			t.Fatalf("enable: code %d, err %q", code, errs)
		}
		if u, _ := st.UserGet(ctx, "alice"); u.Disabled {
			t.Error("after enable: the user is still disabled")
		}

		code, out, errs = record(runWithInput(t, url, pw2+"\r\n", "user", "set-password", "alice", "--password-stdin"))
		if code != 0 || !strings.Contains(out, "changed the password") {
			t.Fatalf("set-password: code %d, out %q, err %q", code, out, errs)
		}
		_, hash, _ = st.UserPasswordHash(ctx, "alice")
		if !auth.CheckPassword(hash, pw2) || auth.CheckPassword(hash, pw) {
			t.Error("after set-password, the new password must verify and the old one not")
		}
		if code, _, errs = runWithInput(t, url, "tiny", "user", "set-password", "alice", "--password-stdin"); code == 0 || !strings.Contains(errs, "at least 12") {
			t.Errorf("set-password with a short password: code %d, err %q", code, errs)
		}

		for _, o := range outputs {
			if strings.Contains(o, pw) || strings.Contains(o, pw2) {
				t.Fatalf("a password appears in the output: %q", o)
			}
		}
	})
}

func TestTokenCommands(t *testing.T) {
	storetest.EachURL(t, func(t *testing.T, url string) {
		ctx := context.Background()
		st := storetest.OpenURL(t, url, store.Options{})

		code, out, errs := run(t, url, "token", "create", "--name", "ci", "--role", "pipeline", "--expires", "90d")
		if code != 0 {
			t.Fatalf("token create: code %d, err %q", code, errs)
		}
		secret := strings.TrimSuffix(out, "\n")
		if !strings.HasPrefix(secret, "mlops_") || strings.Contains(secret, "\n") {
			t.Fatalf("token create printed %q; want the secret alone on one line", out)
		}
		if !strings.Contains(errs, "will not be shown again") || strings.Contains(errs, secret) {
			t.Errorf("token create stderr %q; want the one-time note, without the secret", errs)
		}
		tok, err := st.TokenBySecretHash(ctx, auth.HashSecret(secret))
		if err != nil {
			t.Fatalf("the secret's hash is not stored: %v", err)
		}
		if tok.Name != "ci" || tok.Role != mlops.RolePipeline || tok.ExpiresAt == nil || tok.RevokedAt != nil {
			t.Fatalf("stored token: %+v", tok)
		}
		if left := time.Until(*tok.ExpiresAt); left < 89*24*time.Hour || left > 91*24*time.Hour {
			t.Errorf("--expires 90d: expires in %v", left)
		}

		if code, out, errs = run(t, url, "token", "create", "--name", "agent", "--role", "agent"); code != 0 {
			t.Fatalf("token create without --expires: code %d, err %q", code, errs)
		}
		second := strings.TrimSpace(out)
		if code, _, errs = run(t, url, "token", "create", "--name", "ci", "--role", "viewer"); code == 0 || !strings.Contains(errs, "already exists") {
			t.Errorf("a second live token named ci: code %d, err %q", code, errs)
		}
		for _, bad := range [][]string{
			{"--name", "x", "--role", "pipeline", "--expires", "soon"},
			{"--name", "x", "--role", "pipeline", "--expires", "0"},
			{"--name", "x", "--role", "chief"},
			{"--role", "pipeline"},
			{"--name", "a b", "--role", "pipeline"},
		} {
			if code, _, errs := run(t, url, append([]string{"token", "create"}, bad...)...); code != 2 {
				t.Errorf("token create %v: code %d, err %q; want a usage error", bad, code, errs)
			}
		}

		code, out, errs = run(t, url, "token", "list")
		if code != 0 || !strings.Contains(out, "ci") || !strings.Contains(out, "pipeline") || !strings.Contains(out, "active") ||
			!strings.Contains(out, "CREATED_BY") || !strings.Contains(out, "never") {
			t.Fatalf("token list: code %d, out %q, err %q", code, out, errs)
		}
		if strings.Contains(out+errs, secret) || strings.Contains(out+errs, second) || strings.Contains(out, "mlops_") {
			t.Fatalf("token list shows a secret: %q", out)
		}

		if code, out, errs = run(t, url, "token", "revoke", "ci"); code != 0 || !strings.Contains(out, "revoked token ci") {
			t.Fatalf("token revoke: code %d, out %q, err %q", code, out, errs)
		}
		if tok, err := st.TokenBySecretHash(ctx, auth.HashSecret(secret)); err != nil || tok.RevokedAt == nil {
			t.Fatalf("after revoke: %+v, %v; want revoked_at set", tok, err)
		}
		if code, _, errs = run(t, url, "token", "revoke", "ci"); code != 1 || !strings.Contains(errs, "no live token named ci") {
			t.Errorf("revoking again: code %d, err %q", code, errs)
		}
		if code, out, _ = run(t, url, "token", "list"); !strings.Contains(out, "revoked") || !strings.Contains(out, "active") {
			t.Errorf("token list after revoke: %q; want ci revoked and agent active", out)
		}
		// The name of a revoked token is free again.
		if code, _, errs = run(t, url, "token", "create", "--name", "ci", "--role", "pipeline"); code != 0 {
			t.Errorf("re-creating ci after revoking it: code %d, err %q", code, errs)
		}
	})
}

// TestTokenStatusExpired: a token past its expiry lists as expired.
func TestTokenStatusExpired(t *testing.T) {
	url := storetest.URL(t, store.SQLite)
	past := time.Now().UTC().Add(-48 * time.Hour)
	st := storetest.OpenURL(t, url, store.Options{Now: func() time.Time { return past }})
	exp := past.Add(time.Hour)
	_, hash := auth.NewSecret()
	if _, err := st.TokenCreate(context.Background(), store.NewToken{Name: "old", Role: mlops.RoleViewer, SecretHash: hash, ExpiresAt: &exp}); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := run(t, url, "token", "list"); code != 0 || !strings.Contains(out, "expired") {
		t.Fatalf("token list: code %d, out %q, err %q; want the token expired", code, out, errs)
	}
}

// TestAccountCommandsNeedMigrations: on a database with pending migrations
// the account commands refuse, naming the fix, and change nothing.
func TestAccountCommandsNeedMigrations(t *testing.T) {
	storetest.EachURL(t, func(t *testing.T, url string) {
		for _, args := range [][]string{{"user", "list"}, {"token", "list"}, {"token", "create", "--name", "x", "--role", "viewer"}} {
			code, out, errs := run(t, url, args...)
			if code != 1 || !strings.Contains(errs, "run mlops migrate upgrade") || out != "" {
				t.Errorf("%v on an unmigrated database: code %d, out %q, err %q", args, code, out, errs)
			}
		}
	})
}

// TestAuditCommands: the account commands each write one event under the
// CLI's actor; audit verify passes on an intact log and names the event a
// test edits behind the triggers' back; prune touches the audit log only
// when asked, and leaves it verifiable.
func TestAuditCommands(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			url := storetest.URL(t, engine)
			st := storetest.OpenURL(t, url, store.Options{})
			if err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			events := func() []mlops.AuditEvent {
				t.Helper()
				all, _, err := st.AuditList(ctx, store.AuditFilter{Page: store.Page{Limit: 1000}})
				if err != nil {
					t.Fatal(err)
				}
				return all
			}
			for _, step := range []struct {
				args  []string
				input string
				event string
			}{
				{[]string{"user", "create", "alice", "--role", "admin", "--password-stdin"}, "alice's long password\n", "user.created"},
				{[]string{"user", "set-role", "alice", "reviewer"}, "", "user.updated"},
				{[]string{"token", "create", "--name", "ci", "--role", "pipeline"}, "", "token.created"},
				{[]string{"token", "revoke", "ci"}, "", "token.revoked"},
				{[]string{"user", "disable", "alice"}, "", "user.updated"},
			} {
				before := len(events())
				if code, _, errs := runWithInput(t, url, step.input, step.args...); code != 0 {
					t.Fatalf("%v: exit %d: %s", step.args, code, errs)
				}
				got := events()
				if len(got) != before+1 {
					t.Fatalf("%v wrote %d events, want 1", step.args, len(got)-before)
				}
				if e := got[0]; e.Event != step.event || e.Actor != "cli" || e.ActorKind != mlops.KindSystem {
					t.Errorf("%v: event %s by %s (%s), want %s by cli (system)", step.args, e.Event, e.Actor, e.ActorKind, step.event)
				}
			}
			code, out, errs := run(t, url, "audit", "verify")
			if code != 0 || !strings.Contains(out, "ok: 5 audit events verify") {
				t.Fatalf("verify an intact log: exit %d, %q %q", code, out, errs)
			}

			// Prune without naming audit leaves it alone; naming it prunes
			// and leaves a checkpoint.
			time.Sleep(1100 * time.Millisecond)
			if code, _, errs := run(t, url, "prune", "--older-than", "1s"); code != 0 {
				t.Fatalf("prune: %d %s", code, errs)
			}
			if n := len(events()); n < 5 {
				t.Fatalf("prune without --what audit removed audit events: %d left", n)
			}
			if code, out, errs := run(t, url, "prune", "--older-than", "1s", "--what", "audit"); code != 0 || !strings.Contains(out, "audit:") {
				t.Fatalf("prune --what audit: %d %q %s", code, out, errs)
			}
			if code, out, errs := run(t, url, "audit", "verify"); code != 0 || !strings.Contains(out, "ok:") {
				t.Fatalf("verify after pruning: exit %d, %q %q", code, out, errs)
			}

			// Edit one event behind the triggers' back: verify names it.
			victim := events()[0]
			db := st.DB()
			if engine == store.SQLite {
				w := storetest.OpenURL(t, url, store.Options{})
				db = w.DB()
				if _, err := db.Exec(`DROP TRIGGER audit_events_append_only_update`); err != nil {
					t.Fatal(err)
				}
			} else if _, err := db.Exec(`ALTER TABLE audit_events DISABLE TRIGGER USER`); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(`UPDATE audit_events SET actor = 'mallory' WHERE id = $1`, victim.ID); err != nil {
				t.Fatal(err)
			}
			code, _, errs = run(t, url, "audit", "verify")
			if code != 1 || !strings.Contains(errs, "audit event "+itoa(victim.ID)+" ") || !strings.Contains(errs, "edited") {
				t.Fatalf("verify after an edit: exit %d, stderr %q; want 1 naming event %d", code, errs, victim.ID)
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
