// Package drift computes the statistics mlops uses to compare a feature's
// values in two windows: the Population Stability Index over quantile bins
// of the reference, and the two-sample Kolmogorov–Smirnov statistic with its
// asymptotic p-value. It is pure Go with no dependencies and no I/O.
package drift

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
)

// DefaultBins is the number of quantile bins PSI uses when none is given.
const DefaultBins = 10

// Epsilon is the smallest proportion PSI uses for a bin: an empty bin would
// otherwise make ln(c/r) infinite. It is the value common PSI tooling uses.
const Epsilon = 1e-4

// QuantileEdges returns the inner bin edges of bins quantile bins of the
// sorted sample ref: the quantiles at 1/bins, 2/bins, …, (bins-1)/bins,
// linearly interpolated between order statistics (numpy's default, R's type
// 7), with duplicates removed so that a feature with repeated values gets
// fewer, non-empty bins. ref must be sorted ascending and not empty.
func QuantileEdges(ref []float64, bins int) []float64 {
	if bins < 2 {
		bins = 2
	}
	edges := make([]float64, 0, bins-1)
	for i := 1; i < bins; i++ {
		q := Quantile(ref, float64(i)/float64(bins))
		if len(edges) == 0 || q > edges[len(edges)-1] {
			edges = append(edges, q)
		}
	}
	return edges
}

// Quantile returns the p-quantile of the sorted sample x by linear
// interpolation between order statistics (R's type 7).
func Quantile(x []float64, p float64) float64 {
	n := len(x)
	if n == 0 {
		return math.NaN()
	}
	h := float64(n-1) * p
	lo := int(math.Floor(h))
	if lo >= n-1 {
		return x[n-1]
	}
	f := h - float64(lo)
	if f == 0 {
		return x[lo]
	}
	if d := x[lo+1] - x[lo]; !math.IsInf(d, 0) {
		return x[lo] + f*d
	}
	// Neighbours of opposite sign near the float64 limits: their
	// difference overflows, the weighted sum does not.
	return (1-f)*x[lo] + f*x[lo+1]
}

// binCounts counts the values of x in the bins (-inf, e0], (e0, e1], …,
// (e_last, +inf).
func binCounts(x []float64, edges []float64) []int {
	counts := make([]int, len(edges)+1)
	for _, v := range x {
		counts[sort.SearchFloat64s(edges, v)]++
	}
	return counts
}

// PSI returns the Population Stability Index of cur against ref:
// sum over bins of (c - r) * ln(c / r), where r and c are the shares of the
// reference and current values in each bin. The bins are the quantile bins
// of the reference (see QuantileEdges), open-ended at both sides so current
// values outside the reference range still count. Shares below Epsilon are
// raised to Epsilon. bins <= 0 means DefaultBins. Both samples must be non-empty.
func PSI(ref, cur []float64, bins int) float64 {
	if bins <= 0 {
		bins = DefaultBins
	}
	if len(ref) == 0 || len(cur) == 0 {
		return math.NaN()
	}
	sorted := slices.Clone(ref)
	slices.Sort(sorted)
	edges := QuantileEdges(sorted, bins)
	rc, cc := binCounts(sorted, edges), binCounts(cur, edges)
	psi := 0.0
	for i := range rc {
		r := math.Max(float64(rc[i])/float64(len(ref)), Epsilon)
		c := math.Max(float64(cc[i])/float64(len(cur)), Epsilon)
		psi += (c - r) * math.Log(c/r)
	}
	return psi
}

// KS returns the two-sample Kolmogorov–Smirnov statistic D (the largest
// distance between the two empirical distribution functions) and its
// asymptotic p-value Q_KS(sqrt(n*m/(n+m)) * D), as R's ks.test(exact =
// FALSE) computes it. Both samples must be non-empty.
func KS(a, b []float64) (d, p float64) {
	if len(a) == 0 || len(b) == 0 {
		return math.NaN(), math.NaN()
	}
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	n, m := float64(len(x)), float64(len(y))
	i, j := 0, 0
	for i < len(x) && j < len(y) {
		v := math.Min(x[i], y[j])
		// Step past every copy of v in both samples before comparing the
		// two distribution functions: ties move both at once.
		for i < len(x) && x[i] == v {
			i++
		}
		for j < len(y) && y[j] == v {
			j++
		}
		d = math.Max(d, math.Abs(float64(i)/n-float64(j)/m))
	}
	return d, KolmogorovQ(math.Sqrt(n*m/(n+m)) * d)
}

// KolmogorovQ is the survival function of the Kolmogorov distribution,
// Q(λ) = 2 Σ_{j≥1} (-1)^{j-1} exp(-2 j² λ²), the asymptotic probability that
// sqrt(n*m/(n+m)) * D exceeds λ. For small λ, where that series converges
// slowly, it uses the equivalent Jacobi theta form
// 1 - sqrt(2π)/λ Σ_{j≥1} exp(-(2j-1)² π² / (8 λ²)).
func KolmogorovQ(lambda float64) float64 {
	switch {
	case math.IsNaN(lambda):
		return math.NaN()
	case lambda <= 0:
		return 1
	case lambda < 1.18:
		s := 0.0
		for j := 1; j <= 20; j++ {
			k := float64(2*j - 1)
			s += math.Exp(-k * k * math.Pi * math.Pi / (8 * lambda * lambda))
		}
		return clamp01(1 - math.Sqrt(2*math.Pi)/lambda*s)
	}
	s, sign := 0.0, 1.0
	for j := 1; j <= 100; j++ {
		jf := float64(j)
		term := math.Exp(-2 * jf * jf * lambda * lambda)
		s += sign * term
		if term < 1e-17 {
			break
		}
		sign = -sign
	}
	return clamp01(2 * s)
}

func clamp01(v float64) float64 { return math.Min(1, math.Max(0, v)) }

// Reservoir keeps a uniform random sample of at most Cap values from a
// stream of any length (Vitter's algorithm R), so a feature of a million
// predictions is compared in bounded memory. With a fixed seed the sample,
// and thus every statistic computed from it, is reproducible.
type Reservoir struct {
	Cap    int       // the most values kept; <= 0 keeps all
	Values []float64 // the sample
	Seen   int64     // values offered so far
	rng    *rand.Rand
}

// NewReservoir returns a reservoir of capacity limit seeded with seed.
func NewReservoir(limit int, seed uint64) *Reservoir {
	return &Reservoir{Cap: limit, rng: rand.New(rand.NewPCG(seed, 0x6d6c6f7073))}
}

// Add offers one value to the sample.
func (r *Reservoir) Add(v float64) {
	r.Seen++
	if r.Cap <= 0 || len(r.Values) < r.Cap {
		r.Values = append(r.Values, v)
		return
	}
	if k := r.rng.Int64N(r.Seen); k < int64(r.Cap) {
		r.Values[k] = v
	}
}
