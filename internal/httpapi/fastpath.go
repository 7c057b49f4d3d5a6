package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strconv"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/mlopsdev/mlops"
)

// fastPrediction is the hot path of POST /api/v1/predictions, run as a
// huma middleware before huma reads the body. huma validates a body by
// decoding it into generic maps, walking the schema and decoding it again;
// for a one-row request that cost more than the row's share of the group
// commit. A plain, valid body (exact field names, each once, plain
// numbers, no query string, JSON in and out) is decoded here in one pass,
// logged and answered with exactly the bytes huma would write. Anything
// else is served by the regular handler with the body restored, so the
// answers to unusual or bad requests are huma's own; when Log fails, the
// regular handler answers that error (fastError) without logging again.
func (s *Server) fastPrediction(ctx huma.Context, next func(huma.Context)) {
	r, w := humago.Unwrap(ctx)
	if !plainJSONRequest(r, MaxBodyBytes) {
		next(ctx)
		return
	}
	raw, complete := readBody(r, make([]byte, 0, r.ContentLength+1))
	if !complete {
		next(ctx)
		return
	}
	in, ok := decodePrediction(raw)
	if !ok {
		next(ctx)
		return
	}
	dctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	p, err := s.ing.Log(dctx, in)
	cancel()
	if err != nil {
		// huma decodes the body again (it is still unread for it) and the
		// handler answers this error instead of logging the row again.
		next(huma.WithValue(ctx, fastErrKey{}, err))
		return
	}
	s.m.ingest("predictions", 1)
	s.fastServed.Add(1)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	enc := json.NewEncoder(w) // as huma.DefaultJSONFormat
	enc.SetEscapeHTML(false)
	_ = enc.Encode(p)
}

type fastErrKey struct{}

// fastError is the error fastPrediction or fastPredictionBatch got for
// this request's body, if it tried to store it.
func fastError(ctx context.Context) error {
	err, _ := ctx.Value(fastErrKey{}).(error)
	return err
}

// plainJSONRequest reports whether r is a JSON body of known length (at
// most limit) without query parameters that asks for JSON (or anything)
// back.
func plainJSONRequest(r *http.Request, limit int64) bool {
	if r.URL.RawQuery != "" || r.ContentLength <= 0 || r.ContentLength > limit {
		return false
	}
	switch r.Header.Get("Content-Type") {
	case "application/json", "application/json; charset=utf-8":
	default:
		return false
	}
	switch r.Header.Get("Accept") {
	case "", "*/*", "application/json":
		return true
	}
	return false
}

// readBody reads a body of r.ContentLength bytes into buf (which must
// have room for one byte more). When it is not exactly that long, or
// reading fails, complete is false. Either way r.Body is left to give the
// whole body again, for the regular handler.
func readBody(r *http.Request, buf []byte) (raw []byte, complete bool) {
	raw = buf[:r.ContentLength]
	n, err := io.ReadFull(r.Body, raw)
	raw = raw[:n]
	if err == nil {
		var one [1]byte
		if m, _ := r.Body.Read(one[:]); m == 0 {
			r.Body = io.NopCloser(bytes.NewReader(raw))
			return raw, true
		}
		raw = append(raw, one[0])
	}
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(raw), r.Body), r.Body}
	return nil, false
}

// decodePrediction decodes a body of POST /api/v1/predictions that is a
// plain, valid JSON object: the exact field names of NewPrediction, each at
// most once, model_id and prediction present, integers as plain integer
// literals, numbers within their documented ranges, features a JSON
// object. It returns ok false for anything else, including input that huma
// would accept in another spelling (field names in other cases, null for an
// optional field, 1.0 for an integer): those take the regular path.
func decodePrediction(b []byte) (in mlops.NewPrediction, ok bool) {
	d := scan{b: b}
	in, ok = d.prediction(false)
	return in, ok && d.end()
}

// prediction reads one object as decodePrediction describes; with
// nullable, null for an optional field means it is absent, as in
// encoding/json.
func (d *scan) prediction(nullable bool) (in mlops.NewPrediction, ok bool) {
	if !d.byte('{') {
		return in, false
	}
	var seen uint8
	const (
		fModel = 1 << iota
		fFeatures
		fPrediction
		fProbability
		fLatency
		fActual
	)
	for first := true; ; first = false {
		if first && d.peek() == '}' {
			break
		}
		key, ok := d.key()
		if !ok || !d.byte(':') {
			return in, false
		}
		var bit uint8
		switch key {
		case "model_id":
			bit = fModel
			in.ModelID, ok = d.integer()
			ok = ok && in.ModelID >= 1
		case "prediction":
			bit = fPrediction
			in.Prediction, ok = d.integer()
		case "actual":
			bit = fActual
			if !nullable || !d.null() {
				var v int64
				v, ok = d.integer()
				in.Actual = &v
			}
		case "probability":
			bit = fProbability
			if !nullable || !d.null() {
				var v float64
				v, ok = d.number()
				ok = ok && v >= 0 && v <= 1
				in.Probability = &v
			}
		case "latency_ms":
			bit = fLatency
			if !nullable || !d.null() {
				var v float64
				v, ok = d.number()
				ok = ok && v >= 0
				in.LatencyMS = &v
			}
		case "features":
			bit = fFeatures
			if !nullable || !d.null() {
				var obj []byte
				obj, ok = d.object()
				in.Features = mlops.JSON(obj)
			}
		default:
			return in, false
		}
		if !ok || seen&bit != 0 {
			return in, false
		}
		seen |= bit
		if d.byte(',') {
			continue
		}
		break
	}
	if !d.byte('}') || seen&(fModel|fPrediction) != fModel|fPrediction {
		return in, false
	}
	return in, true
}

// scan reads JSON tokens from b; each method skips the white space before
// its token.
type scan struct {
	b []byte
	i int
}

func (d *scan) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *scan) peek() byte {
	d.ws()
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

// byte consumes c if it is the next token.
func (d *scan) byte(c byte) bool {
	if d.peek() != c || d.i >= len(d.b) {
		return false
	}
	d.i++
	return true
}

// null consumes a JSON null.
func (d *scan) null() bool {
	if d.peek() == 'n' && bytes.HasPrefix(d.b[d.i:], []byte("null")) {
		d.i += 4
		return true
	}
	return false
}

func (d *scan) end() bool {
	d.ws()
	return d.i == len(d.b)
}

// key reads a string without escapes or control characters.
func (d *scan) key() (string, bool) {
	if !d.byte('"') {
		return "", false
	}
	start := d.i
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return string(d.b[start : d.i-1]), true
		case c == '\\' || c < 0x20:
			return "", false
		}
		d.i++
	}
	return "", false
}

// literal returns the JSON number at the cursor and whether it has a
// fraction or exponent; ok is false when the next token is not a number.
func (d *scan) literal() (lit []byte, integer, ok bool) {
	d.ws()
	start := d.i
	if d.i < len(d.b) && d.b[d.i] == '-' {
		d.i++
	}
	switch {
	case d.i < len(d.b) && d.b[d.i] == '0':
		d.i++
	case d.i < len(d.b) && d.b[d.i] >= '1' && d.b[d.i] <= '9':
		d.digits()
	default:
		return nil, false, false
	}
	integer = true
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if !d.digits() {
			return nil, false, false
		}
		integer = false
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if !d.digits() {
			return nil, false, false
		}
		integer = false
	}
	return d.b[start:d.i], integer, true
}

func (d *scan) digits() bool {
	start := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	return d.i > start
}

func (d *scan) integer() (int64, bool) {
	lit, integer, ok := d.literal()
	if !ok || !integer {
		return 0, false
	}
	v, err := strconv.ParseInt(string(lit), 10, 64)
	return v, err == nil
}

func (d *scan) number() (float64, bool) {
	lit, _, ok := d.literal()
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseFloat(string(lit), 64)
	return v, err == nil && !math.IsInf(v, 0)
}

// object returns the JSON object at the cursor, verbatim.
func (d *scan) object() ([]byte, bool) {
	if d.peek() != '{' {
		return nil, false
	}
	start, depth, inString := d.i, 0, false
	for ; d.i < len(d.b); d.i++ {
		c := d.b[d.i]
		if inString {
			switch c {
			case '\\':
				d.i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				d.i++
				obj := d.b[start:d.i]
				return obj, json.Valid(obj)
			}
		}
	}
	return nil, false
}

// predictionStream reads the items of a {"predictions": [...]} body with
// the one-pass decoder, for PredictionCreateStream. It accepts only plain
// items (as decodePrediction, plus null for an optional field); any other
// item, or anything after the list, ends the stream with errNotStreamed and
// the body goes to the strict decoder, which answers it exactly.
type predictionStream struct {
	d scan
	n int // items in the list, counted before decoding
}

// newPredictionStream starts reading a body {"predictions": [...]} with 1
// to MaxBatchItems items; ok is false for any other start.
func newPredictionStream(raw []byte) (p *predictionStream, ok bool) {
	d := scan{b: raw}
	if !d.byte('{') {
		return nil, false
	}
	if key, ok := d.key(); !ok || key != "predictions" {
		return nil, false
	}
	n := countItems(raw[d.i:])
	if n < 1 || n > MaxBatchItems || !d.byte(':') || !d.byte('[') {
		return nil, false
	}
	return &predictionStream{d: d, n: n}, true
}

// next decodes item i (called in order); after the last item it checks
// that the body ends there.
func (p *predictionStream) next(i int) (mlops.NewPrediction, error) {
	if i > 0 && !p.d.byte(',') {
		return mlops.NewPrediction{}, errNotStreamed
	}
	in, ok := p.d.prediction(true)
	if !ok || i == p.n-1 && !(p.d.byte(']') && p.d.byte('}') && p.d.end()) {
		return mlops.NewPrediction{}, errNotStreamed
	}
	return in, nil
}

// fastPredictionBatch is the hot path of POST /api/v1/predictions/batch,
// run as a huma middleware before huma reads the body. huma reads a body
// into a buffer that grows from 512 bytes; for a 1 MB batch that cost
// about as much as a tenth of the COPY (fresh memory is zeroed and faulted
// in page by page). A plain body of known length is read here into a
// reused buffer and streamed into the store; the answer is what huma
// writes. Every error, and whatever the stream refuses, goes to the
// regular handler with the body restored and the error in its context
// (fastError), so the body is neither streamed nor stored twice.
func (s *Server) fastPredictionBatch(ctx huma.Context, next func(huma.Context)) {
	r, w := humago.Unwrap(ctx)
	if !plainJSONRequest(r, MaxBatchBodyBytes) {
		next(ctx)
		return
	}
	buf := getBodyBuffer(int(r.ContentLength))
	defer putBodyBuffer(buf)
	raw, complete := readBody(r, buf)
	stream, ok := newPredictionStream(raw)
	if !complete || !ok {
		next(ctx)
		return
	}
	dctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	ids, err := s.st.PredictionCreateStream(dctx, stream.n, stream.next)
	cancel()
	if err != nil {
		// The regular handler answers err, or decodes the body strictly
		// when the stream refused it (it answers exactly, or stores a body
		// whose shape was only unusual), without streaming it again.
		next(huma.WithValue(ctx, fastErrKey{}, err))
		return
	}
	s.m.ingest("predictions", len(ids))
	s.fastServed.Add(1)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	enc := json.NewEncoder(w) // as huma.DefaultJSONFormat
	enc.SetEscapeHTML(false)
	_ = enc.Encode(BatchResult{Count: len(ids), IDs: ids})
}

// bodyBuffers keeps a few batch-sized buffers in use, so that reading a
// large body does not fault fresh memory in every time. At most
// len(bodyBuffers) × maxPooledBody bytes stay held.
var bodyBuffers = make(chan []byte, 4)

const maxPooledBody = 2 << 20

func getBodyBuffer(n int) []byte {
	if n > maxPooledBody {
		return make([]byte, 0, n+1)
	}
	select {
	case b := <-bodyBuffers:
		return b[:0]
	default:
		return make([]byte, 0, maxPooledBody+1)
	}
}

func putBodyBuffer(b []byte) {
	if cap(b) != maxPooledBody+1 {
		return
	}
	select {
	case bodyBuffers <- b:
	default:
	}
}
