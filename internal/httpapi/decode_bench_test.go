package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// benchPrediction is a typical single-prediction body (about 200 bytes).
const benchPrediction = `{"model_id":12,"features":{"age":41,"income":72000.5,"city":"Lyon","tenure_months":18,"plan":"pro"},"prediction":1,"probability":0.8731,"latency_ms":3.2}`

// BenchmarkDecodePrediction measures the ingest decoder on one body and on
// a batch of 10,000, beside encoding/json decoding the same bytes into the
// documented types (which checks less: it matches names case-insensitively
// and keeps the last of duplicate names). docs/ingest.md has the figures.
func BenchmarkDecodePrediction(b *testing.B) {
	batch := `{"predictions":[` + strings.TrimSuffix(strings.Repeat(benchPrediction+",", 10000), ",") + `]}`
	b.Run("single/ours", func(b *testing.B) {
		b.SetBytes(int64(len(benchPrediction)))
		for b.Loop() {
			d := newDecoder(strings.NewReader(benchPrediction))
			if _, err := decodePrediction(d, field{}); err != nil || d.end() != nil || d.err() != nil {
				b.Fatal(err, d.err())
			}
		}
	})
	b.Run("single/encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(benchPrediction)))
		for b.Loop() {
			var p NewPrediction
			dec := json.NewDecoder(strings.NewReader(benchPrediction))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("batch10k/ours", func(b *testing.B) {
		b.SetBytes(int64(len(batch)))
		for b.Loop() {
			d := newDecoder(strings.NewReader(batch))
			n := 0
			err := d.list("predictions", MaxBatchItems, func(at field) error {
				_, err := decodePrediction(d, at)
				n++
				return err
			})
			if err != nil || n != 10000 || d.err() != nil {
				b.Fatal(err, n)
			}
		}
	})
	b.Run("batch10k/encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(batch)))
		for b.Loop() {
			var p PredictionBatch
			dec := json.NewDecoder(bytes.NewReader([]byte(batch)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&p); err != nil || len(p.Predictions) != 10000 {
				b.Fatal(err, fmt.Sprint(len(p.Predictions)))
			}
		}
	})
}
