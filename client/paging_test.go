package client_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/mlopsdev/mlops/client"
	"github.com/mlopsdev/mlops/store/storetest"
)

// TestPaging: one page at a time, and iterators that follow the cursors
// across pages, fetching no page they do not need.
func TestPaging(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			routes := &routeLog{}
			e := start(t, engine, serverOptions{wrap: routes.wrap})
			var ids []int64
			for i := range 25 {
				ids = append(ids, model(t, e.c, "churn", fmt.Sprint(i)))
			}
			pages := func() int {
				routes.mu.Lock()
				defer routes.mu.Unlock()
				n := 0
				for _, s := range routes.seen {
					if s == "GET /api/v1/models" {
						n++
					}
				}
				routes.seen = nil
				return n
			}

			f := client.ModelVersionFilter{ModelName: "churn", Page: client.Page{Limit: 10}}
			first, err := e.c.ModelVersionList(ctx, f)
			if err != nil || len(first.Items) != 10 || first.NextCursor == nil || first.Items[0].ID != ids[24] {
				t.Fatalf("first page: %d items, cursor %v, %v", len(first.Items), first.NextCursor, err)
			}
			f.Cursor = *first.NextCursor
			second, err := e.c.ModelVersionList(ctx, f)
			if err != nil || len(second.Items) != 10 || second.Items[0].ID != ids[14] {
				t.Fatalf("second page: %v", err)
			}
			pages()

			var got []int64
			for m, err := range e.c.ModelVersionListAll(ctx, client.ModelVersionFilter{Page: client.Page{Limit: 10}}) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, m.ID)
			}
			if len(got) != 25 || got[0] != ids[24] || got[24] != ids[0] || pages() != 3 {
				t.Fatalf("all: %v", got)
			}
			for i := 1; i < len(got); i++ {
				if got[i] >= got[i-1] {
					t.Fatalf("not newest first: %v", got)
				}
			}

			n := 0
			for _, err := range e.c.ModelVersionListAll(ctx, client.ModelVersionFilter{Page: client.Page{Limit: 10}}) {
				if err != nil {
					t.Fatal(err)
				}
				if n++; n == 12 {
					break
				}
			}
			if p := pages(); p != 2 {
				t.Fatalf("stopping after 12 items fetched %d pages, want 2", p)
			}

			// From a cursor: the rest only.
			if n, err := countAll(e.c.ModelVersionListAll(ctx, client.ModelVersionFilter{Page: client.Page{Limit: 10, Cursor: *first.NextCursor}})); err != nil || n != 15 {
				t.Fatalf("from the second page: %d, %v", n, err)
			}

			// An error ends the sequence, once.
			errs := 0
			for _, err := range e.c.ModelVersionListAll(ctx, client.ModelVersionFilter{Page: client.Page{Limit: 5000}}) {
				if err == nil || !client.IsInvalid(err) || !strings.Contains(err.Error(), "limit") {
					t.Fatalf("limit 5000: %v", err)
				}
				errs++
			}
			if errs != 1 {
				t.Fatalf("%d errors", errs)
			}
		})
	}
}
