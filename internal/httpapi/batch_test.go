package httpapi_test

import (
	"fmt"
	"github.com/mlopsdev/mlops/internal/httpapi"
	"strings"
	"testing"
)

// The batch routes decode their bodies themselves (decode.go); they must
// keep every rule huma applies to the other routes.
func TestBatchDecodingRules(t *testing.T) {
	each(t, func(t *testing.T, c *client) {
		m := c.model("batch", "1")
		good := fmt.Sprintf(`{"model_id":%d,"features":{"a":1},"prediction":1,"probability":0.5}`, m)
		cases := []struct {
			name, path, body string
			status           int
			locations        []string
		}{
			{"malformed", "/api/v1/predictions/batch", `{"predictions": [` + good, 400, nil},
			{"empty body", "/api/v1/predictions/batch", ``, 400, nil},
			{"trailing data", "/api/v1/predictions/batch", `{"predictions": []} {}`, 400, nil},
			{"unknown top-level field", "/api/v1/predictions/batch", `{"predictions": [], "extra": 1}`, 422, []string{"body.extra"}},
			{"list missing", "/api/v1/predictions/batch", `{}`, 422, []string{"body.predictions"}},
			{"list null", "/api/v1/predictions/batch", `{"predictions": null}`, 422, []string{"body.predictions"}},
			{"not a list", "/api/v1/predictions/batch", `{"predictions": {}}`, 422, []string{"body.predictions"}},
			{"unknown item field", "/api/v1/predictions/batch", `{"predictions": [` + good + `,` + strings.Replace(good, `"prediction"`, `"oops":1,"prediction"`, 1) + `]}`, 422, []string{"body.predictions[1].oops"}},
			{"wrong type", "/api/v1/predictions/batch", `{"predictions": [` + good + `,` + good + `,` + strings.Replace(good, `"prediction":1`, `"prediction":"one"`, 1) + `]}`, 422, []string{"body.predictions[2].prediction"}},
			{"required field missing", "/api/v1/predictions/batch", `{"predictions": [` + strings.Replace(good, `"prediction":1,`, ``, 1) + `]}`, 422, []string{"body.predictions[0].prediction"}},
			{"model_id missing", "/api/v1/predictions/batch", fmt.Sprintf(`{"predictions": [{"prediction":1}]}`), 422, []string{"body.predictions[0].model_id"}},
			{"range checked by the store", "/api/v1/predictions/batch", `{"predictions": [` + strings.Replace(good, `0.5`, `1.5`, 1) + `]}`, 422, []string{"body.predictions[0].probability"}},
			// Bodies the streaming decode refuses late: the strict pass answers.
			{"trailing data after items", "/api/v1/predictions/batch", `{"predictions": [` + good + `,` + good + `]} {}`, 400, nil},
			{"unknown field after the list", "/api/v1/predictions/batch", `{"predictions": [` + good + `], "extra": 1}`, 422, []string{"body.extra"}},
			{"unknown field before the list", "/api/v1/predictions/batch", `{"extra": 1, "predictions": [` + good + `]}`, 422, []string{"body.extra"}},
			{"unclosed list", "/api/v1/predictions/batch", `{"predictions": [` + good + `,` + good + `}`, 400, nil},
			{"metric value missing", "/api/v1/metrics/batch", `{"metrics": [{"metric_name":"x"}]}`, 422, []string{"body.metrics[0].metric_value"}},
			{"metric unknown field", "/api/v1/metrics/batch", `{"metrics": [{"metric_name":"x","metric_value":1,"unit":"ms"}]}`, 422, []string{"body.metrics[0].unit"}},
		}
		for _, tc := range cases {
			r := c.do("POST", tc.path, tc.body)
			problem(t, r, tc.status, tc.locations...)
		}
		if n := c.count("predictions") + c.count("performance_metrics"); n != 0 {
			t.Fatalf("%d rows stored by refused batches", n)
		}

		// Too many items.
		var b strings.Builder
		b.WriteString(`{"predictions":[`)
		for i := 0; i <= httpapi.MaxBatchItems; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(good)
		}
		b.WriteString(`]}`)
		problem(t, c.do("POST", "/api/v1/predictions/batch", b.String()), 422, "body.predictions")

		// The happy path still stores everything.
		out := c.must(201, "POST", "/api/v1/predictions/batch", `{"predictions": [`+good+`,`+good+`]}`)
		if out["count"] != float64(2) || c.count("predictions") != 2 {
			t.Fatalf("batch of 2: %v, %d rows", out, c.count("predictions"))
		}

		// Strings holding brackets, commas and escaped quotes, and spaces
		// between the tokens, do not confuse the item count.
		tricky := fmt.Sprintf(`{"model_id":%d,"features":{"s":"a,]}\\\"[{,"},"prediction":0}`, m)
		out = c.must(201, "POST", "/api/v1/predictions/batch", "{ \"predictions\" :\n [ "+tricky+" ,\n"+tricky+", "+good+" ] }\n")
		if out["count"] != float64(3) || c.count("predictions") != 5 {
			t.Fatalf("batch of 3: %v, %d rows", out, c.count("predictions"))
		}
	})
}
