package webui_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/mlopsdev/mlops/store/storetest"
)

// TestBrowserDriftReport runs a drift check from the model page's form,
// lands on its report, finds the drifted feature first with its histogram
// and the table beside it, and follows the link to the version's timeline,
// where the report is the newest event, the last of the page.
func TestBrowserDriftReport(t *testing.T) {
	browser := newBrowser(t)
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			e := newEnv(t, engine, true)
			m := driftingModel(t, e, 40)
			b := newTab(t, browser, e.srv.URL)

			b.do("fill the drift check form",
				chromedp.Navigate(fmt.Sprintf("%s/models/%d", b.base, m.ID)),
				chromedp.WaitVisible(chromedp.CSS("#drift-check-form")),
				chromedp.SetValue(chromedp.CSS(`#drift-check-form input[name="current_hours"]`), "12"),
				chromedp.SetValue(chromedp.CSS(`#drift-check-form input[name="psi_threshold"]`), "0.25"),
			)
			b.snap("model")
			b.do("run the drift check",
				chromedp.Click(chromedp.CSS("#run-drift-check")),
				chromedp.WaitVisible(chromedp.CSS("#flash")),
			)
			rep := latestReport(t, e, m.ID)
			if loc := get(b, "read the location", chromedp.Location()); loc != fmt.Sprintf("%s/drift/%d", b.base, rep.ID) {
				b.fail("landed on the report", "at %s, want report %d", loc, rep.ID)
			}
			if msg := b.text("#flash"); !strings.Contains(msg, fmt.Sprintf("report %d: drift in amount", rep.ID)) {
				b.fail("the check's message", "flash %q", msg)
			}
			if w := b.text("#current-window"); !strings.Contains(w, "2026-11-20 01:00:00 UTC") {
				b.fail("the form's window", "current window %q, want 12 hours", w)
			}
			first := b.text("#features tbody tr:first-child th")
			result := b.text("#features tbody tr:first-child td")
			if first != "amount" || result != "drifted" {
				b.fail("the drifted feature first", "first row %q (%q), want amount, drifted", first, result)
			}
			hist := `figure.hist:first-of-type`
			feature := get(b, "read the first histogram", chromedp.AttributeValue(chromedp.CSS(hist), "data-feature"))
			bars := get(b, "count its bars", chromedp.Evaluate[int](`document.querySelectorAll('figure.hist:first-of-type svg rect').length`))
			label := get(b, "read its label", chromedp.Evaluate[string](`document.querySelector('figure.hist:first-of-type svg').getAttribute('aria-labelledby')`))
			if feature.Value != "amount" || bars != 20 || label == "" {
				b.fail("the histogram of amount", "first histogram of %q with %d bars, labelled by %q; want amount, 20, a title", feature.Value, bars, label)
			}
			// The text alternative: the figures of every bin in a table.
			rows := get(b, "count the table's rows", chromedp.Evaluate[int](`document.querySelectorAll('figure.hist:first-of-type table tbody tr').length`))
			last := b.text(hist + " table tbody tr:last-child")
			if rows != 10 || !strings.Contains(last, "10.0 %") || !strings.Contains(last, "60.0 %") || !strings.Contains(last, "+50.0 pp") {
				b.fail("the table beside the histogram", "%d rows, the last reads %q", rows, last)
			}
			b.snap("report")

			b.do("follow the link to the timeline",
				chromedp.Click(chromedp.CSS("#timeline-link")),
				chromedp.WaitVisible(chromedp.CSS("#timeline")),
			)
			entry := fmt.Sprintf(`#timeline li[data-kind="drift.reported"][data-id="%d"]`, rep.ID)
			newest := get(b, "read the newest event", chromedp.AttributeValue(chromedp.CSS("#timeline li:last-child"), "data-id"))
			if text := b.text(entry); newest.Value != fmt.Sprint(rep.ID) || !strings.Contains(text, fmt.Sprintf("drift report %d: drift in amount", rep.ID)) {
				b.fail("the report on the timeline", "newest event %q; the report's entry reads %q", newest.Value, text)
			}
			b.snap("timeline")
			b.do("back to the report from the timeline",
				chromedp.Click(chromedp.CSS(entry+" a")),
				chromedp.WaitVisible(chromedp.CSS("#features")),
			)
			if loc := get(b, "read the location", chromedp.Location()); loc != fmt.Sprintf("%s/drift/%d", b.base, rep.ID) {
				b.fail("the timeline links to the report", "at %s", loc)
			}
		})
	}
}
