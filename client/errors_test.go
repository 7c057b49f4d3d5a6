package client_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/api"
	"github.com/mlopsdev/mlops/client"
	"github.com/mlopsdev/mlops/store/storetest"
)

// TestErrors: problem documents become *client.Error with their status,
// detail and field locations, and match the root package's sentinels.
func TestErrors(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		id := model(t, e.c, "churn", "1")

		_, err := e.c.ModelVersionGet(ctx, 999999)
		var ce *client.Error
		if !errors.As(err, &ce) || !client.IsNotFound(err) || !errors.Is(err, mlops.ErrNotFound) {
			t.Fatalf("missing version: %v", err)
		}
		if ce.Method != "GET" || ce.Path != "/api/v1/models/999999" || ce.Detail == "" || ce.RequestID == "" {
			t.Fatalf("404 error: %+v", ce)
		}
		if _, err := e.c.ActionGet(ctx, "no/such action"); !client.IsNotFound(err) {
			t.Fatalf("an action_id that needs escaping: %v", err)
		}

		_, err = e.c.ModelVersionCreate(ctx, apiModel("churn", "1"))
		if !client.IsConflict(err) || !errors.Is(err, mlops.ErrConflict) || !strings.Contains(err.Error(), `version "1" is already registered`) {
			t.Fatalf("a taken version: %v", err)
		}

		_, err = e.c.PredictionCreate(ctx, api.NewPrediction{ModelID: id, Probability: ptr(1.5), Features: api.Object(`{"a": 1}`)})
		if !client.IsInvalid(err) || !errors.As(err, &ce) {
			t.Fatalf("probability 1.5: %v", err)
		}
		if _, ok := ce.Field("body.probability"); !ok || len(ce.Fields) != 1 {
			t.Fatalf("fields of the 422: %+v", ce.Fields)
		}

		_, err = e.c.PredictionCreateBatch(ctx, []api.NewPrediction{{ModelID: id}, {ModelID: id, LatencyMS: ptr(-1.0)}, {ModelID: id}})
		if !errors.As(err, &ce) || ce.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("a bad item: %v", err)
		}
		if f, ok := ce.Field("body.predictions[1].latency_ms"); !ok || f.Message == "" {
			t.Fatalf("fields of the batch's 422: %+v", ce.Fields)
		}
		if n := count(t, e.st, "predictions"); n != 0 {
			t.Fatalf("%d predictions stored by refused requests", n)
		}

		_, err = e.c.ModelVersionList(ctx, client.ModelVersionFilter{Page: client.Page{Cursor: "made-up"}})
		if !errors.As(err, &ce) || ce.Fields[0].Location != "query.cursor" {
			t.Fatalf("a made-up cursor: %v", err)
		}

		if _, err := e.c.AlertAcknowledge(ctx, 12345, "rita"); !client.IsNotFound(err) {
			t.Fatalf("acknowledge a missing alert: %v", err)
		}
		if _, err := e.c.ActionCreate(ctx, api.NewAgentAction{ActionID: "a", ActionType: "t", RiskLevel: mlops.RiskLow}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.c.ActionMarkExecuted(ctx, "a", nil); !client.IsConflict(err) || !strings.Contains(err.Error(), "pending") {
			t.Fatalf("execute a pending action: %v", err)
		}
	})
}

// TestTokenAuth: with authentication required, a token's secret is the
// client's credentials; without one, or with a role too small, the
// answers are 401 and 403.
func TestTokenAuth(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := storetest.Open(t, engine, storeOptions())
			ts, _ := serveOn(t, st, serverOptions{auth: authRequired(st)})
			pipeline := newClient(t, ts.URL, client.WithToken(token(t, st, "training-pipeline", mlops.RolePipeline)))
			viewer := newClient(t, ts.URL, client.WithToken(token(t, st, "dashboard", mlops.RoleViewer)))
			nobody := newClient(t, ts.URL)

			p, err := pipeline.WhoAmI(ctx)
			if err != nil || p.Name != "training-pipeline" || p.Kind != mlops.KindToken || p.Role != mlops.RolePipeline {
				t.Fatalf("whoami: %+v %v", p, err)
			}
			mv, err := pipeline.ModelVersionCreate(ctx, apiModel("churn", "1"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := nobody.ModelVersionGet(ctx, mv.ID); !client.IsUnauthorized(err) {
				t.Fatalf("no credentials: %v", err)
			}
			if _, err := newClient(t, ts.URL, client.WithToken("mlops_wrong")).ModelVersionGet(ctx, mv.ID); !client.IsUnauthorized(err) {
				t.Fatalf("a wrong secret: %v", err)
			}
			if _, err := viewer.ModelVersionGet(ctx, mv.ID); err != nil {
				t.Fatalf("a viewer reads: %v", err)
			}
			if _, err := viewer.ModelVersionCreate(ctx, apiModel("churn", "2")); !client.IsForbidden(err) || !errors.Is(err, mlops.ErrForbidden) {
				t.Fatalf("a viewer registers: %v", err)
			}

			user(t, st, "rita", mlops.RoleReviewer, "rita's long password")
			rita := newClient(t, ts.URL, client.WithBasicAuth("rita", "rita's long password"))
			if p, err := rita.WhoAmI(ctx); err != nil || p.Name != "rita" || p.Kind != mlops.KindUser {
				t.Fatalf("whoami with a password: %+v %v", p, err)
			}
		})
	}
}
