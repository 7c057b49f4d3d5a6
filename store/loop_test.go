package store_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/monitor"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// Closing the loop: the performance, alert and approval reports, rule
// settings and leases, the timeline, and all of them at scale.

func TestPerformanceReportHandComputed(t *testing.T) {
	loopEach(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := context.Background()
		c.Set(loopT0.Add(-2 * time.Hour))
		m := storetest.Model(t, s, "churn", "v1")
		other := storetest.Model(t, s, "churn", "v2")
		c.Set(loopT0.Add(-time.Hour))
		loopPredict(t, s, m.ID, 1, ptr[int64](0), ptr(1.0), "") // before the range

		// Hour 0: TP, FP, FN, unlabeled; latencies 10, 20, 30, 40.
		c.Set(loopT0.Add(5 * time.Minute))
		loopPredict(t, s, m.ID, 1, ptr[int64](1), ptr(10.0), "")
		loopPredict(t, s, m.ID, 1, ptr[int64](0), ptr(40.0), "")
		fn := loopPredict(t, s, m.ID, 0, nil, ptr(30.0), "")
		c.Set(loopT0.Add(59*time.Minute + 59*time.Second))
		loopPredict(t, s, m.ID, 0, nil, ptr(20.0), "")
		loopPredict(t, s, other.ID, 1, ptr[int64](1), ptr(1000.0), "")  // another version
		if _, err := s.PredictionSetActual(ctx, fn.ID, 1); err != nil { // ground truth arrives later
			t.Fatal(err)
		}
		// Hour 2: TP, TN, TP without latency; latencies 7, 5.
		c.Set(loopT0.Add(2 * time.Hour))
		loopPredict(t, s, m.ID, 1, ptr[int64](1), ptr(7.0), "")
		loopPredict(t, s, m.ID, 0, ptr[int64](0), ptr(5.0), "")
		loopPredict(t, s, m.ID, 1, ptr[int64](1), nil, "")
		c.Set(loopT0.Add(3 * time.Hour))

		rep, err := s.PerformanceReport(ctx, m.ID, store.PerformanceOptions{Bucket: "1h", Since: loopT0})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Buckets) != 2 || !rep.Buckets[0].BucketStart.Equal(loopT0) || !rep.Buckets[1].BucketStart.Equal(loopT0.Add(2*time.Hour)) {
			t.Fatalf("buckets = %+v, want hours 0 and 2", rep.Buckets)
		}
		b0, b2, tot := rep.Buckets[0], rep.Buckets[1], rep.Total
		if b0.Predictions != 4 || b0.Labeled != 3 || b2.Predictions != 3 || b2.Labeled != 3 || tot.Predictions != 7 || tot.Labeled != 6 {
			t.Fatalf("counts: hour0 %d/%d, hour2 %d/%d, total %d/%d; want 4/3, 3/3, 7/6",
				b0.Predictions, b0.Labeled, b2.Predictions, b2.Labeled, tot.Predictions, tot.Labeled)
		}
		loopNear(t, "hour0 labeled share", b0.LabeledShare, 0.75)
		loopNear(t, "hour0 accuracy", b0.Accuracy, 1.0/3)
		loopNear(t, "hour0 precision", b0.Precision, 0.5)
		loopNear(t, "hour0 recall", b0.Recall, 0.5)
		loopNear(t, "hour0 f1", b0.F1, 0.5)
		loopNear(t, "hour0 p50", b0.LatencyP50MS, 20) // rank ceil(0.5*4) = 2 of 10,20,30,40
		loopNear(t, "hour0 p95", b0.LatencyP95MS, 40) // rank ceil(3.8) = 4
		loopNear(t, "hour0 p99", b0.LatencyP99MS, 40)
		loopNear(t, "hour2 accuracy", b2.Accuracy, 1)
		loopNear(t, "hour2 precision", b2.Precision, 1)
		loopNear(t, "hour2 f1", b2.F1, 1)
		loopNear(t, "hour2 p50", b2.LatencyP50MS, 5) // rank 1 of 5,7
		loopNear(t, "hour2 p95", b2.LatencyP95MS, 7) // rank ceil(1.9) = 2
		loopNear(t, "total share", tot.LabeledShare, 6.0/7)
		loopNear(t, "total accuracy", tot.Accuracy, 4.0/6)
		loopNear(t, "total precision", tot.Precision, 0.75) // TP 3, FP 1
		loopNear(t, "total recall", tot.Recall, 0.75)       // FN 1
		loopNear(t, "total f1", tot.F1, 0.75)
		loopNear(t, "total p50", tot.LatencyP50MS, 10) // rank 3 of 5,7,10,20,30,40
		loopNear(t, "total p95", tot.LatencyP95MS, 40) // rank ceil(5.7) = 6
		loopNear(t, "total p99", tot.LatencyP99MS, 40)

		// Positive class 0: TP is the TN above, FP the FN, FN the FP.
		rep0, err := s.PerformanceReport(ctx, m.ID, store.PerformanceOptions{Bucket: "1d", Since: loopT0, PositiveClass: ptr[int64](0)})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep0.Buckets) != 1 || rep0.Buckets[0].Predictions != 7 {
			t.Fatalf("1d buckets = %+v, want one of 7 predictions", rep0.Buckets)
		}
		loopNear(t, "class-0 precision", rep0.Total.Precision, 0.5)
		loopNear(t, "class-0 recall", rep0.Total.Recall, 0.5)
		loopNear(t, "class-0 accuracy", rep0.Total.Accuracy, 4.0/6)

		// Lifetime of the active version includes the prediction before loopT0.
		if _, err := s.ModelVersionActivate(ctx, m.ID); err != nil {
			t.Fatal(err)
		}
		life, err := s.PerformanceReportActive(ctx, "churn", store.PerformanceOptions{Bucket: "1d"})
		if err != nil {
			t.Fatal(err)
		}
		if life.Total.Predictions != 8 || life.Total.Labeled != 7 {
			t.Errorf("lifetime total %d/%d, want 8/7", life.Total.Predictions, life.Total.Labeled)
		}
		loopNear(t, "lifetime p50", life.Total.LatencyP50MS, 10) // rank ceil(3.5) = 4 of 1,5,7,10,20,30,40

		// An empty range: no buckets, null ratios.
		empty, err := s.PerformanceReport(ctx, other.ID, store.PerformanceOptions{Since: loopT0.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if len(empty.Buckets) != 0 || empty.Total.Predictions != 0 {
			t.Errorf("empty report = %+v", empty)
		}
		loopNull(t, "empty accuracy", empty.Total.Accuracy)
		loopNull(t, "empty p50", empty.Total.LatencyP50MS)

		_, err = s.PerformanceReport(ctx, m.ID, store.PerformanceOptions{Bucket: "7m"})
		if _, ok := mlops.AsValidation(err); !ok {
			t.Errorf("bucket 7m: err = %v, want a validation error", err)
		}
		_, err = s.PerformanceReport(ctx, m.ID, store.PerformanceOptions{Bucket: "1m", Since: loopT0.Add(-365 * 24 * time.Hour)})
		if _, ok := mlops.AsValidation(err); !ok {
			t.Errorf("a year of minutes: err = %v, want a validation error", err)
		}
		if _, err = s.PerformanceReport(ctx, 999999, store.PerformanceOptions{}); !errors.Is(err, mlops.ErrNotFound) {
			t.Errorf("unknown model: err = %v, want ErrNotFound", err)
		}
	})
}

func TestAlertReportHandComputed(t *testing.T) {
	loopEach(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := context.Background()
		raise := func(at time.Duration, typ string, sev mlops.Severity) mlops.Alert {
			c.Set(loopT0.Add(at))
			a, err := s.AlertCreate(ctx, mlops.NewAlert{AlertType: typ, Severity: sev, Title: typ})
			if err != nil {
				t.Fatal(err)
			}
			return a
		}
		at := func(d time.Duration) { c.Set(loopT0.Add(d)) }
		c.Set(loopT0.Add(-48 * time.Hour))
		raise(-48*time.Hour, "old", mlops.SeverityInfo) // outside the range

		a1 := raise(0, "drift", mlops.SeverityHigh)
		a2 := raise(time.Minute, "performance", mlops.SeverityHigh)
		a3 := raise(2*time.Minute, "drift", mlops.SeverityLow)
		raise(3*time.Minute, "drift", mlops.SeverityCritical)
		at(10*time.Second + 123*time.Microsecond)
		must1(t)(s.AlertAcknowledge(ctx, a1.ID, "ann"))
		at(100 * time.Second)
		must1(t)(s.AlertResolve(ctx, a1.ID, "ann", ""))
		at(time.Minute + 30*time.Second)
		must1(t)(s.AlertAcknowledge(ctx, a2.ID, "bob"))
		at(2*time.Minute + 50*time.Second)
		must1(t)(s.AlertResolve(ctx, a3.ID, "bob", "flaky"))
		at(time.Hour)

		rep, err := s.AlertReport(ctx, loopT0.Add(-24*time.Hour), time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Total != 4 {
			t.Errorf("total = %d, want 4", rep.Total)
		}
		for k, want := range map[string]int64{"info": 0, "low": 1, "medium": 0, "high": 2, "critical": 1} {
			if rep.BySeverity[k] != want {
				t.Errorf("by severity %s = %d, want %d", k, rep.BySeverity[k], want)
			}
		}
		if rep.ByType["drift"] != 3 || rep.ByType["performance"] != 1 || len(rep.ByType) != 2 {
			t.Errorf("by type = %v", rep.ByType)
		}
		if rep.ByStatus["active"] != 1 || rep.ByStatus["acknowledged"] != 1 || rep.ByStatus["resolved"] != 2 {
			t.Errorf("by status = %v", rep.ByStatus)
		}
		// To acknowledge: 10.000123 s and 30 s; to resolve: 100 s and 50 s.
		if rep.TimeToAcknowledge.Count != 2 || rep.TimeToResolve.Count != 2 {
			t.Fatalf("counts = %d, %d; want 2, 2", rep.TimeToAcknowledge.Count, rep.TimeToResolve.Count)
		}
		loopNear(t, "mean time to ack", rep.TimeToAcknowledge.MeanSeconds, 20.0000615)
		loopNear(t, "p90 time to ack", rep.TimeToAcknowledge.P90Seconds, 30)
		loopNear(t, "mean time to resolve", rep.TimeToResolve.MeanSeconds, 75)
		loopNear(t, "p90 time to resolve", rep.TimeToResolve.P90Seconds, 100)

		empty, err := s.AlertReport(ctx, loopT0.Add(2*time.Hour), loopT0.Add(3*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if empty.Total != 0 || empty.TimeToAcknowledge.MeanSeconds != nil {
			t.Errorf("empty range = %+v", empty)
		}
	})
}

func TestApprovalReportHandComputed(t *testing.T) {
	loopEach(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := context.Background()
		file := func(at time.Duration, id, typ string) {
			c.Set(loopT0.Add(at))
			if _, err := s.ActionCreate(ctx, mlops.NewAgentAction{ActionID: id, ActionType: typ, RiskLevel: mlops.RiskLow}); err != nil {
				t.Fatal(err)
			}
		}
		file(0, "a1", "retrain_model")
		file(10*time.Second, "a2", "retrain_model")
		file(20*time.Second, "a3", "rollback")
		file(30*time.Second, "a4", "rollback")
		c.Set(loopT0.Add(60 * time.Second))
		must1(t)(s.ActionApprove(ctx, "a1", "ann", ""))
		c.Set(loopT0.Add(130 * time.Second))
		must1(t)(s.ActionReject(ctx, "a2", "bob", "no"))
		c.Set(loopT0.Add(200 * time.Second))
		must1(t)(s.ActionMarkExecuted(ctx, "a1", mlops.JSON(`{"ok":true}`)))
		c.Set(loopT0.Add(time.Hour))

		rep, err := s.ApprovalReport(ctx, loopT0.Add(-time.Hour), time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Pending != 2 || rep.OldestPendingAt == nil || !rep.OldestPendingAt.Equal(loopT0.Add(20*time.Second)) {
			t.Errorf("queue = %d, oldest %v; want 2, %v", rep.Pending, rep.OldestPendingAt, loopT0.Add(20*time.Second))
		}
		loopNear(t, "oldest pending age", rep.OldestPendingAgeSeconds, 3580)
		loopNear(t, "mean turnaround", rep.Turnaround.MeanSeconds, 90) // 60 s and 120 s
		loopNear(t, "p90 turnaround", rep.Turnaround.P90Seconds, 120)
		if len(rep.ByType) != 2 {
			t.Fatalf("by type = %+v", rep.ByType)
		}
		rt, rb := rep.ByType[0], rep.ByType[1] // ordered by action_type
		if rb.ActionType != "rollback" || rb.Proposed != 2 || rb.Pending != 2 || rb.Approved != 0 || rb.ApproveRatio != nil {
			t.Errorf("rollback = %+v", rb)
		}
		if rt.ActionType != "retrain_model" || rt.Proposed != 2 || rt.Approved != 1 || rt.Rejected != 1 || rt.Executed != 1 || rt.Pending != 0 {
			t.Errorf("retrain_model = %+v", rt)
		}
		loopNear(t, "retrain approve ratio", rt.ApproveRatio, 0.5)
	})
}

// TestPerformancePercentilesAgree logs the same random latencies (with
// ties) on both engines for sizes where p*n is and is not an integer, and
// checks both engines' percentiles against a nearest-rank computed here.
func TestPerformancePercentilesAgree(t *testing.T) {
	for _, n := range []int{1, 2, 3, 19, 20, 21, 99, 100, 101, 257} {
		rng := rand.New(rand.NewPCG(uint64(n), 7))
		lat := make([]float64, n)
		hour := make([]int, n)
		for i := range lat {
			lat[i] = float64(rng.IntN(50)) + float64(rng.IntN(4))/4 // ties on purpose
			hour[i] = rng.IntN(3)
		}
		want := func(vals []float64, p int) float64 {
			v := slices.Clone(vals)
			slices.Sort(v)
			return v[(p*len(v)+99)/100-1]
		}
		perHour := map[int][]float64{}
		for i := range lat {
			perHour[hour[i]] = append(perHour[hour[i]], lat[i])
		}
		loopEach(t, func(t *testing.T, s *store.Store, c *clock) {
			m := storetest.Model(t, s, "p", "v1")
			for i := range lat {
				c.Set(loopT0.Add(time.Duration(hour[i])*time.Hour + time.Duration(i)*time.Second))
				loopPredict(t, s, m.ID, 0, nil, &lat[i], "")
			}
			// Buckets under an hour read the rows: exact.
			rep, err := s.PerformanceReport(context.Background(), m.ID, store.PerformanceOptions{Bucket: "5m", Since: loopT0, Until: loopT0.Add(3 * time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range []int{50, 95, 99} {
				got := map[int]*float64{50: rep.Total.LatencyP50MS, 95: rep.Total.LatencyP95MS, 99: rep.Total.LatencyP99MS}[p]
				loopNear(t, fmt.Sprintf("n=%d total p%d", n, p), got, want(lat, p))
			}
			// Hourly buckets read the rollups' histogram: within a bin (2 %).
			rep, err = s.PerformanceReport(context.Background(), m.ID, store.PerformanceOptions{Since: loopT0, Until: loopT0.Add(3 * time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range []int{50, 95, 99} {
				got := map[int]*float64{50: rep.Total.LatencyP50MS, 95: rep.Total.LatencyP95MS, 99: rep.Total.LatencyP99MS}[p]
				withinBin(t, fmt.Sprintf("n=%d total p%d", n, p), got, want(lat, p))
				for _, b := range rep.Buckets {
					h := int(b.BucketStart.Sub(loopT0) / time.Hour)
					got := map[int]*float64{50: b.LatencyP50MS, 95: b.LatencyP95MS, 99: b.LatencyP99MS}[p]
					withinBin(t, fmt.Sprintf("n=%d hour %d p%d", n, h, p), got, want(perHour[h], p))
				}
			}
		})
	}
}

// withinBin checks that a percentile read from the latency histogram lies
// within one bin's width (2 %) of the exact value.
func withinBin(t *testing.T, name string, got *float64, want float64) {
	t.Helper()
	if got == nil {
		t.Errorf("%s = null, want %g", name, want)
		return
	}
	if math.Abs(*got-want) > 0.02*math.Abs(want)+1e-9 {
		t.Errorf("%s = %g, want %g within 2 %%", name, *got, want)
	}
}

// TestLargestAcceptedValues stores the largest values validation accepts
// (latency_ms = mlops.MaxLatencyMS, metric values of ±mlops.MaxMetricMagnitude,
// a huge drift_score) beside ordinary ones, and checks that every report,
// summary and series that aggregates them answers with finite figures on
// both engines: PostgreSQL's float avg accumulates squares, which 1e200
// overflowed. Just past the bounds is refused, naming the field.
func TestLargestAcceptedValues(t *testing.T) {
	loopEach(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := context.Background()
		m := storetest.Model(t, s, "churn", "v1")
		must1(t)(s.ModelVersionActivate(ctx, m.ID))
		const big = 1000
		c.Set(loopT0.Add(10 * time.Minute))
		batch := make([]mlops.NewPrediction, big)
		for i := range batch {
			batch[i] = mlops.NewPrediction{ModelID: m.ID, Prediction: 1, Actual: ptr[int64](1), LatencyMS: ptr[float64](mlops.MaxLatencyMS),
				Features: mlops.JSON(`{"x": 1}`)}
		}
		must1(t)(s.PredictionCreateBatch(ctx, batch))
		loopPredict(t, s, m.ID, 0, ptr[int64](1), ptr(12.5), "")
		for _, v := range []float64{mlops.MaxMetricMagnitude, -mlops.MaxMetricMagnitude, mlops.MaxMetricMagnitude, 0.5} {
			must1(t)(s.MetricCreate(ctx, mlops.NewPerformanceMetric{MetricName: "loss", MetricValue: v, ModelID: &m.ID}))
		}
		pts := make([]mlops.NewPerformanceMetric, big)
		for i := range pts {
			pts[i] = mlops.NewPerformanceMetric{MetricName: "loss", MetricValue: mlops.MaxMetricMagnitude}
		}
		must1(t)(s.MetricCreateBatch(ctx, pts))
		must1(t)(s.DriftReportCreate(ctx, mlops.NewDriftReport{ModelID: m.ID, DriftDetected: true, DriftScore: ptr(1e300)}))
		c.Set(loopT0.Add(time.Hour))

		finite := func(name string, v *float64) {
			t.Helper()
			if v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0)) {
				t.Errorf("%s = %v", name, *v)
			}
		}
		for _, b := range []store.Bucket{"1m", "1h", "1d"} {
			rep, err := s.PerformanceReport(ctx, m.ID, store.PerformanceOptions{Bucket: b, Since: loopT0})
			if err != nil || rep.Total.Predictions != big+1 {
				t.Fatalf("performance report (%s): %+v, %v", b, rep.Total, err)
			}
			for _, r := range append(rep.Buckets, rep.Total) {
				for name, v := range map[string]*float64{"p50": r.LatencyP50MS, "p95": r.LatencyP95MS, "p99": r.LatencyP99MS,
					"accuracy": r.Accuracy, "f1": r.F1, "labeled share": r.LabeledShare} {
					finite(string(b)+" "+name, v)
				}
			}
			if *rep.Total.LatencyP99MS != mlops.MaxLatencyMS {
				t.Errorf("p99 = %v, want %v", *rep.Total.LatencyP99MS, float64(mlops.MaxLatencyMS))
			}
		}
		must1(t)(s.PerformanceReportActive(ctx, "churn", store.PerformanceOptions{}))
		must1(t)(s.AlertReport(ctx, loopT0, time.Time{}))
		must1(t)(s.ApprovalReport(ctx, loopT0, time.Time{}))

		wantAvg := (big*float64(mlops.MaxLatencyMS) + 12.5) / (big + 1)
		byModel, err := s.PredictionStatsByModel(ctx, loopT0, 10)
		if err != nil || len(byModel) != 1 {
			t.Fatalf("stats by model: %+v, %v", byModel, err)
		}
		for _, since := range []time.Time{{}, loopT0} {
			st, err := s.PredictionStatsFor(ctx, m.ID, since)
			if err != nil || st.Count != big+1 {
				t.Fatalf("stats for the model since %v: %+v, %v", since, st, err)
			}
			for _, st := range []store.PredictionStats{st, byModel[0]} {
				finite("avg latency", st.AvgLatency)
				if d := *st.AvgLatency/wantAvg - 1; d > 1e-12 || d < -1e-12 {
					t.Errorf("avg latency = %v, want %v", *st.AvgLatency, wantAvg)
				}
				if *st.MaxLatency != mlops.MaxLatencyMS || *st.MinLatency != 12.5 {
					t.Errorf("min, max latency = %v, %v", *st.MinLatency, *st.MaxLatency)
				}
			}
		}
		for _, f := range []store.MetricFilter{{Name: "loss"}, {Name: "loss", ModelID: &m.ID}} {
			for b := range store.Buckets {
				rows, err := s.MetricBuckets(ctx, f, b)
				if err != nil || len(rows) == 0 {
					t.Fatalf("metric buckets %s %+v: %+v, %v", b, f, rows, err)
				}
				for _, r := range rows {
					finite("metric avg", &r.Avg)
					if r.Max != mlops.MaxMetricMagnitude || r.Avg > mlops.MaxMetricMagnitude {
						t.Errorf("bucket %+v", r)
					}
				}
			}
			pts, err := s.MetricSeries(ctx, f)
			if err != nil || len(pts) == 0 {
				t.Fatalf("metric series: %d points, %v", len(pts), err)
			}
		}
		if d, err := s.DriftReportLatestByName(ctx, "churn"); err != nil || *d.DriftScore != 1e300 {
			t.Errorf("latest drift report: %+v, %v", d, err)
		}
		if _, _, err := s.ModelSummaryList(ctx, "", 10); err != nil {
			t.Error(err)
		}

		_, err = s.PredictionCreate(ctx, mlops.NewPrediction{ModelID: m.ID, LatencyMS: ptr(1e200)})
		wantInvalid(t, err, "latency_ms")
		_, err = s.PredictionCreate(ctx, mlops.NewPrediction{ModelID: m.ID, LatencyMS: ptr(math.Nextafter(mlops.MaxLatencyMS, math.Inf(1)))})
		wantInvalid(t, err, "latency_ms")
		_, err = s.MetricCreate(ctx, mlops.NewPerformanceMetric{MetricName: "loss", MetricValue: -1e200})
		wantInvalid(t, err, "metric_value")
		_, err = s.MetricCreate(ctx, mlops.NewPerformanceMetric{MetricName: "loss", MetricValue: math.Nextafter(mlops.MaxMetricMagnitude, math.Inf(1))})
		wantInvalid(t, err, "metric_value")
		_, err = s.PredictionCreateBatch(ctx, []mlops.NewPrediction{{ModelID: m.ID}, {ModelID: m.ID, LatencyMS: ptr(1e200)}})
		wantInvalid(t, err, "predictions[1].latency_ms")
	})
}

func TestRuleSettings(t *testing.T) {
	loopEach(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := context.Background()
		r, err := s.RuleSettingsGet(ctx, "fraud")
		if err != nil || r.Enabled || r.PSIThreshold != 0.2 || r.KSThreshold != 0.1 || r != store.DefaultRuleSettings("fraud") {
			t.Fatalf("default settings = %+v, %v", r, err)
		}
		on := storetest.EnableRules(t, s, "fraud", func(r *store.RuleSettings) { r.MetricThreshold = ptr(0.8) })
		if got, err := s.RuleSettingsGet(ctx, "fraud"); err != nil || !got.Enabled || got.MetricThreshold == nil ||
			*got.MetricThreshold != 0.8 || !got.UpdatedAt.Equal(on.UpdatedAt) {
			t.Errorf("stored settings = %+v, %v; want %+v", got, err, on)
		}
		bad := store.DefaultRuleSettings("fraud")
		bad.Metric = "auc"
		bad.KSThreshold = 0
		err = func() error { _, err := s.RuleSettingsPut(ctx, bad); return err }()
		wantInvalid(t, err, "ks_threshold", "metric")
		all, err := s.RuleSettingsList(ctx)
		if err != nil || len(all) != 1 || all[0].ModelName != "fraud" {
			t.Errorf("list = %+v, %v", all, err)
		}
	})
}

// TestLease: a lease is the holder's until it expires; the holder renews
// it; another holder takes it once expired; only the holder releases it.
func TestLease(t *testing.T) {
	loopEach(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := context.Background()
		take := func(holder string, ttl time.Duration) bool {
			t.Helper()
			ok, err := s.LeaseAcquire(ctx, "rules/fraud", holder, ttl)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if !take("a", time.Minute) || take("b", time.Minute) {
			t.Fatal("a should hold the lease and b be refused")
		}
		c.Set(loopT0.Add(50 * time.Second))
		if !take("a", time.Minute) { // renewed: now until 1m50s
			t.Fatal("a could not renew its lease")
		}
		if h, exp, err := s.LeaseHolder(ctx, "rules/fraud"); err != nil || h != "a" || !exp.Equal(loopT0.Add(110*time.Second)) {
			t.Fatalf("holder %q until %v, %v", h, exp, err)
		}
		c.Set(loopT0.Add(100 * time.Second)) // past the first expiry, not the renewed one
		if take("b", time.Minute) {
			t.Fatal("b took a renewed lease")
		}
		if ok, _ := s.LeaseAcquire(ctx, "rules/churn", "b", time.Minute); !ok {
			t.Fatal("b could not take another model's lease")
		}
		c.Set(loopT0.Add(110 * time.Second)) // expired
		if !take("b", time.Minute) || take("a", time.Minute) {
			t.Fatal("b should have taken the expired lease from a")
		}
		must(t, s.LeaseRelease(ctx, "rules/fraud", "a")) // not a's: nothing happens
		if h, _, err := s.LeaseHolder(ctx, "rules/fraud"); err != nil || h != "b" {
			t.Fatalf("after a's release: holder %q, %v", h, err)
		}
		must(t, s.LeaseRelease(ctx, "rules/fraud", "b"))
		if _, _, err := s.LeaseHolder(ctx, "rules/fraud"); !errors.Is(err, mlops.ErrNotFound) {
			t.Fatalf("after b's release: %v, want ErrNotFound", err)
		}
		if !take("a", time.Minute) {
			t.Fatal("a could not take a released lease")
		}
		_, err := s.LeaseAcquire(ctx, "rules/fraud", "", time.Minute)
		wantInvalid(t, err, "lease")
	})
}

// TestClosingTheLoopMigration rolls migration 00002 back and forth on a
// database that holds alerts.
func TestClosingTheLoopMigration(t *testing.T) {
	loopEach(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := context.Background()
		a := must2[mlops.Alert](t)(s.AlertCreate(ctx, mlops.NewAlert{AlertType: "x", Severity: mlops.SeverityLow, Title: "t"}))
		if a.Occurrences != 1 || !a.LastSeenAt.Equal(a.CreatedAt) || a.DedupKey != nil || a.ModelID != nil {
			t.Errorf("hand-raised alert = %+v", a)
		}
		mig, err := s.Migrator()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := mig.Down(ctx, 1); err != nil {
			t.Fatalf("down to 1: %v", err)
		}
		if _, err := mig.Up(ctx, 0); err != nil {
			t.Fatalf("up again: %v", err)
		}
		if diff, err := mig.Check(ctx); err != nil || len(diff) != 0 {
			t.Errorf("schema after down/up differs: %v, %v", diff, err)
		}
		got, err := s.AlertGet(ctx, a.ID)
		if err != nil || got.Occurrences != 1 || !got.LastSeenAt.Equal(a.CreatedAt) {
			t.Errorf("alert after down/up = %+v, %v", got, err)
		}
	})
}

func TestTimeline(t *testing.T) {
	loopEach(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := context.Background()
		at := func(d time.Duration) { c.Set(loopT0.Add(d)) }
		at(-time.Hour)
		v1 := storetest.Model(t, s, "fraud", "v1")
		at(-30 * time.Minute)
		must1(t)(s.ModelVersionActivate(ctx, v1.ID))
		at(-20 * time.Minute)
		v2 := storetest.Model(t, s, "fraud", "v2")
		storetest.EnableRules(t, s, "fraud", nil)
		storetest.DriftData(t, s, c, loopT0, v1.ID, v1.ID, 0)
		at(3 * time.Hour)
		must1(t)(loopMonitor(s).DriftCheck(ctx, v1.ID, loopDriftOpts())) // report, alert, action at one instant
		alert := storetest.OpenAlerts(t, s)[0]
		action := storetest.Actions(t, s, mlops.ActionPending)[0]
		at(4 * time.Hour)
		must1(t)(s.AlertAcknowledge(ctx, alert.ID, "ann"))
		at(5 * time.Hour)
		must1(t)(s.ActionApprove(ctx, action.ActionID, "bob", "go"))
		at(6 * time.Hour)
		must1(t)(s.ActionMarkExecuted(ctx, action.ActionID, mlops.JSON(`{"new_version":"v2"}`)))
		at(7 * time.Hour)
		must1(t)(s.AlertResolve(ctx, alert.ID, "ann", "retrained"))
		at(8 * time.Hour)
		must1(t)(s.ModelVersionActivate(ctx, v2.ID))
		// Noise on another version that must not appear.
		must1(t)(s.AlertCreate(ctx, mlops.NewAlert{AlertType: "x", Severity: mlops.SeverityLow, Title: "unrelated"}))

		all, next, err := s.Timeline(ctx, v1.ID, store.Page{})
		if err != nil || next != "" {
			t.Fatalf("timeline: %v, next %q", err, next)
		}
		want := []struct {
			kind string
			at   time.Duration
		}{
			{store.EventModelRegistered, -time.Hour},
			{store.EventModelActivated, -30 * time.Minute},
			{store.EventDriftReported, 3 * time.Hour},
			{store.EventAlertRaised, 3 * time.Hour},
			{store.EventActionProposed, 3 * time.Hour},
			{store.EventAlertAcknowledged, 4 * time.Hour},
			{store.EventActionApproved, 5 * time.Hour},
			{store.EventActionExecuted, 6 * time.Hour},
			{store.EventAlertResolved, 7 * time.Hour},
			{store.EventModelArchived, 8 * time.Hour},
		}
		if len(all) != len(want) {
			t.Fatalf("%d events, want %d: %+v", len(all), len(want), all)
		}
		for i, w := range want {
			if all[i].Kind != w.kind || !all[i].At.Equal(loopT0.Add(w.at)) {
				t.Errorf("event %d = %s at %v, want %s at %v", i, all[i].Kind, all[i].At, w.kind, loopT0.Add(w.at))
			}
		}
		if e := all[6]; e.Subject != "action" || e.Ref != action.ActionID || e.Actor == nil || *e.Actor != "bob" ||
			!strings.Contains(e.Summary, "retrain_model") {
			t.Errorf("approved event = %+v", e)
		}
		if e := all[2]; e.Subject != "drift_report" || !strings.Contains(e.Summary, "drift in x") {
			t.Errorf("drift event = %+v", e)
		}

		// Pages of 3 (cutting through the three events of one instant) give
		// the same stream.
		var paged []store.TimelineEvent
		cursor := ""
		for pages := 0; ; pages++ {
			items, next, err := s.Timeline(ctx, v1.ID, store.Page{Limit: 3, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			paged = append(paged, items...)
			if next == "" {
				break
			}
			if pages > 5 {
				t.Fatal("paging does not end")
			}
			cursor = next
		}
		if !slices.EqualFunc(paged, all, func(a, b store.TimelineEvent) bool {
			return a.Kind == b.Kind && a.SubjectID == b.SubjectID && a.At.Equal(b.At)
		}) {
			t.Errorf("paged timeline differs:\n%+v\n%+v", paged, all)
		}

		// v2: registered and activated only.
		v2events, _, err := s.Timeline(ctx, v2.ID, store.Page{})
		if err != nil || len(v2events) != 2 || v2events[0].Kind != store.EventModelRegistered ||
			v2events[1].Kind != store.EventModelActivated {
			t.Errorf("v2 timeline = %+v, %v", v2events, err)
		}

		// Events of one instant and one kind follow their ids, a page of
		// one at a time as in one page.
		var reports []int64
		for range 3 {
			reports = append(reports, must2[mlops.DriftReport](t)(s.DriftReportCreate(ctx, mlops.NewDriftReport{ModelID: v2.ID})).ID)
		}
		var sameInstant []int64
		cursor = ""
		for pages := 0; ; pages++ {
			items, next, err := s.Timeline(ctx, v2.ID, store.Page{Limit: 1, Cursor: cursor})
			if err != nil || len(items) != 1 {
				t.Fatalf("page %d: %+v, %v", pages, items, err)
			}
			if items[0].Kind == store.EventDriftReported {
				sameInstant = append(sameInstant, items[0].SubjectID)
			}
			if next == "" {
				break
			}
			if pages > 5 {
				t.Fatal("paging does not end")
			}
			cursor = next
		}
		if !slices.Equal(sameInstant, reports) {
			t.Errorf("reports of one instant paged as %v, want %v", sameInstant, reports)
		}

		if _, _, err := s.Timeline(ctx, v1.ID, store.Page{Cursor: "bm9wZQ"}); !isField(err, "cursor") {
			t.Errorf("bad cursor: %v", err)
		}
		// A cursor of the newest-first order ("t1:0:1:1") would skip
		// events if read oldest first.
		if _, _, err := s.Timeline(ctx, v1.ID, store.Page{Cursor: "dDE6MDoxOjE"}); !isField(err, "cursor") {
			t.Errorf("cursor of the newest-first order: %v", err)
		}
		if _, _, err := s.Timeline(ctx, 999999, store.Page{}); !errors.Is(err, mlops.ErrNotFound) {
			t.Errorf("unknown model: %v", err)
		}
	})
}

// TestLoopScale runs the reports, the drift check and the timeline over a
// week of predictions whose last day drifts, checking their totals and that
// the drift is found, and logs how long each took. Every go test runs it
// over 5,000 predictions; MLOPS_LOOP_BENCH=N measures it at scale, as in:
//
//	MLOPS_LOOP_BENCH=1000000 go test ./store/ -run TestLoopScale -v -timeout 30m
func TestLoopScale(t *testing.T) {
	n := 5000
	if v := os.Getenv("MLOPS_LOOP_BENCH"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			t.Fatalf("MLOPS_LOOP_BENCH=%q: want a positive number of predictions", v)
		}
	}
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			now := loopT0
			s := storetest.Open(t, engine, store.Options{Now: func() time.Time { return now }, PoolSize: 4})
			m := storetest.Model(t, s, "scale", "v1")
			rng := rand.New(rand.NewPCG(1, 2))
			chunk := max(1, min(10000, n/50))
			span := 7 * 24 * time.Hour
			start := time.Now()
			for done := 0; done < n; done += chunk {
				now = loopT0.Add(time.Duration(float64(span) * (float64(done) + float64(chunk)/2) / float64(n)))
				shift := 0.0
				if now.After(loopT0.Add(6 * 24 * time.Hour)) {
					shift = 0.5 // the last day drifts
				}
				batch := make([]mlops.NewPrediction, 0, chunk)
				for i := 0; i < chunk && done+i < n; i++ {
					pred := int64(rng.IntN(2))
					var actual *int64
					if rng.IntN(2) == 0 {
						a := pred
						if rng.IntN(5) == 0 {
							a = 1 - pred
						}
						actual = &a
					}
					lat := rng.ExpFloat64() * 20
					batch = append(batch, mlops.NewPrediction{ModelID: m.ID, Prediction: pred, Actual: actual, LatencyMS: &lat,
						Features: mlops.JSON(fmt.Sprintf(`{"x": %.6f, "y": %.6f, "segment": "s%d"}`, rng.NormFloat64()+shift, rng.Float64(), i%7))})
				}
				if _, err := s.PredictionCreateBatch(ctx, batch); err != nil {
					t.Fatal(err)
				}
			}
			t.Logf("%s: loaded %d predictions in %v", engine, n, time.Since(start).Round(time.Millisecond))
			now = loopT0.Add(span)

			timed := func(name string, fn func() error) {
				t.Helper()
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				peak := before.HeapInuse
				stop := make(chan struct{})
				done := make(chan struct{})
				go func() { // sample the heap while fn runs
					defer close(done)
					var ms runtime.MemStats
					for {
						select {
						case <-stop:
							return
						case <-time.After(20 * time.Millisecond):
							runtime.ReadMemStats(&ms)
							peak = max(peak, ms.HeapInuse)
						}
					}
				}()
				st := time.Now()
				err := fn()
				el := time.Since(st)
				close(stop)
				<-done
				runtime.ReadMemStats(&after)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				t.Logf("%s: %s: %v, heap in use peak +%.1f MiB", engine, name, el.Round(time.Millisecond),
					float64(peak-min(peak, before.HeapInuse))/(1<<20))
			}
			timed("performance report, 7 days in 1h buckets", func() error {
				rep, err := s.PerformanceReport(ctx, m.ID, store.PerformanceOptions{Bucket: "1h", Since: loopT0})
				if err == nil && rep.Total.Predictions != int64(n) {
					err = fmt.Errorf("total %d, want %d", rep.Total.Predictions, n)
				}
				return err
			})
			timed("performance report, last 24 h in 1h buckets", func() error {
				_, err := s.PerformanceReport(ctx, m.ID, store.PerformanceOptions{Bucket: "1h", Since: now.Add(-24 * time.Hour)})
				return err
			})
			timed("drift check, last 24 h against the 6 days before", func() error {
				rep, err := loopMonitor(s).DriftCheck(ctx, m.ID, monitor.DriftCheckOptions{Reference: monitor.Window{From: loopT0}})
				if err == nil && !rep.DriftDetected {
					err = fmt.Errorf("no drift detected in a shifted day")
				}
				return err
			})
			timed("alerts report, 30 days", func() error { _, err := s.AlertReport(ctx, now.Add(-30*24*time.Hour), time.Time{}); return err })
			timed("timeline, first page", func() error { _, _, err := s.Timeline(ctx, m.ID, store.Page{}); return err })
		})
	}
}
