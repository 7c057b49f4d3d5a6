package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

func ptr[T any](v T) *T { return &v }

func TestDecodePredictionAccepts(t *testing.T) {
	for body, want := range map[string]mlops.NewPrediction{
		`{"model_id":3,"prediction":1}`:                              {ModelID: 3, Prediction: 1},
		` { "prediction" : -2 , "model_id" : 9223372036854775807 } `: {ModelID: 9223372036854775807, Prediction: -2},
		`{"model_id":1,"features":{"a":[1,{"b":"}"}],"c":"\"{"},"prediction":0,"probability":0.25,"latency_ms":1e2,"actual":1}`: {
			ModelID: 1, Features: mlops.JSON(`{"a":[1,{"b":"}"}],"c":"\"{"}`), Prediction: 0,
			Probability: ptr(0.25), LatencyMS: ptr(100.0), Actual: ptr(int64(1))},
		`{"model_id":1,"prediction":1,"probability":1,"latency_ms":0,"features":{}}`: {
			ModelID: 1, Prediction: 1, Probability: ptr(1.0), LatencyMS: ptr(0.0), Features: mlops.JSON(`{}`)},
	} {
		got, ok := decodePrediction([]byte(body))
		if !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("decodePrediction(%s) = %+v, %v; want %+v, true", body, got, ok, want)
		}
	}
}

// Everything the fast path declines goes to huma, which answers it (or
// accepts it in its own way); declining is never wrong, accepting wrongly
// would be.
func TestDecodePredictionDeclines(t *testing.T) {
	for _, body := range []string{
		``, `[]`, `{}`, `null`, `{"model_id":1}`, `{"prediction":1}`,
		`{"MODEL_ID":1,"prediction":1}`,                    // huma matches names case-insensitively
		`{"model_id":1,"prediction":1,"extra":2}`,          // unknown field: huma's 422
		`{"model_id":1,"model_id":2,"prediction":1}`,       // duplicate
		`{"model_id":1.0,"prediction":1}`,                  // not a plain integer
		`{"model_id":0,"prediction":1}`,                    // below minimum
		`{"model_id":-1,"prediction":1}`,                   // below minimum
		`{"model_id":1,"prediction":99999999999999999999}`, // overflows int64
		`{"model_id":1,"prediction":1,"probability":1.5}`,
		`{"model_id":1,"prediction":1,"probability":-0.1}`,
		`{"model_id":1,"prediction":1,"latency_ms":-1}`,
		`{"model_id":1,"prediction":1,"latency_ms":1e999}`,
		`{"model_id":1,"prediction":1,"probability":null}`,
		`{"model_id":1,"prediction":1,"actual":null}`,
		`{"model_id":1,"prediction":1,"features":null}`,
		`{"model_id":1,"prediction":1,"features":[1]}`,
		`{"model_id":1,"prediction":1,"features":{"a":}}`,
		`{"model_id":1,"prediction":1,"features":{"a":1}`,
		`{"model_id":"1","prediction":1}`,
		`{"model_id":01,"prediction":1}`,
		`{"model_id":1,"prediction":1.}`,
		`{"model_id":1,"prediction":-}`,
		`{"model_id":1,"prediction":1,}`,
		`{"model_id":1 "prediction":1}`,
		`{"model_id":1,"prediction":1} {}`,
		`{"model_id":1,"prediction":1}x`,
		`{"model\u005fid":1,"prediction":1}`,
		`{"model_id":1,"prediction":1,"latency_ms":1e}`,
	} {
		if got, ok := decodePrediction([]byte(body)); ok {
			t.Errorf("decodePrediction(%s) = %+v, true; want it declined", body, got)
		}
	}
}

// FuzzDecodePrediction checks the fast decoder against encoding/json with
// huma's rules: whatever it accepts decodes to the same values and passes
// validation.
func FuzzDecodePrediction(f *testing.F) {
	for _, s := range []string{
		`{"model_id":3,"prediction":1}`,
		`{"model_id":1,"features":{"a":[1,{"b":"}"}]},"prediction":0,"probability":0.25,"latency_ms":1e2,"actual":1}`,
		`{"model_id":1,"prediction":1,"probability":null}`,
		`{"MODEL_ID":1,"prediction":1}`,
		`{"model_id":1,"prediction":1,"features":{"s":"\ud800"}}`,
		`{"model_id":1,"prediction":1,"probability":0.5,"probability":null}`,
		`{"model_id":1,"prediction":1,"features":null,"actual":null,"latency_ms":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, ok := decodePrediction(body)
		d := scan{b: body}
		batchItem, batchOK := d.prediction(true)
		batchOK = batchOK && d.end()
		if ok && (!batchOK || !reflect.DeepEqual(got, batchItem)) {
			t.Fatalf("%q: the single decoder gives %+v, the batch item decoder %+v, %v", body, got, batchItem, batchOK)
		}
		if !batchOK {
			return
		}
		got = batchItem
		var ref NewPrediction
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ref); err != nil {
			t.Fatalf("fast path accepted %q, encoding/json refuses it: %v", body, err)
		}
		if dec.More() {
			t.Fatalf("fast path accepted %q with data after the object", body)
		}
		if len(ref.missing()) > 0 {
			t.Fatalf("fast path accepted %q without %v", body, ref.missing())
		}
		want := ref.domain()
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decodePrediction(%q) = %+v, encoding/json gives %+v", body, got, want)
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("fast path accepted %q, which fails validation: %v", body, err)
		}
	})
}

// fastServer serves a fresh API over st with one model version and
// returns a function that POSTs body to path with a Content-Type and
// answers status, headers (without the ones that vary) and body.
func fastServer(t *testing.T, st *store.Store) (*Server, mlops.ModelVersion, func(path, contentType, body string) (int, http.Header, string)) {
	t.Helper()
	ctx := context.Background()
	mv, err := st.ModelVersionCreate(ctx, mlops.NewModelVersion{ModelName: "fast", Version: "1", Algorithm: "rf"})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ts.Close()
		_ = srv.Close(ctx)
	})
	post := func(path, contentType, body string) (int, http.Header, string) {
		req, err := http.NewRequest(http.MethodPost, ts.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", contentType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ContentLength != int64(len(b)) {
			t.Errorf("Content-Length %d for a body of %d bytes", resp.ContentLength, len(b))
		}
		for _, h := range []string{"Date", "X-Request-Id", "Content-Length"} { // ids and timestamps vary in length
			resp.Header.Del(h)
		}
		return resp.StatusCode, resp.Header, string(b)
	}
	return srv, mv, post
}

// TestFastPredictionAnswersAsHuma posts the same predictions once through
// the fast path and once through huma (a Content-Type spelling the fast
// path leaves to huma) and compares the answers byte for byte, ids and
// timestamps aside; bad requests must get huma's answers too.
func TestFastPredictionAnswersAsHuma(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		srv, mv, postTo := fastServer(t, st)
		post := func(contentType, query, body string) (int, http.Header, string) {
			return postTo("/api/v1/predictions"+query, contentType, body)
		}
		varying := regexp.MustCompile(`"(id|created_at)":("[^"]*"|\d+)`)
		id := mv.ID
		for _, body := range []string{
			fmt.Sprintf(`{"model_id":%d,"prediction":1}`, id),
			fmt.Sprintf(`{"model_id":%d,"features":{"age":50,"tags":["a","<b>"]},"prediction":0,"probability":0.75,"latency_ms":12.5,"actual":1}`, id),
			fmt.Sprintf(`{"model_id":%d,"prediction":1,"probability":1.5}`, id), // 422 from huma
			`{"model_id":999999,"prediction":1}`,                           // unknown model: 422 from the store
			fmt.Sprintf(`{"model_id":%d,"prediction":1,"extra":true}`, id), // unknown field
			fmt.Sprintf(`{"model_id":%d,"prediction":1`, id),               // malformed: 400
		} {
			before := srv.fastServed.Load()
			fastCode, fastHdr, fastBody := post("application/json", "", body)
			served := srv.fastServed.Load() - before
			humaCode, humaHdr, humaBody := post("application/json; charset=UTF-8", "", body)
			if srv.fastServed.Load() != before+served {
				t.Fatalf("the fast path served a request it should have left to huma: %s", body)
			}
			if wantFast := fastCode == http.StatusCreated; (served == 1) != wantFast {
				t.Errorf("%s: fast path served %d request(s), status %d", body, served, fastCode)
			}
			if fastCode != humaCode || !reflect.DeepEqual(fastHdr, humaHdr) ||
				varying.ReplaceAllString(fastBody, "") != varying.ReplaceAllString(humaBody, "") {
				t.Errorf("%s:\nfast %d %v %s\nhuma %d %v %s", body, fastCode, fastHdr, fastBody, humaCode, humaHdr, humaBody)
			}
		}
		// A query parameter is huma's to refuse; nothing is stored.
		if code, _, body := post("application/json", "?x=1", fmt.Sprintf(`{"model_id":%d,"prediction":1}`, id)); code != http.StatusUnprocessableEntity {
			t.Errorf("with ?x=1: %d %s, want 422", code, body)
		}
		stored, err := st.PredictionsRecent(ctx, id, 1)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(stored); n != 4 {
			t.Errorf("%d predictions stored, want 4 (two bodies, each on both paths)", n)
		}
	})
}

func TestPredictionStream(t *testing.T) {
	item := `{"model_id":1,"prediction":1,"probability":null}`
	for body, want := range map[string]int{ // items stored; -1: not streamed at the start, 0: refused during the stream
		`{"predictions":[` + item + `]}`:                        1,
		` { "predictions" : [ ` + item + ` , ` + item + ` ] } `: 2,
		`{"predictions":[]}`:                                    -1,
		`{"Predictions":[` + item + `]}`:                        -1,
		`{"x":1,"predictions":[` + item + `]}`:                  -1,
		`[` + item + `]`:                                        -1,
		`{"predictions":[` + item + `],"x":1}`:                  0,
		`{"predictions":[` + item + `]}{}`:                      0,
		`{"predictions":[` + item + `,{"model_id":1}]}`:         0,
		`{"predictions":[` + item + ` ` + item + `]}`:           -1, // miscounted as one item, then refused
		`{"predictions":[{"MODEL_ID":1,"prediction":1}]}`:       0,
	} {
		p, ok := newPredictionStream([]byte(body))
		if !ok {
			if want != -1 {
				t.Errorf("%s: not streamed, want %d items", body, want)
			}
			continue
		}
		stored := 0
		for i := range p.n {
			if _, err := p.next(i); err != nil {
				if !errors.Is(err, errNotStreamed) {
					t.Errorf("%s: item %d: %v", body, i, err)
				}
				stored = 0
				break
			}
			stored++
		}
		if stored != want && !(want == -1 && stored == 0) {
			t.Errorf("%s: %d items streamed, want %d", body, stored, want)
		}
	}
}

// TestFastPredictionBatchAnswersAsHuma does the same for the batch route:
// the fast path's answers equal the regular handler's, ids aside, and
// only plain valid bodies are served by it.
func TestFastPredictionBatchAnswersAsHuma(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		srv, mv, postTo := fastServer(t, st)
		post := func(contentType, body string) (int, http.Header, string) {
			return postTo("/api/v1/predictions/batch", contentType, body)
		}
		ids := regexp.MustCompile(`"ids":\[[0-9,]*\]`)
		item := func(extra string) string {
			return fmt.Sprintf(`{"model_id":%d,"prediction":1%s}`, mv.ID, extra)
		}
		stored := 0
		for _, c := range []struct {
			body  string
			fast  bool // served by the fast path
			items int  // stored per post
		}{
			{`{"predictions":[` + item(`,"features":{"a":1},"probability":0.5`) + `,` + item(`,"actual":null`) + `]}`, true, 2},
			{`{"predictions":[` + item(``) + `,{"MODEL_ID":` + fmt.Sprint(mv.ID) + `,"prediction":0}]}`, false, 2}, // unusual spelling: stored by the regular path
			{`{"predictions":[` + item(``) + `,` + item(`,"probability":1.5`) + `]}`, false, 0},                    // 422 naming predictions[1]
			{`{"predictions":[` + item(``) + `,{"model_id":999999,"prediction":1}]}`, false, 0},                    // unknown model: 422
			{`{"predictions":[` + item(``) + `]`, false, 0},                                                        // malformed: 400
			{`{"predictions":[]}`, false, 0},
		} {
			before := srv.fastServed.Load()
			fastCode, fastHdr, fastBody := post("application/json", c.body)
			served := srv.fastServed.Load() - before
			slowCode, slowHdr, slowBody := post("application/json; charset=UTF-8", c.body)
			stored += 2 * c.items
			if (served == 1) != c.fast {
				t.Errorf("%s: fast path served %d, want %v", c.body, served, c.fast)
			}
			if fastCode != slowCode || !reflect.DeepEqual(fastHdr, slowHdr) ||
				ids.ReplaceAllString(fastBody, "") != ids.ReplaceAllString(slowBody, "") {
				t.Errorf("%s:\nfast %d %v %s\nslow %d %v %s", c.body, fastCode, fastHdr, fastBody, slowCode, slowHdr, slowBody)
			}
			if srv.fastServed.Load() != before+served {
				t.Errorf("%s: the fast path served the regular request", c.body)
			}
		}
		got, err := st.PredictionsRecent(ctx, mv.ID, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != stored {
			t.Errorf("%d predictions stored, want %d", len(got), stored)
		}

		// The ids answer the items in input order, on both paths.
		var items []string
		for i := range 5 {
			items = append(items, fmt.Sprintf(`{"model_id":%d,"prediction":%d,"latency_ms":%d}`, mv.ID, i, i))
		}
		body := `{"predictions":[` + strings.Join(items, ",") + `]}`
		for _, ct := range []string{"application/json", "application/json; charset=UTF-8"} {
			code, _, answer := post(ct, body)
			var res BatchResult
			if err := json.Unmarshal([]byte(answer), &res); code != http.StatusCreated || err != nil || len(res.IDs) != len(items) {
				t.Fatalf("%s: %d %s", ct, code, answer)
			}
			for i, id := range res.IDs {
				p, err := st.PredictionGet(ctx, id)
				if err != nil || p.Prediction != int64(i) {
					t.Errorf("%s: ids[%d] = %d holds prediction %d (%v), want %d", ct, i, id, p.Prediction, err, i)
				}
			}
		}
	})
}
