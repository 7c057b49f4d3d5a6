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
	olderThan := fs.String("older-than", "", "delete rows older than this (required): "+ageHelp)
	what := fs.String("what", strings.Join(store.PruneOrder, ","), "comma-separated kinds: "+strings.Join(store.PruneOrder, ", ")+
		", and audit (never pruned unless named; a checkpoint keeps the chain verifiable)")
	batch := fs.Int("batch", 5000, "rows deleted per transaction")
	dryRun := fs.Bool("dry-run", false, "print how many rows each kind would lose, and delete nothing")
	if err := parseOnlyFlags(fs, args, "prune", ""); err != nil {
		return err
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
	silencesNote := "" // a silence's age runs from its end
	for _, k := range kinds {
		if _, ok := store.PruneTables[strings.TrimSpace(k)]; !ok && strings.TrimSpace(k) != "audit" {
			return usagef("--what: unknown kind %q; choose from %s, audit", k, strings.Join(store.PruneOrder, ", "))
		}
		if strings.TrimSpace(k) == "silences" {
			silencesNote = "; silences that ended before it"
		}
	}
	s, err := e.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	cutoff := s.Now().Add(-age)
	if *dryRun {
		fmt.Fprintf(e.Stdout, "dry run: nothing is deleted; rows created before %s%s\n", cutoff.Format(time.RFC3339), silencesNote)
		var total int64
		for _, k := range kinds {
			k = strings.TrimSpace(k)
			var n int64
			if k == "audit" {
				n, err = s.AuditPruneCount(ctx, cutoff)
			} else {
				n, err = s.PruneCount(ctx, k, cutoff)
			}
			if err != nil {
				return fmt.Errorf("count %s: %w", k, err)
			}
			total += n
			fmt.Fprintf(e.Stdout, "%s: %d would be deleted\n", k, n)
		}
		fmt.Fprintf(e.Stdout, "total: %d would be deleted\n", total)
		return nil
	}
	fmt.Fprintf(e.Stdout, "pruning rows created before %s%s\n", cutoff.Format(time.RFC3339), silencesNote)
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

// ageUnits are the units of an age (docs/api.md): a month is 30 days.
var ageUnits = map[string]time.Duration{
	"s": time.Second, "min": time.Minute, "h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour, "mo": 30 * 24 * time.Hour,
}

// ageHelp is how the --older-than flag describes ages.
const ageHelp = "a number and a unit, summed if several: s, min, h, d, w, mo (30 days), as in 90d, 36h, 1d12h, 6mo; " +
	"a bare m is refused (minutes or months?)"

// ParseAge reads an age: numbers each followed by a unit of ageUnits
// ("90d", "1d12h", "30min", "6mo"). A bare "m" is ambiguous and refused.
func ParseAge(s string) (time.Duration, error) {
	orig := strings.TrimSpace(s)
	bad := func(why string) (time.Duration, error) {
		return 0, fmt.Errorf("age %q is not valid: %s; use %s", orig, why, ageHelp)
	}
	if orig == "" {
		return bad("it is empty")
	}
	var total time.Duration
	rest := orig
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 {
			return bad("expected a number at " + strconv.Quote(rest))
		}
		n, err := strconv.ParseInt(rest[:i], 10, 64)
		if err != nil {
			return bad("the number is too large")
		}
		j := i
		for j < len(rest) && (rest[j] < '0' || rest[j] > '9') {
			j++
		}
		unit := rest[i:j]
		if unit == "m" {
			return 0, fmt.Errorf("age %q is ambiguous: %q could be minutes or months; write %dmin or %dmo", orig, rest[:j], n, n)
		}
		d, ok := ageUnits[unit]
		if !ok {
			if unit == "" {
				return bad(fmt.Sprintf("%d has no unit", n))
			}
			return bad(fmt.Sprintf("unknown unit %q", unit))
		}
		if n > int64(100*365*24*time.Hour/d) {
			return bad("it is longer than a hundred years")
		}
		total += time.Duration(n) * d
		rest = rest[j:]
	}
	if total <= 0 {
		return 0, fmt.Errorf("age %q must be greater than zero", orig)
	}
	return total, nil
}
