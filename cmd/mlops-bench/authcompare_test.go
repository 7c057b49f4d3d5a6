package main

import (
	"testing"
	"time"
)

func TestMedianRateAndPooled(t *testing.T) {
	round := func(rows int, lat ...time.Duration) *stats {
		return &stats{n: len(lat), rows: rows, el: time.Second, lat: lat, errs: 1}
	}
	odd := []*stats{round(300, 3*time.Millisecond), round(100, time.Millisecond), round(200, 2*time.Millisecond)}
	if got := medianRate(odd); got != 200 {
		t.Errorf("median of 300, 100, 200 req/s = %v, want 200", got)
	}
	if got := medianRate(odd[:2]); got != 200 {
		t.Errorf("median of 300, 100 req/s = %v, want 200", got)
	}
	if got := medianRate(nil); got != 0 {
		t.Errorf("median of no rounds = %v, want 0", got)
	}
	all := pooled(odd)
	if all.n != 3 || all.rows != 600 || all.errs != 3 || len(all.lat) != 3 {
		t.Errorf("pooled = %+v", all)
	}
	if p := all.pct(0.5); p != 2*time.Millisecond {
		t.Errorf("pooled p50 = %v, want 2ms", p)
	}
}
