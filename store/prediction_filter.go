package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mlopsdev/mlops"
)

// PredictionSearch narrows a model version's predictions to what an
// investigation asks about: PredictionFilter's version, lower time bound
// and page, and the conditions below, all of which must hold. The admin
// UI's predictions page lists a selection a page at a time, exports it whole
// (PredictionSearchEach) and summarizes it (PredictionSearchSummary).
type PredictionSearch struct {
	PredictionFilter           // ModelID (required), Since (inclusive) and Page
	Until            time.Time // zero: no upper bound; created_at < Until
	WrongOnly        bool      // the ground truth is known and is not the prediction
	LabelledOnly     bool      // the ground truth is known
	Class            *int64    // the predicted class
	// MinProbability and MaxProbability bound the probability, both
	// inclusive; a bound leaves out the rows without a probability.
	MinProbability, MaxProbability *float64
}

// ProbabilityBins is the number of bins of PredictionSummary.Bins.
const ProbabilityBins = 10

// PredictionSummary describes a whole selection of predictions.
type PredictionSummary struct {
	Count    int64 // rows in the selection
	Labelled int64 // rows whose ground truth is known
	Correct  int64 // labelled rows whose prediction is the ground truth
	// Confusion counts the labelled rows per (actual, predicted) pair that
	// occurs, ordered by actual, then predicted.
	Confusion []ConfusionCell
	// Bins counts the rows per probability: bin i holds [i/10, (i+1)/10),
	// and the last one also 1.
	Bins          [ProbabilityBins]int64
	NoProbability int64 // rows without a probability
}

// ConfusionCell is one cell of a confusion matrix.
type ConfusionCell struct {
	Actual, Predicted int64
	Count             int64
}

// where is the selection's condition, without the page.
func (f PredictionSearch) where() (query, error) {
	var q query
	if f.ModelID <= 0 {
		return q, mlops.Invalid("model_id", "is required: the id of a model version")
	}
	lo, hi := f.MinProbability, f.MaxProbability
	if lo != nil && hi != nil && *lo > *hi {
		return q, mlops.Invalid("probability", "the minimum %g is above the maximum %g", *lo, *hi)
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return q, mlops.Invalid("until", "must be after since (%s)", f.Since.UTC().Format(time.RFC3339))
	}
	q.add("model_id = ?", f.ModelID)
	if !f.Since.IsZero() {
		q.add("created_at >= ?", f.Since.UTC())
	}
	if !f.Until.IsZero() {
		q.add("created_at < ?", f.Until.UTC())
	}
	switch {
	case f.WrongOnly:
		q.add("actual IS NOT NULL AND actual <> prediction")
	case f.LabelledOnly:
		q.add("actual IS NOT NULL")
	}
	if f.Class != nil {
		q.add("prediction = ?", *f.Class)
	}
	if lo != nil || hi != nil {
		// Probabilities lie in [0, 1] (a CHECK): an open end is 0 or 1.
		// NULL is never between, so a bound leaves out rows without one.
		q.add("probability BETWEEN ? AND ?", *cmp.Or(lo, new(0.0)), *cmp.Or(hi, new(1.0)))
	}
	return q, nil
}

// selectSQL is the selection's rows, newest first, after cur, at most
// limit+1 of them (limit < 0: all).
func (f PredictionSearch) selectSQL(cur *Cursor, limit int) (string, []any, error) {
	q, err := f.where()
	if err != nil {
		return "", nil, err
	}
	q.keyset(cur)
	return `SELECT ` + predictionColumns + ` FROM predictions` + q.sql() + ` ORDER BY created_at DESC, id DESC` + limitSQL(limit), q.args, nil
}

// PredictionSearchList lists a page of the selection, newest first, and
// returns the cursor of the next page ("" at the end).
func (s *Store) PredictionSearchList(ctx context.Context, f PredictionSearch) ([]mlops.Prediction, string, error) {
	limit, cur, err := f.Page.resolve()
	if err != nil {
		return nil, "", err
	}
	sqlText, args, err := f.selectSQL(cur, limit)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.reader().QueryContext(ctx, sqlText, args...)
	items, err := collect(rows, err, scanPrediction)
	if err != nil {
		return nil, "", err
	}
	items, next := trimPage(items, limit, func(p mlops.Prediction) Cursor { return Cursor{p.CreatedAt, p.ID} })
	return items, next, nil
}

// PredictionSearchEach calls fn with every prediction of the selection,
// newest first as PredictionSearchList pages them (from f's cursor, if
// any; the page size is ignored), one row at a time: an export's memory does
// not grow with the selection. An error from fn stops the walk and is
// returned.
func (s *Store) PredictionSearchEach(ctx context.Context, f PredictionSearch, fn func(mlops.Prediction) error) error {
	cur, err := DecodeCursor(f.Cursor)
	if err != nil {
		return err
	}
	sqlText, args, err := f.selectSQL(cur, -1)
	if err != nil {
		return err
	}
	return s.eachRow(ctx, sqlText, args, func(sc scanner) error {
		p, err := scanPrediction(sc)
		if err != nil {
			return err
		}
		return fn(p)
	})
}

// binCase is a CASE expression giving a row's probability bin (0 to
// ProbabilityBins-1), or -1 without a probability. Constants only: the
// same on both engines, with no cast that one of them would round.
var binCase = func() string {
	var b strings.Builder
	b.WriteString("CASE WHEN probability IS NULL THEN -1")
	for i := 1; i < ProbabilityBins; i++ {
		fmt.Fprintf(&b, " WHEN probability < %d.0 / %d THEN %d", i, ProbabilityBins, i-1)
	}
	fmt.Fprintf(&b, " ELSE %d END", ProbabilityBins-1)
	return b.String()
}()

// PredictionSearchSummary counts the whole selection (f's page is
// ignored) in one pass: its rows, the labelled and correct ones, the
// confusion matrix of the labelled rows and the probability histogram.
//
// Unless a probability bound is set that is not a tenth (0, 0.1 … 1), the
// whole hours of the selection are read from the prediction rollups
// (prediction_rollups.go), which count rows by class, ground truth and
// probability bin; only the parts of hours the range cuts are read from
// the rows.
func (s *Store) PredictionSearchSummary(ctx context.Context, f PredictionSearch) (PredictionSummary, error) {
	var sum PredictionSummary
	q, err := f.where()
	if err != nil {
		return sum, err
	}
	if lo, hi, ok := f.rollupBins(); ok {
		return s.summaryFromRollups(ctx, f, lo, hi)
	}
	return s.summaryFromRows(ctx, q)
}

// summaryFromRows is PredictionSearchSummary of the rows q selects.
func (s *Store) summaryFromRows(ctx context.Context, q query) (PredictionSummary, error) {
	var sum PredictionSummary
	// One group per (prediction, actual, bin): a classifier's few classes
	// make a few dozen rows, however large the selection.
	err := s.eachRow(ctx, `SELECT prediction, actual, `+binCase+`, count(*) FROM predictions`+q.sql()+
		` GROUP BY 1, 2, 3 ORDER BY 2, 1`, q.args, func(sc scanner) error {
		var (
			pred, bin, n int64
			actual       *int64
		)
		if err := sc.Scan(&pred, &actual, &bin, &n); err != nil {
			return err
		}
		sum.Count += n
		if bin < 0 {
			sum.NoProbability += n
		} else {
			sum.Bins[bin] += n
		}
		if actual == nil {
			return nil
		}
		sum.Labelled += n
		if *actual == pred {
			sum.Correct += n
		}
		// Rows arrive ordered by actual, then predicted: a pair's bins
		// are adjacent.
		if k := len(sum.Confusion) - 1; k >= 0 && sum.Confusion[k].Actual == *actual && sum.Confusion[k].Predicted == pred {
			sum.Confusion[k].Count += n
		} else {
			sum.Confusion = append(sum.Confusion, ConfusionCell{Actual: *actual, Predicted: pred, Count: n})
		}
		return nil
	})
	return sum, err
}

// rollupBins is the range of rollup probability bins [lo, hi] that f's
// probability filter selects (-1 included: no filter), and false when a
// bound is not a tenth, so the rows must be read.
func (f PredictionSearch) rollupBins() (lo, hi int64, ok bool) {
	lo, hi = -1, 20
	if f.MinProbability != nil {
		k, ok := tenths(*f.MinProbability)
		if !ok {
			return 0, 0, false
		}
		lo = 2 * k
	}
	if f.MaxProbability != nil {
		k, ok := tenths(*f.MaxProbability)
		if !ok {
			return 0, 0, false
		}
		hi = 2 * k
		lo = max(lo, 0) // BETWEEN leaves out the rows without a probability
	}
	return lo, hi, true
}

// summaryFromRollups is PredictionSearchSummary of a selection whose
// probability bins are [lo, hi], from the rollups.
func (s *Store) summaryFromRollups(ctx context.Context, f PredictionSearch, lo, hi int64) (PredictionSummary, error) {
	var sum PredictionSummary
	r, err := s.predictionRange(ctx, f.ModelID, f.Since.UTC(), f.Until.UTC(), 0, true)
	if err != nil {
		return sum, err
	}
	confusion := map[[2]int64]int64{}
	for k, n := range r.cells {
		switch {
		case n == 0 || k.pbin < lo || k.pbin > hi:
			continue
		case f.Class != nil && k.prediction != *f.Class:
			continue
		case f.WrongOnly && (!k.labeled || k.actual == k.prediction):
			continue
		case f.LabelledOnly && !k.labeled:
			continue
		}
		sum.Count += n
		if k.pbin < 0 {
			sum.NoProbability += n
		} else {
			sum.Bins[histogramBin(k.pbin)] += n
		}
		if !k.labeled {
			continue
		}
		sum.Labelled += n
		if k.actual == k.prediction {
			sum.Correct += n
		}
		confusion[[2]int64{k.actual, k.prediction}] += n
	}
	for k, n := range confusion {
		sum.Confusion = append(sum.Confusion, ConfusionCell{Actual: k[0], Predicted: k[1], Count: n})
	}
	slices.SortFunc(sum.Confusion, func(a, b ConfusionCell) int {
		return cmp.Or(cmp.Compare(a.Actual, b.Actual), cmp.Compare(a.Predicted, b.Predicted))
	})
	return sum, nil
}
