// Package cli implements the mlops command line. Run is the whole program
// minus os.Exit, so every command can be tested in-process.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"text/tabwriter"

	"go.opentelemetry.io/otel/trace"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/internal/auth"
	"github.com/mlopsdev/mlops/internal/config"
	"github.com/mlopsdev/mlops/store"
)

// Build information, set with -ldflags "-X ...".
var (
	Version = "dev"
	Commit  = "unknown"
)

// Env is what every command gets: the configuration, output streams and a
// logger.
type Env struct {
	Config config.Config
	Stdout io.Writer
	Stderr io.Writer
	// Stdin is where --password-stdin reads from: os.Stdin in the binary.
	Stdin  io.Reader
	Logger *slog.Logger
	Getenv func(string) string
	// TracerProvider traces the store's statements (mlops serve with an
	// OTLP endpoint set); nil: not traced.
	TracerProvider trace.TracerProvider
	// ReadReplicas sends the reads that may be slightly stale to the
	// replicas of DATABASE_REPLICA_URL (mlops serve); the other commands
	// read from the primary only.
	ReadReplicas bool
}

// OpenStore opens the configured database without migrating it.
func (e *Env) OpenStore(ctx context.Context) (*store.Store, error) {
	st, err := e.openStore(ctx)
	if err != nil {
		return nil, openError(e, err)
	}
	return st, nil
}

func (e *Env) openStore(ctx context.Context) (*store.Store, error) {
	var replicas []string
	if e.ReadReplicas {
		replicas = e.Config.ReplicaURLs
	}
	return store.Open(ctx, e.Config.DatabaseURL, store.Options{
		PoolSize: e.Config.PoolSize,
		Echo:     e.Config.Echo,
		Logger:   e.Logger,
		Approvals: mlops.ApprovalPolicy{
			TwoPersonFrom: e.Config.TwoPersonRisk(e.Config.Auth != auth.ModeOff),
			TTL:           e.Config.ActionTTL,
		},
		TracerProvider: e.TracerProvider,
		Replicas:       replicas,
		ReplicaMaxLag:  e.Config.ReplicaMaxLag,
	})
}

// command is one subcommand. args excludes the command's own name(s).
type command struct {
	run   func(ctx context.Context, e *Env, args []string) error
	usage string
}

// commands maps "name" or "group name" to its implementation.
var commands = map[string]command{
	"serve":              {runServe, "serve [--addr HOST:PORT] [--tls-cert FILE --tls-key FILE] [...]\tserve the API, the admin UI and /metrics; mlops serve -h lists every flag"},
	"db init":            {runDBInit, "db init\tcreate every table (idempotent)"},
	"migrate upgrade":    {runUpgrade, "migrate upgrade [REV]\tapply migrations up to REV (default head)"},
	"migrate downgrade":  {runDowngrade, "migrate downgrade [REV]\troll back one migration, or down to REV (base: all)"},
	"migrate current":    {runCurrent, "migrate current\tprint the revision the database is at"},
	"migrate history":    {runHistory, "migrate history\tlist revisions, marking the applied ones"},
	"migrate create":     {runCreate, "migrate create \"message\" [--dir DIR]\twrite a new empty migration for each engine"},
	"migrate check":      {runCheck, "migrate check\tfail when the schema drifted or migrations are pending"},
	"drift check":        {runDriftCheck, "drift check MODEL_ID [--json] [...]\tcompare a model's recent predictions with a reference window (PSI, KS)"},
	"rules run":          {runRulesRun, "rules run\trun the drift and performance rules once"},
	"audit verify":       {runAuditVerify, "audit verify [--from ID]\tcheck the audit log's hash chain; exit 1 naming the first bad event"},
	"prune":              {runPrune, "prune --older-than 90d [--what KINDS] [--batch N]\tdelete old rows (the audit log only with --what audit)"},
	"import predictions": {runImportPredictions, "import predictions FILE|- [--batch N]\tload predictions from JSON Lines (one POST /api/v1/predictions body a line), 10,000 a transaction"},
	"partitions list":    {runPartitionsList, "partitions list [--exact]\tlist the PostgreSQL time partitions: range, rows (an estimate unless --exact), size"},
	"partitions ensure":  {runPartitionsEnsure, "partitions ensure [--ahead 7]\tcreate the missing partitions of the current and the next periods (MLOPS_PARTITION)"},
	"partitions migrate": {runPartitionsMigrate, "partitions migrate [--batch 10000] [--past 100]\tconvert predictions and performance_metrics to time partitions, resumably"},
	"import metrics":     {runImportMetrics, "import metrics FILE|- [--batch N]\tload metric points from JSON Lines (one POST /api/v1/metrics body a line), 10,000 a transaction"},
	"version":            {runVersion, "version\tprint version, commit and Go version"},
	"user create":        {runUserCreate, "user create NAME --role ROLE [--password-stdin]\tcreate a user (password prompted, or read from standard input)"},
	"user list":          {runUserList, "user list\tlist users: name, role, source, disabled, created"},
	"user set-role":      {runUserSetRole, "user set-role NAME ROLE\tchange a user's role"},
	"user disable":       {runUserDisable, "user disable NAME\tstop a user from signing in, and sign them out"},
	"user enable":        {runUserEnable, "user enable NAME\tlet a disabled user sign in again"},
	"user set-password":  {runUserSetPassword, "user set-password NAME [--password-stdin]\tchange a user's password, and sign them out"},
	"token create":       {runTokenCreate, "token create --name NAME --role ROLE [--expires 90d]\tcreate a token for a program; prints its secret once"},
	"token list":         {runTokenList, "token list\tlist tokens (never their secrets) with their status"},
	"token revoke":       {runTokenRevoke, "token revoke NAME\trevoke a token"},
}

// Run executes the command line args (without the program name) and
// returns the exit code. Errors are printed as one line on stderr.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "--version" {
		args = append([]string{"version"}, args[1:]...)
	}
	cmd, rest, ok := lookup(args)
	if !ok {
		if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
			usage(stdout)
			return 0
		}
		if sub := group(args[0]); len(sub) > 0 && (len(args) == 1 || strings.HasPrefix(args[1], "-")) {
			// A group alone (mlops migrate): its commands.
			fmt.Fprintf(stdout, "mlops %s: one of these commands\n\n", args[0])
			tw := tabwriter.NewWriter(stdout, 0, 0, 3, ' ', 0)
			for _, n := range sub {
				fmt.Fprintln(tw, "  mlops "+commands[n].usage)
			}
			tw.Flush()
			return 0
		}
		msg := fmt.Sprintf("mlops: unknown command %q", strings.Join(args, " "))
		if near := nearest(args); near != "" {
			msg += fmt.Sprintf("; did you mean mlops %s?", near)
		}
		fmt.Fprintln(stderr, msg+" (mlops help lists every command)")
		return 2
	}
	if cmd.run == nil {
		fmt.Fprintln(stderr, "mlops: this command is not available in this build")
		return 1
	}
	cfg, err := config.Load(getenv, ".env")
	if err != nil {
		fmt.Fprintln(stderr, "mlops: "+oneLine(err.Error()))
		return 1
	}
	e := &Env{
		Config: cfg,
		Stdout: stdout,
		Stderr: stderr,
		Stdin:  stdin,
		Logger: slog.New(slog.NewTextHandler(stderr, nil)),
		Getenv: getenv,
	}
	// Changes made by a command are recorded in the audit log under the
	// operating-system user who ran it.
	ctx = store.WithActor(ctx, store.Actor{Name: cliActor(e), Kind: mlops.KindSystem})
	if err := cmd.run(ctx, e, rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintln(stderr, "mlops: "+oneLine(ue.Error()))
			return 2
		}
		fmt.Fprintln(stderr, "mlops: "+oneLine(redact(err.Error(), cfg.DatabaseURL)))
		return 1
	}
	return 0
}

func lookup(args []string) (command, []string, bool) {
	if len(args) >= 2 {
		if c, ok := commands[args[0]+" "+args[1]]; ok {
			return c, args[2:], true
		}
	}
	if len(args) >= 1 {
		if c, ok := commands[args[0]]; ok {
			return c, args[1:], true
		}
	}
	return command{}, nil, false
}

// group returns the commands of a group ("migrate": "migrate upgrade", ...),
// sorted; nil when name is no group.
func group(name string) []string {
	var out []string
	for n := range commands {
		if g, _, ok := strings.Cut(n, " "); ok && g == name {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// nearest names the command closest to what was typed (one or two
// words), when it is within two edits of a typo.
func nearest(args []string) string {
	best, bestD := "", 3
	for n := range commands {
		words := strings.Fields(n)
		typed := strings.Join(args[:min(len(words), len(args))], " ")
		if d := editDistance(typed, n); d < bestD || (d == bestD && n < best) {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "mlops: the persistence layer and control plane of an MLOps platform")
	fmt.Fprintln(w, "\nUsage: mlops COMMAND\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	for _, n := range names {
		fmt.Fprintln(tw, "  mlops "+commands[n].usage)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nEnvironment: DATABASE_URL (default sqlite:///./mlops.db), DATABASE_ECHO, DATABASE_POOL_SIZE, MLOPS_ADDR,\n"+
		"MLOPS_AUTH (auto, required, off), MLOPS_SESSION_IDLE, MLOPS_METRICS_PUBLIC, MLOPS_TRUSTED_ORIGINS,\n"+
		"MLOPS_AUTH_PROXY_HEADER, MLOPS_AUTH_PROXY_TRUSTED, MLOPS_AUTH_PROXY_ROLE, MLOPS_BOOTSTRAP_ADMIN,\n"+
		"MLOPS_BOOTSTRAP_PASSWORD_FILE, MLOPS_TWO_PERSON, MLOPS_ACTION_TTL, MLOPS_PARTITION; a .env file is read too.")
}

// usageError is a mistake in the command line (exit code 2).
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(e *Env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("mlops "+name, flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	return fs
}

// parseFlags parses args, allowing flags after positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// parseArgs is parseFlags for a command that takes exactly n positional
// arguments; any other number is the usage error format and a describe.
func parseArgs(fs *flag.FlagSet, args []string, n int, format string, a ...any) ([]string, error) {
	pos, err := parseFlags(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) != n {
		return nil, usagef(format, a...)
	}
	return pos, nil
}

// parseOnlyFlags is parseFlags for command cmd, which takes only flags: a
// positional argument is a usage error, followed by example when there is
// one.
func parseOnlyFlags(fs *flag.FlagSet, args []string, cmd, example string) error {
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		if example != "" {
			example = "; as in: " + example
		}
		return usagef("%s takes only flags, got %q%s", cmd, strings.Join(pos, " "), example)
	}
	return nil
}

// redact removes the password of the configured URL from a message.
func redact(msg, rawURL string) string {
	t, err := store.ParseURL(rawURL)
	if err != nil || t.Engine != store.Postgres {
		return msg
	}
	if i := strings.Index(t.URL, "://"); i >= 0 {
		if j := strings.LastIndexByte(t.URL, '@'); j > i {
			if _, pw, ok := strings.Cut(t.URL[i+3:j], ":"); ok && pw != "" {
				msg = strings.ReplaceAll(msg, pw, "xxxxx")
			}
		}
	}
	return msg
}

// oneLine joins a multi-line error into one line and drops a run of text
// that repeats right after itself (pgx reports each connection attempt,
// often the same twice).
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	for l := len(s) / 2; l >= 20; l-- {
		for i := 0; i+2*l+1 <= len(s); i++ {
			if s[i+l] == ' ' && s[i:i+l] == s[i+l+1:i+2*l+1] {
				s = s[:i+l] + s[i+2*l+1:]
				l = min(l+1, len(s)/2+1) // look again at this length
				break
			}
		}
	}
	return s
}

// openError explains a failure to open the configured database: the hint
// to check the server is for PostgreSQL only (SQLite's errors say what to
// do themselves).
func openError(e *Env, err error) error {
	if t, perr := store.ParseURL(e.Config.DatabaseURL); perr == nil && t.Engine == store.Postgres {
		return fmt.Errorf("%w (check DATABASE_URL, and that the server runs: pg_isready -h HOST -p PORT)", err)
	}
	return err
}
