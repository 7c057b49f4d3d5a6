package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric/noop"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Tracing (Options.TracerProvider): a statement run on behalf of a traced
// request gets a client span, child of the request's span, labelled with
// the request id of the Actor in ctx. Statements outside a traced request
// (background loops, commands) get none. Without a provider nothing is
// installed: no pgx tracer, no wrapper around the SQLite statements.

// RequestIDKey is the span attribute that carries the request id
// (X-Request-ID) on the spans of a request and of its statements.
const RequestIDKey = attribute.Key("mlops.request_id")

const tracerName = "github.com/mlopsdev/mlops/store"

// spanRequestIDKey carries the request id to the statements of a group
// commit, which run outside any request's context.
type spanRequestIDKey struct{}

// spanRequestID is the request id the statements run in ctx are labelled
// with: the Actor's, else the one of the request a group commit is
// parented to.
func spanRequestID(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(Actor); ok && a.RequestID != "" {
		return a.RequestID
	}
	id, _ := ctx.Value(spanRequestIDKey{}).(string)
	return id
}

// labelSpan puts the request id on the span in ctx, the one a tracer has
// just started.
func labelSpan(ctx context.Context) context.Context {
	if id := spanRequestID(ctx); id != "" {
		trace.SpanFromContext(ctx).SetAttributes(RequestIDKey.String(id))
	}
	return ctx
}

// pgTracer is otelpgx's tracer (spans named by the statement's first word:
// SELECT, INSERT, WITH; the SQL text as db.query.text, never the argument
// values) with the request id on each span it starts. Its metrics go
// nowhere: /metrics has the store's own.
type pgTracer struct{ *otelpgx.Tracer }

func newPGTracer(tp trace.TracerProvider) pgTracer {
	return pgTracer{otelpgx.NewTracer(otelpgx.WithTracerProvider(tp), otelpgx.WithMeterProvider(noop.NewMeterProvider()))}
}

func (t pgTracer) TraceQueryStart(ctx context.Context, c *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	return labelSpan(t.Tracer.TraceQueryStart(ctx, c, d))
}

func (t pgTracer) TraceCopyFromStart(ctx context.Context, c *pgx.Conn, d pgx.TraceCopyFromStartData) context.Context {
	return labelSpan(t.Tracer.TraceCopyFromStart(ctx, c, d))
}

func (t pgTracer) TraceBatchStart(ctx context.Context, c *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	return labelSpan(t.Tracer.TraceBatchStart(ctx, c, d))
}

func (t pgTracer) TracePrepareStart(ctx context.Context, c *pgx.Conn, d pgx.TracePrepareStartData) context.Context {
	return labelSpan(t.Tracer.TracePrepareStart(ctx, c, d))
}

func (t pgTracer) TraceConnectStart(ctx context.Context, d pgx.TraceConnectStartData) context.Context {
	return labelSpan(t.Tracer.TraceConnectStart(ctx, d))
}

// tracedQuerier gives the SQLite statements run through reader() and
// writer() the spans pgTracer gives PostgreSQL's. A span covers running
// the statement, not reading its rows. Statements prepared once and run
// many times (a group commit of several rows, the audit log's) have none.
type tracedQuerier struct {
	q querier
	t trace.Tracer
}

func (q tracedQuerier) start(ctx context.Context, query string) (context.Context, trace.Span) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, nil
	}
	op := otelpgx.SQLOperationName(ctx, query)
	ctx, span := q.t.Start(ctx, op, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		semconv.DBSystemNameSQLite, semconv.DBQueryText(query), semconv.DBOperationName(op)))
	return labelSpan(ctx), span
}

func endSpan(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

func (q tracedQuerier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx, span := q.start(ctx, query)
	r, err := q.q.ExecContext(ctx, query, args...)
	endSpan(span, err)
	return r, err
}

func (q tracedQuerier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx, span := q.start(ctx, query)
	r, err := q.q.QueryContext(ctx, query, args...)
	endSpan(span, err)
	return r, err
}

func (q tracedQuerier) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	ctx, span := q.start(ctx, query)
	r := q.q.QueryRowContext(ctx, query, args...)
	endSpan(span, r.Err())
	return r
}

// startIngestSpan starts the span of one group commit: a child of the
// span of the first traced request in batch, linked to the spans of the
// others (each link carrying its request id), so every request's trace
// leads to the commit that stored its row. It returns ctx's own,
// non-recording span when tracing is off or no request in batch is traced.
func (s *Store) startIngestSpan(ctx context.Context, batch []*ingestReq) (context.Context, trace.Span) {
	if s.tracer == nil {
		return ctx, trace.SpanFromContext(ctx)
	}
	var parent *ingestReq
	links := make([]trace.Link, 0, len(batch))
	for _, r := range batch {
		sc := trace.SpanContextFromContext(r.ctx)
		switch {
		case !sc.IsSampled():
		case parent == nil:
			parent = r
		default:
			links = append(links, trace.Link{SpanContext: sc,
				Attributes: []attribute.KeyValue{RequestIDKey.String(spanRequestID(r.ctx))}})
		}
	}
	if parent == nil {
		return ctx, trace.SpanFromContext(ctx)
	}
	id := spanRequestID(parent.ctx)
	ctx = context.WithValue(trace.ContextWithSpan(ctx, trace.SpanFromContext(parent.ctx)), spanRequestIDKey{}, id)
	return s.tracer.Start(ctx, "prediction ingest", trace.WithLinks(links...), trace.WithAttributes(
		RequestIDKey.String(id), attribute.Int("mlops.ingest.rows", len(batch))))
}
