package store

import (
	"context"
	"path/filepath"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// TestNoTracerWithoutProvider: without Options.TracerProvider the pgx
// connections get no tracer and the SQLite statements no wrapper; with
// one they get both.
func TestNoTracerWithoutProvider(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	for _, traced := range []bool{false, true} {
		opts := Options{}
		if traced {
			opts.TracerProvider = tp
		}
		pg := &Store{engine: Postgres, target: Target{Engine: Postgres, URL: "postgres://u@127.0.0.1:1/db"}}
		if err := pg.openPostgres(opts); err != nil { // opens a pool; connects nowhere yet
			t.Fatal(err)
		}
		pg.rdb.Close()
		if got := pg.pgConfig.Tracer != nil; got != traced {
			t.Errorf("traced %v: pgx tracer installed %v", traced, got)
		}
		sq, err := Open(context.Background(), "sqlite:///"+filepath.Join(t.TempDir(), "x.db"), opts)
		if err != nil {
			t.Fatal(err)
		}
		_, wrapped := sq.reader().(tracedQuerier)
		sq.Close()
		if wrapped != traced {
			t.Errorf("traced %v: SQLite statements wrapped %v", traced, wrapped)
		}
	}
}

// TestIngestSpan: a group commit's span is the child of the first traced
// request of the batch and links to the other traced ones, each link
// carrying its request id; untraced requests are left out, and a batch of
// untraced requests gets no span.
func TestIngestSpan(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	s := &Store{tracer: tp.Tracer(tracerName)}
	request := func(id string, sampled bool) *ingestReq {
		ctx := WithActor(context.Background(), Actor{Name: "u", RequestID: id})
		if !sampled {
			return &ingestReq{ctx: ctx}
		}
		ctx, span := tp.Tracer("test").Start(ctx, "request "+id)
		span.End()
		return &ingestReq{ctx: ctx}
	}
	untraced, a, b, c := request("r0", false), request("r1", true), request("r2", true), request("r3", true)

	ctx, span := s.startIngestSpan(context.Background(), []*ingestReq{untraced, a, b, c})
	if spanRequestID(ctx) != "r1" {
		t.Errorf("statements of the commit are labelled %q, want r1", spanRequestID(ctx))
	}
	span.End()
	spans := exp.GetSpans()
	got := spans[len(spans)-1]
	if got.Name != "prediction ingest" || got.Parent.SpanID() != trace.SpanContextFromContext(a.ctx).SpanID() {
		t.Fatalf("span %q under %s, want prediction ingest under r1's span", got.Name, got.Parent.SpanID())
	}
	want := map[trace.SpanID]string{
		trace.SpanContextFromContext(b.ctx).SpanID(): "r2",
		trace.SpanContextFromContext(c.ctx).SpanID(): "r3",
	}
	if len(got.Links) != len(want) {
		t.Fatalf("%d links, want %d", len(got.Links), len(want))
	}
	for _, l := range got.Links {
		if id := want[l.SpanContext.SpanID()]; id == "" || !hasAttr(l.Attributes, RequestIDKey.String(id)) {
			t.Errorf("link to %s with %v", l.SpanContext.SpanID(), l.Attributes)
		}
	}
	if !hasAttr(got.Attributes, attribute.Int("mlops.ingest.rows", 4)) || !hasAttr(got.Attributes, RequestIDKey.String("r1")) {
		t.Errorf("attributes %v", got.Attributes)
	}

	n := len(exp.GetSpans())
	_, span = s.startIngestSpan(context.Background(), []*ingestReq{untraced})
	span.End()
	if len(exp.GetSpans()) != n || span.IsRecording() {
		t.Error("a batch of untraced requests got a span")
	}
}

func hasAttr(attrs []attribute.KeyValue, kv attribute.KeyValue) bool {
	for _, a := range attrs {
		if a == kv {
			return true
		}
	}
	return false
}
