package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/internal/auth"
	"github.com/mlopsdev/mlops/store"
)

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	dotenv := filepath.Join(dir, ".env")
	if err := os.WriteFile(dotenv, []byte("DATABASE_URL=postgresql://mlops:mlops@db:5432/mlops\ndatabase_pool_size=9\nDATABASE_ECHO=true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DATABASE_POOL_SIZE": "3"}
	c, err := Load(func(k string) string { return env[k] }, dotenv)
	if err != nil {
		t.Fatal(err)
	}
	if c.DatabaseURL != "postgresql://mlops:mlops@db:5432/mlops" || !c.Echo || c.PoolSize != 3 || c.Addr != DefaultAddr {
		t.Fatalf("got %+v; want URL and echo from .env, pool size 3 from the environment (it wins), default addr", c)
	}

	c, err = Load(func(string) string { return "" }, filepath.Join(dir, "missing.env"))
	if err != nil || c.DatabaseURL != DefaultDatabaseURL || c.PoolSize != DefaultPoolSize || c.Echo {
		t.Fatalf("defaults: %+v, %v", c, err)
	}

	for k, v := range map[string]string{"DATABASE_POOL_SIZE": "0", "database_pool_size": "many", "DATABASE_ECHO": "maybe"} {
		env := map[string]string{k: v}
		if _, err := Load(func(n string) string { return env[n] }, ""); err == nil {
			t.Errorf("%s=%s accepted; want an error", k, v)
		}
	}
}

func load(t *testing.T, env map[string]string) (Config, error) {
	t.Helper()
	return Load(func(k string) string { return env[k] }, "")
}

func TestLoadIdentityDefaults(t *testing.T) {
	c, err := load(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Auth != auth.ModeAuto || c.SessionIdle != 12*time.Hour || c.MetricsPublic || c.ProxyHeader != "" ||
		c.ProxyTrusted != nil || c.ProxyRole != mlops.RoleViewer || c.BootstrapAdmin != "" || c.TrustedOrigins != nil ||
		c.TwoPerson != "" || c.ActionTTL != 72*time.Hour {
		t.Fatalf("defaults: %+v", c)
	}
	if got := c.TwoPersonRisk(true); got != mlops.RiskHigh {
		t.Errorf("default two-person with auth on: %q, want high", got)
	}
	if got := c.TwoPersonRisk(false); got != "" {
		t.Errorf("default two-person with auth off: %q, want none", got)
	}
}

func TestLoadIdentity(t *testing.T) {
	env := map[string]string{
		"MLOPS_AUTH":                    "Required",
		"MLOPS_SESSION_IDLE":            "1d2h",
		"MLOPS_METRICS_PUBLIC":          "TRUE",
		"MLOPS_AUTH_PROXY_HEADER":       "X-Forwarded-Email",
		"MLOPS_AUTH_PROXY_TRUSTED":      "10.1.2.3/8, 192.168.1.7,fd00::/8,",
		"MLOPS_AUTH_PROXY_ROLE":         "reviewer",
		"MLOPS_BOOTSTRAP_ADMIN":         "root",
		"MLOPS_BOOTSTRAP_PASSWORD_FILE": "/run/secrets/pw",
		"MLOPS_TRUSTED_ORIGINS":         "https://Admin.example.com/, http://localhost:3000",
		"MLOPS_TWO_PERSON":              "critical",
		"MLOPS_ACTION_TTL":              "3d",
	}
	c, err := load(t, env)
	if err != nil {
		t.Fatal(err)
	}
	wantPrefixes := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"), netip.MustParsePrefix("fd00::/8"),
	}
	if c.Auth != auth.ModeRequired || c.SessionIdle != 26*time.Hour || !c.MetricsPublic ||
		c.ProxyHeader != "X-Forwarded-Email" || !slices.Equal(c.ProxyTrusted, wantPrefixes) ||
		c.ProxyRole != mlops.RoleReviewer || c.BootstrapAdmin != "root" || c.BootstrapPasswordFile != "/run/secrets/pw" ||
		!slices.Equal(c.TrustedOrigins, []string{"https://admin.example.com", "http://localhost:3000"}) ||
		c.TwoPerson != "critical" || c.ActionTTL != 72*time.Hour {
		t.Fatalf("got %+v", c)
	}
	if got := c.TwoPersonRisk(true); got != mlops.RiskCritical {
		t.Errorf("MLOPS_TWO_PERSON=critical: %q", got)
	}
	if !c.ProxyTrusted[1].Contains(netip.MustParseAddr("192.168.1.7")) || c.ProxyTrusted[1].Contains(netip.MustParseAddr("192.168.1.8")) {
		t.Errorf("a bare IP must trust that address only: %v", c.ProxyTrusted[1])
	}

	for v, want := range map[string]mlops.RiskLevel{"none": "", "high": mlops.RiskHigh, " HIGH ": mlops.RiskHigh} {
		c, err := load(t, map[string]string{"MLOPS_TWO_PERSON": v})
		if err != nil || c.TwoPersonRisk(true) != want || c.TwoPersonRisk(false) != "" {
			t.Errorf("MLOPS_TWO_PERSON=%q: %q, %v; want %q with auth on, none with it off", v, c.TwoPersonRisk(true), err, want)
		}
	}
	for v, want := range map[string]time.Duration{"0": 0, "72h": 72 * time.Hour, "1w": 7 * 24 * time.Hour, "90m": 90 * time.Minute} {
		c, err := load(t, map[string]string{"MLOPS_ACTION_TTL": v})
		if err != nil || c.ActionTTL != want {
			t.Errorf("MLOPS_ACTION_TTL=%s: %v, %v; want %v", v, c.ActionTTL, err, want)
		}
	}
	if c, err := load(t, map[string]string{"MLOPS_AUTH": "off"}); err != nil || c.Auth != auth.ModeOff {
		t.Errorf("MLOPS_AUTH=off: %q, %v", c.Auth, err)
	}
}

// TestLoadIdentityErrors: every bad value is refused with an error that
// names the variable and what is valid.
func TestLoadIdentityErrors(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want []string
	}{
		{map[string]string{"MLOPS_AUTH": "maybe"}, []string{"MLOPS_AUTH", "auto, required or off"}},
		{map[string]string{"MLOPS_SESSION_IDLE": "soon"}, []string{"MLOPS_SESSION_IDLE", "12h"}},
		{map[string]string{"MLOPS_SESSION_IDLE": "0"}, []string{"MLOPS_SESSION_IDLE", "greater than zero"}},
		{map[string]string{"MLOPS_SESSION_IDLE": "-1h"}, []string{"MLOPS_SESSION_IDLE"}},
		{map[string]string{"MLOPS_METRICS_PUBLIC": "yes please"}, []string{"MLOPS_METRICS_PUBLIC", "true or false"}},
		{map[string]string{"MLOPS_AUTH_PROXY_HEADER": "X Email", "MLOPS_AUTH_PROXY_TRUSTED": "10.0.0.1"}, []string{"MLOPS_AUTH_PROXY_HEADER", "header name"}},
		{map[string]string{"MLOPS_AUTH_PROXY_HEADER": "X-Email"}, []string{"MLOPS_AUTH_PROXY_TRUSTED", "is empty"}},
		{map[string]string{"MLOPS_AUTH_PROXY_TRUSTED": "10.0.0.1"}, []string{"MLOPS_AUTH_PROXY_HEADER", "is not"}},
		{map[string]string{"MLOPS_AUTH_PROXY_HEADER": "X-Email", "MLOPS_AUTH_PROXY_TRUSTED": "10.0.0.0/33"}, []string{"MLOPS_AUTH_PROXY_TRUSTED", `"10.0.0.0/33"`, "CIDR"}},
		{map[string]string{"MLOPS_AUTH_PROXY_HEADER": "X-Email", "MLOPS_AUTH_PROXY_TRUSTED": "proxy.local"}, []string{"MLOPS_AUTH_PROXY_TRUSTED", `"proxy.local"`, "IP address"}},
		{map[string]string{"MLOPS_AUTH_PROXY_ROLE": "boss"}, []string{"MLOPS_AUTH_PROXY_ROLE", "viewer, pipeline, agent, reviewer, admin"}},
		{map[string]string{"MLOPS_BOOTSTRAP_ADMIN": "root"}, []string{"MLOPS_BOOTSTRAP_PASSWORD_FILE"}},
		{map[string]string{"MLOPS_BOOTSTRAP_ADMIN": "ro ot", "MLOPS_BOOTSTRAP_PASSWORD_FILE": "/pw"}, []string{"MLOPS_BOOTSTRAP_ADMIN", "spaces"}},
		{map[string]string{"MLOPS_TRUSTED_ORIGINS": "admin.example.com"}, []string{"MLOPS_TRUSTED_ORIGINS", "scheme://host"}},
		{map[string]string{"MLOPS_TRUSTED_ORIGINS": "https://a.example.com/path"}, []string{"MLOPS_TRUSTED_ORIGINS", `"https://a.example.com/path"`}},
		{map[string]string{"MLOPS_TWO_PERSON": "always"}, []string{"MLOPS_TWO_PERSON", "high", "critical", "none"}},
		{map[string]string{"MLOPS_ACTION_TTL": "3 days"}, []string{"MLOPS_ACTION_TTL", "3d", "0 for never"}},
		{map[string]string{"MLOPS_ACTION_TTL": "-3d"}, []string{"MLOPS_ACTION_TTL"}},
	} {
		_, err := load(t, tc.env)
		if err == nil {
			t.Errorf("%v accepted; want an error", tc.env)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q lacks %q", tc.env, err, w)
			}
		}
	}
}

func TestParseDuration(t *testing.T) {
	for s, want := range map[string]time.Duration{
		"0": 0, "12h": 12 * time.Hour, "90d": 90 * 24 * time.Hour, "2w": 14 * 24 * time.Hour,
		"1w1d": 8 * 24 * time.Hour, "1d12h": 36 * time.Hour, "30m": 30 * time.Minute, " 3d ": 72 * time.Hour,
	} {
		if got, err := ParseDuration(s); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "d", "5", "1d1w", "-1d", "1d-2h", "3 days", "1.5d", "99999999999d", "200000w", "1000000h"} {
		if got, err := ParseDuration(s); err == nil {
			t.Errorf("ParseDuration(%q) = %v; want an error", s, got)
		}
	}
}

func TestLoadReplicas(t *testing.T) {
	const pg = "postgresql://mlops:secret@db:5432/mlops"
	c, err := load(t, map[string]string{"DATABASE_URL": pg,
		"DATABASE_REPLICA_URL": " postgresql://mlops:secret@r1:5432/mlops , ,postgres://mlops:secret@r2:5433/mlops"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"postgresql://mlops:secret@r1:5432/mlops", "postgres://mlops:secret@r2:5433/mlops"}
	if !slices.Equal(c.ReplicaURLs, want) || c.ReplicaMaxLag != 5*time.Second {
		t.Fatalf("replicas %q, max lag %s; want %q and the default 5s", c.ReplicaURLs, c.ReplicaMaxLag, want)
	}
	c, err = load(t, map[string]string{"DATABASE_URL": pg, "MLOPS_REPLICA_MAX_LAG": "30s"})
	if err != nil || c.ReplicaMaxLag != 30*time.Second || c.ReplicaURLs != nil {
		t.Fatalf("MLOPS_REPLICA_MAX_LAG=30s: %+v, %v", c, err)
	}

	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"DATABASE_REPLICA_URL": "postgresql://r1/mlops"}, "read replicas are a PostgreSQL feature"},
		{map[string]string{"DATABASE_URL": "sqlite:////data/x.db", "DATABASE_REPLICA_URL": "postgresql://r1/mlops"}, "unset DATABASE_REPLICA_URL"},
		{map[string]string{"DATABASE_URL": pg, "DATABASE_REPLICA_URL": "sqlite:///r.db"}, "is not a PostgreSQL URL"},
		{map[string]string{"DATABASE_URL": pg, "DATABASE_REPLICA_URL": "mysql://u:hunter2@r1/db"}, "is not a PostgreSQL URL"},
		{map[string]string{"DATABASE_URL": pg, "MLOPS_REPLICA_MAX_LAG": "500ms"}, "at least 1s"},
		{map[string]string{"DATABASE_URL": pg, "MLOPS_REPLICA_MAX_LAG": "soon"}, "at least 1s"},
	} {
		_, err := load(t, tc.env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v; want one saying %q", tc.env, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%v: the error shows the password: %v", tc.env, err)
		}
	}
}

func TestLoadPartition(t *testing.T) {
	c, err := load(t, nil)
	if err != nil || c.Partition != store.PartitionDay {
		t.Fatalf("default: %q, %v; want day", c.Partition, err)
	}
	c, err = load(t, map[string]string{"MLOPS_PARTITION": "Week"})
	if err != nil || c.Partition != store.PartitionWeek {
		t.Fatalf("Week: %q, %v", c.Partition, err)
	}
	if _, err := load(t, map[string]string{"MLOPS_PARTITION": "hour"}); err == nil || !strings.Contains(err.Error(), "day, week or month") {
		t.Fatalf("hour: %v; want an error naming the periods", err)
	}
}
