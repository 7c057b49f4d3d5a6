package httpapi

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/mlopsdev/mlops"
)

// JSON Lines imports (mlops import): one prediction or metric point
// object per line, read with the ingest routes' own strict decoder, so a
// line is accepted exactly when POST /api/v1/predictions (or
// /api/v1/metrics) would accept it as a body. Ranges are the store's to
// check, as for the routes.

// MaxLineBytes bounds one line of an import: the bound of the body of a
// single item.
const MaxLineBytes = MaxBodyBytes

// Line is one item of a JSON Lines input and its line number, from 1.
type Line[T any] struct {
	N    int
	Item T
}

// LineError is what is wrong with line N of a JSON Lines input: a
// *mlops.ValidationError naming the fields (features.city), or why the
// line is not one JSON object.
type LineError struct {
	N   int
	Err error
}

func (e *LineError) Error() string {
	v, ok := mlops.AsValidation(e.Err)
	if !ok {
		return fmt.Sprintf("line %d: %v", e.N, e.Err)
	}
	parts := make([]string, len(v.Fields))
	for i, f := range v.Fields {
		parts[i] = f.Message
		if f.Field != "" {
			parts[i] = f.Field + ": " + f.Message
		}
	}
	return fmt.Sprintf("line %d: %s", e.N, strings.Join(parts, "; "))
}

func (e *LineError) Unwrap() error { return e.Err }

// PredictionLines yields the predictions of r, JSON Lines, one object per
// line with the fields of POST /api/v1/predictions. Blank lines are
// skipped. The first bad line ends the sequence with a *LineError; an
// error reading r ends it too.
func PredictionLines(r io.Reader) iter.Seq2[Line[mlops.NewPrediction], error] {
	return decodeLines(r, decodePrediction)
}

// MetricLines is PredictionLines for metric points (the fields of POST
// /api/v1/metrics).
func MetricLines(r io.Reader) iter.Seq2[Line[mlops.NewPerformanceMetric], error] {
	return decodeLines(r, decodeMetric)
}

// decodeLines reads r a line at a time (at most MaxLineBytes each, so
// memory does not follow the input's size) and decodes each with item.
func decodeLines[T any](r io.Reader, item func(d *decoder, at field) (T, error)) iter.Seq2[Line[T], error] {
	return func(yield func(Line[T], error) bool) {
		br := bufio.NewReaderSize(r, 64<<10)
		d := newDecoder(bytes.NewReader(nil))
		var buf []byte
		for n := 1; ; n++ {
			line, err := readLine(br, &buf)
			if err != nil && err != io.EOF {
				if errors.Is(err, errLineTooLong) {
					yield(Line[T]{N: n}, &LineError{N: n, Err: err})
				} else {
					yield(Line[T]{N: n}, fmt.Errorf("read line %d: %w", n, err))
				}
				return
			}
			if len(bytes.TrimSpace(line)) > 0 {
				v, derr := decodeLine(d, line, item)
				if derr != nil {
					yield(Line[T]{N: n}, &LineError{N: n, Err: derr})
					return
				}
				if !yield(Line[T]{N: n, Item: v}, nil) {
					return
				}
			}
			if err == io.EOF {
				return
			}
		}
	}
}

var errLineTooLong = fmt.Errorf("is longer than %s: put one object on each line, each at most that long", bytesText(MaxLineBytes))

// readLine reads the next line of br without its end into *buf (reused),
// and returns it; io.EOF comes with the last line, which may be empty.
func readLine(br *bufio.Reader, buf *[]byte) ([]byte, error) {
	*buf = (*buf)[:0]
	for {
		chunk, err := br.ReadSlice('\n')
		if len(*buf)+len(chunk) > MaxLineBytes+2 { // its \r\n aside
			return nil, errLineTooLong
		}
		*buf = append(*buf, chunk...)
		switch err {
		case bufio.ErrBufferFull:
			continue
		case nil:
			return bytes.TrimSuffix(*buf, []byte("\n")), nil
		}
		return *buf, err
	}
}

// decodeLine decodes one line with item: one JSON object and nothing else.
// The objects the item keeps (features, metadata) are copied out of line.
func decodeLine[T any](d *decoder, line []byte, item func(d *decoder, at field) (T, error)) (T, error) {
	d.dec.Reset(bytes.NewReader(line))
	d.verr, d.more = mlops.ValidationError{}, 0
	v, err := item(d, field{})
	if err == nil {
		end := d.dec.InputOffset()
		if _, terr := d.dec.ReadToken(); terr != io.EOF {
			err = terr
			if terr == nil {
				err = fmt.Errorf("has more after its JSON object, which ends at column %d: put one object on each line", end)
			}
		}
	}
	if err != nil {
		return v, lineFailure(err)
	}
	if verr := d.err(); verr != nil {
		// d.verr is the next line's: keep a copy.
		fields := *verr.(*mlops.ValidationError)
		fields.Fields = append([]mlops.FieldError(nil), fields.Fields...)
		return v, &fields
	}
	return v, nil
}

// lineFailure words an error met while decoding a line: a duplicate name
// or invalid UTF-8 names its field, as for a request body; a syntax error
// says where on the line it is.
func lineFailure(err error) error {
	var se *jsontext.SyntacticError
	if _, ok := mlops.AsValidation(err); ok || !errors.As(err, &se) {
		return err
	}
	if _, ok := mlops.AsValidation(decodeFailure(err, MaxLineBytes)); ok {
		return decodeFailure(err, MaxLineBytes)
	}
	if errors.Is(se.Err, io.ErrUnexpectedEOF) {
		return errors.New("ends before its JSON object is complete: put each object on one line, whole")
	}
	return fmt.Errorf("is not valid JSON: %v (column %d)", se.Err, se.ByteOffset+1)
}
