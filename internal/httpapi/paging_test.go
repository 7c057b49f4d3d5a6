package httpapi_test

import (
	"fmt"
	"net/url"
	"testing"
)

// pageAll walks a list with limit, calling between(page) after each page,
// and returns the ids in the order received.
func (c *client) pageAll(path string, limit int, between func(page int)) []int64 {
	c.t.Helper()
	var ids []int64
	cursor := ""
	for page := 0; ; page++ {
		q := fmt.Sprintf("%slimit=%d", sep(path), limit)
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		l := c.must(200, "GET", path+q, nil)
		items := l["items"].([]any)
		if len(items) > limit {
			c.t.Fatalf("page of %d items with limit %d", len(items), limit)
		}
		for _, it := range items {
			ids = append(ids, id(it.(map[string]any)))
		}
		if between != nil {
			between(page)
		}
		if l["next_cursor"] == nil {
			return ids
		}
		cursor = l["next_cursor"].(string)
		if page > 1000 {
			c.t.Fatalf("paging does not end")
		}
	}
}

func sep(path string) string {
	for _, r := range path {
		if r == '?' {
			return "&"
		}
	}
	return "?"
}

// TestPagination pages through 250 records of every list: each record
// exactly once, newest first, also while new records arrive between pages.
func TestPagination(t *testing.T) {
	each(t, func(t *testing.T, c *client) {
		mid := c.model("pager", "0")
		n := 250
		created := map[string][]int64{}
		add := map[string]func(i int) int64{
			"/api/v1/models": func(i int) int64 { return c.model("pager", fmt.Sprint("v", i+1)) },
			"/api/v1/alerts": func(i int) int64 {
				return id(c.must(201, "POST", "/api/v1/alerts", map[string]any{"alert_type": "t", "severity": "low", "title": fmt.Sprint(i)}))
			},
			"/api/v1/actions": func(i int) int64 {
				return id(c.must(201, "POST", "/api/v1/actions", map[string]any{"action_id": fmt.Sprint("a", i), "action_type": "t", "risk_level": "low"}))
			},
			fmt.Sprintf("/api/v1/predictions?model_id=%d", mid): func(i int) int64 {
				return id(c.must(201, "POST", "/api/v1/predictions", map[string]any{"model_id": mid, "prediction": i}))
			},
			"/api/v1/drift-reports": func(i int) int64 {
				return id(c.must(201, "POST", "/api/v1/drift-reports", map[string]any{"model_id": mid, "drift_detected": false}))
			},
		}
		for path, fn := range add {
			for i := 0; i < n; i++ {
				created[path] = append(created[path], fn(i))
			}
		}
		created["/api/v1/models"] = append(created["/api/v1/models"], mid)
		for path, fn := range add {
			want := created[path]
			var extra []int64
			got := c.pageAll(path, 100, func(page int) {
				// Rows inserted while a client pages are newer than its
				// cursor: they never shift or repeat its next page.
				extra = append(extra, fn(n+len(extra)))
			})
			seen := map[int64]int{}
			for i, g := range got {
				seen[g]++
				if i > 0 && g >= got[i-1] {
					t.Errorf("%s: not newest first at %d: %d after %d", path, i, g, got[i-1])
				}
			}
			for _, w := range want {
				if seen[w] != 1 {
					t.Errorf("%s: record %d seen %d times, want once", path, w, seen[w])
				}
			}
			for _, e := range extra {
				if seen[e] != 0 {
					t.Errorf("%s: record %d inserted while paging appeared in a later page", path, e)
				}
			}
			if len(got) != len(want) {
				t.Errorf("%s: %d records paged, want %d", path, len(got), len(want))
			}
		}
		// Default limit 100, and cursors this service did not issue.
		if items := c.must(200, "GET", "/api/v1/alerts", nil)["items"].([]any); len(items) != 100 {
			t.Errorf("default limit: %d items, want 100", len(items))
		}
		for _, bad := range []string{"nonsense", "djE6MTox", "%00", url.QueryEscape("v1:abc:1")} {
			problem(t, c.do("GET", "/api/v1/alerts?cursor="+bad, nil), 422, "query.cursor")
		}
		problem(t, c.do("GET", "/api/v1/alerts?limit=0", nil), 422, "query.limit")
	})
}
