package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/mlopsdev/mlops/store"
)

// runAuditVerify walks the audit log's hash chain and names the first
// event that does not hold (exit 1).
func runAuditVerify(ctx context.Context, e *Env, args []string) error {
	fs := newFlags(e, "audit verify")
	from := fs.Int64("from", 0, "start at this event id (trusting the events before it)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("audit verify takes only --from, got %q", pos[0])
	}
	if *from < 0 {
		return usagef("--from must be an event id (1 or more), got %d", *from)
	}
	s, err := openMigrated(ctx, e)
	if err != nil {
		return err
	}
	defer s.Close()
	n, err := s.AuditVerify(ctx, *from, func(checked, lastID int64) {
		fmt.Fprintf(e.Stderr, "  %s events checked (through id %d)\n", strconv.FormatInt(checked, 10), lastID)
	})
	var p *store.AuditProblem
	if errors.As(err, &p) {
		return fmt.Errorf("the audit log does not verify after %d good events: %v; the log was changed outside mlops: "+
			"compare that event with your database backups", n, p)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "ok: %d audit events verify; the chain is intact\n", n)
	return nil
}
