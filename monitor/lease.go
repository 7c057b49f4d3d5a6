package monitor

import (
	"context"
	"errors"
	"time"

	"github.com/mlopsdev/mlops/store"
)

// The rules of each model run under a lease of their own, the row
// "rules/<model name>" of rule_leases (store.LeaseAcquire): the same SQL on
// both engines, so it works the same across servers on one PostgreSQL
// database and across processes on one SQLite file. The holder renews it
// every third of its duration while it works, takes it once more as the
// first statement of the transaction that writes the model's report and
// alerts (on PostgreSQL that locks the row until the commit, so no other
// holder can take the lease in between), and releases it at the end. A
// server that finds a model's lease held by another holder skips that
// model; one that dies leaves the lease to expire.

// errLeaseLost reports that a model's lease passed to another holder
// before its rules wrote anything.
var errLeaseLost = errors.New("the lease passed to another holder")

func leaseName(modelName string) string { return "rules/" + modelName }

// lease is a held lease and the goroutine that renews it.
type lease struct {
	m    *Monitor
	name string
	stop chan struct{}
	done chan struct{}
}

// hold takes the lease name for this monitor, or returns nil when another
// holder (or another run of this monitor) has it.
func (m *Monitor) hold(ctx context.Context, name string) (*lease, error) {
	m.mu.Lock()
	if m.busy[name] {
		m.mu.Unlock()
		return nil, nil
	}
	m.busy[name] = true
	m.mu.Unlock()
	ok, err := m.st.LeaseAcquire(ctx, name, m.holder, m.ttl)
	if err != nil || !ok {
		m.unbusy(name)
		return nil, err
	}
	l := &lease{m: m, name: name, stop: make(chan struct{}), done: make(chan struct{})}
	go l.renew(context.WithoutCancel(ctx))
	return l, nil
}

func (m *Monitor) unbusy(name string) {
	m.mu.Lock()
	delete(m.busy, name)
	m.mu.Unlock()
}

// renew takes the lease again every third of its duration until release.
// A renewal that finds the lease gone is logged; the fence in the writing
// transaction is what keeps a lost lease from writing.
func (l *lease) renew(ctx context.Context) {
	defer close(l.done)
	t := time.NewTicker(l.m.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		ok, err := l.m.st.LeaseAcquire(ctx, l.name, l.m.holder, l.m.ttl)
		switch {
		case err != nil:
			l.m.log.WarnContext(ctx, "renewing a rules lease failed", "lease", l.name, "error", err.Error())
		case !ok:
			l.m.log.WarnContext(ctx, "a rules lease passed to another holder", "lease", l.name)
		}
	}
}

// fence takes the lease once more in tx's transaction, just before the
// writes it guards; errLeaseLost when another holder has it now.
func (l *lease) fence(ctx context.Context, tx *store.Store) error {
	ok, err := tx.LeaseAcquire(ctx, l.name, l.m.holder, l.m.ttl)
	if err != nil {
		return err
	}
	if !ok {
		return errLeaseLost
	}
	return nil
}

// release stops the renewals and gives the lease up.
func (l *lease) release(ctx context.Context) {
	close(l.stop)
	<-l.done
	if err := l.m.st.LeaseRelease(context.WithoutCancel(ctx), l.name, l.m.holder); err != nil {
		l.m.log.WarnContext(ctx, "releasing a rules lease failed; it expires by itself", "lease", l.name, "error", err.Error())
	}
	l.m.unbusy(l.name)
}
