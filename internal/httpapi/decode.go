package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/mlopsdev/mlops"
)

// The ingest routes (predictions and metric points, single and batch) read
// their bodies with one strict decoder instead of huma's (jsontext, a
// tokenizer that checks UTF-8 and refuses duplicate member names, walked
// by the functions below): field names are exact (a case variant is an
// unknown field); types and required fields are checked here, ranges by
// the domain's Validate in the store. A body is received as its bytes
// arrive, into memory that grows with them and never with a length the
// client declared (readSmall, receiveBatch), and decoded from there.
// Errors are problem details that name the field, e.g.
// body.predictions[17].model_id. The OpenAPI document still describes the
// bodies from the Go types (documentBody). docs/ingest.md has the design
// and its figures.

// maxFieldErrors bounds the field errors one answer lists.
const maxFieldErrors = 100

// decoder reads one JSON request body.
type decoder struct {
	dec   *jsontext.Decoder
	verr  mlops.ValidationError // type, required and unknown-field errors
	more  int                   // field errors beyond maxFieldErrors
	arena []byte                // holds the raw objects kept from the body
	src   *blocks               // the body, when it was received whole
	out   *answer               // the answer written by decodeBody, kept with d
}

// answer is a JSON answer encoded before it is written, as huma encodes
// one (encoding/json, HTML characters not escaped, a final newline).
type answer struct {
	buf bytes.Buffer
	enc *json.Encoder
}

func newAnswer() *answer {
	a := &answer{}
	a.enc = json.NewEncoder(&a.buf)
	a.enc.SetEscapeHTML(false)
	return a
}

func newDecoder(r io.Reader) *decoder {
	return &decoder{dec: jsontext.NewDecoder(r)}
}

// freeDecoders keeps up to 16 decoders of finished small bodies for the
// next ones (a new jsontext decoder costs some thirty allocations); its
// size is fixed, so what it keeps does not grow with concurrency.
var freeDecoders = make(chan *decoder, 16)

// reuseDecoder is newDecoder(r), from freeDecoders when one is there.
func reuseDecoder(r io.Reader) *decoder {
	select {
	case d := <-freeDecoders:
		d.dec.Reset(r)
		return d
	default:
		return newDecoder(r)
	}
}

// keepDecoder gives d to the next small body; nothing may use d, its
// errors or the objects it kept, after.
func keepDecoder(d *decoder) {
	*d = decoder{dec: d.dec, out: d.out} // the kept objects and the errors stay with their users
	if d.out != nil {
		d.out.buf.Reset()
	}
	select {
	case freeDecoders <- d:
	default:
	}
}

// fail records that the value at field is wrong; decoding goes on, so one
// answer lists every such field (up to maxFieldErrors).
func (d *decoder) fail(at field, format string, args ...any) {
	if len(d.verr.Fields) >= maxFieldErrors {
		d.more++
		return
	}
	d.verr.Add(at.String(), format, args...)
}

// field is where a value sits in the body: a member (name) of the body or
// of an item of a list (list, index). It becomes text only for an error,
// so decoding a valid body builds no paths.
type field struct {
	list  string // "": the body itself
	index int
	name  string
}

func (f field) String() string {
	at := ""
	if f.list != "" {
		at = f.list + "[" + strconv.Itoa(f.index) + "]"
	}
	return join(at, f.name)
}

// member is the field of member name of the object at f.
func (f field) member(name string) field {
	f.name = name
	return f
}

// err is the error of a body that was read to its end: the field errors,
// or nil.
func (d *decoder) err() error {
	if len(d.verr.Fields) == 0 {
		return nil
	}
	if d.more > 0 {
		d.verr.Add("", "and %d more invalid fields", d.more)
	}
	return &d.verr
}

// object reads a JSON object at at (the body, a member, or an item of a
// list), calling member for each member name; member must read the
// member's value. A value that is not an object is a field error.
func (d *decoder) object(at field, member func(name []byte) error) (isObject bool, err error) {
	if k := d.dec.PeekKind(); k != '{' {
		return false, d.wrongKind(at, "an object")
	}
	if _, err := d.dec.ReadToken(); err != nil {
		return true, err
	}
	for d.dec.PeekKind() != '}' {
		quoted, err := d.dec.ReadValue()
		if err != nil {
			return true, err
		}
		name := []byte(quoted[1 : len(quoted)-1])
		if bytes.IndexByte(name, '\\') >= 0 {
			if name, err = jsontext.AppendUnquote(nil, quoted); err != nil {
				return true, err
			}
		}
		if err := member(name); err != nil {
			return true, err
		}
	}
	_, err = d.dec.ReadToken()
	return true, err
}

// unknown records an unknown member and skips its value.
func (d *decoder) unknown(at field, name []byte, accepted string) error {
	d.fail(at.member(string(name)), "unknown field %q: remove it (accepted: %s; names are case-sensitive)", name, accepted)
	return d.dec.SkipValue()
}

// wrongKind records that the value at field is not want and skips it.
func (d *decoder) wrongKind(at field, want string) error {
	v, err := d.dec.ReadValue()
	if err != nil {
		return err
	}
	d.fail(at, "must be %s, got %s", want, kindName(v.Kind()))
	return nil
}

func kindName(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "an invalid value"
}

// integer reads an integer; null gives nil when nullable. A number with a
// fraction of zero (1.0, 1e3) is an integer, as in JSON Schema.
func (d *decoder) integer(at field, nullable bool) (*int64, error) {
	v, err := d.dec.ReadValue()
	if err != nil || (nullable && v.Kind() == 'n') {
		return nil, err
	}
	if v.Kind() != '0' {
		d.fail(at, "must be an integer, got %s", kindName(v.Kind()))
		return nil, nil
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(string(v), 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			d.fail(at, "must be an integer between -2^63 and 2^63-1, got %s", v)
			return nil, nil
		}
		n = int64(f)
	}
	return &n, nil
}

// number reads a finite number; null gives nil when nullable.
func (d *decoder) number(at field, nullable bool) (*float64, error) {
	v, err := d.dec.ReadValue()
	if err != nil || (nullable && v.Kind() == 'n') {
		return nil, err
	}
	if v.Kind() != '0' {
		d.fail(at, "must be a number, got %s", kindName(v.Kind()))
		return nil, nil
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil {
		d.fail(at, "must be a finite number, got %s", v)
		return nil, nil
	}
	return &f, nil
}

// str reads a string (already checked to be valid UTF-8).
func (d *decoder) str(at field) (string, error) {
	v, err := d.dec.ReadValue()
	if err != nil {
		return "", err
	}
	if v.Kind() != '"' {
		d.fail(at, "must be a string, got %s", kindName(v.Kind()))
		return "", nil
	}
	if bytes.IndexByte(v, '\\') < 0 {
		return string(v[1 : len(v)-1]), nil
	}
	s, err := jsontext.AppendUnquote(nil, v)
	return string(s), err
}

// time reads an RFC 3339 time; null gives nil.
func (d *decoder) time(at field) (*time.Time, error) {
	if d.dec.PeekKind() == 'n' {
		_, err := d.dec.ReadValue()
		return nil, err
	}
	s, err := d.str(at)
	if err != nil || s == "" {
		return nil, err
	}
	t, perr := time.Parse(time.RFC3339Nano, s)
	if perr != nil {
		d.fail(at, "must be an RFC 3339 time such as 2026-11-30T08:00:00Z, got %q", s)
		return nil, nil
	}
	return &t, nil
}

// rawObject reads a JSON object and keeps its bytes verbatim; null gives
// nil.
func (d *decoder) rawObject(at field) (mlops.JSON, error) {
	v, err := d.dec.ReadValue()
	if err != nil || v.Kind() == 'n' {
		return nil, err
	}
	if v.Kind() != '{' {
		d.fail(at, "must be a JSON object, got %s", kindName(v.Kind()))
		return nil, nil
	}
	if d.src != nil {
		if b, ok := d.src.slice(d.dec.InputOffset()-int64(len(v)), len(v)); ok && bytes.Equal(b, v) {
			return mlops.JSON(b), nil // the body's own bytes: no copy
		}
	}
	return mlops.JSON(d.keep(v)), nil
}

// keep copies b out of the decoder's buffer into an arena of blocks that
// grow from 512 bytes to 64 KiB, so many small objects cost few
// allocations and one small body a small one.
func (d *decoder) keep(b []byte) []byte {
	if len(b) > cap(d.arena)-len(d.arena) {
		d.arena = make([]byte, 0, max(min(2*cap(d.arena), 64<<10), 512, len(b)))
	}
	start := len(d.arena)
	d.arena = append(d.arena, b...)
	return d.arena[start:len(d.arena):len(d.arena)]
}

// end checks that nothing but white space follows the value read.
func (d *decoder) end() error {
	if _, err := d.dec.ReadToken(); err != io.EOF {
		if err == nil {
			return huma.Error400BadRequest(fmt.Sprintf("the request body has data after its JSON value (byte offset %d): send one JSON object", d.dec.InputOffset()))
		}
		return err
	}
	return nil
}

// list reads {"<key>": [items...]} with at most maxItems items, calling
// item for each with its index and field path ("predictions[3]").
func (d *decoder) list(key string, maxItems int, item func(at field) error) error {
	seen := false
	_, err := d.object(field{}, func(name []byte) error {
		if string(name) != key {
			return d.unknown(field{}, name, key)
		}
		seen = true
		if d.dec.PeekKind() != '[' {
			return d.wrongKind(field{name: key}, "an array of objects")
		}
		if _, err := d.dec.ReadToken(); err != nil {
			return err
		}
		for i := 0; d.dec.PeekKind() != ']'; i++ {
			if i == maxItems {
				return mlops.Invalid(key, "has more than %d items: split the batch into requests of at most %d", maxItems, maxItems)
			}
			if err := item(field{list: key, index: i}); err != nil {
				return err
			}
		}
		_, err := d.dec.ReadToken()
		return err
	})
	if err != nil {
		return err
	}
	if !seen && len(d.verr.Fields) == 0 {
		d.fail(field{name: key}, "is required: send {\"%s\": [...]}", key)
	}
	return nil
}

// join appends a member name to a field path ("predictions[3]" +
// "probability"); either may be empty.
func join(field, name string) string {
	if field == "" || name == "" {
		return field + name
	}
	return field + "." + name
}

// decodeFailure turns an error met while reading a body into the answer:
// a field error naming where a duplicate name or invalid UTF-8 was found
// (422), a syntax error with its byte offset (400), a body that is too
// large (413) or that stopped arriving (408).
func decodeFailure(err error, limit int64) error {
	var (
		se  *jsontext.SyntacticError
		mbe *http.MaxBytesError
		se2 huma.StatusError
		ve  *mlops.ValidationError
	)
	switch {
	case errors.As(err, &se2), errors.As(err, &ve):
		return err
	case errors.As(err, &mbe):
		return huma.Error413RequestEntityTooLarge(fmt.Sprintf("the request body is larger than %s: split it into smaller requests", bytesText(limit)))
	case errors.Is(err, os.ErrDeadlineExceeded):
		return huma.NewError(http.StatusRequestTimeout, "the request body stopped arriving: send it without pauses")
	case errors.As(err, &se):
		where := pointerField(se.JSONPointer)
		switch {
		case errors.Is(se.Err, jsontext.ErrDuplicateName):
			return mlops.Invalid(where, "appears twice in its object: send each field once")
		case strings.Contains(se.Err.Error(), "invalid UTF-8"), strings.Contains(se.Err.Error(), "surrogate"):
			return mlops.Invalid(where, "holds invalid UTF-8 (byte offset %d): send text as UTF-8", se.ByteOffset)
		case errors.Is(se.Err, io.ErrUnexpectedEOF):
			return huma.Error400BadRequest(fmt.Sprintf("the request body ends before its JSON value is complete (%d bytes read)", se.ByteOffset))
		}
		return huma.Error400BadRequest(fmt.Sprintf("the request body is not valid JSON: %v (byte offset %d)", se.Err, se.ByteOffset))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return huma.Error400BadRequest("the request body is empty or ends too early: send one JSON object")
	}
	return err
}

// pointerField turns a JSON Pointer (/predictions/3/features/a~1b) into a
// field path (predictions[3].features.a/b).
func pointerField(p jsontext.Pointer) string {
	var b strings.Builder
	for tok := range p.Tokens() {
		if _, err := strconv.Atoi(tok); err == nil && b.Len() > 0 {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	return b.String()
}

func bytesText(n int64) string {
	if n%(1<<20) == 0 {
		return strconv.FormatInt(n>>20, 10) + " MiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// idleBody is a request body whose every read must bring bytes within
// idle (and all of it must arrive by deadline): a client that stops
// sending is cut off in seconds, while a large body that keeps moving may
// take longer.
type idleBody struct {
	io.ReadCloser
	rc       *http.ResponseController
	idle     time.Duration
	deadline time.Time
}

func (b *idleBody) Read(p []byte) (int, error) {
	d := time.Now().Add(b.idle)
	if d.After(b.deadline) {
		d = b.deadline
	}
	_ = b.rc.SetReadDeadline(d) // not every connection supports deadlines
	return b.ReadCloser.Read(p)
}

type decodedKey struct{}

type decoded struct {
	v   any
	err error
}

// decodeBody returns a huma middleware that reads the request body with
// decode before the handler runs (after the access check); the handler
// takes the result with decodedBody. limit bounds the body: a larger one
// is 413, refused from its Content-Length before any byte is read.
//
// With store, a valid body is stored and answered 201 right here, without
// huma's handler path (its response writer and a second context timer
// cost more than decoding and storing the item); only a failure goes on to
// the handler, which answers it as every route does (Server.problem). A
// request that carries an Idempotency-Key always goes the handler's way.
func decodeBody[T any](s *Server, limit int64, decode func(d *decoder) (T, error), store func(ctx context.Context, v T) (any, error)) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		r, w := humago.Unwrap(ctx)
		var res decoded
		if r.ContentLength > limit {
			res.err = decodeFailure(&http.MaxBytesError{Limit: limit}, limit)
			w.Header().Set("Connection", "close") // the unread body is not drained
			next(huma.WithValue(ctx, decodedKey{}, res))
			return
		}
		rc := http.NewResponseController(w)
		var v T
		// A single item (at most 1 MiB) is read whole, within one idle
		// timeout, then decoded from memory: fewer reads and deadlines than
		// streaming a body of a few hundred bytes.
		rd, err := readSmall(w, r, rc, s.bodyIdle, limit)
		d := reuseDecoder(rd)
		if rd.Cap() <= 64<<10 {
			// The answer and the handler are done with d when next returns.
			defer keepDecoder(d)
		}
		if err == nil {
			v, err = decode(d)
		}
		if err == nil {
			err = d.end()
		}
		if err != nil {
			// The body may not have been read to its end, and the rest may
			// never come: close the connection after the answer instead of
			// waiting to drain it.
			w.Header().Set("Connection", "close")
			err = decodeFailure(err, limit)
		} else {
			_ = rc.SetReadDeadline(time.Time{})
			err = d.err()
		}
		if err == nil && store != nil && r.Header.Get("Idempotency-Key") == "" {
			sctx, cancel := context.WithTimeout(ctx.Context(), s.timeout)
			out, serr := store(sctx, v)
			cancel()
			if serr == nil {
				d.answer(w, http.StatusCreated, out)
				return
			}
			err = serr
		}
		next(huma.WithValue(ctx, decodedKey{}, decoded{v: v, err: err}))
	}
}

// answer writes v as the JSON answer with status, byte for byte what huma
// writes for a route's body. An error writing it is the connection's: the
// client has gone.
func (d *decoder) answer(w http.ResponseWriter, status int, v any) {
	if d.out == nil {
		d.out = newAnswer()
	}
	if err := d.out.enc.Encode(v); err != nil {
		writeProblem(w, newProblem(http.StatusInternalServerError, "internal error: the answer could not be encoded ("+err.Error()+"); this is a bug, please report it"))
		return
	}
	w.Header()["Content-Type"] = []string{"application/json"}
	w.WriteHeader(status)
	_, _ = w.Write(d.out.buf.Bytes())
}

// receiveBatch returns a huma middleware that receives a batch body whole
// (at most MaxBatchBodyBytes, in blocks that grow with the bytes received)
// before the handler runs; the handler decodes it from memory (batchBody).
// Each read must bring bytes within the idle timeout and the whole body
// must arrive within the body timeout, so a client that stalls never holds
// a database connection: the store is called only once every byte is here.
func (s *Server) receiveBatch(ctx huma.Context, next func(huma.Context)) {
	r, w := humago.Unwrap(ctx)
	res := decoded{}
	if r.ContentLength > MaxBatchBodyBytes {
		res.err = decodeFailure(&http.MaxBytesError{Limit: MaxBatchBodyBytes}, MaxBatchBodyBytes)
		w.Header().Set("Connection", "close") // the unread body is not drained
	} else {
		rc := http.NewResponseController(w)
		body := &idleBody{ReadCloser: http.MaxBytesReader(w, r.Body, MaxBatchBodyBytes), rc: rc,
			idle: s.bodyIdle, deadline: time.Now().Add(s.bodyTimeout)}
		raw, err := receive(body)
		// The handler is done with the body when next returns: the answer
		// of a batch holds ids only.
		defer raw.release()
		if err != nil {
			w.Header().Set("Connection", "close")
			res.err = decodeFailure(err, MaxBatchBodyBytes)
		} else {
			_ = rc.SetReadDeadline(time.Time{})
			res.v = raw
		}
	}
	next(huma.WithValue(ctx, decodedKey{}, res))
}

const blockSize = 64 << 10

// blocks is a body received whole, in blocks of up to 64 KiB; it reads
// them in order.
type blocks struct {
	b   [][]byte
	off int
}

// receive reads r to its end into blocks; on an error it returns what it
// read so far with the error.
func receive(r io.Reader) (*blocks, error) {
	out := &blocks{}
	for {
		if len(out.b) == 0 || len(out.b[len(out.b)-1]) == blockSize {
			out.b = append(out.b, newBlock())
		}
		last := &out.b[len(out.b)-1]
		n, err := r.Read((*last)[len(*last):blockSize])
		*last = (*last)[:len(*last)+n]
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// freeBlocks keeps at most 128 blocks (8 MiB) of finished batch bodies for
// the next ones: fresh memory is zeroed and faulted in page by page, which
// costs about a tenth of the write of a 10,000-row batch. Its size is
// fixed, so what it keeps does not grow with concurrency.
var freeBlocks = make(chan []byte, 128)

func newBlock() []byte {
	select {
	case b := <-freeBlocks:
		return b[:0]
	default:
		return make([]byte, 0, blockSize)
	}
}

// release gives b's blocks to the next bodies; nothing may use b, or a
// slice of it, after.
func (b *blocks) release() {
	for _, blk := range b.b {
		select {
		case freeBlocks <- blk[:0]:
		default:
			return
		}
	}
	b.b = nil
}

// slice returns the n bytes at offset off of the body when they lie in
// one block (all blocks but the last hold blockSize bytes).
func (b *blocks) slice(off int64, n int) ([]byte, bool) {
	i, at := int(off/blockSize), int(off%blockSize)
	if off < 0 || i >= len(b.b) || at+n > len(b.b[i]) {
		return nil, false
	}
	return b.b[i][at : at+n : at+n], true
}

func (b *blocks) Read(p []byte) (int, error) {
	for len(b.b) > 0 && b.off == len(b.b[0]) {
		b.b, b.off = b.b[1:], 0
	}
	if len(b.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, b.b[0][b.off:])
	b.off += n
	return n, nil
}

// batchBody is the body receiveBatch received for this request: a fresh
// decoder over it each call (the error path decodes a body a second time).
func batchBody(ctx context.Context) (func() *decoder, error) {
	raw, err := decodedBody[*blocks](ctx)
	if err != nil {
		return nil, err
	}
	return func() *decoder {
		again := *raw
		d := newDecoder(&again)
		d.src = raw
		return d
	}, nil
}

// decodeAll reads a whole batch body {"<key>": [...]} with item, and
// returns every item or the error that lists every bad field.
func decodeAll[T any](d *decoder, key string, item func(d *decoder, at field) (T, error)) ([]T, error) {
	var items []T
	err := d.list(key, MaxBatchItems, func(at field) error {
		v, err := item(d, at)
		items = append(items, v)
		return err
	})
	if err == nil {
		err = d.end()
	}
	if err != nil {
		return nil, decodeFailure(err, MaxBatchBodyBytes)
	}
	return items, d.err()
}

// readSmall reads a body of at most limit bytes whole; all of it must
// arrive within idle. Its buffer grows with the bytes received.
func readSmall(w http.ResponseWriter, r *http.Request, rc *http.ResponseController, idle time.Duration, limit int64) (*bytes.Buffer, error) {
	_ = rc.SetReadDeadline(time.Now().Add(idle)) // not every connection supports deadlines
	var buf bytes.Buffer
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit))
	return &buf, err
}

// decodedBody is what decodeBody read for this request.
func decodedBody[T any](ctx context.Context) (T, error) {
	res, _ := ctx.Value(decodedKey{}).(decoded)
	v, _ := res.v.(T)
	if res.v == nil && res.err == nil {
		return v, errors.New("httpapi: route registered without decodeBody")
	}
	return v, res.err
}

// documentBody documents the JSON request body of the POST route at path
// with the shape of body (from its Go type, as huma would), for a route
// whose body decodeBody reads: it is added to the OpenAPI document after
// registration, so huma itself does not read the body.
func documentBody(api huma.API, path string, body any) {
	schema := api.OpenAPI().Components.Schemas.Schema(reflect.TypeOf(body), true, "")
	api.OpenAPI().Paths[path].Post.RequestBody = &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{
		"application/json": {Schema: schema},
	}}
}

// failedAt reports whether a field error was recorded at field.
func (d *decoder) failedAt(at field) bool {
	where := at.String()
	for _, f := range d.verr.Fields {
		if f.Field == where {
			return true
		}
	}
	return false
}

// strictJSON checks the JSON body of a route that huma decodes for what
// huma would let through: a name twice in one object (huma keeps the last)
// and invalid UTF-8 (huma replaces it with U+FFFD). Such a body is a 422
// naming where it was found; any other body goes on to huma unchanged
// (its own answers cover malformed JSON).
func (s *Server) strictJSON(limit int64) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		r, w := humago.Unwrap(ctx)
		if r.ContentLength == 0 || r.ContentLength > limit {
			next(ctx)
			return
		}
		rc := http.NewResponseController(w)
		buf, err := readSmall(w, r, rc, s.bodyIdle, limit)
		if err != nil {
			w.Header().Set("Connection", "close")
			s.refuse(ctx.Context(), w, s.problem(ctx.Context(), "body", decodeFailure(err, limit)))
			return
		}
		_ = rc.SetReadDeadline(time.Time{})
		raw := buf.Bytes()
		r.Body = io.NopCloser(bytes.NewReader(raw))
		dec := jsontext.NewDecoder(bytes.NewReader(raw))
		if _, err := dec.ReadValue(); err != nil {
			if _, invalid := decodeFailure(err, limit).(*mlops.ValidationError); invalid {
				s.refuse(ctx.Context(), w, s.problem(ctx.Context(), "body", decodeFailure(err, limit)))
				return
			}
		}
		next(ctx)
	}
}

// bodyError marks an error met while decoding a body, so that code that
// gets it back from the store knows it is the body's.
type bodyError struct{ error }

func (e bodyError) Unwrap() error { return e.error }

// ingestRoutes describes an ingest resource: POST path takes one item,
// POST path/batch up to MaxBatchItems, all or nothing.
type ingestRoutes[In, Out any] struct {
	path, table        string // table names the ingest counter of /metrics
	tags               []string
	one, batch         huma.Operation // ids, summaries, descriptions
	oneBody, batchBody any            // the Go types the document shows
	item               func(d *decoder, at field) (In, error)
	store              func(ctx context.Context, in In) (Out, error)
	storeBatch         func(ctx context.Context, body func() *decoder) ([]int64, error)
}

// registerIngest registers the two routes of r; both need the ingest
// permission and read their bodies with the strict decoder.
func registerIngest[In, Out any](api huma.API, s *Server, r ingestRoutes[In, Out]) {
	for _, op := range []*huma.Operation{&r.one, &r.batch} {
		op.Method, op.Tags, op.DefaultStatus = http.MethodPost, r.tags, http.StatusCreated
		op.Errors = []int{http.StatusRequestTimeout}
	}
	storeOne := func(ctx context.Context, in In) (Out, error) {
		out, err := r.store(ctx, in)
		if err == nil {
			s.m.ingest(r.table, 1)
		}
		return out, err
	}
	r.one.Path = r.path
	r.one.Middlewares = huma.Middlewares{decodeBody(s, MaxBodyBytes,
		func(d *decoder) (In, error) { return r.item(d, field{}) },
		func(ctx context.Context, in In) (any, error) { return storeOne(ctx, in) })}
	handle(api, s, mlops.PermIngest, r.one, func(ctx context.Context, _ *struct{}) (*body[Out], error) {
		in, err := decodedBody[In](ctx)
		if err != nil {
			return nil, err
		}
		return ok(storeOne(ctx, in))
	})
	r.batch.Path, r.batch.MaxBodyBytes = r.path+"/batch", MaxBatchBodyBytes
	// A batch's Idempotency-Key is claimed in the batch's own transaction.
	r.batch.Middlewares = huma.Middlewares{s.receiveBatch, s.batchKey}
	r.batch.Metadata = map[string]any{keysInTransaction: true}
	handle(api, s, mlops.PermIngest, r.batch, func(ctx context.Context, _ *struct{}) (*body[BatchResult], error) {
		body, err := batchBody(ctx)
		if err != nil {
			return nil, err
		}
		ids, err := r.storeBatch(ctx, body)
		if res, replayed := replayedBatch(err); replayed {
			return res, nil
		}
		if err != nil {
			return nil, keyError(err)
		}
		s.m.ingest(r.table, len(ids))
		return ok(BatchResult{Count: len(ids), IDs: ids}, nil)
	})
	documentBody(api, r.one.Path, r.oneBody)
	documentBody(api, r.batch.Path, r.batchBody)
}
