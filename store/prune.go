package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// PruneTables are the kinds of rows prune can delete, with the condition a
// row must meet besides its age: decisions and open alerts are kept.
var PruneTables = map[string]struct{ table, cond string }{
	"predictions":   {"predictions", ""},
	"metrics":       {"performance_metrics", ""},
	"drift_reports": {"drift_reports", ""},
	"alerts":        {"alerts", "status = 'resolved'"},
	"actions":       {"agent_actions", "status IN ('rejected', 'executed', 'failed')"},
}

// PruneOrder is the default order of what prune deletes.
var PruneOrder = []string{"predictions", "metrics", "drift_reports", "alerts", "actions"}

// Prune deletes rows of kind what created before cutoff, in batches of
// batch rows (each its own short transaction, so it never holds long
// locks), calling progress after each batch with the running total.
func (s *Store) Prune(ctx context.Context, what string, cutoff time.Time, batch int, progress func(deleted int64)) (int64, error) {
	t, ok := PruneTables[what]
	if !ok {
		return 0, fmt.Errorf("cannot prune %q; choose from %s", what, strings.Join(PruneOrder, ", "))
	}
	if batch <= 0 {
		batch = 5000
	}
	cond := "created_at < $1"
	if t.cond != "" {
		cond += " AND " + t.cond
	}
	stmt := fmt.Sprintf(`DELETE FROM %s WHERE id IN (SELECT id FROM %s WHERE %s ORDER BY id LIMIT %d)`,
		t.table, t.table, cond, batch)
	var total int64
	for {
		res, err := s.writer().ExecContext(ctx, stmt, cutoff.UTC())
		if err != nil {
			return total, classify(err)
		}
		n, err := res.RowsAffected()
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
