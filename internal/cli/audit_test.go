package cli

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

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
