package webui_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/mlopsdev/mlops/store"
)

// TestBrowserCharts draws the charts in Chromium: the metrics chart has a
// line per model version and a point per bucket with data, hovering it shows
// a value in the legend, and a quick range changes the range; the overview
// and the model page draw the small charts of live performance, whose
// cursors move together. Every page checked has a text alternative for each
// chart and a label for each form field, and logs no error (a script or
// style the Content-Security-Policy refused, an exception).
//
// It runs on SQLite only: TestChartData checks the charts' data on both
// engines, and what the browser adds, drawing it, does not depend on one.
func TestBrowserCharts(t *testing.T) {
	browser := newBrowser(t)
	e := newEnv(t, store.SQLite, true)
	seedCharts(t, e)
	b := newTab(t, browser, e.srv.URL)
	errs := b.consoleErrors()
	browseMetricsChart(b)
	browseLiveCharts(b, e)
	if got := errs(); len(got) > 0 {
		t.Errorf("the pages logged errors:\n%s", strings.Join(got, "\n"))
	}
	b.checkErrorsSeen()
}

func browseMetricsChart(b *tab) {
	b.do("chart accuracy",
		chromedp.Navigate(b.base+"/ui/metrics?metric=accuracy&range=24h"),
		chromedp.WaitVisible(chromedp.CSS("#chart canvas")),
	)
	b.accessible("metrics")
	// seedCharts: churn v1 in 5 buckets, churn v2 in 2.
	lines := get(b, "count the legend's series", chromedp.Evaluate[int](`document.querySelectorAll("#chart .u-legend .u-series").length - 1`))
	drawn := get(b, "read the points drawn", chromedp.Evaluate[string](`document.querySelector("#chart .tchart-plot").dataset.points`))
	cells := get(b, "count the table's values", chromedp.Evaluate[int](
		`[...document.querySelectorAll("#chart tbody td")].filter((td) => td.textContent !== "—").length`))
	if lines != 2 || drawn != "7" || cells != 7 {
		b.fail("the metrics chart", "%d series in the legend, %s points drawn, %d values in the table; want 2 series (churn v1, churn v2) and 7 points", lines, drawn, cells)
	}
	b.snap("metrics")

	legend := `document.querySelector("#chart .u-legend .u-series:nth-child(2) .u-value").textContent`
	if v := get(b, "read the legend", chromedp.Evaluate[string](legend)); v != "—" {
		b.fail("the legend before hovering", "churn v1 reads %q, want —", v)
	}
	b.hover("#chart", 0, 0)
	if v := get(b, "read the legend", chromedp.Evaluate[string](legend)); v != "0.805" {
		b.fail("hover the first point", "the legend reads %q for churn v1, want 0.805 (its first bucket)", v)
	}
	b.snap("metrics-hover")

	b.do("pick the last 7 days",
		chromedp.Click(chromedp.CSS(`.quick-ranges a[title="last 7 days"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.quick-ranges a[aria-current="true"][title="last 7 days"]`)),
		chromedp.WaitVisible(chromedp.CSS("#chart canvas")),
	)
	span := get(b, "read the chart's range", chromedp.Evaluate[int](
		`(() => { const d = JSON.parse(document.querySelector("#chart script.tchart-data").textContent); return d.to - d.from; })()`))
	picked := get(b, "read the range field", chromedp.Value(chromedp.CSS(`select[name="range"]`)))
	if loc := get(b, "read the location", chromedp.Location()); !strings.Contains(loc, "range=7d") || picked != "7d" || span != 7*24*3600 {
		b.fail("the quick range", "at %s, the range field reads %q, the chart spans %d s; want 7 days", loc, picked, span)
	}
}

func browseLiveCharts(b *tab, e *env) {
	for _, path := range []string{"/", fmt.Sprintf("/models/%d", e.seed.churnV1.ID)} {
		fig := fmt.Sprintf("#live-%d", e.seed.churnV1.ID)
		b.do("load "+path, chromedp.Navigate(b.base+path), chromedp.WaitVisible(chromedp.CSS(fig+" canvas")))
		b.accessible(path)
		charts := get(b, "count the charts", chromedp.Evaluate[int](`document.querySelectorAll("`+fig+` .tchart-plot[data-points] canvas").length`))
		if charts != 5 {
			b.fail("the live charts of "+path, "%d charts drawn, want 5 (accuracy, F1, labeled share, latency p95, predictions)", charts)
		}
		// Hovering the accuracy chart moves the other charts' cursors: the
		// predictions chart shows its count of the same bucket.
		b.hover(fig+` .tchart-plot[data-chart-index="0"]`, 0, -1)
		values := get(b, "read the legends", chromedp.Evaluate[[]string](
			`[...document.querySelectorAll("`+fig+` .u-legend .u-series:nth-child(2) .u-value")].map((v) => v.textContent)`))
		if want := "[0.667 0.000 50.0 % 15.0 ms 6]"; fmt.Sprint(values) != want {
			b.fail("hover the live charts of "+path, "the legends read %v, want %s", values, want)
		}
		b.snap("live" + strings.TrimSuffix(strings.ReplaceAll(path, "/", "-"), "-"))
	}
}

// hover moves the mouse over the chart in sel, to the point of series
// (0-based) at index i of the axis; i = -1 is the last point.
func (b *tab) hover(sel string, series, i int) {
	b.t.Helper()
	at := get(b, "find the point", chromedp.Evaluate[[]float64](fmt.Sprintf(`(() => {
		const fig = document.querySelector(%[1]q).closest("figure");
		const d = JSON.parse(fig.querySelector("script.tchart-data").textContent);
		const plot = document.querySelector(%[1]q).closest(".tchart-plot") || document.querySelector(%[1]q + " .tchart-plot");
		const vals = d.charts[Number(plot.dataset.chartIndex)].series[%[2]d].values;
		let i = %[3]d;
		if (i < 0) i = vals.length - 1 - [...vals].reverse().findIndex((v) => v != null);
		else i = vals.findIndex((v) => v != null);
		const r = plot.querySelector(".u-over").getBoundingClientRect();
		return [r.left + r.width * (d.x[i] - d.from) / (d.to - d.from), r.top + r.height / 2];
	})()`, sel, series, i)))
	b.do("hover "+sel, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, at[0], at[1]))
}

// accessible fails the test unless every form field of the page has a
// label and every chart a text alternative (unlabelled, unnamedGraphics),
// and the name of each chart, its summary, is not empty.
func (b *tab) accessible(page string) {
	b.t.Helper()
	bad := get(b, "find unlabelled fields on "+page, chromedp.Evaluate[[]string](unlabelled))
	bad = append(bad, get(b, "find charts without a text alternative on "+page, chromedp.Evaluate[[]string](unnamedGraphics))...)
	bad = append(bad, get(b, "read the charts' names on "+page, chromedp.Evaluate[[]string](`[...document.querySelectorAll(".tchart-plot")]
		.filter((el) => el.getAttribute("role") !== "img" || !(document.getElementById(el.getAttribute("aria-labelledby")) || {}).textContent)
		.map((el) => "chart " + el.closest("figure").id + "/" + el.dataset.chartIndex + " has an empty name")`))...)
	if len(bad) > 0 {
		b.fail("accessibility of "+page, "%s", strings.Join(bad, "; "))
	}
}

// consoleErrors collects the errors the tab's pages log from now on; the
// function it returns stops and returns them.
func (b *tab) consoleErrors() func() []string {
	ctx, cancel := context.WithCancel(b.ctx)
	messages := chromedp.Console(ctx)
	var mu sync.Mutex
	var errs []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			// The UI has no favicon; a browser asks for one anyway.
			if (m.Type == chromedp.ConsoleError || m.IsException()) && !strings.HasSuffix(m.URL, "/favicon.ico") {
				mu.Lock()
				errs = append(errs, m.String()+" ("+m.URL+")")
				mu.Unlock()
			}
		}
	}()
	return func() []string {
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return errs
	}
}

// checkErrorsSeen shows that consoleErrors sees what the
// Content-Security-Policy refuses: an inline script.
func (b *tab) checkErrorsSeen() {
	b.t.Helper()
	errs := b.consoleErrors()
	get(b, "add an inline script", chromedp.Evaluate[bool](
		`(() => { const s = document.createElement("script"); s.textContent = "document.title = 'ran'"; document.body.append(s); return true; })()`))
	b.do("wait for the report", chromedp.Sleep(300*time.Millisecond))
	got := errs()
	title := get(b, "read the title", chromedp.Title())
	if title == "ran" || len(got) == 0 || !strings.Contains(strings.Join(got, "\n"), "Content Security Policy") {
		b.fail("the policy refuses inline script, and the refusal is seen", "title %q, errors logged: %q", title, got)
	}
}
