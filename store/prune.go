package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// PruneTables are the kinds of rows prune can delete, with the condition a
// row must meet besides its age: open alerts and actions still waiting for
// a decision or its execution (pending, approved) are kept. A row's age
// runs from its creation, a silence's from its end (when it was expired,
// else its until), so a silence is deleted once it ended before the
// cutoff and never while it is in force. audit_events is not among them
// (see AuditPrune).
var PruneTables = map[string]struct{ table, cond, since string }{
	"predictions":   {"predictions", "", ""},
	"metrics":       {"performance_metrics", "", ""},
	"drift_reports": {"drift_reports", "", ""},
	"alerts":        {"alerts", "status = 'resolved'", ""},
	"actions":       {"agent_actions", "status IN ('rejected', 'executed', 'failed', 'expired')", ""},
	"silences":      {"alert_silences", "", "coalesce(expired_at, until)"},
}

// pruneWhere returns the table of kind what and the condition on $1 (the
// cutoff) of the rows Prune deletes, with the cutoff to bind.
func (s *Store) pruneWhere(what string, cutoff time.Time) (table, cond string, at time.Time, err error) {
	t, ok := PruneTables[what]
	if !ok {
		return "", "", at, fmt.Errorf("cannot prune %q; choose from %s", what, strings.Join(PruneOrder, ", "))
	}
	at = cutoff.UTC()
	since := "created_at"
	if t.since != "" {
		since = t.since
		// A silence that ends after now is in force: a cutoff in the
		// future must not reach it.
		if now := s.Now(); at.After(now) {
			at = now
		}
	}
	cond = since + " < $1"
	if t.cond != "" {
		cond += " AND " + t.cond
	}
	return t.table, cond, at, nil
}

// PruneCount counts the rows Prune(what, cutoff) would delete, deleting
// nothing (mlops prune --dry-run).
func (s *Store) PruneCount(ctx context.Context, what string, cutoff time.Time) (int64, error) {
	table, cond, at, err := s.pruneWhere(what, cutoff)
	if err != nil {
		return 0, err
	}
	var n int64
	err = s.reader().QueryRowContext(ctx, `SELECT count(*) FROM `+table+` WHERE `+cond, at).Scan(&n)
	return n, classify(err)
}

// PruneOrder is the default order of what prune deletes.
var PruneOrder = []string{"predictions", "metrics", "drift_reports", "alerts", "actions", "silences"}

// Prune deletes rows of kind what older than cutoff (created before it; a
// silence: ended before it, see PruneTables), in batches of
// batch rows (each its own short transaction, so it never holds long
// locks), calling progress after each batch with the running total.
//
// A run is recorded as one prune.ran event (entity prune/<what>, after: the
// rows deleted per table, the cutoff and, when the run stopped early, the
// error), written in a transaction of its own after the last batch: the
// batches are already committed, so the event is written even when a later
// batch fails or ctx is cancelled. Prune never deletes audit events; only
// AuditPrune does.
func (s *Store) Prune(ctx context.Context, what string, cutoff time.Time, batch int, progress func(deleted int64)) (int64, error) {
	table, cond, at, err := s.pruneWhere(what, cutoff)
	if err != nil {
		return 0, err
	}
	if batch <= 0 {
		batch = 5000
	}
	stmt := fmt.Sprintf(`DELETE FROM %s WHERE id IN (SELECT id FROM %s WHERE %s ORDER BY id LIMIT %d)`,
		table, table, cond, batch)
	one := func() (int64, error) {
		res, err := s.writer().ExecContext(ctx, stmt, at)
		if err != nil {
			return 0, classify(err)
		}
		return res.RowsAffected()
	}
	switch what {
	case "metrics":
		// The rollups change with the points (rollups.go).
		one = func() (int64, error) { return s.pruneMetricsBatch(ctx, cutoff, batch) }
	case "predictions":
		// The rollups change with the rows (prediction_rollups.go).
		one = func() (int64, error) { return s.prunePredictionsBatch(ctx, cutoff, batch) }
	}
	// A partitioned table loses its partitions that end before the cutoff
	// whole; rows are deleted batch by batch only in the partition the
	// cutoff falls in and in the DEFAULT partition (partitions.go).
	var (
		total   int64
		dropped []string
	)
	if s.engine == Postgres && (what == "predictions" || what == "metrics") {
		var on bool
		if on, err = s.partitionedNow(ctx, s.primary(), table); on {
			total, dropped, err = s.dropPartitionsBefore(ctx, table, at, progress)
		}
	}
	if err == nil {
		fromPartitions := total
		var n int64
		n, err = pruneBatches(batch, func(deleted int64) {
			if progress != nil {
				progress(fromPartitions + deleted)
			}
		}, one)
		total += n
	}
	after := map[string]any{"deleted": map[string]int64{table: total}, "older_than": cutoff.UTC().Format(time.RFC3339Nano)}
	if len(dropped) > 0 {
		after["partitions_dropped"] = dropped
	}
	if err != nil {
		after["error"] = err.Error()
	}
	if aerr := s.audited(context.WithoutCancel(ctx), func(*Store) ([]change, error) {
		return []change{{event: "prune.ran", entityType: "prune", entityID: what, after: after}}, nil
	}); aerr != nil {
		err = errors.Join(err, fmt.Errorf("record the prune run: %w", aerr))
	}
	return total, err
}

// pruneBatches runs one (which deletes at most batch rows and says how
// many) until it deletes fewer than batch rows, calling progress after each
// batch with the running total.
func pruneBatches(batch int, progress func(deleted int64), one func() (int64, error)) (int64, error) {
	var total int64
	for {
		n, err := one()
		if err != nil {
			return total, err
		}
		total += n
		if progress != nil && n > 0 {
			progress(total)
		}
		if n < int64(batch) {
			return total, nil
		}
	}
}

// deleteOldest deletes, in the store's transaction, at most batch rows of
// table created before cutoff, the oldest first, and returns their
// created_at in Unix seconds.
func (s *Store) deleteOldest(ctx context.Context, table string, cutoff time.Time, batch int) ([]int64, error) {
	// created_at < $1 outside the subquery too: on a partitioned table the
	// ids are looked up only in the partitions before the cutoff.
	rows, err := s.writer().QueryContext(ctx, `DELETE FROM `+table+` WHERE created_at < $1 AND id IN (
		SELECT id FROM `+table+` WHERE created_at < $1 ORDER BY created_at, id LIMIT `+strconv.Itoa(batch)+`)
		RETURNING `+s.epochExpr(), cutoff.UTC())
	return collect(rows, err, func(sc scanner) (int64, error) {
		var at int64
		return at, sc.Scan(&at)
	})
}
