// Package telemetry turns on trace export for mlops serve when the standard
// OpenTelemetry environment asks for it (OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), and installs nothing otherwise.
// Spans go over OTLP/HTTP (protobuf); the exporter, the sampler, the batch
// processor and the resource read their own OTEL_ variables through the
// OpenTelemetry SDK. See docs/operations.md, Tracing.
package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// DefaultServiceName is service.name unless OTEL_SERVICE_NAME (or
// service.name in OTEL_RESOURCE_ATTRIBUTES) says otherwise.
const DefaultServiceName = "mlops"

// Enabled reports whether the environment asks for traces: an OTLP
// endpoint is set, and neither OTEL_SDK_DISABLED=true nor
// OTEL_TRACES_EXPORTER=none turns them off.
func Enabled(getenv func(string) string) bool {
	if getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return false
	}
	return !strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") && getenv("OTEL_TRACES_EXPORTER") != "none"
}

// Setup starts exporting traces when Enabled(getenv) and returns the
// tracer provider to hand to the store and the API, and a shutdown that
// flushes the spans still buffered (call it once the server has drained).
// It also makes the provider and the W3C trace-context propagator the
// global ones, and routes the SDK's errors (an unreachable collector) to
// log as warnings.
//
// When tracing is off it returns a nil provider and a shutdown that does
// nothing, and touches no global. getenv decides on or off (the binary
// passes os.Getenv); the SDK reads the other OTEL_ variables from the
// process environment itself.
func Setup(ctx context.Context, getenv func(string) string, version string, log *slog.Logger) (trace.TracerProvider, func(context.Context) error, error) {
	off := func(context.Context) error { return nil }
	if !Enabled(getenv) {
		return nil, off, nil
	}
	if err := checkEnv(getenv); err != nil {
		return nil, off, err
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, off, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(DefaultServiceName), semconv.ServiceVersion(version)),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win
	)
	if err != nil {
		return nil, off, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("tracing failed", "error", err.Error())
	}))
	service, _ := res.Set().Value(semconv.ServiceNameKey)
	log.Info("exporting traces over OTLP/HTTP", "endpoint", endpoint(getenv), "service", service.AsString())
	return tp, tp.Shutdown, nil
}

// checkEnv refuses the settings this build cannot honour, rather than
// dropping every span in silence.
func checkEnv(getenv func(string) string) error {
	if e := getenv("OTEL_TRACES_EXPORTER"); e != "" && e != "otlp" {
		return fmt.Errorf("OTEL_TRACES_EXPORTER=%s is not supported: mlops exports traces over OTLP only (otlp, or none to turn tracing off)", e)
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		p := getenv(name)
		if p == "" {
			continue
		}
		if p != "http/protobuf" {
			return fmt.Errorf("%s=%s is not supported: mlops exports traces over OTLP/HTTP with protobuf; "+
				"set it to http/protobuf (or unset it) and point the endpoint at the collector's HTTP port, usually 4318", name, p)
		}
		break // the traces-specific setting overrides the general one
	}
	return nil
}

// endpoint is where spans go, for the log line: the traces endpoint as
// given, else the general one with /v1/traces; any password hidden.
func endpoint(getenv func(string) string) string {
	e := getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	if e == "" {
		e = strings.TrimSuffix(getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), "/") + "/v1/traces"
	}
	if u, err := url.Parse(e); err == nil && u.User != nil {
		return u.Redacted()
	}
	return e
}
