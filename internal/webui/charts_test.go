package webui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
)

// chartThreshold is the accuracy threshold seedCharts gives churn's rule.
const chartThreshold = 0.82

// seedCharts adds to seed's data two accuracy points of churn v2 (in the
// 11:00 and 12:00 buckets, beside churn v1's five buckets) and a rule that
// watches churn's accuracy.
func seedCharts(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	for _, d := range []time.Duration{3*time.Hour + 10*time.Minute, 4*time.Hour + 20*time.Minute} {
		at := t0.Add(d)
		must(e.st.MetricCreate(ctx, mlops.NewPerformanceMetric{MetricName: "accuracy", MetricValue: 0.9, ModelID: &e.seed.churnV2.ID, CreatedAt: &at}))
	}
	rule := store.DefaultRuleSettings("churn")
	rule.Enabled, rule.MetricThreshold = true, ptr(chartThreshold)
	must(e.st.RuleSettingsPut(ctx, rule))
}

// chartJSON is the data block of a chart panel, as charts.js reads it.
type chartJSON struct {
	Small    bool
	From, To int64
	X        []int64
	Charts   []struct {
		Title, Unit string
		Series      []struct {
			Label  string
			Values []*float64
		}
		Refs []struct {
			Label, Kind string
			Value       float64
		}
	}
	Marks []struct {
		At          int64
		Kind, Label string
	}
}

// panelOf parses the data block of the chart panel with id in a page.
func panelOf(t *testing.T, body, id string) chartJSON {
	t.Helper()
	i := strings.Index(body, `id="`+id+`" data-chart`)
	if i < 0 {
		t.Fatalf("no chart panel %q in the page:\n%s", id, body)
	}
	const open = `<script type="application/json" class="tchart-data">`
	start := strings.Index(body[i:], open)
	end := strings.Index(body[i:], "</script>")
	if start < 0 || end < start {
		t.Fatalf("chart panel %q has no data block", id)
	}
	var p chartJSON
	if err := json.Unmarshal([]byte(body[i+start+len(open):i+end]), &p); err != nil {
		t.Fatalf("chart panel %q: %v in %s", id, err, body[i+start+len(open):i+end])
	}
	return p
}

// points counts the values of a series that are not null.
func points(values []*float64) int {
	n := 0
	for _, v := range values {
		if v != nil {
			n++
		}
	}
	return n
}

func TestChartData(t *testing.T) {
	t.Parallel()
	eachEngine(t, true, func(t *testing.T, e *env) {
		seedCharts(t, e)
		s := e.seed

		// The metrics chart: a line per model version with points, oldest
		// first, a point per bucket with data, the rule's threshold, and
		// the activations, alerts and drift reports of the window.
		_, body := e.get(t, "/ui/metrics?metric=accuracy&range=24h&bucket=1h")
		p := panelOf(t, body, "chart")
		if len(p.Charts) != 1 {
			t.Fatalf("metrics: %d charts, want 1", len(p.Charts))
		}
		c := p.Charts[0]
		var got []string
		for _, sr := range c.Series {
			got = append(got, fmt.Sprintf("%s:%d", sr.Label, points(sr.Values)))
		}
		if want := "[churn v1:5 churn v2:2]"; fmt.Sprint(got) != want {
			t.Errorf("metrics series %v, want %v", got, want)
		}
		if p.To-p.From != 24*3600 || len(p.X) != 24 || p.X[0]%3600 != 0 {
			t.Errorf("metrics axis from %d to %d, %d buckets starting %d; want 24 hourly buckets", p.From, p.To, len(p.X), p.X[0])
		}
		if i := (t0.Unix() - p.X[0]) / 3600; i < 0 || i >= int64(len(p.X)) || c.Series[0].Values[i] == nil || *c.Series[0].Values[i] != 0.805 {
			t.Errorf("churn v1 at 08:00: want the bucket's average 0.805 (axis %v)", p.X)
		}
		if len(c.Refs) != 1 || c.Refs[0].Kind != "threshold" || c.Refs[0].Label != "churn threshold" || c.Refs[0].Value != chartThreshold {
			t.Errorf("metrics reference lines %+v, want churn's threshold %v", c.Refs, chartThreshold)
		}
		kinds := map[string]int{}
		for _, m := range p.Marks {
			kinds[m.Kind]++
		}
		if kinds["activation"] != 1 || kinds["alert"] != 4 || kinds["drift"] != 2 {
			t.Errorf("metrics marks by kind %v, want 1 activation, 4 alerts, 2 drift reports", kinds)
		}
		contains(t, "metrics chart", body, `data-buckets="5"`, `<th scope="col" class="n">churn v1</th><th scope="col" class="n">churn v2</th>`,
			`<th scope="row">2026-11-20 12:00 UTC</th><td class="n">0.850</td><td class="n">0.900</td>`,
			"churn v2 from 0.900 to 0.900 over 2 buckets", "Dashed lines: churn threshold 0.820.", "— churn v1 activated",
			`<script src="/static/charts.js" defer></script>`)

		// One version: its line alone. Points of no version: a line of
		// their own.
		_, body = e.get(t, fmt.Sprintf("/ui/metrics?metric=accuracy&model_id=%d", s.churnV2.ID))
		if c := panelOf(t, body, "chart").Charts[0]; len(c.Series) != 1 || c.Series[0].Label != "churn v2" || points(c.Series[0].Values) != 2 {
			t.Errorf("metrics of churn v2: series %+v", c.Series)
		}
		_, body = e.get(t, "/ui/metrics?metric=latency_p99")
		if c := panelOf(t, body, "chart").Charts[0]; len(c.Series) != 1 || c.Series[0].Label != "other points" || c.Unit != "ms" {
			t.Errorf("latency_p99: unit %q, series %+v; want one series of other points in ms", c.Unit, c.Series)
		}

		// The overview and the model page: realized performance of the
		// active version, with its training metrics as reference lines
		// labelled training, never as a series.
		for _, path := range []string{"/", fmt.Sprintf("/models/%d", s.churnV1.ID)} {
			_, body := e.get(t, path)
			p := panelOf(t, body, fmt.Sprintf("live-%d", s.churnV1.ID))
			var titles []string
			refs := map[string][]string{}
			for _, c := range p.Charts {
				titles = append(titles, c.Title)
				for _, sr := range c.Series {
					if strings.Contains(strings.ToLower(sr.Label), "training") {
						t.Errorf("%s: series %q of %s is labelled as training", path, sr.Label, c.Title)
					}
				}
				for _, r := range c.Refs {
					refs[c.Title] = append(refs[c.Title], fmt.Sprintf("%s %s %v", r.Kind, r.Label, r.Value))
				}
			}
			if want := "[Realized accuracy Realized F1 Labeled share Latency p95 Predictions]"; fmt.Sprint(titles) != want {
				t.Errorf("%s: charts %v, want %v", path, titles, want)
			}
			want := map[string][]string{"Realized accuracy": {"training training 0.91", "threshold threshold 0.82"}, "Realized F1": {"training training 0.87"}}
			if fmt.Sprint(refs) != fmt.Sprint(want) {
				t.Errorf("%s: reference lines %v, want %v", path, refs, want)
			}
			if n := points(p.Charts[4].Series[0].Values); n != 1 || *p.Charts[4].Series[0].Values[len(p.X)-1] != 6 {
				t.Errorf("%s: predictions per bucket %v, want 6 in the last bucket", path, p.Charts[4].Series[0].Values)
			}
			contains(t, path, body, "Dashed lines: training 0.910, threshold 0.820.", "Realized accuracy per 1h bucket",
				`<th scope="row">2026-11-20 12:00 UTC</th><td class="n">0.667</td><td class="n">0.000</td><td class="n">50.0 %</td><td class="n">15.0 ms</td><td class="n">6</td>`)
		}
		// The model page's quick ranges change the window.
		_, body = e.get(t, fmt.Sprintf("/models/%d?range=7d", s.churnV1.ID))
		if p := panelOf(t, body, fmt.Sprintf("live-%d", s.churnV1.ID)); p.To-p.From != 7*24*3600 || len(p.Marks) != 3 {
			t.Errorf("model page over 7 days: %d s, %d marks; want 7 days and 3 marks", p.To-p.From, len(p.Marks))
		}
		contains(t, "model page over 7 days", body, `aria-current="true">7d</a>`, "last 7 days, per 1h bucket")
		if code, _ := e.get(t, fmt.Sprintf("/models/%d?range=2y", s.churnV1.ID)); code != 400 {
			t.Errorf("model page with range=2y: status %d, want 400", code)
		}
	})
}

// TestChartEmpty renders the pages with charts when there is nothing to
// chart (TestEmptyStates covers an empty store): each says so instead.
func TestChartEmpty(t *testing.T) {
	t.Parallel()
	eachEngine(t, false, func(t *testing.T, e *env) {
		_, body := e.get(t, "/")
		contains(t, "overview", body, "No model version is active, so there is no live performance to chart.")
		ctx := context.Background()
		m := must(e.st.ModelVersionCreate(ctx, mlops.NewModelVersion{ModelName: "quiet", Version: "v1", Algorithm: "a"}))
		must(e.st.ModelVersionActivate(ctx, m.ID))
		must(e.st.MetricCreate(ctx, mlops.NewPerformanceMetric{MetricName: "accuracy", MetricValue: 0.5, ModelID: &m.ID,
			CreatedAt: ptr(e.clk.Now().Add(-48 * time.Hour))}))
		for path, want := range map[string]string{
			"/":                                    "No prediction of quiet v1 in the last 24 h",
			fmt.Sprintf("/models/%d", m.ID):        "No prediction of this version in the last 24 hours",
			"/ui/metrics?metric=accuracy":          "No point of <code>accuracy</code> in this range.",
			"/ui/metrics?metric=accuracy&range=7d": `data-buckets="1"`,
		} {
			code, body := e.get(t, path)
			if code != 200 || strings.Contains(body, "tchart-data") != strings.Contains(want, "data-buckets") {
				t.Errorf("GET %s: status %d, a chart where there should be none or none where there should be one", path, code)
			}
			contains(t, path, body, want)
		}
	})
}
