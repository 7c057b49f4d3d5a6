package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"regexp"
	"strconv"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/internal/httpapi"
	"github.com/mlopsdev/mlops/store"
)

// mlops import predictions|metrics FILE: history from JSON Lines, one
// object per line with the fields of the single-item ingest route, read
// with that route's decoder. The rows are stored a chunk at a time, each
// chunk (at most importChunk rows) in one transaction through the store's
// bulk path: memory follows the chunk, not the file. A bad line stops the
// import; its chunk is not stored, the chunks before it are, and the error
// says from which line to resume.

// importChunk is the most rows one transaction of an import stores: the
// batch routes' bound.
const importChunk = httpapi.MaxBatchItems

func runImportPredictions(ctx context.Context, e *Env, args []string) error {
	return runImport(ctx, e, args, "predictions", func(ctx context.Context, s *store.Store, in io.Reader, batch int, progress func(chunkDone)) (int64, error) {
		return importChunks(ctx, httpapi.PredictionLines(in), batch, "predictions", s.PredictionCreateSeq, progress)
	})
}

func runImportMetrics(ctx context.Context, e *Env, args []string) error {
	return runImport(ctx, e, args, "metrics", func(ctx context.Context, s *store.Store, in io.Reader, batch int, progress func(chunkDone)) (int64, error) {
		// MetricCreateBatch takes a slice: the chunk is gathered first.
		write := func(ctx context.Context, items iter.Seq2[mlops.NewPerformanceMetric, error]) ([]int64, error) {
			chunk := make([]mlops.NewPerformanceMetric, 0, batch)
			for m, err := range items {
				if err != nil {
					return nil, err
				}
				chunk = append(chunk, m)
			}
			return s.MetricCreateBatch(ctx, chunk)
		}
		return importChunks(ctx, httpapi.MetricLines(in), batch, "metrics", write, progress)
	})
}

// chunkDone is the progress of an import after a chunk is committed.
type chunkDone struct {
	stored   int64 // rows stored so far
	lastLine int   // the last line of the chunk
}

func runImport(ctx context.Context, e *Env, args []string, kind string,
	load func(ctx context.Context, s *store.Store, in io.Reader, batch int, progress func(chunkDone)) (int64, error)) error {
	fs := newFlags(e, "import "+kind)
	batch := fs.Int("batch", importChunk, fmt.Sprintf("rows per transaction, at most %d: each is stored whole or not at all", importChunk))
	pos, err := parseArgs(fs, args, 1, "import %s takes one file of JSON Lines, or - for standard input, as in: mlops import %s history.jsonl", kind, kind)
	if err != nil {
		return err
	}
	if *batch < 1 || *batch > importChunk {
		return usagef("--batch must be between 1 and %d, got %d", importChunk, *batch)
	}
	name := pos[0]
	in := e.Stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("import %s: %w", kind, err)
		}
		defer f.Close()
		in = f
	}
	s, err := openMigrated(ctx, e)
	if err != nil {
		return err
	}
	defer s.Close()
	start := time.Now()
	chunks := 0
	stored, err := load(ctx, s, in, *batch, func(p chunkDone) {
		chunks++
		fmt.Fprintf(e.Stdout, "  %d %s stored (to line %d), %s\n", p.stored, kind, p.lastLine, since(start))
	})
	if err != nil {
		var ie *importError
		if errors.As(err, &ie) {
			return ie.explain(name, kind)
		}
		return err
	}
	took := time.Since(start)
	rate := ""
	if took > 0 && stored > 0 {
		rate = fmt.Sprintf(" (%.0f rows/s)", float64(stored)/took.Seconds())
	}
	fmt.Fprintf(e.Stdout, "imported %d %s in %d transaction%s, %s%s\n", stored, kind, chunks, plural(chunks), since(start), rate)
	return nil
}

// importChunks stores the items of lines in transactions of at most batch
// items, each written by write, calling progress after each commit; list
// names the items in the store's errors ("predictions[17].model_id"). It
// returns the rows stored; its error is an *importError.
func importChunks[T any](ctx context.Context, lines iter.Seq2[httpapi.Line[T], error], batch int, list string,
	write func(context.Context, iter.Seq2[T, error]) ([]int64, error), progress func(chunkDone)) (int64, error) {
	next, stop := iter.Pull2(lines)
	defer stop()
	var stored int64
	nums := make([]int, 0, batch) // the line of each item of the chunk
	for {
		first, err, ok := next()
		if !ok {
			return stored, nil
		}
		if err != nil {
			return stored, &importError{err: err, stored: stored, resume: first.N}
		}
		nums = nums[:0]
		// The chunk's items, pulled as write takes them (the store may take
		// them on a goroutine of its own; one at a time all the same).
		chunk := func(yield func(T, error) bool) {
			l := first
			for {
				nums = append(nums, l.N)
				if !yield(l.Item, nil) || len(nums) == batch {
					return
				}
				var err error
				if l, err, ok = next(); !ok {
					return
				}
				if err != nil {
					yield(l.Item, err)
					return
				}
			}
		}
		ids, err := write(ctx, chunk)
		if err != nil {
			return stored, &importError{err: atLine(err, list, nums), stored: stored, resume: first.N}
		}
		stored += int64(len(ids))
		progress(chunkDone{stored: stored, lastLine: nums[len(nums)-1]})
	}
}

// itemField is the field path of an item of a chunk in the store's
// errors: predictions[17].features.
var itemField = regexp.MustCompile(`^(\w+)\[(\d+)\]\.?(.*)$`)

// atLine turns an error of the store that names items by their index in
// the chunk into one that names the first of their lines.
func atLine(err error, list string, nums []int) error {
	var le *httpapi.LineError
	v, ok := mlops.AsValidation(err)
	if errors.As(err, &le) || !ok {
		return err
	}
	out := &httpapi.LineError{N: -1, Err: &mlops.ValidationError{}}
	for _, f := range v.Fields {
		m := itemField.FindStringSubmatch(f.Field)
		if m == nil || m[1] != list {
			continue
		}
		i, _ := strconv.Atoi(m[2])
		if i >= len(nums) {
			continue
		}
		if out.N == -1 || nums[i] < out.N {
			out.N, out.Err = nums[i], &mlops.ValidationError{}
		}
		if nums[i] == out.N {
			out.Err.(*mlops.ValidationError).Add(m[3], "%s", f.Message)
		}
	}
	if out.N == -1 {
		return err // no item is named: the chunk's
	}
	return out
}

// importError is an import that stopped: err says why (a *LineError when
// a line is to blame); the rows before line resume are stored.
type importError struct {
	err    error
	stored int64
	resume int
}

func (e *importError) Error() string { return e.err.Error() }
func (e *importError) Unwrap() error { return e.err }

// explain says what was stored and how to go on from the line to resume.
func (e *importError) explain(file, kind string) error {
	if e.stored == 0 {
		return fmt.Errorf("%w; nothing was stored", e.err)
	}
	resume := fmt.Sprintf("tail -n +%d %s | mlops import %s -", e.resume, file, kind)
	if file == "-" {
		resume = fmt.Sprintf("the input from line %d on (tail -n +%d) piped to mlops import %s -", e.resume, e.resume, kind)
	}
	return fmt.Errorf("%w; %d %s from the lines before line %d were stored, nothing from line %d on: resume with %s",
		e.err, e.stored, kind, e.resume, e.resume, resume)
}

// since is the time since start, rounded for reading.
func since(start time.Time) string {
	d := time.Since(start)
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(10 * time.Millisecond).String()
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
