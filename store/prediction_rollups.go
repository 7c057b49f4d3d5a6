package store

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Rollups of the predictions, kept in the same transaction as the rows
// they summarise (migration 00010): per model version and hour,
// prediction_rollups counts the rows per predicted class and ground truth,
// and prediction_latency_rollups holds a histogram of their latencies.
// Reports with buckets of an hour or more, and the summaries of the admin
// UI's pages, read the whole hours of their range from them and only the
// parts of hours that the range cuts from the rows, so their cost follows
// the hours in the range, not the rows.
//
// The counts are exact. A latency percentile read from the histogram is
// exact when the bin that holds its rank holds one value (the bin keeps its
// smallest and largest value); otherwise it is interpolated between those
// two, and bins are 2 % wide, so it is within 2 % of the exact value.
//
// Who keeps them: the group commit (logPredictions), the bulk path
// (PredictionCreateSeq), recording the ground truth (PredictionSetActual,
// which moves a row from one count to another), prune (which deletes the
// hours it emptied and sums the hour it cut again from the rows left) and
// the drop of a time partition (forgetPredictionRollups). The latency
// histogram never changes but by adding rows, pruning or dropping: a
// prediction's latency is never updated.

// latencyGamma is the growth of the latency bins' bounds: bin b holds the
// latencies in (latencyGamma^(b-1), latencyGamma^b].
const latencyGamma = 1.02

// zeroBin is the bin of a latency of 0 (latencies are never negative).
const zeroBin = -1000000

var lnGamma = math.Log(latencyGamma)

// latencyBin is the bin of latency v. latencyBinSQL computes the same in
// SQL; the two may put a value that lies exactly on a bound in adjacent
// bins, which changes no figure: nothing is ever subtracted from a bin,
// and each bin keeps the values it holds (lo, hi).
func latencyBin(v float64) int64 {
	if v <= 0 {
		return zeroBin
	}
	return int64(math.Ceil(math.Log(v) / lnGamma))
}

// latencyBinSQL is latencyBin of column col in SQL (both engines).
func (s *Store) latencyBinSQL(col string) string {
	cast := "CAST(ceil(ln(" + col + ") / ln(1.02)) AS BIGINT)"
	if s.engine == SQLite {
		cast = "CAST(ceil(ln(" + col + ") / ln(1.02)) AS INTEGER)"
	}
	return "CASE WHEN " + col + " <= 0 THEN " + strconv.Itoa(zeroBin) + " ELSE " + cast + " END"
}

// cellKey names one count of prediction_rollups.
type cellKey struct {
	model, hour, prediction int64
	labeled                 bool
	actual                  int64
	pbin                    int64 // probabilityBin
}

// probabilityBin is the rollups' bin of a probability: -1 without one, 2k
// when it is exactly k/10, 2k+1 when it lies between k/10 and (k+1)/10. A
// range whose bounds are tenths is then a range of bins, whether a bound
// is included or not. rollupBinCase computes the same in SQL, from the
// same constants (k/10 as a double on both engines and in Go).
func probabilityBin(p *float64) int64 {
	if p == nil {
		return -1
	}
	for k := range 10 {
		switch b := float64(k) / 10; {
		case *p == b:
			return int64(2 * k)
		case *p < float64(k+1)/10:
			return int64(2*k + 1)
		}
	}
	return 20
}

// rollupBinCase is probabilityBin of column probability in SQL.
var rollupBinCase = func() string {
	var b strings.Builder
	b.WriteString("CASE WHEN probability IS NULL THEN -1")
	for k := range 10 {
		fmt.Fprintf(&b, " WHEN probability = %d.0 / 10 THEN %d WHEN probability < %d.0 / 10 THEN %d", k, 2*k, k+1, 2*k+1)
	}
	b.WriteString(" ELSE 20 END")
	return b.String()
}()

// histogramBin is the bin of the predictions page's histogram (0.1 wide,
// the last one closed: binCase) that holds rollup bin pbin (not -1).
func histogramBin(pbin int64) int64 { return min(pbin/2, ProbabilityBins-1) }

// tenths reports the k for which v is exactly k/10 (0 ≤ k ≤ 10).
func tenths(v float64) (int64, bool) {
	for k := range 11 {
		if v == float64(k)/10 {
			return int64(k), true
		}
	}
	return 0, false
}

// binKey names one bin of prediction_latency_rollups.
type binKey struct{ model, hour, bin int64 }

// latencies summarises the latencies of one bin.
type latencies struct {
	n             int64
	total, lo, hi float64
}

func (l *latencies) add(o latencies) {
	if l.n == 0 {
		*l = o
		return
	}
	l.n += o.n
	l.total += o.total
	l.lo, l.hi = min(l.lo, o.lo), max(l.hi, o.hi)
}

// predictionRollups accumulates the rollups of rows being written. Its
// size grows with the distinct (model, hour, class, ground truth) and
// (model, hour, bin) of the rows, not with their number.
type predictionRollups struct {
	cells map[cellKey]int64
	bins  map[binKey]*latencies
}

func newPredictionRollups() *predictionRollups {
	return &predictionRollups{cells: map[cellKey]int64{}, bins: map[binKey]*latencies{}}
}

// add counts one row.
func (r *predictionRollups) add(model int64, at time.Time, prediction int64, actual *int64, probability, latency *float64) {
	hour := floorTo(at.Unix(), 3600)
	k := cellKey{model: model, hour: hour, prediction: prediction, pbin: probabilityBin(probability)}
	if actual != nil {
		k.labeled, k.actual = true, *actual
	}
	r.cells[k]++
	if latency != nil {
		v := *latency
		bk := binKey{model, hour, latencyBin(v)}
		if l, ok := r.bins[bk]; ok {
			l.add(latencies{1, v, v, v})
		} else {
			r.bins[bk] = &latencies{1, v, v, v}
		}
	}
}

// cellRow and binRow are the rows to upsert, in key order so that
// concurrent writers lock them in the same order.
type cellRow struct {
	cellKey
	n int64
}

type binRow struct {
	binKey
	latencies
}

func cmpCell(a, b cellKey) int {
	return cmp.Or(cmp.Compare(a.model, b.model), cmp.Compare(a.hour, b.hour), cmp.Compare(a.prediction, b.prediction),
		cmp.Compare(b2i(a.labeled), b2i(b.labeled)), cmp.Compare(a.actual, b.actual), cmp.Compare(a.pbin, b.pbin))
}

func (r *predictionRollups) rows() ([]cellRow, []binRow) {
	cells := make([]cellRow, 0, len(r.cells))
	for k, n := range r.cells {
		cells = append(cells, cellRow{k, n})
	}
	slices.SortFunc(cells, func(a, b cellRow) int { return cmpCell(a.cellKey, b.cellKey) })
	bins := make([]binRow, 0, len(r.bins))
	for k, l := range r.bins {
		bins = append(bins, binRow{k, *l})
	}
	slices.SortFunc(bins, func(a, b binRow) int {
		return cmp.Or(cmp.Compare(a.model, b.model), cmp.Compare(a.hour, b.hour), cmp.Compare(a.bin, b.bin))
	})
	return cells, bins
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

const cellUpsertTail = ` ON CONFLICT (model_id, hour, prediction, labeled, actual, probability_bin) DO UPDATE SET n = prediction_rollups.n + excluded.n`

// binUpsert is the ON CONFLICT clause of a bin: SQLite's two-argument
// min and max are PostgreSQL's least and greatest.
func binUpsert(engine Engine) string {
	least, greatest := "min", "max"
	if engine == Postgres {
		least, greatest = "least", "greatest"
	}
	return ` ON CONFLICT (model_id, hour, bin) DO UPDATE SET n = prediction_latency_rollups.n + excluded.n,
		total = prediction_latency_rollups.total + excluded.total,
		lo = ` + least + `(prediction_latency_rollups.lo, excluded.lo), hi = ` + greatest + `(prediction_latency_rollups.hi, excluded.hi)`
}

// cellArrays and binArrays are the rows as column arrays, for unnest on
// PostgreSQL.
func cellArrays(cells []cellRow) []any {
	cols := make([]any, 7)
	for j := range cols {
		col := make([]int64, len(cells))
		for i, c := range cells {
			col[i] = c.column(j)
		}
		cols[j] = col
	}
	return cols
}

// cellColumns are the columns of prediction_rollups, as column gives
// them.
var cellColumns = []string{"model_id", "hour", "prediction", "labeled", "actual", "probability_bin", "n"}

// column is the value of c's j-th column of cellColumns.
func (c cellRow) column(j int) int64 {
	return [...]int64{c.model, c.hour, c.prediction, b2i(c.labeled), c.actual, c.pbin, c.n}[j]
}

func binArrays(bins []binRow) []any {
	var (
		model, hour, bin, n = make([]int64, len(bins)), make([]int64, len(bins)), make([]int64, len(bins)), make([]int64, len(bins))
		total, lo, hi       = make([]float64, len(bins)), make([]float64, len(bins)), make([]float64, len(bins))
	)
	for i, b := range bins {
		model[i], hour[i], bin[i], n[i], total[i], lo[i], hi[i] = b.model, b.hour, b.bin, b.n, b.total, b.lo, b.hi
	}
	return []any{model, hour, bin, n, total, lo, hi}
}

// cellsUnnestSQL and binsUnnestSQL upsert the rows given as arrays from
// placeholder $first on (PostgreSQL).
func cellsUnnestSQL(first int) string {
	return `INSERT INTO prediction_rollups (` + strings.Join(cellColumns, ", ") + `)
		SELECT * FROM unnest(` + placeholders(first, "bigint[]", "bigint[]", "bigint[]", "smallint[]", "bigint[]", "bigint[]", "bigint[]") + `)` + cellUpsertTail
}

// after, when not empty, names a data-modifying CTE of the same statement
// (with RETURNING) that must run first: the bins' SELECT reads it whole
// before its first row, so every writer locks the counts before the bins,
// whatever order PostgreSQL runs the CTEs in.
func binsUnnestSQLPostgres(first int, after string) string {
	q := `INSERT INTO prediction_latency_rollups (model_id, hour, bin, n, total, lo, hi)
		SELECT u.* FROM unnest(` + placeholders(first, "bigint[]", "bigint[]", "bigint[]", "bigint[]", "float8[]", "float8[]", "float8[]") + `) AS u`
	if after != "" {
		q += ` CROSS JOIN (SELECT count(*) FROM ` + after + `) AS first`
	}
	return q + binUpsert(Postgres)
}

// placeholders lists $first… cast to each type.
func placeholders(first int, types ...string) string {
	ps := make([]string, len(types))
	for i, t := range types {
		ps[i] = "$" + strconv.Itoa(first+i) + "::" + t
	}
	return strings.Join(ps, ", ")
}

// addPredictionRollups adds r to the rollup tables, in the store's
// transaction (the caller's, holding the rows r summarises).
func (s *Store) addPredictionRollups(ctx context.Context, r *predictionRollups) error {
	cells, bins := r.rows()
	if s.engine == Postgres {
		if len(cells) > 0 {
			if _, err := s.writer().ExecContext(ctx, cellsUnnestSQL(1), cellArrays(cells)...); err != nil {
				return classify(err)
			}
		}
		if len(bins) > 0 {
			if _, err := s.writer().ExecContext(ctx, binsUnnestSQLPostgres(1, ""), binArrays(bins)...); err != nil {
				return classify(err)
			}
		}
		return nil
	}
	// SQLite: multi-row upserts of up to sqliteRollupChunk rows.
	for len(cells) > 0 {
		chunk := cells[:min(len(cells), sqliteRollupChunk)]
		cells = cells[len(chunk):]
		args := make([]any, 0, len(cellColumns)*len(chunk))
		for _, c := range chunk {
			for j := range cellColumns {
				args = append(args, c.column(j))
			}
		}
		q := multiInsertSQL("prediction_rollups", cellColumns, len(chunk))
		if _, err := s.writer().ExecContext(ctx, q+cellUpsertTail, args...); err != nil {
			return classify(err)
		}
	}
	for len(bins) > 0 {
		chunk := bins[:min(len(bins), sqliteRollupChunk)]
		bins = bins[len(chunk):]
		args := make([]any, 0, 7*len(chunk))
		for _, b := range chunk {
			args = append(args, b.model, b.hour, b.bin, b.n, b.total, b.lo, b.hi)
		}
		q := multiInsertSQL("prediction_latency_rollups", []string{"model_id", "hour", "bin", "n", "total", "lo", "hi"}, len(chunk))
		if _, err := s.writer().ExecContext(ctx, q+binUpsert(SQLite), args...); err != nil {
			return classify(err)
		}
	}
	return nil
}

// sqliteRollupChunk bounds the rows of one multi-row upsert on SQLite (7
// parameters a row, under SQLite's limit of 32766).
const sqliteRollupChunk = 1000

// forgetPredictionRollups deletes, in the store's transaction, the
// prediction rollups of the hours in [from, to) (Unix seconds, multiples of
// 3600): dropping a partition removes every prediction of those hours.
func (s *Store) forgetPredictionRollups(ctx context.Context, from, to int64) error {
	for _, t := range []string{"prediction_rollups", "prediction_latency_rollups"} {
		if _, err := s.writer().ExecContext(ctx, `DELETE FROM `+t+` WHERE hour >= $1 AND hour < $2`, from, to); err != nil {
			return classify(err)
		}
	}
	return nil
}

// resumPredictionHour sums hour (Unix seconds) again from the predictions
// left in it, for every model version, in the store's transaction: prune
// cuts an hour in two.
func (s *Store) resumPredictionHour(ctx context.Context, hour int64) error {
	from, to := time.Unix(hour, 0).UTC(), time.Unix(hour+3600, 0).UTC()
	for _, q := range []string{
		`DELETE FROM prediction_rollups WHERE hour = $1`,
		`DELETE FROM prediction_latency_rollups WHERE hour = $1`,
		`INSERT INTO prediction_rollups (` + strings.Join(cellColumns, ", ") + `)
			SELECT model_id, CAST($1 AS BIGINT), prediction, CASE WHEN actual IS NULL THEN 0 ELSE 1 END, coalesce(actual, 0), ` + rollupBinCase + `, count(*)
			FROM predictions WHERE created_at >= $2 AND created_at < $3 GROUP BY 1, 3, 4, 5, 6`,
		`INSERT INTO prediction_latency_rollups (model_id, hour, bin, n, total, lo, hi)
			SELECT model_id, CAST($1 AS BIGINT), ` + s.latencyBinSQL("latency_ms") + `, count(*), sum(latency_ms), min(latency_ms), max(latency_ms)
			FROM predictions WHERE created_at >= $2 AND created_at < $3 AND latency_ms IS NOT NULL GROUP BY 1, 3`,
	} {
		args := []any{hour}
		if strings.Contains(q, "$2") {
			args = append(args, from, to)
		}
		if _, err := s.writer().ExecContext(ctx, q, args...); err != nil {
			return classify(err)
		}
	}
	return nil
}

// prunePredictionsBatch deletes at most batch predictions created before
// cutoff, the oldest first, in one transaction with the rollups it changes:
// the rollups of the hours it emptied are deleted and the hour of its
// newest row is summed again from the rows left, so the rollups match the
// rows after every batch. It returns the predictions deleted.
func (s *Store) prunePredictionsBatch(ctx context.Context, cutoff time.Time, batch int) (int64, error) {
	var n int64
	err := s.InTx(ctx, func(tx *Store) error {
		deleted, err := tx.deleteOldest(ctx, "predictions", cutoff, batch)
		if err != nil || len(deleted) == 0 {
			return err
		}
		n = int64(len(deleted))
		hour := floorTo(slices.Max(deleted), 3600)
		if err := tx.forgetPredictionRollups(ctx, math.MinInt64, hour); err != nil {
			return err
		}
		return tx.resumPredictionHour(ctx, hour)
	})
	return n, err
}

// hourCover splits [since, until) into the whole hours [from, to) (Unix
// seconds) that the rollups answer, the parts of hours (add) that the rows
// answer besides, and the parts of those whole hours that lie outside the
// range (sub), whose rows are taken away. An hour the range cuts is read
// whichever way reads the shorter span of rows; a range that reaches now
// takes the rollups to their end and takes away the rows after until (rows
// are at most a few minutes in the future: usually none). A zero since
// means no start, a zero until no end.
func hourCover(since, until, now time.Time) (from, to int64, add, sub [][2]time.Time) {
	from, to = math.MinInt64, math.MaxInt64
	if !since.IsZero() {
		h := floorTo(since.Unix(), 3600)
		start := time.Unix(h, 0).UTC()
		switch next := start.Add(time.Hour); {
		case since.Equal(start):
			from = h
		case since.Sub(start) < next.Sub(since):
			from = h
			sub = append(sub, [2]time.Time{start, since})
		default:
			from = h + 3600
			add = append(add, [2]time.Time{since, next})
		}
	}
	if !until.IsZero() {
		h := floorTo(until.Unix(), 3600)
		start := time.Unix(h, 0).UTC()
		switch next := start.Add(time.Hour); {
		case !until.Before(now):
			sub = append(sub, [2]time.Time{until, {}})
		case until.Equal(start):
			to = h
		case next.Sub(until) < until.Sub(start):
			to = h + 3600
			sub = append(sub, [2]time.Time{until, next})
		default:
			to = h
			add = append(add, [2]time.Time{start, until})
		}
	}
	if from >= to {
		return 0, 0, [][2]time.Time{{since, until}}, nil
	}
	return from, to, add, sub
}

// rangeRollups is what the rollups and the rows say about one model
// version (or every one, model 0) over a range, per bucket of width
// seconds: the counts per class and ground truth and the latency bins.
type rangeRollups struct {
	cells map[cellKey]int64     // hour: the bucket's start
	bins  map[binKey]*latencies // hour: the bucket's start
}

// predictionRange reads the rollups of [since, until) (zero until: no end)
// per bucket of width seconds (a multiple of 3600, or 0 for one bucket at
// 0), and per probability bin if byProbability, of model (0: every model
// version, keyed by theirs). The whole hours come from the rollup tables,
// the parts of hours from the rows.
func (s *Store) predictionRange(ctx context.Context, model int64, since, until time.Time, width int64, byProbability bool) (rangeRollups, error) {
	out := rangeRollups{cells: map[cellKey]int64{}, bins: map[binKey]*latencies{}}
	from, to, add, sub := hourCover(since, until, s.Now())
	bucket := func(col string) string {
		if width == 0 {
			return "0"
		}
		w := strconv.FormatInt(width, 10)
		return "((" + col + " / " + w + ") * " + w + ")"
	}
	// Without byProbability the counts are summed over the probability
	// bins (pbin 0 in the answer): fewer rows to read back.
	pbinCol, pbinCase := "0", "0"
	if byProbability {
		pbinCol, pbinCase = "probability_bin", rollupBinCase
	}
	modelCond := "model_id = $1"
	if model == 0 {
		modelCond = "$1 = 0"
	}
	// A source's rows are added (sign 1) or taken away (-1, after every
	// addition). Taking rows away from a bin leaves its smallest and
	// largest value as they were: still bounds of what it holds.
	type source struct {
		sql  string
		args []any
		sign int64
	}
	var cells, bins []source
	if from < to {
		cells = append(cells, source{`SELECT model_id, ` + bucket("hour") + `, prediction, labeled, actual, ` + pbinCol + `, sum(n)
			FROM prediction_rollups WHERE ` + modelCond + ` AND hour >= $2 AND hour < $3 GROUP BY 1, 2, 3, 4, 5, 6`, []any{model, from, to}, 1})
		bins = append(bins, source{`SELECT model_id, ` + bucket("hour") + `, bin, sum(n), sum(total), min(lo), max(hi)
			FROM prediction_latency_rollups WHERE ` + modelCond + ` AND hour >= $2 AND hour < $3 GROUP BY 1, 2, 3`, []any{model, from, to}, 1})
	}
	for i, e := range append(add, sub...) {
		sign := int64(1)
		if i >= len(add) {
			sign = -1
		}
		rowsCond := ` FROM predictions WHERE ` + modelCond
		args := []any{model}
		if !e[0].IsZero() {
			args = append(args, e[0].UTC())
			rowsCond += ` AND created_at >= $` + strconv.Itoa(len(args))
		}
		if !e[1].IsZero() {
			args = append(args, e[1].UTC())
			rowsCond += ` AND created_at < $` + strconv.Itoa(len(args))
		}
		b := bucket(s.epochExpr())
		cells = append(cells, source{`SELECT model_id, ` + b + `, prediction, CASE WHEN actual IS NULL THEN 0 ELSE 1 END, coalesce(actual, 0), ` + pbinCase + `, count(*)` +
			rowsCond + ` GROUP BY 1, 2, 3, 4, 5, 6`, args, sign})
		bins = append(bins, source{`SELECT model_id, ` + b + `, ` + s.latencyBinSQL("latency_ms") + `, count(*), sum(latency_ms), min(latency_ms), max(latency_ms)` +
			rowsCond + ` AND latency_ms IS NOT NULL GROUP BY 1, 2, 3`, args, sign})
	}
	for _, q := range cells {
		err := s.eachRow(ctx, q.sql, q.args, func(sc scanner) error {
			var k cellKey
			var labeled, n int64
			if err := sc.Scan(&k.model, &k.hour, &k.prediction, &labeled, &k.actual, &k.pbin, &n); err != nil {
				return err
			}
			k.labeled = labeled == 1
			out.cells[k] += q.sign * n
			return nil
		})
		if err != nil {
			return out, err
		}
	}
	for _, q := range bins {
		err := s.eachRow(ctx, q.sql, q.args, func(sc scanner) error {
			var k binKey
			var l latencies
			if err := sc.Scan(&k.model, &k.hour, &k.bin, &l.n, &l.total, &l.lo, &l.hi); err != nil {
				return err
			}
			m, ok := out.bins[k]
			switch {
			case q.sign < 0 && ok:
				m.n -= l.n
				m.total -= l.total
				if m.n <= 0 {
					delete(out.bins, k)
				}
			case q.sign < 0:
			case ok:
				m.add(l)
			default:
				out.bins[k] = &l
			}
			return nil
		})
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// histogram is the latency bins of one bucket, in ascending order.
type histogram []binRow

// percentile is the nearest-rank p-th percentile of h (n latencies): the
// value at that rank when its bin holds one value, else interpolated
// between the bin's smallest and largest value by the rank's place in it.
func (h histogram) percentile(p int, n int64) *float64 {
	if n == 0 {
		return nil
	}
	rank := nearestRank(p, n)
	var seen int64
	for _, b := range h {
		if seen+b.n < rank {
			seen += b.n
			continue
		}
		v := b.lo
		if b.hi > b.lo && b.n > 1 {
			v = b.lo + (b.hi-b.lo)*float64(rank-seen-1)/float64(b.n-1)
		}
		return &v
	}
	return nil
}
