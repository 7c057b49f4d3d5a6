// Package config reads mlops's settings from the environment (and a .env
// file in the working directory, which the real environment overrides).
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/joho/godotenv"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/internal/auth"
	"github.com/mlopsdev/mlops/store"
)

// Defaults of docs/api.md.
const (
	DefaultDatabaseURL = "sqlite:///./mlops.db"
	DefaultPoolSize    = 5
	DefaultAddr        = "127.0.0.1:8080"
	DefaultSessionIdle = 12 * time.Hour
	DefaultActionTTL   = 72 * time.Hour
	DefaultProxyRole   = mlops.RoleViewer
	DefaultReplicaLag  = store.DefaultReplicaMaxLag
)

// Config is mlops's configuration.
type Config struct {
	DatabaseURL string // DATABASE_URL
	Echo        bool   // DATABASE_ECHO or database_echo
	PoolSize    int    // DATABASE_POOL_SIZE or database_pool_size
	Addr        string // MLOPS_ADDR

	// ReplicaURLs is DATABASE_REPLICA_URL: PostgreSQL streaming replicas
	// that serve reads which may be slightly stale (docs/operations.md,
	// Replicas). Refused with an SQLite DATABASE_URL.
	ReplicaURLs []string
	// ReplicaMaxLag is MLOPS_REPLICA_MAX_LAG: how far behind the primary a
	// replica may be and still serve reads.
	ReplicaMaxLag time.Duration

	// Auth is MLOPS_AUTH: auto (default), required or off.
	Auth auth.Mode
	// SessionIdle is MLOPS_SESSION_IDLE: a user signed in to the UI is
	// signed out after this long without a request.
	SessionIdle time.Duration
	// MetricsPublic is MLOPS_METRICS_PUBLIC: /metrics and /openapi.json
	// without credentials.
	MetricsPublic bool
	// ProxyHeader is MLOPS_AUTH_PROXY_HEADER: the header a single sign-on
	// proxy sets to the user's name ("" when no proxy is used).
	ProxyHeader string
	// ProxyTrusted is MLOPS_AUTH_PROXY_TRUSTED: the addresses ProxyHeader
	// is believed from. A bare IP is a single-address prefix.
	ProxyTrusted []netip.Prefix
	// ProxyRole is MLOPS_AUTH_PROXY_ROLE: the role of a user the proxy
	// introduces for the first time.
	ProxyRole mlops.Role
	// BootstrapAdmin is MLOPS_BOOTSTRAP_ADMIN: the admin serve creates
	// when no account exists yet.
	BootstrapAdmin string
	// BootstrapPasswordFile is MLOPS_BOOTSTRAP_PASSWORD_FILE: the file
	// holding BootstrapAdmin's password.
	BootstrapPasswordFile string
	// TrustedOrigins is MLOPS_TRUSTED_ORIGINS: other origins
	// ("https://admin.example.com") allowed to send requests that change
	// something.
	TrustedOrigins []string
	// TwoPerson is MLOPS_TWO_PERSON as given: "high", "critical", "none",
	// or "" for the default. Read it through TwoPersonRisk.
	TwoPerson string
	// ActionTTL is MLOPS_ACTION_TTL: a pending action expires after it
	// (0: never).
	ActionTTL time.Duration
	// Partition is MLOPS_PARTITION: the period of the PostgreSQL time
	// partitions created from now on (docs/partitions.md).
	Partition store.PartitionPeriod
}

// TwoPersonRisk returns the lowest risk level whose actions need approvals
// from two different reviewers, or "" when none do. The default is high
// with authentication on; with it off (authOn false) it is always "":
// reviewer names then come from request bodies, so two of them prove
// nothing.
func (c Config) TwoPersonRisk(authOn bool) mlops.RiskLevel {
	if !authOn {
		return ""
	}
	switch c.TwoPerson {
	case "", "high":
		return mlops.RiskHigh
	case "critical":
		return mlops.RiskCritical
	}
	return ""
}

// Load reads the configuration through getenv, after merging a .env file
// from dotenvPath ("" skips it) underneath it.
func Load(getenv func(string) string, dotenvPath string) (Config, error) {
	file := map[string]string{}
	if dotenvPath != "" {
		m, err := godotenv.Read(dotenvPath)
		switch {
		case err == nil:
			file = m
		case errors.Is(err, os.ErrNotExist):
		default:
			return Config{}, fmt.Errorf("read %s: %v (fix the file or remove it)", dotenvPath, err)
		}
	}
	get := func(names ...string) string {
		for _, n := range names {
			if v := getenv(n); v != "" {
				return v
			}
		}
		for _, n := range names {
			if v := file[n]; v != "" {
				return v
			}
		}
		return ""
	}
	c := Config{
		DatabaseURL: DefaultDatabaseURL,
		PoolSize:    DefaultPoolSize,
		Addr:        DefaultAddr,
		Auth:        auth.ModeAuto,
		SessionIdle: DefaultSessionIdle,
		ProxyRole:   DefaultProxyRole,
		ActionTTL:   DefaultActionTTL,
		Partition:   store.PartitionDay,

		ReplicaMaxLag: DefaultReplicaLag,
	}
	if v := get("DATABASE_URL"); v != "" {
		c.DatabaseURL = v
	}
	if v := get("DATABASE_ECHO", "database_echo"); v != "" {
		b, err := parseBool("DATABASE_ECHO", v)
		if err != nil {
			return c, err
		}
		c.Echo = b
	}
	if v := get("DATABASE_POOL_SIZE", "database_pool_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return c, fmt.Errorf("DATABASE_POOL_SIZE=%q must be a whole number from 1 to 1000", v)
		}
		c.PoolSize = n
	}
	if v := get("MLOPS_ADDR"); v != "" {
		c.Addr = v
	}
	if v := get("MLOPS_PARTITION"); v != "" {
		p, err := store.ParsePartitionPeriod(v)
		if err != nil {
			return c, fmt.Errorf("MLOPS_PARTITION=%q must be day, week or month: the time range of one partition", v)
		}
		c.Partition = p
	}
	if err := loadReplicas(&c, get); err != nil {
		return c, err
	}
	if err := loadIdentity(&c, get); err != nil {
		return c, err
	}
	return c, nil
}

// loadReplicas reads DATABASE_REPLICA_URL (one URL, or several separated by
// commas) and MLOPS_REPLICA_MAX_LAG.
func loadReplicas(c *Config, get func(names ...string) string) error {
	if v := get("MLOPS_REPLICA_MAX_LAG"); v != "" {
		d, err := ParseDuration(v)
		if err != nil || d < store.MinReplicaMaxLag {
			return fmt.Errorf("MLOPS_REPLICA_MAX_LAG=%q must be a duration of at least %s, such as 5s or 30s (the lag is measured once a second)", v, store.MinReplicaMaxLag)
		}
		c.ReplicaMaxLag = d
	}
	v := get("DATABASE_REPLICA_URL")
	for _, u := range strings.Split(v, ",") {
		if u = strings.TrimSpace(u); u == "" {
			continue
		}
		t, err := store.ParseURL(u)
		if err != nil || t.Engine != store.Postgres {
			return fmt.Errorf("DATABASE_REPLICA_URL: %s is not a PostgreSQL URL; use postgresql://user:pass@host:5432/db, several separated by commas", store.RedactURL(u))
		}
		c.ReplicaURLs = append(c.ReplicaURLs, u)
	}
	if len(c.ReplicaURLs) == 0 {
		return nil
	}
	if t, err := store.ParseURL(c.DatabaseURL); err == nil && t.Engine == store.SQLite {
		return errors.New("DATABASE_REPLICA_URL is set but DATABASE_URL is an SQLite database: read replicas are a PostgreSQL feature; unset DATABASE_REPLICA_URL, or point DATABASE_URL at PostgreSQL")
	}
	return nil
}

// loadIdentity reads the settings of accounts and approvals (docs/auth.md
// and docs/audit.md).
func loadIdentity(c *Config, get func(names ...string) string) error {
	var err error
	if c.Auth, err = auth.ParseMode(get("MLOPS_AUTH")); err != nil {
		return err
	}
	if v := get("MLOPS_SESSION_IDLE"); v != "" {
		d, err := ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("MLOPS_SESSION_IDLE=%q must be a duration greater than zero, such as 12h, 30m or 1d", v)
		}
		c.SessionIdle = d
	}
	if v := get("MLOPS_METRICS_PUBLIC"); v != "" {
		if c.MetricsPublic, err = parseBool("MLOPS_METRICS_PUBLIC", v); err != nil {
			return err
		}
	}

	c.ProxyHeader = strings.TrimSpace(get("MLOPS_AUTH_PROXY_HEADER"))
	if c.ProxyHeader != "" && !isHeaderName(c.ProxyHeader) {
		return fmt.Errorf("MLOPS_AUTH_PROXY_HEADER=%q is not a header name; use letters, digits and dashes, such as X-Forwarded-Email", c.ProxyHeader)
	}
	if v := get("MLOPS_AUTH_PROXY_TRUSTED"); v != "" {
		if c.ProxyTrusted, err = parsePrefixes(v); err != nil {
			return err
		}
	}
	switch {
	case c.ProxyHeader != "" && len(c.ProxyTrusted) == 0:
		return errors.New("MLOPS_AUTH_PROXY_HEADER is set but MLOPS_AUTH_PROXY_TRUSTED is empty, so the header would never count; set MLOPS_AUTH_PROXY_TRUSTED to the proxy's addresses (CIDRs or IPs, comma-separated)")
	case c.ProxyHeader == "" && len(c.ProxyTrusted) > 0:
		return errors.New("MLOPS_AUTH_PROXY_TRUSTED is set but MLOPS_AUTH_PROXY_HEADER is not; set the header the proxy sends the user's name in, such as X-Forwarded-Email")
	}
	if v := get("MLOPS_AUTH_PROXY_ROLE"); v != "" {
		r := mlops.Role(strings.ToLower(strings.TrimSpace(v)))
		if !r.Valid() {
			return fmt.Errorf("MLOPS_AUTH_PROXY_ROLE=%q is not a role; use one of %s", v, roleList())
		}
		c.ProxyRole = r
	}

	c.BootstrapAdmin = strings.TrimSpace(get("MLOPS_BOOTSTRAP_ADMIN"))
	c.BootstrapPasswordFile = strings.TrimSpace(get("MLOPS_BOOTSTRAP_PASSWORD_FILE"))
	if c.BootstrapAdmin != "" {
		if fe := mlops.ValidateAccountName("MLOPS_BOOTSTRAP_ADMIN", c.BootstrapAdmin); fe != nil {
			return fmt.Errorf("MLOPS_BOOTSTRAP_ADMIN %s", fe.Message)
		}
		if c.BootstrapPasswordFile == "" {
			return errors.New("MLOPS_BOOTSTRAP_ADMIN is set but MLOPS_BOOTSTRAP_PASSWORD_FILE is not; point it at a file holding the admin's password (at least 12 characters)")
		}
	}

	if v := get("MLOPS_TRUSTED_ORIGINS"); v != "" {
		if c.TrustedOrigins, err = parseOrigins(v); err != nil {
			return err
		}
	}

	c.TwoPerson = strings.ToLower(strings.TrimSpace(get("MLOPS_TWO_PERSON")))
	switch c.TwoPerson {
	case "", "high", "critical", "none":
	default:
		return fmt.Errorf("MLOPS_TWO_PERSON=%q is not valid; use high (two reviewers for high and critical actions), critical (for critical ones only) or none", c.TwoPerson)
	}
	if v := get("MLOPS_ACTION_TTL"); v != "" {
		d, err := ParseDuration(v)
		if err != nil {
			return fmt.Errorf("MLOPS_ACTION_TTL=%q is not a duration; use forms like 72h, 3d or 1w, or 0 for never", v)
		}
		c.ActionTTL = d
	}
	return nil
}

func parseBool(name, v string) (bool, error) {
	b, err := strconv.ParseBool(strings.ToLower(strings.TrimSpace(v)))
	if err != nil {
		return false, fmt.Errorf("%s=%q is not a boolean; use true or false", name, v)
	}
	return b, nil
}

func roleList() string {
	s := make([]string, len(mlops.Roles))
	for i, r := range mlops.Roles {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

// isHeaderName reports whether s is an HTTP header name (an RFC 9110 token).
func isHeaderName(s string) bool {
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", r):
		default:
			return false
		}
	}
	return s != ""
}

// parsePrefixes reads MLOPS_AUTH_PROXY_TRUSTED: comma-separated CIDRs or
// bare IPs.
func parsePrefixes(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("MLOPS_AUTH_PROXY_TRUSTED: %q is not a CIDR; use forms like 10.0.0.0/8, 192.168.1.7 or fd00::/8", s)
			}
			out = append(out, p.Masked())
			continue
		}
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("MLOPS_AUTH_PROXY_TRUSTED: %q is not an IP address or CIDR; use forms like 10.0.0.0/8, 192.168.1.7 or fd00::/8", s)
		}
		ip = ip.Unmap().WithZone("")
		out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return out, nil
}

// parseOrigins reads MLOPS_TRUSTED_ORIGINS: comma-separated origins,
// scheme://host[:port], returned in lower case without a trailing slash.
func parseOrigins(v string) ([]string, error) {
	var out []string
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("MLOPS_TRUSTED_ORIGINS: %q is not an origin; use scheme://host[:port], such as https://admin.example.com", s)
		}
		out = append(out, strings.ToLower(u.Scheme+"://"+u.Host))
	}
	return out, nil
}

// maxDuration bounds ParseDuration, far below time.Duration's limit.
const maxDuration = 100 * 365 * 24 * time.Hour

// ParseDuration reads a duration that also accepts weeks and days before
// the units of time.ParseDuration: "2w", "90d", "1d12h", "36h", "0". It
// rejects negative durations and ones over 100 years.
func ParseDuration(s string) (time.Duration, error) {
	orig := s
	bad := fmt.Errorf("%q is not a duration; use forms like 12h, 90d, 2w or 1d12h", orig)
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, bad
	}
	var total time.Duration
	for _, u := range []struct {
		c    byte
		unit time.Duration
	}{{'w', 7 * 24 * time.Hour}, {'d', 24 * time.Hour}} {
		i := strings.IndexByte(s, u.c)
		if i < 0 {
			continue
		}
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil || n < 0 || n > int64(maxDuration/u.unit) {
			return 0, bad
		}
		total += time.Duration(n) * u.unit
		s = s[i+1:]
	}
	if s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 || d > maxDuration {
			return 0, bad
		}
		total += d
	}
	if total > maxDuration {
		return 0, fmt.Errorf("%q is longer than 100 years", orig)
	}
	return total, nil
}
