package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mlopsdev/mlops/store"
)

// openPartitions opens the store for a partitions command: PostgreSQL
// only, checked before anything is opened (so no SQLite file is created),
// with its migrations applied.
func openPartitions(ctx context.Context, e *Env) (*store.Store, error) {
	if t, err := store.ParseURL(e.Config.DatabaseURL); err == nil && t.Engine == store.SQLite {
		return nil, store.ErrPartitionsSQLite
	}
	return openMigrated(ctx, e)
}

// notPartitioned is what the partition commands say about a database
// whose tables are not partitioned yet.
const notPartitioned = "predictions and performance_metrics are not partitioned; mlops partitions migrate converts them (docs/partitions.md)"

func runPartitionsList(ctx context.Context, e *Env, args []string) error {
	fs := newFlags(e, "partitions list")
	exact := fs.Bool("exact", false, "count each partition's rows (a scan of every one) instead of PostgreSQL's estimate")
	if err := parseOnlyFlags(fs, args, "partitions list", "mlops partitions list --exact"); err != nil {
		return err
	}
	s, err := openPartitions(ctx, e)
	if err != nil {
		return err
	}
	defer s.Close()
	ps, err := s.PartitionList(ctx, *exact)
	if err != nil {
		return err
	}
	if len(ps) == 0 {
		fmt.Fprintln(e.Stdout, notPartitioned)
		return nil
	}
	rowsHead := "ROWS (ESTIMATE)"
	if *exact {
		rowsHead = "ROWS (EXACT)"
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "TABLE\tPARTITION\tFROM\tTO\t%s\tSIZE\t\n", rowsHead)
	for _, p := range ps {
		from, to := p.From.Format(time.RFC3339), p.To.Format(time.RFC3339)
		if p.Default {
			from, to = "(default: any other time)", ""
		}
		rows := strconv.FormatInt(p.Rows, 10)
		if p.Rows < 0 {
			rows = "unknown" // never vacuumed nor analyzed
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", p.Table, p.Name, from, to, rows, byteSize(p.Bytes))
	}
	return tw.Flush()
}

// byteSize writes n bytes as PostgreSQL's pg_size_pretty does.
func byteSize(n int64) string {
	const unit = 1024
	if n < 10*unit {
		return strconv.FormatInt(n, 10) + " bytes"
	}
	v, units := float64(n)/unit, []string{"kB", "MB", "GB", "TB"}
	i := 0
	for v >= 10*unit && i < len(units)-1 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.0f %s", v, units[i])
}

func runPartitionsEnsure(ctx context.Context, e *Env, args []string) error {
	fs := newFlags(e, "partitions ensure")
	ahead := fs.Int("ahead", store.DefaultPartitionAhead, "periods (MLOPS_PARTITION) to create after the current one")
	if err := parseOnlyFlags(fs, args, "partitions ensure", "mlops partitions ensure --ahead 14"); err != nil {
		return err
	}
	if *ahead < 0 || *ahead > 1000 {
		return usagef("--ahead must be from 0 to 1000, got %d", *ahead)
	}
	s, err := openPartitions(ctx, e)
	if err != nil {
		return err
	}
	defer s.Close()
	if !s.Partitioned("predictions") && !s.Partitioned("performance_metrics") {
		return errors.New(notPartitioned)
	}
	created, err := s.PartitionsEnsure(ctx, e.Config.Partition, *ahead)
	for _, name := range created {
		fmt.Fprintf(e.Stdout, "created %s\n", name)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "%d partitions created; every table has its partitions through %d %ss ahead\n", len(created), *ahead, e.Config.Partition)
	return nil
}

func runPartitionsMigrate(ctx context.Context, e *Env, args []string) error {
	fs := newFlags(e, "partitions migrate")
	batch := fs.Int("batch", 10000, "rows copied per transaction")
	past := fs.Int("past", store.DefaultPartitionPast, "create partitions for at most this many periods before the current one; older rows go to the default partition")
	if err := parseOnlyFlags(fs, args, "partitions migrate", "mlops partitions migrate --batch 10000"); err != nil {
		return err
	}
	if *batch < 1 || *batch > 1_000_000 {
		return usagef("--batch must be from 1 to 1000000, got %d", *batch)
	}
	if *past < 1 {
		return usagef("--past must be at least 1, got %d", *past)
	}
	s, err := openPartitions(ctx, e)
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Fprintf(e.Stdout, "partitioning predictions and performance_metrics by %s, %d rows a transaction (interrupt at any time: run it again to continue)\n", e.Config.Partition, *batch)
	start := time.Now()
	last := time.Time{}
	err = s.PartitionsMigrate(ctx, store.PartitionsMigrateOptions{Period: e.Config.Partition, Batch: *batch, Past: *past,
		Progress: func(p store.MigrateProgress) {
			switch {
			case p.Done:
				fmt.Fprintf(e.Stdout, "%s: done, %d rows, now partitioned (%s)\n", p.Table, p.Copied, time.Since(start).Round(time.Second))
			case time.Since(last) >= time.Second:
				last = time.Now()
				pct := ""
				if p.Total > 0 {
					pct = fmt.Sprintf(" (%d%%)", min(100, p.Copied*100/p.Total))
				}
				fmt.Fprintf(e.Stdout, "%s: %d of about %d rows copied%s\n", p.Table, p.Copied, p.Total, pct)
			}
		}})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "partitioned in %s; mlops serve keeps partitions ahead (or run mlops partitions ensure)\n", time.Since(start).Round(time.Second))
	return nil
}

// partitionsEvery is how often serve creates the partitions ahead (and
// rereads the layout, so lookups by id notice a migration).
const partitionsEvery = 10 * time.Minute

// partitionsLoop creates the partitions ahead at start and every interval
// until ctx ends (PostgreSQL; nothing when no table is partitioned).
func partitionsLoop(ctx context.Context, s *store.Store, period store.PartitionPeriod, interval time.Duration, e *Env) {
	ensure := func(ctx context.Context) {
		created, err := s.PartitionsEnsure(ctx, period, store.DefaultPartitionAhead)
		switch {
		case err != nil && ctx.Err() == nil:
			e.Logger.WarnContext(ctx, "creating the partitions ahead failed; mlops partitions ensure creates them", "error", err.Error())
		case len(created) > 0:
			e.Logger.InfoContext(ctx, "created partitions", "partitions", strings.Join(created, ","))
		}
	}
	ensure(ctx)
	every(ctx, interval, ensure)
}
