package client

import (
	"context"
	"iter"
	"net/url"
	"strconv"

	"github.com/mlopsdev/mlops/api"
)

// Page selects one page of a list.
type Page struct {
	// Limit is the page size, 1 to 1000; 0 means the server's default
	// (100).
	Limit int
	// Cursor is the NextCursor of the previous page, unchanged; "" is the
	// first page.
	Cursor string
}

func (p Page) set(q url.Values) {
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	if p.Cursor != "" {
		q.Set("cursor", p.Cursor)
	}
}

// all yields every item of a list, page after page from cursor, each page
// fetched by page when the previous one is used up. The first error ends
// the sequence.
func all[T any](ctx context.Context, cursor string, page func(ctx context.Context, cursor string) (api.List[T], error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for {
			l, err := page(ctx, cursor)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, item := range l.Items {
				if !yield(item, nil) {
					return
				}
			}
			if l.NextCursor == nil || *l.NextCursor == "" {
				return
			}
			cursor = *l.NextCursor
		}
	}
}

func setInt(q url.Values, name string, v int64) {
	if v != 0 {
		q.Set(name, strconv.FormatInt(v, 10))
	}
}

func setString(q url.Values, name, v string) {
	if v != "" {
		q.Set(name, v)
	}
}
