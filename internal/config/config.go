// Package config reads mlops's settings from the environment (and a .env
// file in the working directory, which the real environment overrides).
package config

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/joho/godotenv"
)

// Defaults of API.md.
const (
	DefaultDatabaseURL = "sqlite:///./mlops.db"
	DefaultPoolSize    = 5
	DefaultAddr        = "127.0.0.1:8080"
)

// Config is mlops's configuration.
type Config struct {
	DatabaseURL string // DATABASE_URL
	Echo        bool   // DATABASE_ECHO or database_echo
	PoolSize    int    // DATABASE_POOL_SIZE or database_pool_size
	Addr        string // MLOPS_ADDR
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
	c := Config{DatabaseURL: DefaultDatabaseURL, PoolSize: DefaultPoolSize, Addr: DefaultAddr}
	if v := get("DATABASE_URL"); v != "" {
		c.DatabaseURL = v
	}
	if v := get("DATABASE_ECHO", "database_echo"); v != "" {
		b, err := strconv.ParseBool(strings.ToLower(v))
		if err != nil {
			return c, fmt.Errorf("DATABASE_ECHO=%q is not a boolean; use true or false", v)
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
	return c, nil
}
