package httpapi_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/internal/auth"
	"github.com/mlopsdev/mlops/store/storetest"
)

// silences is TestSilences on one engine's server.
func silences(t *testing.T, e *authEnv) {
	e.setup(t)
	rev := e.c.bearer(e.tokens[mlops.RoleReviewer])
	viewer := e.c.bearer(e.tokens[mlops.RoleViewer])
	until := time.Now().UTC().Add(time.Hour).Truncate(time.Second)
	body := map[string]any{"matchers": map[string]any{"alert_type": "drift_detected", "model_name": "churn"},
		"until": until.Format(time.RFC3339), "comment": "retraining churn"}

	problem(t, viewer.do("POST", "/api/v1/alerts/silences", body), 403)
	s1 := rev.must(201, "POST", "/api/v1/alerts/silences", body)
	m, _ := s1["matchers"].(map[string]any)
	if s1["created_by"] != "prog-reviewer" || s1["until"] != until.Format(time.RFC3339) || s1["active"] != true ||
		s1["expired_at"] != nil || s1["expired_by"] != nil || s1["comment"] != "retraining churn" || s1["created_at"] == nil ||
		m["alert_type"] != "drift_detected" || m["model_name"] != "churn" || m["severity"] != nil {
		t.Errorf("created silence: %v", s1)
	}
	s2 := rev.must(201, "POST", "/api/v1/alerts/silences", map[string]any{"matchers": map[string]any{"severity": "low"},
		"until": until.Format(time.RFC3339), "comment": "noise"})

	path := fmt.Sprintf("/api/v1/alerts/silences/%d", id(s1))
	problem(t, viewer.do("DELETE", path, nil), 403)
	ended := rev.must(200, "DELETE", path, nil)
	if ended["active"] != false || ended["expired_by"] != "prog-reviewer" || ended["expired_at"] == nil {
		t.Errorf("expired silence: %v", ended)
	}
	problem(t, rev.do("DELETE", path, nil), 409)
	problem(t, rev.do("DELETE", "/api/v1/alerts/silences/999999", nil), 404)

	list := viewer.must(200, "GET", "/api/v1/alerts/silences?active=true", nil)
	if items, _ := list["items"].([]any); len(items) != 1 || id(items[0].(map[string]any)) != id(s2) {
		t.Errorf("silences in force: %v, want only %d", list, id(s2))
	}
	list = viewer.must(200, "GET", "/api/v1/alerts/silences?limit=1", nil)
	if items, _ := list["items"].([]any); len(items) != 1 || id(items[0].(map[string]any)) != id(s2) || list["next_cursor"] == nil {
		t.Errorf("first page of every silence: %v, want %d and a cursor", list, id(s2))
	}

	past := time.Now().Add(-time.Minute).Format(time.RFC3339)
	for _, tc := range []struct {
		body     map[string]any
		location string
	}{
		{map[string]any{"matchers": map[string]any{}, "until": until, "comment": "x"}, "body.matchers"},
		{map[string]any{"matchers": map[string]any{"model_name": " "}, "until": until, "comment": "x"}, "body.matchers.model_name"},
		{map[string]any{"matchers": map[string]any{"severity": "urgent"}, "until": until, "comment": "x"}, "body.matchers.severity"},
		{map[string]any{"matchers": map[string]any{"colour": "red"}, "until": until, "comment": "x"}, "body.matchers.colour"},
		{map[string]any{"matchers": map[string]any{"severity": "low"}, "until": past, "comment": "x"}, "body.until"},
		{map[string]any{"matchers": map[string]any{"severity": "low"}, "until": until, "comment": ""}, "body.comment"},
	} {
		problem(t, rev.do("POST", "/api/v1/alerts/silences", tc.body), 422, tc.location)
	}
}

// TestSilences: a reviewer creates a silence (recorded under the caller),
// anyone may list them, the reviewer expires it once (200, then 409), and
// bad bodies are 422s naming the field.
func TestSilences(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) { silences(t, startAuth(t, engine, auth.ModeRequired)) })
	}
}
