package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/api"
	"github.com/mlopsdev/mlops/store"
)

// handle registers one operation that needs permission perm (see
// declare). The handler runs with the request's database timeout, and any
// error it returns is mapped by Server.problem, so every route answers the
// same statuses for the same store errors. The statuses a route can answer
// are added to the OpenAPI document: 400, 413 and 422 for a body, 404 for a
// path parameter, 503 and 500 always, plus the op's own Errors (409 where a
// conflict is possible). A route that creates (DefaultStatus 201) takes an
// Idempotency-Key (idempotent).
func handle[I, O any](api huma.API, s *Server, perm mlops.Permission, op huma.Operation, h func(ctx context.Context, in *I) (*O, error)) {
	declare(&op, perm)
	loc := "query"
	if op.Method != http.MethodGet {
		loc = "body"
		op.Errors = append(op.Errors, http.StatusBadRequest, http.StatusRequestEntityTooLarge)
		if op.MaxBodyBytes == 0 {
			op.MaxBodyBytes = MaxBodyBytes
		}
		if len(op.Middlewares) == 0 { // huma reads the body: check it first
			op.Middlewares = huma.Middlewares{s.strictJSON(op.MaxBodyBytes)}
		}
	}
	if op.DefaultStatus == http.StatusCreated {
		s.idempotent(&op) // the Idempotency-Key header
	}
	if strings.Contains(op.Path, "{") {
		op.Errors = append(op.Errors, http.StatusNotFound)
	}
	op.Errors = append(op.Errors, http.StatusUnprocessableEntity, http.StatusServiceUnavailable, http.StatusInternalServerError)
	slices.Sort(op.Errors)
	op.Errors = slices.Compact(op.Errors)
	huma.Register(api, op, func(ctx context.Context, in *I) (*O, error) {
		dctx, cancel := context.WithTimeout(ctx, s.timeout)
		defer cancel()
		out, err := h(dctx, in)
		if err != nil {
			return nil, s.problem(ctx, loc, err)
		}
		return out, nil
	})
}

// body is the output of a route answering one JSON document.
type body[T any] struct {
	Body T
}

func ok[T any](v T, err error) (*body[T], error) {
	if err != nil {
		return nil, err
	}
	return &body[T]{Body: v}, nil
}

// List is the shape of every list: a page of items in the order its route
// names (newest first but for a few, such as the timeline), and the cursor
// of the next page (null on the last page).
type List[T any] = api.List[T]

func list[T any](items []T, next string, err error) (*body[List[T]], error) {
	if err != nil {
		return nil, err
	}
	if items == nil {
		items = []T{}
	}
	out := &body[List[T]]{Body: List[T]{Items: items}}
	if next != "" {
		sealed := sealCursor(next)
		out.Body.NextCursor = &sealed
	}
	return out, nil
}

// PageParams are the paging query parameters of every list.
type PageParams struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"1000" default:"100" doc:"Page size."`
	Cursor string `query:"cursor" doc:"next_cursor of the previous page, unchanged."`
}

func (p PageParams) page() store.Page { return store.Page{Limit: p.Limit, Cursor: p.Cursor} }

// Resolve checks that the cursor is one this service issued and unseals
// it for the store. It runs with huma's input validation.
func (p *PageParams) Resolve(huma.Context) []error {
	if p.Cursor == "" {
		return nil
	}
	c, ok := unsealCursor(p.Cursor)
	if !ok {
		return []error{&huma.ErrorDetail{Location: "query.cursor",
			Message: "is not a cursor this service issued; pass next_cursor from the previous page unchanged"}}
	}
	p.Cursor = c
	return nil
}

// sealCursor appends a check to the store's keyset cursor, so a cursor this
// service did not issue (mistyped, truncated, made up) is refused instead
// of silently paging from an arbitrary position. The check is not a secret:
// it detects mistakes, and a forged position reveals nothing a query could
// not.
func sealCursor(c string) string { return c + "." + cursorCheck(c) }

func unsealCursor(s string) (string, bool) {
	i := strings.LastIndexByte(s, '.')
	if i <= 0 || s[i+1:] != cursorCheck(s[:i]) {
		return "", false
	}
	return s[:i], true
}

func cursorCheck(c string) string {
	sum := sha256.Sum256([]byte("mlops/cursor/v1\x00" + c))
	return base64.RawURLEncoding.EncodeToString(sum[:8])
}

// IDPath is a numeric record id in the path.
type IDPath struct {
	ID int64 `path:"id" minimum:"1" doc:"The record's id."`
}

// Object is a JSON object kept verbatim (numbers are not reparsed). JSON
// null means the field was left out.
type Object = api.Object

// objectSchema documents Object as a JSON object with any members. Package
// api does not import huma, so documentObject tells the schema registry to
// use this type's schema wherever an Object appears.
type objectSchema struct{}

// Schema is Object's schema.
func (objectSchema) Schema(huma.Registry) *huma.Schema {
	return &huma.Schema{Type: huma.TypeObject, AdditionalProperties: true}
}

// documentObject registers objectSchema as Object's schema in r; it must
// run before any operation that has an Object is registered.
func documentObject(r huma.Registry) {
	r.RegisterTypeAlias(reflect.TypeFor[Object](), reflect.TypeFor[objectSchema]())
}

// raw converts o for the domain types (nil stays nil).
func raw(o Object) json.RawMessage {
	if len(o) == 0 {
		return nil
	}
	return json.RawMessage(o)
}
