package httpapi_test

import (
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// TestConcurrentActivation: 16 clients activate versions of one model while
// another polls the active version and the list: never two active.
func TestConcurrentActivation(t *testing.T) {
	each(t, func(t *testing.T, c *client) {
		const versions, clients, rounds = 8, 16, 6
		ids := make([]int64, versions)
		for i := range ids {
			ids[i] = c.model("race", fmt.Sprint(i))
		}
		c.model("bystander", "1")
		var wg sync.WaitGroup
		var done atomic.Bool
		var activated atomic.Int64
		errs := make(chan string, clients*rounds+100)
		for w := 0; w < clients; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for r := 0; r < rounds; r++ {
					v := ids[(w+r)%versions]
					res := c.do("POST", fmt.Sprintf("/api/v1/models/%d/activate", v), nil)
					if res.status != 200 {
						errs <- fmt.Sprintf("activate %d: %s", v, res)
						continue
					}
					activated.Add(1)
				}
			}(w)
		}
		polls := 0
		var pollWG sync.WaitGroup
		pollWG.Add(1)
		go func() {
			defer pollWG.Done()
			for !done.Load() || polls < 5 {
				polls++
				if r := c.do("GET", "/api/v1/models/active?model_name=race", nil); r.status != 200 && r.status != 404 {
					errs <- "active: " + r.String()
				}
				l := c.do("GET", "/api/v1/models?model_name=race", nil)
				if l.status != 200 {
					errs <- "list: " + l.String()
					continue
				}
				active := 0
				for _, it := range l.obj()["items"].([]any) {
					if it.(map[string]any)["is_active"] == true {
						active++
					}
				}
				if active > 1 {
					errs <- fmt.Sprintf("%d versions read as active at once", active)
				}
			}
		}()
		wg.Wait()
		done.Store(true)
		pollWG.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
		if activated.Load() != clients*rounds {
			t.Errorf("%d activations succeeded, want %d", activated.Load(), clients*rounds)
		}
		active := 0
		for _, it := range c.must(200, "GET", "/api/v1/models?model_name=race", nil)["items"].([]any) {
			m := it.(map[string]any)
			if m["is_active"] == true {
				active++
				if m["status"] != "production" {
					t.Errorf("active version in status %v", m["status"])
				}
			} else if m["status"] != "archived" {
				t.Errorf("inactive version %v in status %v, want archived", m["id"], m["status"])
			}
		}
		if active != 1 {
			t.Errorf("%d active versions at the end, want 1", active)
		}
		t.Logf("%d polls during %d activations", polls, activated.Load())
	})
}

// TestReviewRace: two reviewers race approve against reject on one pending
// action; exactly one gets 200 and the other 409, and the stored decision is
// the winner's.
func TestReviewRace(t *testing.T) {
	each(t, func(t *testing.T, c *client) {
		for trial := 0; trial < 25; trial++ {
			aid := fmt.Sprint("race-", trial)
			c.must(201, "POST", "/api/v1/actions", map[string]any{"action_id": aid, "action_type": "t", "risk_level": "high"})
			var wg sync.WaitGroup
			results := make([]resp, 2)
			start := make(chan struct{})
			for i, verb := range []string{"approve", "reject"} {
				wg.Add(1)
				go func(i int, verb string) {
					defer wg.Done()
					<-start
					results[i] = c.do("POST", "/api/v1/actions/"+aid+"/"+verb, map[string]any{"reviewer": verb + "-er"})
				}(i, verb)
			}
			close(start)
			wg.Wait()
			ok, conflict := 0, 0
			winner := ""
			for i, r := range results {
				switch r.status {
				case 200:
					ok++
					winner = []string{"approved", "rejected"}[i]
				case 409:
					conflict++
				default:
					t.Fatalf("trial %d: %s", trial, r)
				}
			}
			if ok != 1 || conflict != 1 {
				t.Fatalf("trial %d: %d×200 and %d×409, want one each", trial, ok, conflict)
			}
			if got := c.must(200, "GET", "/api/v1/actions/"+aid, nil)["status"]; got != winner {
				t.Fatalf("trial %d: stored status %v, but %s won", trial, got, winner)
			}
		}
	})
}

// BenchmarkCreatePrediction measures POST /api/v1/predictions over real
// HTTP with 16 concurrent clients (the seed's /predict logging path).
//
//	go test -run '^$' -bench CreatePrediction -benchtime 3000x ./internal/httpapi/
func BenchmarkCreatePrediction(b *testing.B) {
	for _, engine := range storetest.Engines {
		b.Run(string(engine), func(b *testing.B) {
			c := start(b, engine)
			mid := c.model("bench", "1")
			body := fmt.Sprintf(`{"model_id":%d,"features":{"age":42,"plan":"pro"},"prediction":1,"probability":0.87,"latency_ms":12.5}`, mid)
			c.http.Transport = &http.Transport{MaxIdleConnsPerHost: 64}
			b.SetParallelism(16 / runtime.GOMAXPROCS(0))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if r := c.do("POST", "/api/v1/predictions", body); r.status != 201 {
						b.Errorf("%s", r)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}

// BenchmarkPredictionBatch measures POST /api/v1/predictions/batch with
// 10,000 predictions per request.
//
//	go test -run '^$' -bench PredictionBatch -benchtime 5x ./internal/httpapi/
func BenchmarkPredictionBatch(b *testing.B) {
	for _, engine := range storetest.Engines {
		b.Run(string(engine), func(b *testing.B) {
			c := start(b, engine)
			mid := c.model("bench", "1")
			items := make([]string, 10000)
			for i := range items {
				items[i] = fmt.Sprintf(`{"model_id":%d,"features":{"age":%d,"plan":"pro"},"prediction":1,"probability":0.87,"latency_ms":12.5}`, mid, i)
			}
			body := []byte(`{"predictions":[` + strings.Join(items, ",") + `]}`)
			b.SetBytes(int64(len(body)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if r := c.do("POST", "/api/v1/predictions/batch", body); r.status != 201 {
					b.Fatalf("%d", r.status)
				}
			}
			b.ReportMetric(float64(b.N*len(items))/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// TestPoolSizeOne: with DATABASE_POOL_SIZE=1 concurrent requests of every
// kind (writes, transactions, lists, a streamed series) are all served.
func TestPoolSizeOne(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			c := serve(t, storetest.Open(t, engine, store.Options{PoolSize: 1}))
			mid := c.model("one", "1")
			c.must(201, "POST", "/api/v1/metrics/batch", map[string]any{"metrics": []any{
				map[string]any{"metric_name": "lat", "metric_value": 1}, map[string]any{"metric_name": "lat", "metric_value": 2}}})
			var wg sync.WaitGroup
			errs := make(chan string, 64)
			for w := 0; w < 16; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					tc := *c
					reqs := []struct {
						method, path string
						body         any
						want         int
					}{
						{"POST", "/api/v1/predictions", map[string]any{"model_id": mid, "prediction": 1}, 201},
						{"POST", "/api/v1/predictions/batch", map[string]any{"predictions": []any{map[string]any{"model_id": mid, "prediction": 0}}}, 201},
						{"POST", fmt.Sprintf("/api/v1/models/%d/activate", mid), nil, 200},
						{"GET", "/api/v1/models", nil, 200},
						{"GET", "/api/v1/metrics/lat", nil, 200},
						{"POST", "/api/v1/actions", map[string]any{"action_id": fmt.Sprint("p1-", w), "action_type": "t", "risk_level": "low"}, 201},
						{"POST", fmt.Sprintf("/api/v1/actions/p1-%d/approve", w), map[string]any{"reviewer": "r"}, 200},
						{"POST", fmt.Sprintf("/api/v1/actions/p1-%d/approve", w), map[string]any{"reviewer": "r"}, 409},
						{"GET", "/readyz", nil, 200},
					}
					for _, r := range reqs {
						if res := tc.do(r.method, r.path, r.body); res.status != r.want {
							errs <- fmt.Sprintf("%s %s: %s, want %d", r.method, r.path, res, r.want)
						}
					}
				}(w)
			}
			wg.Wait()
			close(errs)
			for e := range errs {
				t.Error(e)
			}
		})
	}
}
