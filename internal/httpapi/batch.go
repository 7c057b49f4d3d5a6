package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/mlopsdev/mlops"
)

// rawBatchIn is the input of the batch routes. Their bodies are decoded by
// decodeBatch instead of huma: huma validates a body by decoding it into
// generic maps and walking the schema, then decodes it again, which costs
// more than storing 10,000 rows. decodeBatch makes one strict pass with the
// same rules (unknown fields refused, required fields present, types
// checked, at most MaxBatchItems) and reports errors the same way. The
// prediction route first streams the items into the store (batchStream)
// and uses decodeBatch only when that is refused.
type rawBatchIn struct {
	RawBody []byte
}

// batchOperation documents a batch route's JSON body (schema of body) while
// huma hands the handler the raw bytes.
func batchOperation(api huma.API, op huma.Operation, body any) huma.Operation {
	schema := api.OpenAPI().Components.Schemas.Schema(reflect.TypeOf(body), true, "")
	op.RequestBody = &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{
		"application/json": {Schema: schema},
	}}
	op.SkipValidateBody = true
	return op
}

// dropRawBodyMediaType removes the application/octet-stream entry huma adds
// for RawBody: the route takes JSON only.
func dropRawBodyMediaType(api huma.API, path string) {
	if item := api.OpenAPI().Paths[path]; item != nil && item.Post != nil && item.Post.RequestBody != nil {
		delete(item.Post.RequestBody.Content, "application/octet-stream")
	}
}

// decodeBatch decodes a batch body W (such as {"predictions": [...]})
// strictly in one pass and returns its items. key is the list's JSON name,
// list picks the items out of W, and required names the required fields an
// item lacks. Malformed JSON is a 400 (huma.StatusError); anything else is a
// *mlops.ValidationError naming the field, e.g. predictions[3].prediction.
func decodeBatch[W, T any](raw []byte, key string, list func(*W) []T, required func(T) []string) ([]T, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, huma.Error400BadRequest("the request body is empty; send {\"" + key + "\": [...]}")
	}
	var w W
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(&w)
	if err == nil && dec.More() {
		err = errors.New("unexpected data after the top-level value")
	}
	if err != nil {
		if !json.Valid(raw) {
			var v any
			return nil, huma.Error400BadRequest("the request body is not valid JSON: " +
				strings.TrimPrefix(errString(json.Unmarshal(raw, &v)), "json: "))
		}
		return nil, locateError[T](raw, key, err)
	}
	items := list(&w)
	if items == nil {
		return nil, mlops.Invalid(key, "is required: send {\"%s\": [...]}", key)
	}
	if len(items) > MaxBatchItems {
		return nil, mlops.Invalid(key, "has %d items; at most %d per request (split the batch)", len(items), MaxBatchItems)
	}
	v := &mlops.ValidationError{}
	for i, it := range items {
		for _, name := range required(it) {
			v.Add(fmt.Sprintf("%s[%d].%s", key, i, name), "is required")
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return items, nil
}

// errNotStreamed says a batch body could not be streamed: it is not the
// plain {"<key>": [items...]}, or an item would not pass decodeBatch. The
// route then decodes the body again with decodeBatch, which says exactly
// what is wrong (or stores it, when the shape was merely unusual).
var errNotStreamed = errors.New("httpapi: batch body not streamed")

// batchStream decodes the items of a batch body one at a time, so that the
// store can write each item while the next is decoded. It accepts only
// what decodeBatch accepts, and fails with errNotStreamed on anything else.
type batchStream[T any] struct {
	dec      *json.Decoder
	n        int // items in the list, counted before decoding
	required func(T) []string
}

// newBatchStream starts reading a body {"<key>": [...]} with 1 to
// MaxBatchItems items; ok is false for any other body.
func newBatchStream[T any](raw []byte, key string, required func(T) []string) (b *batchStream[T], ok bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	if t, err := dec.Token(); err != nil || t != key {
		return nil, false
	}
	n := countItems(raw[dec.InputOffset():])
	if n < 1 || n > MaxBatchItems {
		return nil, false
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('[') {
		return nil, false
	}
	return &batchStream[T]{dec: dec, n: n, required: required}, true
}

// next decodes item i (called in order); after the last item it checks
// that the body ends there.
func (b *batchStream[T]) next(i int) (T, error) {
	var it T
	if err := b.dec.Decode(&it); err != nil || len(b.required(it)) > 0 {
		return it, errNotStreamed
	}
	if i == b.n-1 && !b.atEnd() {
		return it, errNotStreamed
	}
	return it, nil
}

func (b *batchStream[T]) atEnd() bool {
	for _, want := range []json.Delim{']', '}'} {
		if t, err := b.dec.Token(); err != nil || t != want {
			return false
		}
	}
	_, err := b.dec.Token()
	return err == io.EOF
}

// countItems counts the items of the JSON array after the ':' at the
// start of b, or returns -1 when there is none. It only follows strings,
// brackets and commas; the decoder checks the rest, so a malformed body
// that it miscounts is still refused.
func countItems(b []byte) int {
	b = bytes.TrimLeft(b, " \t\r\n:")
	if len(b) == 0 || b[0] != '[' {
		return -1
	}
	if rest := bytes.TrimLeft(b[1:], " \t\r\n"); len(rest) > 0 && rest[0] == ']' {
		return 0
	}
	commas, depth := 0, 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			// Skip the string: find its closing quote, past escapes.
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case '[', '{':
			depth++
		case ']', '}':
			depth--
			if depth == 0 {
				return commas + 1
			}
		case ',':
			if depth == 1 {
				commas++
			}
		}
	}
	return -1
}

// locateError finds what made a well-formed batch body fail to decode, so
// the error names the field and the item's index. It runs only on the error
// path.
func locateError[T any](raw []byte, key string, first error) error {
	var wrapper map[string]json.RawMessage
	if err := json.Unmarshal(raw, &wrapper); err != nil {
		return mlops.Invalid(key, "the body must be a JSON object {\"%s\": [...]}", key)
	}
	for k := range wrapper {
		if k != key {
			return mlops.Invalid(k, "unknown field %q: remove it (see /openapi.json for the accepted fields)", k)
		}
	}
	return locateItemError[T](wrapper[key], key, first)
}

// locateItemError finds which item of a list that failed to decode is bad,
// so the error names its index. It runs only on the error path.
func locateItemError[T any](list json.RawMessage, key string, first error) error {
	var raws []json.RawMessage
	if err := json.Unmarshal(list, &raws); err != nil {
		return mlops.Invalid(key, "must be an array of objects")
	}
	for i, r := range raws {
		var it T
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&it); err != nil {
			field, msg := describeDecodeError(err)
			loc := fmt.Sprintf("%s[%d]", key, i)
			if field != "" {
				loc += "." + field
			}
			return mlops.Invalid(loc, "%s", msg)
		}
	}
	field, msg := describeDecodeError(first)
	return mlops.Invalid(strings.TrimSuffix(key+"."+field, "."), "%s", msg)
}

// describeDecodeError turns an encoding/json error into a field name and a
// message for a person.
func describeDecodeError(err error) (field, msg string) {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return te.Field, fmt.Sprintf("must be %s, got %s", jsonKind(te.Type), te.Value)
	}
	s := errString(err)
	if name, ok := strings.CutPrefix(s, "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		return name, fmt.Sprintf("unknown field %q: remove it (see /openapi.json for the accepted fields)", name)
	}
	return "", strings.TrimPrefix(s, "json: ")
}

func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice:
		return "an array"
	}
	return "an object"
}

func errString(err error) string {
	if err == nil {
		return "unknown error"
	}
	return err.Error()
}
