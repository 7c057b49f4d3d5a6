package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mlopsdev/mlops/store"
)

func runPrune(ctx context.Context, e *Env, args []string) error {
	fs := newFlags(e, "prune")
	olderThan := fs.String("older-than", "", "age of the rows to delete: 90d, 36h, 30m (required)")
	what := fs.String("what", strings.Join(store.PruneOrder, ","), "comma-separated kinds: "+strings.Join(store.PruneOrder, ", ")+
		", and audit (never pruned unless named; a checkpoint keeps the chain verifiable)")
	batch := fs.Int("batch", 5000, "rows deleted per transaction")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("prune takes only flags, got %q", strings.Join(pos, " "))
	}
	if *olderThan == "" {
		return usagef("prune needs --older-than, as in: mlops prune --older-than 90d")
	}
	age, err := ParseAge(*olderThan)
	if err != nil {
		return usageError{err.Error()}
	}
	if *batch < 1 {
		return usagef("--batch must be at least 1, got %d", *batch)
	}
	kinds := strings.Split(*what, ",")
	for _, k := range kinds {
		if _, ok := store.PruneTables[strings.TrimSpace(k)]; !ok && strings.TrimSpace(k) != "audit" {
			return usagef("--what: unknown kind %q; choose from %s, audit", k, strings.Join(store.PruneOrder, ", "))
		}
	}
	s, err := e.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	cutoff := s.Now().Add(-age)
	fmt.Fprintf(e.Stdout, "pruning rows created before %s\n", cutoff.Format(time.RFC3339))
	var total int64
	for _, k := range kinds {
		k = strings.TrimSpace(k)
		if k == "audit" {
			n, err := s.AuditPrune(ctx, cutoff)
			if err != nil {
				return fmt.Errorf("prune audit: %w", err)
			}
			total += n
			fmt.Fprintf(e.Stdout, "audit: %d deleted (an audit.pruned checkpoint keeps the chain verifiable)\n", n)
			continue
		}
		n, err := s.Prune(ctx, k, cutoff, *batch, func(deleted int64) {
			fmt.Fprintf(e.Stdout, "  %s: %d deleted so far\n", k, deleted)
		})
		total += n
		if err != nil {
			return fmt.Errorf("prune %s after %d rows: %w", k, n, err)
		}
		fmt.Fprintf(e.Stdout, "%s: %d deleted\n", k, n)
	}
	fmt.Fprintf(e.Stdout, "total: %d deleted\n", total)
	return nil
}

// ParseAge reads a duration that also accepts days ("90d", "1d12h").
func ParseAge(s string) (time.Duration, error) {
	orig := s
	var days int64
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("age %q is not valid; use forms like 90d, 36h or 1d12h", orig)
		}
		days, s = n, s[i+1:]
	}
	var rest time.Duration
	if s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return 0, fmt.Errorf("age %q is not valid; use forms like 90d, 36h or 1d12h", orig)
		}
		rest = d
	}
	total := time.Duration(days)*24*time.Hour + rest
	if total <= 0 {
		return 0, fmt.Errorf("age %q must be greater than zero", orig)
	}
	return total, nil
}
