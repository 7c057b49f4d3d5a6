// Command mlops-capacity writes realistic predictions or metric points as
// JSON Lines, one body of POST /api/v1/predictions (or /api/v1/metrics) a
// line, for `mlops import` to load. docs/capacity.md sizes the tables and
// the write-ahead log from such loads.
//
//	go run ./cmd/mlops-capacity --kind predictions --n 1000000 > predictions.jsonl
//	go run ./cmd/mlops-capacity --kind metrics --n 1000000 > metrics.jsonl
//
// A prediction has 5 to 10 numeric features (integers and decimals), a
// class, a probability and a latency; --actual of them carry ground truth.
// A metric point has one of a few names, a value and a model. Times are
// spread evenly over --days from --start, in order, as a live stream
// arrives. The output is the same for the same flags.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"time"
)

func main() {
	kind := flag.String("kind", "predictions", "predictions or metrics")
	n := flag.Int("n", 1_000_000, "rows to write")
	models := flag.Int("models", 5, "model ids 1..N, each row picks one")
	days := flag.Float64("days", 1, "the rows' times are spread over this many days")
	startS := flag.String("start", "2026-11-01T00:00:00Z", "time of the first row (RFC 3339)")
	actual := flag.Float64("actual", 0.3, "share of predictions that carry an actual")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	start, err := time.Parse(time.RFC3339, *startS)
	if err != nil || *n < 1 || *models < 1 || *days <= 0 || (*kind != "predictions" && *kind != "metrics") {
		fmt.Fprintln(os.Stderr, "usage: mlops-capacity --kind predictions|metrics --n N [--models N] [--days D] [--start RFC3339] [--actual SHARE] [--seed N]")
		os.Exit(2)
	}
	r := rand.New(rand.NewPCG(*seed, 0))
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	step := time.Duration(*days * float64(24*time.Hour) / float64(*n))
	var b []byte
	for i := range *n {
		at := start.Add(time.Duration(i) * step).UTC().Truncate(time.Microsecond)
		model := 1 + r.IntN(*models)
		if *kind == "predictions" {
			b = prediction(b[:0], r, model, at, r.Float64() < *actual)
		} else {
			b = metric(b[:0], r, model, at)
		}
		w.Write(b)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// features are the names a churn model's requests carry; a row has the
// first 5 to 10 of them.
var features = []string{"age", "tenure_months", "monthly_charges", "total_charges", "num_products",
	"support_calls", "days_since_login", "discount_pct", "credit_score", "visits_month"}

func prediction(b []byte, r *rand.Rand, model int, at time.Time, withActual bool) []byte {
	b = append(b, `{"model_id":`...)
	b = strconv.AppendInt(b, int64(model), 10)
	b = append(b, `,"features":{`...)
	k := 5 + r.IntN(6)
	for j := range k {
		if j > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, features[j]...)
		b = append(b, `":`...)
		if j%2 == 0 { // integers: ages, counts, days
			b = strconv.AppendInt(b, int64(r.IntN(1000)), 10)
		} else { // decimals: amounts, rates
			b = strconv.AppendFloat(b, float64(r.IntN(1_000_000))/100, 'f', -1, 64)
		}
	}
	p := r.Float64()
	class := 0
	if p >= 0.5 {
		class = 1
	}
	b = append(b, `},"prediction":`...)
	b = strconv.AppendInt(b, int64(class), 10)
	b = append(b, `,"probability":`...)
	b = strconv.AppendFloat(b, float64(int(p*10000))/10000, 'f', -1, 64)
	b = append(b, `,"latency_ms":`...)
	b = strconv.AppendFloat(b, float64(100+r.IntN(5000))/100, 'f', -1, 64)
	if withActual {
		b = append(b, `,"actual":`...)
		b = strconv.AppendInt(b, int64(r.IntN(2)), 10)
	}
	b = append(b, `,"created_at":"`...)
	b = at.AppendFormat(b, time.RFC3339Nano)
	return append(b, "\"}\n"...)
}

// metricNames are what a monitoring job reports per model.
var metricNames = []string{"accuracy", "f1", "latency_p95_ms", "requests_per_min", "psi_max"}

func metric(b []byte, r *rand.Rand, model int, at time.Time) []byte {
	b = append(b, `{"metric_name":"`...)
	b = append(b, metricNames[r.IntN(len(metricNames))]...)
	b = append(b, `","metric_value":`...)
	b = strconv.AppendFloat(b, float64(r.IntN(1_000_000))/10000, 'f', -1, 64)
	b = append(b, `,"model_id":`...)
	b = strconv.AppendInt(b, int64(model), 10)
	b = append(b, `,"created_at":"`...)
	b = at.AppendFormat(b, time.RFC3339Nano)
	return append(b, "\"}\n"...)
}
