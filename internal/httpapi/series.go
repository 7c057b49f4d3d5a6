package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/api"
	"github.com/mlopsdev/mlops/store"
)

// NewMetric documents the body of POST /api/v1/metrics and one item of a
// batch (the OpenAPI schema); decodeMetric reads it.
type NewMetric = api.NewMetric

const metricFields = "metric_name, metric_value, model_id, metadata, created_at"

// decodeMetric reads one metric point object at at (field{} for the body
// itself, field{list: "metrics", index: 3} for an item).
func decodeMetric(d *decoder, at field) (mlops.NewPerformanceMetric, error) {
	var (
		m                 mlops.NewPerformanceMetric
		hasName, hasValue bool
	)
	isObject, err := d.object(at, func(name []byte) error {
		var err error
		switch string(name) {
		case "metric_name":
			m.MetricName, err = d.str(at.member("metric_name"))
			hasName = true
		case "metric_value":
			var v *float64
			v, err = d.number(at.member("metric_value"), false)
			if v != nil {
				m.MetricValue, hasValue = *v, true
			}
		case "model_id":
			m.ModelID, err = d.integer(at.member("model_id"), true)
		case "metadata":
			m.Metadata, err = d.rawObject(at.member("metadata"))
		case "created_at":
			m.CreatedAt, err = d.time(at.member("created_at"))
		default:
			return d.unknown(at, name, metricFields)
		}
		return err
	})
	if err != nil || !isObject {
		return m, err
	}
	if !hasName && !d.failedAt(at.member("metric_name")) {
		d.fail(at.member("metric_name"), "is required, e.g. \"api_latency\"")
	}
	if !hasValue && !d.failedAt(at.member("metric_value")) {
		d.fail(at.member("metric_value"), "is required: a finite number")
	}
	return m, nil
}

// MetricBatch documents the body of POST /api/v1/metrics/batch.
type MetricBatch = api.MetricBatch

// MetricSeries documents the answer of GET /api/v1/metrics/{metric_name}:
// raw points {created_at, value}, or with bucket one point per bucket
// {bucket_start, count, avg, min, max}; oldest first either way.
type MetricSeries = api.MetricSeries

type seriesIn struct {
	MetricName string `path:"metric_name" doc:"The metric, e.g. api_latency."`
	Days       int    `query:"days" minimum:"0" maximum:"36500" default:"7" doc:"How many days back."`
	ModelID    int64  `query:"model_id" minimum:"1" doc:"Only points of this model version."`
	Bucket     string `query:"bucket" enum:"1m,5m,1h,1d" doc:"Aggregate per bucket of this width."`
}

func registerSeries(api huma.API, s *Server) {
	tags := []string{"Performance metrics"}
	registerIngest(api, s, ingestRoutes[mlops.NewPerformanceMetric, mlops.PerformanceMetric]{
		path: "/api/v1/metrics", table: "performance_metrics", tags: tags,
		one: huma.Operation{OperationID: "create-metric", Summary: "Record a metric point"},
		batch: huma.Operation{OperationID: "create-metrics-batch", Summary: "Record up to 10,000 metric points, all or nothing",
			Description: "One bad item is a 422 naming its index (body.metrics[2].metric_value), and nothing is stored."},
		oneBody: NewMetric{}, batchBody: MetricBatch{},
		item:  decodeMetric,
		store: s.st.MetricCreate,
		storeBatch: func(ctx context.Context, body func() *decoder) ([]int64, error) {
			items, err := decodeAll(body(), "metrics", decodeMetric)
			if err != nil {
				return nil, err
			}
			return s.st.MetricCreateBatch(ctx, items)
		},
	})

	// The series is streamed from the database to the client, so its size
	// is not bounded by memory; it is registered without handle because its
	// body is written after the handler returns.
	reg := api.OpenAPI().Components.Schemas
	seriesSchema := reg.Schema(reflect.TypeOf(MetricSeries{}), true, "MetricSeries")
	points := reg.SchemaFromRef(seriesSchema.Ref).Properties["points"]
	points.Items = &huma.Schema{OneOf: []*huma.Schema{
		reg.Schema(reflect.TypeOf(store.MetricPoint{}), true, "MetricPoint"),
		reg.Schema(reflect.TypeOf(store.MetricBucket{}), true, "MetricBucket"),
	}}
	huma.Register(api, declared(mlops.PermRead, huma.Operation{
		OperationID: "get-metric-series", Method: http.MethodGet, Path: "/api/v1/metrics/{metric_name}", Tags: tags,
		Summary: "A metric's time series, oldest first",
		Description: "Raw points {created_at, value}, or with bucket one point per bucket " +
			"{bucket_start, count, avg, min, max}. Raw points are streamed.",
		Errors: []int{http.StatusUnprocessableEntity, http.StatusServiceUnavailable, http.StatusInternalServerError},
		Responses: map[string]*huma.Response{"200": {
			Description: "The series",
			Content:     map[string]*huma.MediaType{"application/json": {Schema: seriesSchema}},
		}},
	}), func(ctx context.Context, in *seriesIn) (*huma.StreamResponse, error) {
		f := store.MetricFilter{Name: in.MetricName, Since: s.st.Now().Add(-time.Duration(in.Days) * 24 * time.Hour)}
		if in.ModelID != 0 {
			f.ModelID = &in.ModelID
		}
		if in.Bucket != "" {
			dctx, cancel := context.WithTimeout(ctx, s.timeout)
			defer cancel()
			buckets, err := s.st.MetricBuckets(dctx, f, store.Bucket(in.Bucket))
			if err != nil {
				return nil, s.problem(ctx, "query", err)
			}
			points := make([]any, len(buckets))
			for i, b := range buckets {
				points[i] = b
			}
			doc := MetricSeries{MetricName: in.MetricName, Bucket: &in.Bucket, Points: points}
			return &huma.StreamResponse{Body: func(hc huma.Context) {
				hc.SetHeader("Content-Type", "application/json")
				hc.SetStatus(http.StatusOK)
				_ = json.NewEncoder(hc.BodyWriter()).Encode(doc)
			}}, nil
		}
		return &huma.StreamResponse{Body: func(hc huma.Context) { s.streamSeries(hc, f) }}, nil
	})
}

// streamSeries writes the raw points as they come from the database. An
// error before the first point is a normal problem answer; after it the
// status is sent, so the connection is aborted instead: the client sees a
// truncated document, never a complete-looking wrong one.
func (s *Server) streamSeries(hc huma.Context, f store.MetricFilter) {
	ctx, cancel := context.WithTimeout(hc.Context(), s.streamTO)
	defer cancel()
	w := bufio.NewWriterSize(hc.BodyWriter(), 32<<10)
	name, _ := json.Marshal(f.Name)
	started := false
	start := func() {
		hc.SetHeader("Content-Type", "application/json")
		hc.SetStatus(http.StatusOK)
		w.WriteString(`{"metric_name":`)
		w.Write(name)
		w.WriteString(`,"bucket":null,"points":[`)
		started = true
	}
	var werr error
	err := s.st.MetricSeriesEach(ctx, f, func(p store.MetricPoint) error {
		if !started {
			start()
		} else {
			w.WriteByte(',')
		}
		b, err := json.Marshal(p)
		if err != nil {
			return err
		}
		if _, err := w.Write(b); err != nil {
			werr = err
			return err
		}
		return nil
	})
	if err != nil {
		if !started {
			var pe *huma.ErrorModel
			if errors.As(s.problem(ctx, "query", err), &pe) {
				hc.SetHeader("Content-Type", "application/problem+json")
				if pe.Status == http.StatusServiceUnavailable {
					hc.SetHeader("Retry-After", "1")
				}
				hc.SetStatus(pe.Status)
				_ = json.NewEncoder(hc.BodyWriter()).Encode(pe)
			}
			return
		}
		if werr == nil {
			s.log.ErrorContext(ctx, "metric series stream failed", "request_id", requestID(ctx), "error", err.Error())
		}
		panic(http.ErrAbortHandler)
	}
	if !started {
		start()
	}
	w.WriteString("]}\n")
	_ = w.Flush()
}
