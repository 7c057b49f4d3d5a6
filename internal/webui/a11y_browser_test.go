package webui_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// unnamedGraphics lists the charts and images of the page that a screen
// reader could not name: an svg or canvas needs an aria-label (its own or
// an ancestor's), aria-labelledby, or a figure with a figcaption, unless it
// is hidden from assistive technology; an img needs an alt.
const unnamedGraphics = `[...document.querySelectorAll('main svg, main canvas, main img')].filter(el => {
	if (el.closest('[aria-hidden="true"]')) return false;
	if (el.tagName === 'IMG') return !el.hasAttribute('alt');
	const fig = el.closest('figure');
	return !(el.closest('[aria-label]') || el.closest('[aria-labelledby]') || (fig && fig.querySelector('figcaption')));
}).map(el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className && el.className.baseVal !== undefined ? '.' + el.className.baseVal : (el.className ? '.' + el.className : '')))`

// TestEveryPageAccessible loads every page of the admin UI with data in
// Chromium and checks that every form field has a label and every chart or
// image a text alternative.
func TestEveryPageAccessible(t *testing.T) {
	browser := newBrowser(t)
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			e := newEnv(t, engine, true)
			b := newTab(t, browser, e.srv.URL)
			reports, _, err := e.st.DriftReportList(context.Background(), store.DriftReportFilter{Page: store.Page{Limit: 1}})
			if err != nil || len(reports) == 0 {
				t.Fatalf("seeded drift reports: %v, %v", reports, err)
			}
			churn := e.seed.churnV1.ID
			pages := []string{"/", "/models", fmt.Sprintf("/models/%d", churn), fmt.Sprintf("/models/%d/timeline", churn),
				"/approvals", "/alerts", "/alerts?status=resolved", "/drift", fmt.Sprintf("/drift/%d", reports[0].ID),
				"/ui/metrics?name=accuracy", fmt.Sprintf("/predictions?model_id=%d", churn), "/audit"}
			charts := 0
			for _, path := range pages {
				b.do("load "+path, chromedp.Navigate(b.base+path), chromedp.WaitVisible(chromedp.CSS("main h1")))
				if fields := get(b, "labels on "+path, chromedp.Evaluate[[]string](unlabelled)); len(fields) > 0 {
					t.Errorf("%s: form fields without a label: %s", path, strings.Join(fields, ", "))
				}
				if graphics := get(b, "text alternatives on "+path, chromedp.Evaluate[[]string](unnamedGraphics)); len(graphics) > 0 {
					t.Errorf("%s: charts or images without a text alternative: %s", path, strings.Join(graphics, ", "))
				}
				charts += get(b, "count charts on "+path, chromedp.Evaluate[int](`document.querySelectorAll('main svg, main canvas').length`))
			}
			if charts == 0 {
				t.Fatalf("no chart on any page: the text-alternative check saw nothing")
			}
		})
	}
}
