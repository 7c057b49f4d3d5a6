package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"strconv"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/api"
)

// AlertCreate raises an alert, status active (POST /api/v1/alerts).
func (c *Client) AlertCreate(ctx context.Context, in api.NewAlert, opts ...CallOption) (mlops.Alert, error) {
	var out mlops.Alert
	r := c.newCall(http.MethodPost, "/api/v1/alerts", opts)
	r.body = in
	return out, c.do(ctx, r, &out)
}

// AlertFilter selects alerts.
type AlertFilter struct {
	Status   mlops.AlertStatus // only alerts in this status
	Severity mlops.Severity    // only alerts of this severity
	Page
}

// AlertList returns one page of alerts, newest first (GET /api/v1/alerts).
func (c *Client) AlertList(ctx context.Context, f AlertFilter, opts ...CallOption) (api.List[mlops.Alert], error) {
	var out api.List[mlops.Alert]
	r := c.newCall(http.MethodGet, "/api/v1/alerts", opts)
	r.query = url.Values{}
	setString(r.query, "status", string(f.Status))
	setString(r.query, "severity", string(f.Severity))
	f.Page.set(r.query)
	return out, c.do(ctx, r, &out)
}

// AlertListAll yields every alert f selects, newest first.
func (c *Client) AlertListAll(ctx context.Context, f AlertFilter, opts ...CallOption) iter.Seq2[mlops.Alert, error] {
	return all(ctx, f.Cursor, func(ctx context.Context, cursor string) (api.List[mlops.Alert], error) {
		f.Cursor = cursor
		return c.AlertList(ctx, f, opts...)
	})
}

// AlertGet returns one alert (GET /api/v1/alerts/{id}).
func (c *Client) AlertGet(ctx context.Context, id int64, opts ...CallOption) (mlops.Alert, error) {
	var out mlops.Alert
	return out, c.do(ctx, c.newCall(http.MethodGet, pathf("/api/v1/alerts/%s", id), opts), &out)
}

// AlertAcknowledge acknowledges an active alert (POST
// /api/v1/alerts/{id}/acknowledge); a 409 when it is not active. With
// authentication on, the user is the caller: leave it empty.
func (c *Client) AlertAcknowledge(ctx context.Context, id int64, user string, opts ...CallOption) (mlops.Alert, error) {
	var out mlops.Alert
	r := c.newCall(http.MethodPost, pathf("/api/v1/alerts/%s/acknowledge", id), opts)
	r.body = api.Acknowledgement{User: user}
	return out, c.do(ctx, r, &out)
}

// AlertResolve resolves an active or acknowledged alert (POST
// /api/v1/alerts/{id}/resolve); a 409 when it is resolved already.
func (c *Client) AlertResolve(ctx context.Context, id int64, in api.Resolution, opts ...CallOption) (mlops.Alert, error) {
	var out mlops.Alert
	r := c.newCall(http.MethodPost, pathf("/api/v1/alerts/%s/resolve", id), opts)
	r.body = in
	return out, c.do(ctx, r, &out)
}

// SilenceCreate silences the alert rules for the alerts that match, until
// a time (POST /api/v1/alerts/silences).
func (c *Client) SilenceCreate(ctx context.Context, in api.NewSilence, opts ...CallOption) (mlops.Silence, error) {
	var out mlops.Silence
	r := c.newCall(http.MethodPost, "/api/v1/alerts/silences", opts)
	r.body = in
	return out, c.do(ctx, r, &out)
}

// SilenceFilter selects silences.
type SilenceFilter struct {
	Active bool // only the silences in force now
	Page
}

// SilenceList returns one page of silences, newest first (GET
// /api/v1/alerts/silences).
func (c *Client) SilenceList(ctx context.Context, f SilenceFilter, opts ...CallOption) (api.List[mlops.Silence], error) {
	var out api.List[mlops.Silence]
	r := c.newCall(http.MethodGet, "/api/v1/alerts/silences", opts)
	r.query = url.Values{}
	if f.Active {
		r.query.Set("active", strconv.FormatBool(true))
	}
	f.Page.set(r.query)
	return out, c.do(ctx, r, &out)
}

// SilenceListAll yields every silence f selects, newest first.
func (c *Client) SilenceListAll(ctx context.Context, f SilenceFilter, opts ...CallOption) iter.Seq2[mlops.Silence, error] {
	return all(ctx, f.Cursor, func(ctx context.Context, cursor string) (api.List[mlops.Silence], error) {
		f.Cursor = cursor
		return c.SilenceList(ctx, f, opts...)
	})
}

// SilenceExpire ends a silence now (DELETE /api/v1/alerts/silences/{id});
// a 409 when it has ended already.
func (c *Client) SilenceExpire(ctx context.Context, id int64, opts ...CallOption) (mlops.Silence, error) {
	var out mlops.Silence
	return out, c.do(ctx, c.newCall(http.MethodDelete, pathf("/api/v1/alerts/silences/%s", id), opts), &out)
}
