package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/api"
	"github.com/mlopsdev/mlops/store"
)

// Health is the answer of /healthz and /readyz.
type Health = api.Health

// readyTimeout bounds the database checks of /readyz. They wait their turn
// for a pooled connection like any request, so a small pool under load
// (DATABASE_POOL_SIZE=1 and many clients) needs some seconds.
const readyTimeout = 5 * time.Second

func registerOps(api huma.API, s *Server) {
	tags := []string{"Operations"}
	handle(api, s, permPublic, huma.Operation{
		OperationID: "healthz", Method: http.MethodGet, Path: "/healthz", Tags: tags,
		Summary: "200 while the process runs",
	}, func(ctx context.Context, _ *struct{}) (*body[Health], error) {
		return ok(Health{Status: "ok"}, nil)
	})
	handle(api, s, permPublic, huma.Operation{
		OperationID: "readyz", Method: http.MethodGet, Path: "/readyz", Tags: tags,
		Summary: "200 when the database answers and no migration is pending",
		Description: "503 otherwise, saying which. Checked live on every call. With read replicas " +
			"(DATABASE_REPLICA_URL) the answer lists each one as the last check found it; a replica " +
			"that is down or lagging does not make the server unready.",
	}, func(ctx context.Context, _ *struct{}) (*body[Health], error) {
		return ok(s.ready(ctx))
	})

	opsPerm := mlops.PermRead
	if s.metricsPublic {
		opsPerm = permPublic
	}
	huma.Register(api, declared(opsPerm, huma.Operation{
		OperationID: "metrics", Method: http.MethodGet, Path: "/metrics", Tags: tags,
		Summary: "Prometheus metrics",
		Description: "Requests by route and status, latency histograms, database pool figures and rows ingested, " +
			"in the Prometheus text format.",
		Responses: map[string]*huma.Response{"200": {
			Description: "Prometheus text exposition format",
			Content:     map[string]*huma.MediaType{"text/plain": {Schema: &huma.Schema{Type: huma.TypeString}}},
		}},
	}), func(ctx context.Context, _ *struct{}) (*huma.StreamResponse, error) {
		h := promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{})
		return &huma.StreamResponse{Body: func(hc huma.Context) {
			r, w := humago.Unwrap(hc)
			h.ServeHTTP(w, r)
		}}, nil
	})
	huma.Register(api, declared(opsPerm, huma.Operation{
		OperationID: "openapi", Method: http.MethodGet, Path: "/openapi.json", Tags: tags,
		Summary: "This OpenAPI 3.1 document",
		Responses: map[string]*huma.Response{"200": {
			Description: "The OpenAPI document",
			Content:     map[string]*huma.MediaType{"application/openapi+json": {Schema: &huma.Schema{Type: huma.TypeObject}}},
		}},
	}), func(ctx context.Context, _ *struct{}) (*huma.StreamResponse, error) {
		doc, err := api.OpenAPI().MarshalJSON()
		if err != nil {
			return nil, s.problem(ctx, "query", err)
		}
		return &huma.StreamResponse{Body: func(hc huma.Context) {
			hc.SetHeader("Content-Type", "application/openapi+json")
			hc.SetStatus(http.StatusOK)
			_, _ = hc.BodyWriter().Write(doc)
		}}, nil
	})
}

// ready checks, live, that the database answers and that no migration is
// pending (another process may have applied them since the last call). A
// failed check is tried once more: after an outage the pool may hand out
// one connection that died meanwhile, and it is discarded by the failure.
func (s *Server) ready(ctx context.Context) (Health, error) {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	h, err := s.readyOnce(ctx)
	if err != nil && ctx.Err() == nil {
		h, err = s.readyOnce(ctx)
	}
	return h, err
}

func (s *Server) readyOnce(ctx context.Context) (Health, error) {
	unready := func(format string, args ...any) (Health, error) {
		return Health{}, huma.ErrorWithHeaders(newProblem(http.StatusServiceUnavailable, fmt.Sprintf(format, args...)),
			http.Header{"Retry-After": {"1"}})
	}
	// The answer names the condition, never the driver's error text (it can
	// carry host names and users); the log keeps the detail.
	logged := func(what string, err error) {
		s.log.WarnContext(ctx, "not ready: "+what, "request_id", requestID(ctx), "error", err.Error())
	}
	if err := s.st.Ping(ctx); err != nil {
		logged("the database does not answer", err)
		return unready("not ready: the database does not answer (the server log has the error)")
	}
	m, err := s.st.Migrator()
	if err != nil {
		logged("no migrator", err)
		return unready("not ready: the migrations cannot be read (the server log has the error)")
	}
	cur, err := m.Current(ctx)
	if err != nil && (ctx.Err() != nil || errors.Is(err, mlops.ErrUnavailable)) {
		logged("the database did not answer in time", err)
		return unready("not ready: the database did not answer within %s (the server log has the error)", readyTimeout)
	}
	if err != nil {
		logged("no migration history", err)
		return unready("not ready: the database has no migration history yet; run mlops migrate upgrade, or start mlops serve without --no-migrate")
	}
	pending, err := m.Pending(ctx)
	if err != nil {
		logged("cannot read the migration state", err)
		return unready("not ready: cannot read the migration state (the server log has the error)")
	}
	if pending {
		return unready("not ready: migrations are pending (the database is at revision %d, the latest is %d); run mlops migrate upgrade, or start mlops serve without --no-migrate",
			cur, m.Latest())
	}
	return Health{Status: "ready", Revision: &cur, Replicas: replicaHealth(s.st.Replicas())}, nil
}

// replicaHealth reports the read replicas as the store's last check (once
// a second) found them. One that is down or lagging is named with the
// reason and leaves the server ready: its reads go to the primary.
func replicaHealth(list []store.ReplicaStatus) []api.ReplicaHealth {
	var out []api.ReplicaHealth
	for _, r := range list {
		h := api.ReplicaHealth{Replica: r.Addr, Status: string(r.State)}
		if r.Measured {
			lag := r.Lag.Seconds()
			h.LagSeconds = &lag
		}
		if r.State != store.ReplicaServing {
			h.Detail = "the replica " + r.Problem + "; its reads go to the primary"
		}
		out = append(out, h)
	}
	return out
}
