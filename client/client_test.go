package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/api"
	"github.com/mlopsdev/mlops/client"
	"github.com/mlopsdev/mlops/store/storetest"
)

func apiModel(name, version string) api.NewModelVersion {
	return api.NewModelVersion{ModelName: name, Version: version, Algorithm: "rf"}
}

// routeLog records the requests a server answered, as "METHOD path".
type routeLog struct {
	mu   sync.Mutex
	seen []string
}

func (l *routeLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.seen = append(l.seen, r.Method+" "+r.URL.Path)
		l.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

// TestEveryRoute calls every method once, in the order a deployment would,
// and checks that together they reach every operation of the server's
// OpenAPI document.
func TestEveryRoute(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			t.Parallel()
			routes := &routeLog{}
			e := start(t, engine, serverOptions{wrap: routes.wrap})
			everyRoute(t, e, routes)
		})
	}
}

func everyRoute(t *testing.T, e *env, routes *routeLog) {
	ctx := context.Background()
	c := e.c
	now := time.Now().UTC()
	var (
		mv, mv2  mlops.ModelVersion
		pred     mlops.Prediction
		batch    api.BatchResult
		alert    mlops.Alert
		silence  mlops.Silence
		openapi  []byte
		created  api.CreatedToken
		features = func(x float64) api.Object { return api.Object(fmt.Sprintf(`{"amount": %g}`, x)) }
	)
	steps := []struct {
		name string
		call func() error
	}{
		{"Health", func() error { h, err := c.Health(ctx); return expect(err, h.Status == "ok", h) }},
		{"Ready", func() error { h, err := c.Ready(ctx); return expect(err, h.Status == "ready" && h.Revision != nil, h) }},
		{"WhoAmI", func() error { p, err := c.WhoAmI(ctx); return expect(err, p.Kind == mlops.KindAnonymous, p) }},
		{"OpenAPI", func() (err error) {
			openapi, err = c.OpenAPI(ctx)
			return expect(err, json.Valid(openapi), len(openapi))
		}},
		{"PrometheusMetrics", func() error {
			m, err := c.PrometheusMetrics(ctx)
			return expect(err, strings.Contains(m, "# HELP"), len(m))
		}},

		{"ModelVersionCreate", func() (err error) {
			mv, err = c.ModelVersionCreate(ctx, api.NewModelVersion{ModelName: "fraud", Version: "1", Algorithm: "xgboost",
				Metrics: &api.ModelMetrics{Accuracy: ptr(0.9), F1: ptr(0.8)}, Hyperparameters: api.Object(`{"depth": 6}`),
				FeatureNames: []string{"amount"}, TrainingSamples: ptr[int64](1000)})
			return expect(err, mv.ID > 0 && *mv.F1Score == 0.8 && mv.Status == mlops.ModelTraining, mv)
		}},
		{"ModelVersionCreate 2", func() (err error) {
			mv2, err = c.ModelVersionCreate(ctx, apiModel("fraud", "2"))
			return err
		}},
		{"ModelVersionList", func() error {
			l, err := c.ModelVersionList(ctx, client.ModelVersionFilter{ModelName: "fraud"})
			return expect(err, len(l.Items) == 2 && l.Items[0].ID == mv2.ID && l.NextCursor == nil, l)
		}},
		{"ModelVersionListAll", func() error {
			n, err := countAll(c.ModelVersionListAll(ctx, client.ModelVersionFilter{Status: mlops.ModelTraining, Page: client.Page{Limit: 1}}))
			return expect(err, n == 2, n)
		}},
		{"ModelVersionGet", func() error { m, err := c.ModelVersionGet(ctx, mv.ID); return expect(err, m.Version == "1", m) }},
		{"ModelVersionActivate", func() error {
			m, err := c.ModelVersionActivate(ctx, mv.ID)
			return expect(err, m.IsActive && m.Status == mlops.ModelProduction, m)
		}},
		{"ModelVersionActive", func() error { m, err := c.ModelVersionActive(ctx, "fraud"); return expect(err, m.ID == mv.ID, m) }},
		{"ModelVersionActiveAt", func() error {
			m, err := c.ModelVersionActiveAt(ctx, "fraud", time.Now().Add(time.Second))
			return expect(err, m.ID == mv.ID, m)
		}},

		{"PredictionCreate", func() (err error) {
			pred, err = c.PredictionCreate(ctx, api.NewPrediction{ModelID: mv.ID, Features: features(1), Prediction: 1,
				Probability: ptr(0.7), LatencyMS: ptr(3.5)})
			return expect(err, pred.ID > 0 && pred.Actual == nil && string(pred.Features) == `{"amount":1}`, pred)
		}},
		{"PredictionCreateBatch", func() (err error) {
			var items []api.NewPrediction
			for i := range 40 { // the reference window: small amounts, two to three days ago
				at := now.Add(-48*time.Hour - time.Duration(i)*time.Minute)
				items = append(items, api.NewPrediction{ModelID: mv.ID, Features: features(float64(i % 10)), CreatedAt: &at})
			}
			for i := range 40 { // the current window: large amounts
				at := now.Add(-time.Duration(i+1) * time.Minute)
				items = append(items, api.NewPrediction{ModelID: mv.ID, Features: features(float64(100 + i%10)), Prediction: 1, Actual: ptr[int64](1), CreatedAt: &at})
			}
			batch, err = c.PredictionCreateBatch(ctx, items)
			return expect(err, batch.Count == 80 && len(batch.IDs) == 80, batch.Count)
		}},
		{"PredictionList", func() error {
			l, err := c.PredictionList(ctx, client.PredictionFilter{ModelID: mv.ID, Hours: 1, Page: client.Page{Limit: 1000}})
			return expect(err, len(l.Items) == 41, len(l.Items))
		}},
		{"PredictionListAll", func() error {
			n, err := countAll(c.PredictionListAll(ctx, client.PredictionFilter{ModelID: mv.ID, Hours: 24 * 7, Page: client.Page{Limit: 30}}))
			return expect(err, n == 81, n)
		}},
		{"PredictionGet", func() error { p, err := c.PredictionGet(ctx, pred.ID); return expect(err, p.ID == pred.ID, p) }},
		{"PredictionSetActual", func() error {
			p, err := c.PredictionSetActual(ctx, pred.ID, 1)
			return expect(err, p.Actual != nil && *p.Actual == 1, p)
		}},

		{"DriftReportCreate", func() error {
			d, err := c.DriftReportCreate(ctx, api.NewDriftReport{ModelID: mv.ID, DriftDetected: true, DriftScore: ptr(0.3),
				DriftedFeatures: []string{"amount"}, Details: api.Object(`{"amount": {"psi": 0.3}}`)})
			return expect(err, d.NDriftedFeatures == 1, d)
		}},
		{"DriftCheck", func() error {
			ref, cur := now.Add(-72*time.Hour), now.Add(-24*time.Hour)
			d, err := c.DriftCheck(ctx, mv.ID, api.DriftCheck{Reference: &api.TimeWindow{From: &ref, To: &cur},
				Current: &api.TimeWindow{From: &cur}, MinSamples: 10})
			return expect(err, d.DriftDetected && slices.Contains(d.DriftedFeatures, "amount"), d)
		}},
		{"DriftReportList", func() error {
			l, err := c.DriftReportList(ctx, client.DriftReportFilter{ModelID: mv.ID})
			return expect(err, len(l.Items) == 2, len(l.Items))
		}},
		{"DriftReportListAll", func() error {
			n, err := countAll(c.DriftReportListAll(ctx, client.DriftReportFilter{Days: 1, Page: client.Page{Limit: 1}}))
			return expect(err, n == 2, n)
		}},
		{"DriftReportLatest", func() error {
			d, err := c.DriftReportLatest(ctx, mv.ID)
			return expect(err, d.Details != nil && strings.Contains(string(d.Details), "features"), d.ID)
		}},

		{"ActionCreate", func() error {
			a, err := c.ActionCreate(ctx, api.NewAgentAction{ActionID: "retrain-1", ActionType: "retrain_model",
				RiskLevel: mlops.RiskMedium, Parameters: api.Object(`{"model_id": 1}`)})
			return expect(err, a.Status == mlops.ActionPending, a)
		}},
		{"ActionCreate 2", func() error {
			_, err := c.ActionCreate(ctx, api.NewAgentAction{ActionID: "retrain-2", ActionType: "retrain_model", RiskLevel: mlops.RiskLow})
			return err
		}},
		{"ActionCreate 3", func() error {
			a, err := c.ActionCreate(ctx, api.NewAgentAction{ActionID: "scale-1", ActionType: "scale", RiskLevel: mlops.RiskLow,
				RequiresApproval: ptr(false)})
			return expect(err, a.Status == mlops.ActionApproved, a)
		}},
		{"ActionList", func() error {
			l, err := c.ActionList(ctx, client.ActionFilter{Status: mlops.ActionPending})
			return expect(err, len(l.Items) == 2, len(l.Items))
		}},
		{"ActionListAll", func() error {
			n, err := countAll(c.ActionListAll(ctx, client.ActionFilter{Page: client.Page{Limit: 2}}))
			return expect(err, n == 3, n)
		}},
		{"ActionGet", func() error {
			a, err := c.ActionGet(ctx, "retrain-1")
			return expect(err, a.ActionID == "retrain-1", a)
		}},
		{"ActionApprove", func() error {
			a, err := c.ActionApprove(ctx, "retrain-1", api.Review{Reviewer: "rita", Comment: "go"})
			return expect(err, a.Status == mlops.ActionApproved && *a.ReviewedBy == "rita", a)
		}},
		{"ActionReject", func() error {
			a, err := c.ActionReject(ctx, "retrain-2", api.Review{Reviewer: "rita", Comment: "not now"})
			return expect(err, a.Status == mlops.ActionRejected, a)
		}},
		{"ActionMarkExecuted", func() error {
			a, err := c.ActionMarkExecuted(ctx, "retrain-1", api.Object(`{"new_version": "3"}`))
			return expect(err, a.Status == mlops.ActionExecuted && a.ExecutedAt != nil, a)
		}},
		{"ActionMarkFailed", func() error {
			a, err := c.ActionMarkFailed(ctx, "scale-1", api.Object(`{"error": "quota"}`))
			return expect(err, a.Status == mlops.ActionFailed, a)
		}},

		{"MetricCreate", func() error {
			m, err := c.MetricCreate(ctx, api.NewMetric{MetricName: "api_latency", MetricValue: 12.5, ModelID: &mv.ID, Metadata: api.Object(`{"route": "/predict"}`)})
			return expect(err, m.ID > 0 && *m.ModelID == mv.ID, m)
		}},
		{"MetricCreateBatch", func() error {
			r, err := c.MetricCreateBatch(ctx, []api.NewMetric{{MetricName: "api_latency", MetricValue: 10}, {MetricName: "api_latency", MetricValue: 20}})
			return expect(err, r.Count == 2, r)
		}},
		{"MetricSeries", func() error {
			s, err := c.MetricSeries(ctx, "api_latency", client.SeriesOptions{Days: 1})
			return expect(err, len(s.Points) == 3 && s.Bucket == "" && s.MetricName == "api_latency", s)
		}},
		{"MetricSeries bucketed", func() error {
			s, err := c.MetricSeries(ctx, "api_latency", client.SeriesOptions{Bucket: "1d", ModelID: mv.ID})
			return expect(err, len(s.Buckets) == 1 && s.Buckets[0].Count == 1 && s.Bucket == "1d", s)
		}},

		{"AlertCreate", func() (err error) {
			alert, err = c.AlertCreate(ctx, api.NewAlert{AlertType: "drift", Severity: mlops.SeverityHigh, Title: "Drift on fraud",
				RelatedData: api.Object(`{"model_id": 1}`)})
			return expect(err, alert.Status == mlops.AlertActive, alert)
		}},
		{"AlertList", func() error {
			l, err := c.AlertList(ctx, client.AlertFilter{Status: mlops.AlertActive, Severity: mlops.SeverityHigh})
			return expect(err, len(l.Items) == 1, l)
		}},
		{"AlertListAll", func() error {
			n, err := countAll(c.AlertListAll(ctx, client.AlertFilter{}))
			return expect(err, n == 1, n)
		}},
		{"AlertGet", func() error { a, err := c.AlertGet(ctx, alert.ID); return expect(err, a.Title == "Drift on fraud", a) }},
		{"AlertAcknowledge", func() error {
			a, err := c.AlertAcknowledge(ctx, alert.ID, "rita")
			return expect(err, a.Status == mlops.AlertAcknowledged, a)
		}},
		{"AlertResolve", func() error {
			a, err := c.AlertResolve(ctx, alert.ID, api.Resolution{User: "rita", Notes: "retrained"})
			return expect(err, a.Status == mlops.AlertResolved && *a.ResolutionNotes == "retrained", a)
		}},
		{"SilenceCreate", func() (err error) {
			silence, err = c.SilenceCreate(ctx, api.NewSilence{Matchers: api.NewSilenceMatchers{ModelName: ptr("fraud")},
				Until: now.Add(time.Hour), Comment: "maintenance"})
			return expect(err, silence.Active, silence)
		}},
		{"SilenceList", func() error {
			l, err := c.SilenceList(ctx, client.SilenceFilter{Active: true})
			return expect(err, len(l.Items) == 1, l)
		}},
		{"SilenceListAll", func() error {
			n, err := countAll(c.SilenceListAll(ctx, client.SilenceFilter{}))
			return expect(err, n == 1, n)
		}},
		{"SilenceExpire", func() error {
			s, err := c.SilenceExpire(ctx, silence.ID)
			return expect(err, !s.Active && s.ExpiredAt != nil, s)
		}},

		{"PerformanceReport", func() error {
			r, err := c.PerformanceReport(ctx, mv.ID, client.PerformanceOptions{Bucket: "1d", Days: 7, PositiveClass: ptr[int64](1)})
			return expect(err, r.Total.Predictions == 81 && r.Total.Labeled == 41 && r.Bucket == "1d", r.Total)
		}},
		{"PerformanceReportActive", func() error {
			r, err := c.PerformanceReportActive(ctx, "fraud", client.PerformanceOptions{Days: 1})
			return expect(err, r.ModelID == mv.ID && r.Total.Predictions == 41, r.Total)
		}},
		{"AlertReport", func() error { r, err := c.AlertReport(ctx, 1); return expect(err, r.Total == 1, r) }},
		{"ApprovalReport", func() error { r, err := c.ApprovalReport(ctx, 0); return expect(err, len(r.ByType) == 2, r) }},
		{"TimelineList", func() error {
			l, err := c.TimelineList(ctx, mv.ID, client.Page{Limit: 2})
			return expect(err, len(l.Items) == 2 && l.NextCursor != nil, l)
		}},
		{"TimelineListAll", func() error {
			n, err := countAll(c.TimelineListAll(ctx, mv.ID, client.Page{Limit: 2}))
			return expect(err, n >= 4, n)
		}},
		{"RuleSettingsGet", func() error {
			r, err := c.RuleSettingsGet(ctx, "fraud")
			return expect(err, !r.Enabled && r.ModelName == "fraud", r)
		}},
		{"RuleSettingsPut", func() error {
			r, err := c.RuleSettingsPut(ctx, "fraud", api.RuleSettingsUpdate{Enabled: ptr(true), MinSamples: ptr[int64](10)})
			return expect(err, r.Enabled && r.MinSamples == 10, r)
		}},
		{"RulesRun", func() error {
			r, err := c.RulesRun(ctx)
			return expect(err, r.Models == 1 && !r.Skipped, r)
		}},

		{"UserCreate", func() error {
			u, err := c.UserCreate(ctx, api.NewUser{Name: "rita", Role: mlops.RoleReviewer, Password: "a long enough password"})
			return expect(err, u.Role == mlops.RoleReviewer, u)
		}},
		{"UserUpdate", func() error {
			u, err := c.UserUpdate(ctx, "rita", api.UserChange{Disabled: ptr(true)})
			return expect(err, u.Disabled, u)
		}},
		{"UserList", func() error { u, err := c.UserList(ctx); return expect(err, len(u) == 1, u) }},
		{"TokenCreate", func() (err error) {
			created, err = c.TokenCreate(ctx, api.NewToken{Name: "model-server", Role: mlops.RolePipeline})
			return expect(err, strings.HasPrefix(created.Secret, "mlops_") && created.Name == "model-server", created.Token)
		}},
		{"TokenList", func() error { l, err := c.TokenList(ctx, false); return expect(err, len(l) == 1, l) }},
		{"TokenRevoke", func() error {
			tk, err := c.TokenRevoke(ctx, "model-server")
			return expect(err, tk.RevokedAt != nil, tk)
		}},
		{"TokenList revoked", func() error { l, err := c.TokenList(ctx, true); return expect(err, len(l) == 1, l) }},
		{"AuditList", func() error {
			l, err := c.AuditList(ctx, client.AuditFilter{EntityType: "action", EntityID: "retrain-1", Since: now.Add(-time.Hour)})
			return expect(err, len(l.Items) == 3, len(l.Items))
		}},
		{"AuditListAll", func() error {
			n, err := countAll(c.AuditListAll(ctx, client.AuditFilter{Event: "model.activated", Until: time.Now().Add(time.Hour)}))
			return expect(err, n == 1, n)
		}},
	}
	for _, s := range steps {
		if err := s.call(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}

	// Every operation of the document was reached.
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openapi, &doc); err != nil {
		t.Fatal(err)
	}
	routes.mu.Lock()
	defer routes.mu.Unlock()
	for path, ops := range doc.Paths {
		re := regexp.MustCompile("^" + regexp.MustCompile(`\\\{[a-z_]+\\\}`).ReplaceAllString(regexp.QuoteMeta(path), "[^/]+") + "$")
		for method := range ops {
			m := strings.ToUpper(method)
			if !slices.ContainsFunc(routes.seen, func(s string) bool {
				sm, sp, _ := strings.Cut(s, " ")
				return sm == m && re.MatchString(sp) && !strings.HasSuffix(sp, "/active") == !strings.HasSuffix(path, "/active")
			}) {
				t.Errorf("no method of the client calls %s %s", m, path)
			}
		}
	}
}

// expect is err, or an error showing got when ok is false.
func expect(err error, ok bool, got any) error {
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("unexpected answer: %+v", got)
	}
	return nil
}

// countAll counts the items of seq, or returns its error.
func countAll[T any](seq func(func(T, error) bool)) (int, error) {
	n := 0
	for _, err := range seq {
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// TestDocsNameEveryMethod: docs/clients.md names every method of Client.
func TestDocsNameEveryMethod(t *testing.T) {
	doc, err := os.ReadFile("../docs/clients.md")
	if err != nil {
		t.Fatal(err)
	}
	typ := reflect.TypeFor[*client.Client]()
	for i := range typ.NumMethod() {
		if name := typ.Method(i).Name; !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("docs/clients.md does not name the method %s", name)
		}
	}
}
