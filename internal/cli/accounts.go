package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/internal/auth"
	"github.com/mlopsdev/mlops/internal/config"
	"github.com/mlopsdev/mlops/store"
)

// The account commands (mlops user …, mlops token …) work on the database
// directly, so they work with the server stopped and are how the first
// admin is made. Passwords and token secrets are hashed here (internal/auth)
// and never printed, logged or passed to the store.

// stdin is what Run hands commands as Env.Stdin; tests replace it.
var stdin io.Reader = os.Stdin

// maxPasswordBytes bounds a password read with --password-stdin.
const maxPasswordBytes = 1024

// openAccounts opens the store for an account command, refusing a database
// with pending migrations (the accounts tables may not exist yet, and
// migrating is the operator's call).
func openAccounts(ctx context.Context, e *Env) (*store.Store, error) {
	st, err := e.OpenStore(ctx)
	if err != nil {
		return nil, err
	}
	m, err := st.Migrator()
	if err != nil {
		st.Close()
		return nil, err
	}
	pending, err := m.Pending(ctx)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("check migrations: %w", err)
	}
	if pending {
		cur, _ := m.Current(ctx)
		st.Close()
		return nil, fmt.Errorf("the database %s is at revision %d and migrations up to %d are pending; run mlops migrate upgrade first", st.Redacted(), cur, m.Latest())
	}
	return st, nil
}

// withAccounts runs fn on the store of an account command (see
// openAccounts) and closes it after.
func withAccounts(ctx context.Context, e *Env, fn func(st *store.Store) error) error {
	st, err := openAccounts(ctx, e)
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(st)
}

// roleList is the valid roles, for messages.
func roleList() string {
	s := make([]string, len(mlops.Roles))
	for i, r := range mlops.Roles {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

func parseRole(flagName, v string) (mlops.Role, error) {
	if v == "" {
		return "", usagef("%s is required: one of %s", flagName, roleList())
	}
	r := mlops.Role(strings.ToLower(strings.TrimSpace(v)))
	if !r.Valid() {
		return "", usagef("%s %q is not a role; use one of %s", flagName, v, roleList())
	}
	return r, nil
}

func parseName(what, v string) error {
	if fe := mlops.ValidateAccountName(what, v); fe != nil {
		return usagef("the %s %s", what, fe.Message)
	}
	return nil
}

// readPassword returns a new password for user name: all of standard input
// with --password-stdin (one trailing newline removed), else typed twice
// on the terminal without echo. It checks the minimum length.
func readPassword(ctx context.Context, e *Env, name string, fromStdin bool) (string, error) {
	var pw string
	if fromStdin {
		b, err := io.ReadAll(io.LimitReader(e.Stdin, maxPasswordBytes+1))
		if err != nil {
			return "", fmt.Errorf("read the password from standard input: %w", err)
		}
		if len(b) > maxPasswordBytes {
			return "", fmt.Errorf("the password on standard input is longer than %d bytes", maxPasswordBytes)
		}
		pw = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	} else {
		f, ok := e.Stdin.(*os.File)
		if !ok || !term.IsTerminal(int(f.Fd())) {
			return "", errors.New("standard input is not a terminal, so there is no prompt for the password; pipe the password in and add --password-stdin")
		}
		first, err := promptPassword(ctx, e, f, fmt.Sprintf("password for %s (at least %d characters): ", name, mlops.MinPasswordLength))
		if err != nil {
			return "", err
		}
		if fe := mlops.ValidatePassword("password", first); fe != nil {
			return "", fmt.Errorf("the password %s; nothing was changed", fe.Message)
		}
		again, err := promptPassword(ctx, e, f, "the same password again: ")
		if err != nil {
			return "", err
		}
		if again != first {
			return "", errors.New("the two passwords differ; nothing was changed, run the command again")
		}
		pw = first
	}
	if fe := mlops.ValidatePassword("password", pw); fe != nil {
		return "", fmt.Errorf("the password %s; nothing was changed", fe.Message)
	}
	return pw, nil
}

// promptPassword reads one line from the terminal f without echo. An
// interrupt (ctx cancelled) restores the terminal and gives up.
func promptPassword(ctx context.Context, e *Env, f *os.File, prompt string) (string, error) {
	fd := int(f.Fd())
	state, err := term.GetState(fd)
	if err != nil {
		return "", fmt.Errorf("read the terminal: %w; use --password-stdin instead", err)
	}
	fmt.Fprint(e.Stderr, prompt)
	type answer struct {
		b   []byte
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		b, err := term.ReadPassword(fd)
		ch <- answer{b, err}
	}()
	select {
	case a := <-ch:
		fmt.Fprintln(e.Stderr)
		if a.err != nil {
			return "", fmt.Errorf("read the password: %w", a.err)
		}
		return string(a.b), nil
	case <-ctx.Done():
		_ = term.Restore(fd, state)
		fmt.Fprintln(e.Stderr)
		return "", errors.New("interrupted; nothing was changed")
	}
}

func runUserCreate(ctx context.Context, e *Env, args []string) error {
	fs := newFlags(e, "user create")
	role := fs.String("role", "", "the user's role: "+roleList()+" (required)")
	fromStdin := fs.Bool("password-stdin", false, "read the password from standard input instead of prompting")
	pos, err := parseArgs(fs, args, 1, "user create takes one NAME, as in: mlops user create alice --role reviewer")
	if err != nil {
		return err
	}
	name := pos[0]
	if err := parseName("user name", name); err != nil {
		return err
	}
	r, err := parseRole("--role", *role)
	if err != nil {
		return err
	}
	return withAccounts(ctx, e, func(st *store.Store) error {
		// Checked before asking for the password, so nobody types one in vain.
		if _, err := st.UserGet(ctx, name); err == nil {
			return userExists(name)
		} else if !errors.Is(err, mlops.ErrNotFound) {
			return err
		}
		pw, err := readPassword(ctx, e, name, *fromStdin)
		if err != nil {
			return err
		}
		u, err := st.UserCreate(ctx, store.NewUser{Name: name, Role: r, PasswordHash: auth.HashPassword(pw)})
		if errors.Is(err, mlops.ErrConflict) {
			return userExists(name)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "created user %s (role %s)\n", u.Name, u.Role)
		return nil
	})
}

func userExists(name string) error {
	return fmt.Errorf("user %s already exists; change it with mlops user set-role or mlops user set-password, or choose another name", name)
}

func runUserList(ctx context.Context, e *Env, args []string) error {
	if err := noArgs("user list", args); err != nil {
		return err
	}
	return withAccounts(ctx, e, func(st *store.Store) error {
		users, err := st.UserList(ctx)
		if err != nil {
			return err
		}
		if len(users) == 0 {
			fmt.Fprintln(e.Stdout, "no users yet; create the first admin with mlops user create NAME --role admin")
			return nil
		}
		tw := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tSOURCE\tDISABLED\tCREATED")
		for _, u := range users {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%s\n", u.Name, u.Role, u.Source, u.Disabled, u.CreatedAt.Format(time.RFC3339))
		}
		return tw.Flush()
	})
}

// userNotFound turns the store's not-found into advice.
func userNotFound(name string, err error) error {
	if errors.Is(err, mlops.ErrNotFound) {
		return fmt.Errorf("no user named %s; see mlops user list", name)
	}
	return err
}

func runUserSetRole(ctx context.Context, e *Env, args []string) error {
	pos, err := parseArgs(newFlags(e, "user set-role"), args, 2, "user set-role takes NAME and ROLE, as in: mlops user set-role alice reviewer")
	if err != nil {
		return err
	}
	r, err := parseRole("ROLE", pos[1])
	if err != nil {
		return err
	}
	return withAccounts(ctx, e, func(st *store.Store) error {
		before, err := st.UserGet(ctx, pos[0])
		if err != nil {
			return userNotFound(pos[0], err)
		}
		u, err := st.UserUpdate(ctx, pos[0], store.UserChange{Role: &r})
		if err != nil {
			return userNotFound(pos[0], err)
		}
		fmt.Fprintf(e.Stdout, "user %s now has role %s (was %s)\n", u.Name, u.Role, before.Role)
		return nil
	})
}

func runUserDisable(ctx context.Context, e *Env, args []string) error {
	return setDisabled(ctx, e, "user disable", args, true)
}

func runUserEnable(ctx context.Context, e *Env, args []string) error {
	return setDisabled(ctx, e, "user enable", args, false)
}

func setDisabled(ctx context.Context, e *Env, cmd string, args []string, disabled bool) error {
	pos, err := parseArgs(newFlags(e, cmd), args, 1, "%s takes one NAME, as in: mlops %s alice", cmd, cmd)
	if err != nil {
		return err
	}
	return withAccounts(ctx, e, func(st *store.Store) error {
		u, err := st.UserUpdate(ctx, pos[0], store.UserChange{Disabled: &disabled})
		if err != nil {
			return userNotFound(pos[0], err)
		}
		if disabled {
			fmt.Fprintf(e.Stdout, "disabled user %s: signed out everywhere, and their password no longer signs in\n", u.Name)
		} else {
			fmt.Fprintf(e.Stdout, "enabled user %s\n", u.Name)
		}
		return nil
	})
}

func runUserSetPassword(ctx context.Context, e *Env, args []string) error {
	fs := newFlags(e, "user set-password")
	fromStdin := fs.Bool("password-stdin", false, "read the password from standard input instead of prompting")
	pos, err := parseArgs(fs, args, 1, "user set-password takes one NAME, as in: mlops user set-password alice")
	if err != nil {
		return err
	}
	name := pos[0]
	return withAccounts(ctx, e, func(st *store.Store) error {
		if _, err := st.UserGet(ctx, name); err != nil {
			return userNotFound(name, err)
		}
		pw, err := readPassword(ctx, e, name, *fromStdin)
		if err != nil {
			return err
		}
		hash := auth.HashPassword(pw)
		u, err := st.UserUpdate(ctx, name, store.UserChange{PasswordHash: &hash})
		if err != nil {
			return userNotFound(name, err)
		}
		fmt.Fprintf(e.Stdout, "changed the password of user %s; they are signed out everywhere\n", u.Name)
		return nil
	})
}

// cliActor is the created_by of a token made on the command line.
func cliActor(e *Env) string {
	if u := e.Getenv("USER"); u != "" {
		return "cli:" + u
	}
	return "cli"
}

func runTokenCreate(ctx context.Context, e *Env, args []string) error {
	fs := newFlags(e, "token create")
	name := fs.String("name", "", "the token's name, such as training-pipeline (required)")
	role := fs.String("role", "", "the token's role: "+roleList()+" (required)")
	expires := fs.String("expires", "", "lifetime, such as 90d, 2w or 12h (default: never expires)")
	if err := parseOnlyFlags(fs, args, "token create", "mlops token create --name ci --role pipeline --expires 90d"); err != nil {
		return err
	}
	if *name == "" {
		return usagef("token create needs --name, as in: mlops token create --name ci --role pipeline")
	}
	if err := parseName("token name", *name); err != nil {
		return err
	}
	r, err := parseRole("--role", *role)
	if err != nil {
		return err
	}
	var lifetime time.Duration
	if *expires != "" {
		lifetime, err = config.ParseDuration(*expires)
		if err != nil {
			return usagef("--expires: %v", err)
		}
		if lifetime <= 0 {
			return usagef("--expires must be greater than zero; leave it out for a token that never expires")
		}
	}
	return withAccounts(ctx, e, func(st *store.Store) error {
		in := store.NewToken{Name: *name, Role: r, CreatedBy: cliActor(e)}
		if lifetime > 0 {
			at := st.Now().Add(lifetime)
			in.ExpiresAt = &at
		}
		secret, hash := auth.NewSecret()
		in.SecretHash = hash
		t, err := st.TokenCreate(ctx, in)
		if err != nil {
			return err
		}
		fmt.Fprintln(e.Stdout, secret)
		until := "never expires"
		if t.ExpiresAt != nil {
			until = "expires " + t.ExpiresAt.Format(time.RFC3339)
		}
		fmt.Fprintf(e.Stderr, "created token %s (role %s, %s); the secret above will not be shown again: store it now, and send it as Authorization: Bearer SECRET\n",
			t.Name, t.Role, until)
		return nil
	})
}

// tokenStatus is a token's state at now: active, expired or revoked.
func tokenStatus(t mlops.Token, now time.Time) string {
	switch {
	case t.RevokedAt != nil:
		return "revoked"
	case !t.Active(now):
		return "expired"
	}
	return "active"
}

func runTokenList(ctx context.Context, e *Env, args []string) error {
	if err := noArgs("token list", args); err != nil {
		return err
	}
	return withAccounts(ctx, e, func(st *store.Store) error {
		tokens, err := st.TokenList(ctx, true)
		if err != nil {
			return err
		}
		if len(tokens) == 0 {
			fmt.Fprintln(e.Stdout, "no tokens yet; create one with mlops token create --name NAME --role ROLE")
			return nil
		}
		orNever := func(t *time.Time) string {
			if t == nil {
				return "never"
			}
			return t.Format(time.RFC3339)
		}
		now := st.Now()
		tw := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tCREATED_BY\tCREATED\tEXPIRES\tLAST_USED\tSTATUS")
		for _, t := range tokens {
			by := t.CreatedBy
			if by == "" {
				by = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.Role, by, t.CreatedAt.Format(time.RFC3339),
				orNever(t.ExpiresAt), orNever(t.LastUsedAt), tokenStatus(t, now))
		}
		return tw.Flush()
	})
}

func runTokenRevoke(ctx context.Context, e *Env, args []string) error {
	pos, err := parseArgs(newFlags(e, "token revoke"), args, 1, "token revoke takes one NAME, as in: mlops token revoke ci")
	if err != nil {
		return err
	}
	return withAccounts(ctx, e, func(st *store.Store) error {
		t, err := st.TokenRevoke(ctx, pos[0])
		if errors.Is(err, mlops.ErrNotFound) {
			return fmt.Errorf("no live token named %s (it may be revoked already); see mlops token list", pos[0])
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "revoked token %s; running servers refuse it within a second\n", t.Name)
		return nil
	})
}
