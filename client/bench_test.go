package client_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/mlopsdev/mlops/client"
	"github.com/mlopsdev/mlops/store/storetest"
)

// BenchmarkIngest measures predictions per second reaching the database
// through a real server on each engine: through a PredictionLogger (Log
// b.N predictions, then Close, which returns once all are committed), and,
// in the same run, through single POSTs from one goroutine and from 16.
//
//	go test ./client/ -run '^$' -bench Ingest -benchtime 200000x
//
// (-benchtime sets b.N for every sub-benchmark; single POSTs are slower, so
// use something like -benchtime 5s to compare at equal durations.)
func BenchmarkIngest(b *testing.B) {
	for _, engine := range storetest.Engines {
		b.Run(string(engine), func(b *testing.B) {
			e := start(b, engine, serverOptions{})
			id := model(b, e.c, "churn", "1")
			ctx := context.Background()
			stored := func(b *testing.B, before int) {
				b.Helper()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "preds/s")
				b.ReportMetric(0, "ns/op")
				if got := count(b, e.st, "predictions") - before; got != b.N {
					b.Fatalf("%d predictions stored, want %d", got, b.N)
				}
			}

			b.Run("logger", func(b *testing.B) {
				before := count(b, e.st, "predictions")
				b.ResetTimer()
				l := client.NewPredictionLogger(e.c, client.LoggerOptions{})
				for i := range b.N {
					if err := l.Log(pred(id, i)); err != nil {
						b.Fatal(err)
					}
				}
				if err := l.Close(ctx); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				stored(b, before)
			})
			b.Run("single", func(b *testing.B) {
				before := count(b, e.st, "predictions")
				b.ResetTimer()
				for i := range b.N {
					if _, err := e.c.PredictionCreate(ctx, pred(id, i)); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				stored(b, before)
			})
			b.Run("single-16", func(b *testing.B) {
				before := count(b, e.st, "predictions")
				var i atomic.Int64
				b.SetParallelism(16)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := e.c.PredictionCreate(ctx, pred(id, int(i.Add(1)))); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.StopTimer()
				stored(b, before)
			})
		})
	}
}
