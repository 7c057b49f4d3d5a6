package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
// checked, at most MaxBatchItems) and reports errors the same way.
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
