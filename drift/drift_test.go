package drift

import (
	"math"
	"slices"
	"testing"
)

func near(t *testing.T, name string, got, want, tol float64) {
	t.Helper()
	if math.IsNaN(got) || math.Abs(got-want) > tol {
		t.Errorf("%s = %.10g, want %.10g (±%g)", name, got, want, tol)
	}
}

func TestQuantileEdges(t *testing.T) {
	ref := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	// Type 7: h = 9p; 0.2 → 2 + 0.8 = 2.8, 0.4 → 4.6, 0.6 → 6.4, 0.8 → 8.2.
	got := QuantileEdges(ref, 5)
	want := []float64{2.8, 4.6, 6.4, 8.2}
	if len(got) != len(want) {
		t.Fatalf("edges = %v, want %v", got, want)
	}
	for i := range want {
		near(t, "edge", got[i], want[i], 1e-12)
	}
	// Repeated values collapse duplicate edges.
	if e := QuantileEdges([]float64{0, 0, 0, 0, 1}, 4); len(e) != 1 || e[0] != 0 {
		t.Errorf("edges of a constant-ish sample = %v, want [0]", e)
	}
}

func TestPSIHandComputed(t *testing.T) {
	ref := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	// Bins (-inf,2.8] (2.8,4.6] (4.6,6.4] (6.4,8.2] (8.2,inf): the reference
	// puts 0.2 in each; this current sample puts 0.4, 0.1, 0.1, 0.1, 0.3.
	cur := []float64{1, 1, 1, 1, 3, 5, 7, 9, 9, 9}
	want := 0.2*math.Log(2) + 3*(-0.1)*math.Log(0.5) + 0.1*math.Log(1.5) // 0.38712...
	near(t, "PSI", PSI(ref, cur, 5), want, 1e-12)
	near(t, "PSI of identical samples", PSI(ref, ref, 5), 0, 1e-15)

	// An empty current bin uses Epsilon: current all in the last bin.
	cur2 := []float64{20, 21, 22, 23, 24}
	want2 := 4*(Epsilon-0.2)*math.Log(Epsilon/0.2) + (1-0.2)*math.Log(1/0.2)
	near(t, "PSI with empty bins", PSI(ref, cur2, 5), want2, 1e-12)
}

func TestKSHandComputed(t *testing.T) {
	// a = 1..5, b = 3..8: after 1,2 F_a = 0.4, F_b = 0; at 3: 0.6 vs 1/6;
	// at 4: 0.8 vs 2/6; at 5: 1 vs 3/6 → D = 0.5.
	a := []float64{1, 2, 3, 4, 5}
	b := []float64{3, 4, 5, 6, 7, 8}
	d, p := KS(a, b)
	near(t, "D", d, 0.5, 1e-15)
	lambda := math.Sqrt(5.0*6/11) * 0.5 // 0.8257
	// Q(λ) from the alternating series, summed by hand to 4 terms.
	q := 0.0
	for j := 1.0; j <= 4; j++ {
		q += 2 * math.Pow(-1, j-1) * math.Exp(-2*j*j*lambda*lambda)
	}
	near(t, "p", p, q, 1e-9)

	// Ties across samples step together: identical samples give D = 0, p = 1.
	d, p = KS([]float64{1, 1, 2, 2}, []float64{1, 2, 1, 2})
	near(t, "D of identical", d, 0, 0)
	near(t, "p of identical", p, 1, 0)

	// Disjoint samples: D = 1.
	d, _ = KS([]float64{1, 2, 3}, []float64{10, 11})
	near(t, "D of disjoint", d, 1, 0)
}

func TestKolmogorovQTable(t *testing.T) {
	// Tabulated values of the Kolmogorov distribution, 1 - K(λ).
	for _, c := range []struct{ lambda, q, tol float64 }{
		{0.5, 0.9639452436, 1e-8}, {1.0, 0.2699996716, 1e-8}, {1.36, 0.0494858446, 1e-6},
		{3, 3.045996e-08, 1e-12}, {1.2238, 0.1, 1e-4}, // 1.2238 is the tabulated 90% point
	} {
		near(t, "Q", KolmogorovQ(c.lambda), c.q, c.tol)
	}
	// Both forms agree where they meet.
	near(t, "continuity at 1.18", KolmogorovQ(1.18-1e-12), KolmogorovQ(1.18), 1e-9)
	if KolmogorovQ(0) != 1 {
		t.Error("Q(0) must be 1")
	}
}

func TestReservoirBounded(t *testing.T) {
	r := NewReservoir(100, 42)
	for i := 0; i < 100000; i++ {
		r.Add(float64(i))
	}
	if len(r.Values) != 100 || r.Seen != 100000 {
		t.Fatalf("reservoir kept %d of %d, want 100 of 100000", len(r.Values), r.Seen)
	}
	// A uniform sample of 0..99999 has a mean near 50000; a sample that kept
	// only the first or last values would be far off.
	sum := 0.0
	for _, v := range r.Values {
		sum += v
	}
	if mean := sum / 100; mean < 35000 || mean > 65000 {
		t.Errorf("sample mean %.0f is not near 50000: the reservoir is not uniform", mean)
	}
	// Same seed, same stream: same sample.
	r2 := NewReservoir(100, 42)
	for i := 0; i < 100000; i++ {
		r2.Add(float64(i))
	}
	for i := range r.Values {
		if r.Values[i] != r2.Values[i] {
			t.Fatal("reservoir with the same seed is not reproducible")
		}
	}
}

// TestExtremeValues: values at the float64 limits, whose differences
// overflow, still give finite quantiles, PSI and KS.
func TestExtremeValues(t *testing.T) {
	ref := []float64{-math.MaxFloat64, -1, 0, 1, math.MaxFloat64}
	cur := []float64{-math.MaxFloat64, math.MaxFloat64, math.MaxFloat64, 3}
	sorted := slices.Clone(ref)
	slices.Sort(sorted)
	for _, p := range []float64{0.1, 0.125, 0.5, 0.9} {
		if q := Quantile(sorted, p); math.IsNaN(q) || math.IsInf(q, 0) {
			t.Errorf("Quantile(%v) = %v", p, q)
		}
	}
	if q := Quantile([]float64{-math.MaxFloat64, math.MaxFloat64}, 0.5); q != 0 {
		t.Errorf("midpoint of the float64 limits = %v, want 0", q)
	}
	if psi := PSI(ref, cur, 4); math.IsNaN(psi) || math.IsInf(psi, 0) {
		t.Errorf("PSI = %v", psi)
	}
	if d, p := KS(ref, cur); math.IsNaN(d) || math.IsNaN(p) {
		t.Errorf("KS = %v, %v", d, p)
	}
}
