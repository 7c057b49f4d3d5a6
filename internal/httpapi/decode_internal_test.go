package httpapi

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzDecodePrediction holds the prediction decoder against encoding/json:
// whatever it accepts is valid UTF-8 JSON whose names are exactly the
// contract's, each once, with the same values encoding/json reads, and the
// features object kept byte for byte.
func FuzzDecodePrediction(f *testing.F) {
	for _, s := range []string{
		`{"model_id":1,"prediction":0}`,
		`{"model_id":1,"prediction":1,"features":{"a":[1,{"b":"}"}],"c":"\u00e9"},"probability":0.25,"latency_ms":3.5,"actual":1}`,
		`{"model_id":1,"prediction":1,"probability":null,"actual":null,"created_at":"2026-01-02T03:04:05Z"}`,
		` { "prediction" : -3 , "model_id" : 1e3 } `,
		`{"model_id":1,"MODEL_ID":2,"prediction":1}`, `{"model_id":1,"model_id":2,"prediction":1}`,
		"{\"model_id\":1,\"prediction\":1,\"features\":{\"x\":\"\xff\"}}", `{"model_id":1,"prediction":1}{}`,
	} {
		f.Add([]byte(s))
	}
	allowed := map[string]bool{"model_id": true, "prediction": true, "features": true, "probability": true,
		"latency_ms": true, "actual": true, "created_at": true}
	f.Fuzz(func(t *testing.T, body []byte) {
		d := newDecoder(bytes.NewReader(body))
		p, err := decodePrediction(d, field{})
		if err == nil {
			err = d.end()
		}
		if err == nil {
			err = d.err()
		}
		if err != nil {
			return
		}
		if !utf8.Valid(body) {
			t.Fatalf("accepted invalid UTF-8: %q", body)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", body, err)
		}
		for k := range m {
			if !allowed[k] {
				t.Fatalf("accepted the name %q in %q", k, body)
			}
		}
		var want struct {
			ModelID    float64  `json:"model_id"`
			Prediction float64  `json:"prediction"`
			Prob       *float64 `json:"probability"`
			Actual     *float64 `json:"actual"`
		}
		if err := json.Unmarshal(body, &want); err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		if float64(p.ModelID) != want.ModelID || float64(p.Prediction) != want.Prediction {
			t.Fatalf("%q: decoded model_id %d, prediction %d; encoding/json reads %v, %v", body, p.ModelID, p.Prediction, want.ModelID, want.Prediction)
		}
		if (p.Probability == nil) != (want.Prob == nil) || p.Probability != nil && *p.Probability != *want.Prob {
			t.Fatalf("%q: probability %v, encoding/json reads %v", body, p.Probability, want.Prob)
		}
		if (p.Actual == nil) != (want.Actual == nil) || p.Actual != nil && float64(*p.Actual) != *want.Actual {
			t.Fatalf("%q: actual %v, encoding/json reads %v", body, p.Actual, want.Actual)
		}
		if raw, ok := m["features"]; ok && string(raw) != "null" && !bytes.Equal(p.Features, raw) {
			t.Fatalf("%q: features %s, sent %s", body, p.Features, raw)
		}
	})
}
