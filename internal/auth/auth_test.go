package auth

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

func TestPasswordHash(t *testing.T) {
	h := HashPassword("a long enough password")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q is not argon2id with the documented parameters", h)
	}
	if h == HashPassword("a long enough password") {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	if !CheckPassword(h, "a long enough password") || CheckPassword(h, "a long enough passworD") {
		t.Fatal("CheckPassword accepts a wrong password or refuses the right one")
	}
	for _, bad := range []string{"", "plain", "$argon2id$v=19$m=0,t=1,p=1$AAAA$AAAA", "$argon2i$v=19$m=8,t=1,p=1$AAAA$AAAA"} {
		if CheckPassword(bad, "") {
			t.Errorf("CheckPassword(%q) matched", bad)
		}
	}
}

func TestSecret(t *testing.T) {
	s1, h1 := NewSecret()
	s2, _ := NewSecret()
	if !strings.HasPrefix(s1, TokenPrefix) || len(s1) < 40 || s1 == s2 || h1 != HashSecret(s1) || strings.Contains(h1, s1) {
		t.Fatalf("secrets %q %q, hash %q", s1, s2, h1)
	}
}

func TestLockout(t *testing.T) {
	last := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		n    int
		lock time.Duration
	}{{4, 0}, {5, 30 * time.Second}, {6, time.Minute}, {7, 2 * time.Minute}, {12, FailureWindow}, {50, FailureWindow}} {
		got := lockedUntil(tc.n, last)
		if tc.lock == 0 && !got.IsZero() || tc.lock != 0 && got.Sub(last) != tc.lock {
			t.Errorf("%d failures: locked until +%v, want +%v", tc.n, got.Sub(last), tc.lock)
		}
	}
}

// TestCache: a checked token is trusted for CacheTTL, then checked again
// (a revocation takes effect); the cache never holds more than MaxCached
// entries, whatever callers send.
func TestCache(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			st := storetest.Open(t, engine, store.Options{})
			var offset atomic.Int64
			a := New(st, Options{Mode: ModeRequired, MaxCached: 10,
				Now: func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }})
			secret, hash := NewSecret()
			if _, err := st.TokenCreate(ctx, store.NewToken{Name: "svc", Role: mlops.RolePipeline, SecretHash: hash}); err != nil {
				t.Fatal(err)
			}
			who := func(secret string) (mlops.Principal, error) {
				r := httptest.NewRequest("GET", "/", nil)
				r.Header.Set("Authorization", "Bearer "+secret)
				return a.Authenticate(r)
			}
			if p, err := who(secret); err != nil || p.Name != "svc" || p.Role != mlops.RolePipeline {
				t.Fatalf("token: %+v, %v", p, err)
			}
			if _, err := st.TokenRevoke(ctx, "svc"); err != nil {
				t.Fatal(err)
			}
			if _, err := who(secret); err != nil {
				t.Fatalf("within the cache's second the token still works: %v", err)
			}
			offset.Store(int64(1100 * time.Millisecond))
			if _, err := who(secret); err == nil || !strings.Contains(err.Error(), "revoked") {
				t.Fatalf("after the cache's second: %v, want revoked", err)
			}
			for i := 0; i < 50; i++ {
				s, _ := NewSecret()
				_, _ = who(s) // unknown tokens are cached as refusals
			}
			a.mu.RLock()
			n := len(a.entries)
			a.mu.RUnlock()
			if n > 10 {
				t.Fatalf("the cache holds %d entries, bound 10", n)
			}
		})
	}
}
