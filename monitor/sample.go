package monitor

import (
	"bytes"
	"encoding/json"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/drift"
)

// The sample of one window: a reservoir of values per numeric feature key,
// with bounded memory however wide or ragged the features are.
//
// A check compares the model version's feature_names first, then the other
// keys, the ones present in the most rows first, up to MaxFeatures. While
// it reads a window it tracks every declared key and at most maxTracked
// others. When a row brings a new key and the table is full, the new key
// takes the place of the oldest key seen in only one earlier row, if there
// is one; otherwise it is not tracked. So one prediction with 100,000 keys
// costs one row's worth of work and never crowds out the keys of ordinary
// rows, before or after it: a key present in two rows is never given up.
// New keys of a row are considered in sorted order, so the sample, like the
// reservoirs, is reproducible.

// MaxFeatures bounds the features one drift check compares and the skipped
// features its report lists. Each compared feature costs a sort of up to
// MaxSamples values per window, and each listed one at most ~1.7 KB of
// details (a 255-byte name, JSON-escaped, and its figures or reason), so the
// details stay under 0.7 MB, within the 1 MiB a report's details may hold,
// by construction. 200 is more than the numeric inputs of most tabular
// models; a wider model names the features to watch in its feature_names.
const MaxFeatures = 200

// maxTracked bounds the keys outside feature_names one window tracks at
// once: twice what a check can compare, so that the keys present in the most
// rows are among them unless a model logs more than that many.
const maxTracked = 2 * MaxFeatures

// maxCounted bounds the distinct keys counted for features_left_out (8
// bytes each); past it the count is a lower bound.
const maxCounted = 1 << 18

// keyCount counts the distinct numeric feature keys of one check, in both
// windows, by a 64-bit hash of the name.
type keyCount struct {
	seen map[uint64]struct{}
	full bool
}

func newKeyCount() *keyCount { return &keyCount{seen: map[uint64]struct{}{}} }

func (k *keyCount) note(name string) {
	h := fnv.New64a()
	h.Write([]byte(name))
	sum := h.Sum64()
	if _, ok := k.seen[sum]; ok {
		return
	}
	if len(k.seen) >= maxCounted {
		k.full = true
		return
	}
	k.seen[sum] = struct{}{}
}

// tracked is one key of a window's sample.
type tracked struct {
	r        *drift.Reservoir
	declared bool
	row      int64 // the row it was admitted in
	seq      int64 // its admission, to tell it from an earlier one of the same key
}

type admission struct {
	name string
	seq  int64
}

// sample is the features of one window.
type sample struct {
	maxSamples int
	keys       map[string]*tracked
	undeclared int         // tracked keys outside feature_names
	queue      []admission // undeclared keys in admission order: eviction candidates
	head       int
	row, seq   int64
	count      *keyCount
}

func newSample(declared []string, maxSamples int, count *keyCount) *sample {
	s := &sample{maxSamples: maxSamples, keys: make(map[string]*tracked, len(declared)), count: count}
	for _, name := range declared {
		s.keys[name] = &tracked{r: drift.NewReservoir(maxSamples, featureSeed(name)), declared: true}
	}
	return s
}

type keyValue struct {
	name string
	v    float64
}

// add samples the numeric features of one row. Values that are not JSON
// numbers (strings, booleans, null, objects), or are beyond float64, are
// ignored; so is a row that is not a JSON object.
func (s *sample) add(raw []byte) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var feats map[string]any
	if dec.Decode(&feats) != nil {
		return
	}
	s.row++
	var fresh []keyValue
	for name, v := range feats {
		n, ok := v.(json.Number)
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			continue
		}
		if t := s.keys[name]; t != nil {
			if t.r.Seen == 0 {
				s.count.note(name)
			}
			t.r.Add(f)
			continue
		}
		fresh = append(fresh, keyValue{name, f})
	}
	if len(fresh) == 0 {
		return
	}
	slices.SortFunc(fresh, func(a, b keyValue) int { return strings.Compare(a.name, b.name) })
	for _, kv := range fresh {
		s.count.note(kv.name)
		if !storableName(kv.name) || (s.undeclared >= maxTracked && !s.evict()) {
			continue
		}
		s.seq++
		t := &tracked{r: drift.NewReservoir(s.maxSamples, featureSeed(kv.name)), row: s.row, seq: s.seq}
		t.r.Add(kv.v)
		s.keys[kv.name] = t
		s.undeclared++
		s.queue = append(s.queue, admission{kv.name, s.seq})
	}
}

// evict gives up the oldest undeclared key seen in only one earlier row,
// and reports whether there was one.
func (s *sample) evict() bool {
	for s.head < len(s.queue) {
		a := s.queue[s.head]
		t := s.keys[a.name]
		if t == nil || t.seq != a.seq || t.r.Seen > 1 {
			s.head++ // gone, or seen again: never a candidate again
			continue
		}
		if t.row == s.row {
			return false // every later admission is of this row too
		}
		s.head++
		delete(s.keys, a.name)
		s.undeclared--
		if s.head > 1024 && 2*s.head > len(s.queue) {
			s.queue = append(s.queue[:0], s.queue[s.head:]...)
			s.head = 0
		}
		return true
	}
	return false
}

// seen returns the reservoir of name, or nil when no value of it was kept.
func (s *sample) seen(name string) *drift.Reservoir {
	if t := s.keys[name]; t != nil && t.r.Seen > 0 {
		return t.r
	}
	return nil
}

// storableName reports whether a report can name the key: drifted_features
// items must be 1 to MaxNameLen bytes without NUL.
func storableName(name string) bool {
	return name != "" && len(name) <= mlops.MaxNameLen && strings.IndexByte(name, 0) < 0
}

// declaredFeatures is the model version's feature_names a check tracks from
// the start: the first MaxFeatures a report can name, without repeats.
func declaredFeatures(names []string) []string {
	out := make([]string, 0, min(len(names), MaxFeatures))
	seen := map[string]bool{}
	for _, n := range names {
		if len(out) == MaxFeatures {
			break
		}
		if storableName(n) && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// featureSeed makes each feature's reservoir reproducible.
func featureSeed(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}
