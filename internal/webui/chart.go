package webui

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/mlopsdev/mlops/store"
)

// chart is a line chart of bucketed metric values, laid out on the server
// and drawn by the template as SVG: one point per bucket on the average
// line, and a band from each bucket's min to its max.
type chart struct {
	W, H              float64
	Left, Right       float64 // plot area, x
	Top, Bottom       float64 // plot area, y
	Points            []chartPoint
	Line              string // polyline points of the averages
	Band              string // polygon points of min..max
	YTicks, XTicks    []tick
	Min, Avg, Max     float64
	Count             int64
	Buckets           int
	From, To          time.Time
	BucketLabel, Name string
}

type chartPoint struct {
	X, Y  float64
	Title string
	B     store.MetricBucket
}

type tick struct {
	X, Y  float64
	Label string
}

// newChart lays out buckets over the window [from, to).
func newChart(name string, buckets []store.MetricBucket, from, to time.Time, width time.Duration, bucketLabel string) chart {
	c := chart{W: 800, H: 280, Left: 64, Right: 784, Top: 16, Bottom: 244, From: from, To: to,
		Buckets: len(buckets), BucketLabel: bucketLabel, Name: name}
	if len(buckets) == 0 {
		return c
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	var sum float64
	for _, b := range buckets {
		lo, hi = math.Min(lo, b.Min), math.Max(hi, b.Max)
		sum += b.Avg * float64(b.Count)
		c.Count += b.Count
	}
	c.Min, c.Max = lo, hi
	if c.Count > 0 {
		c.Avg = sum / float64(c.Count)
	}
	if hi == lo {
		pad := math.Abs(lo) * 0.1
		if pad == 0 {
			pad = 1
		}
		lo, hi = lo-pad, hi+pad
	} else {
		pad := (hi - lo) * 0.05
		lo, hi = lo-pad, hi+pad
	}
	// The x axis spans the whole window so gaps without data show as gaps;
	// each point sits in the middle of its bucket.
	span := to.Sub(from).Seconds()
	if span <= 0 {
		span = 1
	}
	x := func(t time.Time) float64 {
		f := t.Sub(from).Seconds() / span
		return round(c.Left + math.Max(0, math.Min(1, f))*(c.Right-c.Left))
	}
	y := func(v float64) float64 { return round(c.Bottom - (v-lo)/(hi-lo)*(c.Bottom-c.Top)) }

	var line, top, bottom []string
	for _, b := range buckets {
		mid := b.BucketStart.Add(width / 2)
		p := chartPoint{X: x(mid), Y: y(b.Avg), B: b,
			Title: fmt.Sprintf("%s: avg %s, min %s, max %s, %d points", b.BucketStart.UTC().Format("2006-01-02 15:04 UTC"),
				short(b.Avg), short(b.Min), short(b.Max), b.Count)}
		c.Points = append(c.Points, p)
		line = append(line, coord(p.X, p.Y))
		top = append(top, coord(p.X, y(b.Max)))
		bottom = append([]string{coord(p.X, y(b.Min))}, bottom...)
	}
	c.Line = strings.Join(line, " ")
	c.Band = strings.Join(append(top, bottom...), " ")
	for i := 0; i <= 4; i++ {
		v := lo + (hi-lo)*float64(i)/4
		c.YTicks = append(c.YTicks, tick{X: c.Left - 6, Y: y(v), Label: short(v)})
	}
	layout := "01-02 15:04"
	if to.Sub(from) <= 24*time.Hour {
		layout = "15:04"
	}
	for i := 0; i <= 4; i++ {
		t := from.Add(time.Duration(float64(to.Sub(from)) * float64(i) / 4))
		c.XTicks = append(c.XTicks, tick{X: x(t), Y: c.Bottom + 18, Label: t.UTC().Format(layout)})
	}
	return c
}

func coord(x, y float64) string {
	return strconv.FormatFloat(x, 'f', -1, 64) + "," + strconv.FormatFloat(y, 'f', -1, 64)
}

// short formats a value with 4 significant digits.
func short(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }
