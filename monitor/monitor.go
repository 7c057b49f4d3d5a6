// Package monitor is the monitoring loop of mlops, over a *store.Store:
// server-side drift checks (choosing the windows, sampling the features,
// PSI and KS per feature, deciding which drifted, filing the report), the
// rules that act on them and on realized performance (thresholds,
// deduplicated alerts, proposed actions), and the periodic run of those
// rules, one model at a time under a lease so that several servers can run
// them at once.
//
// The store keeps what the database guarantees: one open alert per
// condition (AlertRaiseByKey), one holder per lease (LeaseAcquire), the
// audit event of every change. This package decides what to write, and
// writes it through the store's exported API: driftcheck.go, sample.go
// (the bounded feature sample), rules.go and lease.go.
package monitor

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/mlopsdev/mlops/store"
)

// DefaultLeaseTTL is how long a model's rules lease lasts unless renewed.
// The holder renews it every third of that while it works, so a server
// that dies mid-run holds its models for at most this long.
const DefaultLeaseTTL = 30 * time.Second

// Options tune New. The zero value is usable.
type Options struct {
	// Holder names this monitor in the lease rows (rule_leases.holder).
	// Default: host name, process id and a random suffix, so that every
	// process (and every Monitor) is a holder of its own.
	Holder string
	// LeaseTTL is how long a lease lasts unless renewed. Default
	// DefaultLeaseTTL.
	LeaseTTL time.Duration
	// Logger receives failed lease renewals and releases.
	// Default: discard.
	Logger *slog.Logger
}

// Monitor runs drift checks and rules over one store. It is safe for
// concurrent use: two runs of one Monitor never evaluate one model at
// once, any more than two servers do.
type Monitor struct {
	st     *store.Store
	holder string
	ttl    time.Duration
	log    *slog.Logger

	mu   sync.Mutex
	busy map[string]bool // leases this monitor holds

	// beforeFile, when set (tests), runs after a model's rules have read
	// what they need and before they write, with the lease held.
	beforeFile func(modelName string)
}

// New returns a Monitor over st.
func New(st *store.Store, o Options) *Monitor {
	if o.Holder == "" {
		o.Holder = newHolder()
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Monitor{st: st, holder: o.Holder, ttl: o.LeaseTTL, log: o.Logger, busy: map[string]bool{}}
}

// Holder returns the name this monitor holds leases under.
func (m *Monitor) Holder() string { return m.holder }

func newHolder() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "host"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%.64s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}
