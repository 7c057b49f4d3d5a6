package webui_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/mlopsdev/mlops/store/storetest"
)

// TestBrowserCompareAndInvestigate, in Chromium: tick two versions in the
// model's table and compare them (the deltas and the best marked in text),
// activate the newer one from the comparison through its confirmation,
// which shows the differences; then narrow the predictions to the wrong
// ones and download them as CSV.
func TestBrowserCompareAndInvestigate(t *testing.T) {
	browser := newBrowser(t)
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			e := newEnv(t, engine, true)
			b := newTab(t, browser, e.srv.URL)
			v1, v2 := e.seed.churnV1.ID, e.seed.churnV2.ID
			labels := func(page string) {
				t.Helper()
				if fields := get(b, "labels on "+page, chromedp.Evaluate[[]string](unlabelled)); len(fields) > 0 {
					t.Errorf("%s: form fields without a label: %s", page, strings.Join(fields, ", "))
				}
			}

			b.do("select two versions",
				chromedp.Navigate(b.base+"/models?name=churn"),
				chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf("#pick-%d", v1))),
				chromedp.Click(chromedp.CSS(fmt.Sprintf("#pick-%d", v1))),
				chromedp.Click(chromedp.CSS(fmt.Sprintf("#pick-%d", v2))),
			)
			labels("the model's versions")
			b.snap("versions")
			b.do("compare them",
				chromedp.Click(chromedp.CSS("#compare-button-churn")),
				chromedp.WaitVisible(chromedp.CSS("#compare-table")),
			)
			if loc := get(b, "read the location", chromedp.Location()); loc != fmt.Sprintf("%s/models/compare?id=%d&id=%d", b.base, v2, v1) {
				b.fail("the comparison's address", "at %s", loc)
			}
			// v2's accuracy is the best, said in words, with its delta.
			best := b.text("#row-accuracy td.best")
			cols := get(b, "the best cell's column", chromedp.Evaluate[int](`document.querySelector('#row-accuracy td.best').cellIndex`))
			if cols != 2 || !strings.Contains(best, "0.930") || !strings.Contains(best, "best") || !strings.Contains(best, "+0.020 vs active") {
				b.fail("the best accuracy", "cell %d reads %q; want v2's column (2) with 0.930, best and +0.020 vs active", cols, best)
			}
			if n := get(b, "count best marks", chromedp.Evaluate[int](`document.querySelectorAll('#compare-table .badge.best').length`)); n != 2 {
				b.fail("best marks", "%d, want accuracy and F1", n)
			}
			b.snap("compare")

			b.do("activate v2 from the comparison",
				chromedp.Click(chromedp.CSS(fmt.Sprintf("#activate-%d", v2))),
				chromedp.WaitVisible(chromedp.CSS("#activation-diff")),
			)
			if diff := b.text("#activation-diff"); !strings.Contains(diff, "+0.020") || !strings.Contains(diff, "lightgbm") {
				b.fail("the confirmation's differences", "table reads %q", diff)
			}
			labels("the activation's confirmation")
			b.snap("confirm-activation")
			b.do("confirm",
				chromedp.Click(chromedp.CSS("#confirm-activation-yes")),
				chromedp.WaitVisible(chromedp.CSS("#flash")),
			)
			if msg := b.text("#flash"); !strings.Contains(msg, "Activated churn v2. v1 was archived.") {
				b.fail("activation message", "flash %q", msg)
			}
			if m, err := e.st.ModelVersionGet(context.Background(), v2); err != nil || !m.IsActive {
				b.fail("activation in the database", "v2 active=%v (%v)", m.IsActive, err)
			}

			b.do("narrow the predictions to the wrong ones",
				chromedp.Navigate(fmt.Sprintf("%s/predictions?model_id=%d", b.base, v1)),
				chromedp.WaitVisible(chromedp.CSS("#f-wrong")),
				chromedp.Click(chromedp.CSS("#f-wrong")),
				chromedp.Click(chromedp.CSS("#apply-filters")),
				// The filtered page renders the box checked; the page before
				// has only been clicked (and has wrong rows too).
				chromedp.WaitVisible(chromedp.CSS("#f-wrong[checked]")),
				chromedp.WaitVisible(chromedp.CSS("tr.wrong-row")),
			)
			labels("the predictions")
			rows := get(b, "count the rows", chromedp.Evaluate[int](`document.querySelectorAll('table.predictions tbody tr').length`))
			summary := b.text("#selection-summary")
			if rows != 1 || !strings.Contains(summary, "1 prediction matches the filters") {
				b.fail("wrong only", "%d rows, summary %q; want the one wrong prediction", rows, summary)
			}
			b.snap("predictions-wrong")
			href := get(b, "read the CSV link", chromedp.AttributeValue(chromedp.CSS("#csv-link"), "href"))
			if !strings.Contains(href.Value, "wrong=1") {
				b.fail("the CSV link keeps the filter", "href %q", href.Value)
			}
			// The page's policy allows no fetch from script: download the
			// link's address as the browser would.
			code, csv := e.get(t, strings.TrimPrefix(href.Value, b.base))
			if code != 200 {
				b.fail("download the CSV", "GET %s: %d", href.Value, code)
			}
			lines := strings.Split(strings.TrimSpace(csv), "\n")
			if len(lines) != 2 || !strings.HasPrefix(lines[0], "id,created_at,") || !strings.Contains(lines[1], ",1,0.55,0,false,") {
				b.fail("the CSV of the wrong predictions", "%q", csv)
			}
		})
	}
}
