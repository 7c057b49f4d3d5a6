package config

import (
	"os"
	"path/filepath"
	"testing"
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
