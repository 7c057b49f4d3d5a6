package webui

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
)

// The timeline page (/models/{id}/timeline): the store's timeline of a
// model version, oldest first, each event linking to the page of what it
// is about.

type timelineData struct {
	M        mlops.ModelVersion
	Events   []timelineRow
	NextURL  string
	FirstURL string
	Paged    bool
}

type timelineRow struct {
	store.TimelineEvent
	Group string // model, drift, alert or action
	Verb  string // registered, reported, raised, approved, …
	URL   string // the page of the subject
}

func (s *server) timeline(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := pathID(r, "model version")
	if err != nil {
		return err
	}
	d := timelineData{}
	if d.M, err = s.st.ModelVersionGet(ctx, id); err != nil {
		return err
	}
	cursor := r.URL.Query().Get("cursor")
	events, next, err := s.st.Timeline(ctx, id, store.Page{Limit: pageSize, Cursor: cursor})
	if err != nil {
		return err
	}
	// An alert links to the alerts page on its tab and severity, which
	// the event does not carry: read each alert of the page once.
	alerts := map[int64]string{}
	for _, e := range events {
		group, verb, _ := strings.Cut(e.Kind, ".")
		row := timelineRow{TimelineEvent: e, Group: group, Verb: verb}
		sid := strconv.FormatInt(e.SubjectID, 10)
		switch e.Subject {
		case "model_version":
			row.URL = "/models/" + sid
		case "drift_report":
			row.URL = "/drift/" + sid
		case "action":
			row.URL = "/approvals#action-" + sid
		case "alert":
			u, ok := alerts[e.SubjectID]
			if !ok {
				a, err := s.st.AlertGet(ctx, e.SubjectID)
				switch {
				case err == nil:
					u = "/alerts?" + url.Values{"status": {string(a.Status)}, "severity": {string(a.Severity)}}.Encode() + "#alert-" + sid
				case errors.Is(err, mlops.ErrNotFound):
					u = "/alerts"
				default:
					return err
				}
				alerts[e.SubjectID] = u
			}
			row.URL = u
		}
		d.Events = append(d.Events, row)
	}
	if next != "" {
		d.NextURL = withQuery(r, "cursor", next)
	}
	d.Paged, d.FirstURL = cursor != "", withQuery(r, "cursor", "")
	s.render(w, r, http.StatusOK, "timeline", "Timeline of "+d.M.ModelName+" "+d.M.Version, "models", d)
	return nil
}
