// Package api holds the bodies of mlops's HTTP API: what a client sends
// (NewModelVersion, NewPrediction, Review, ...) and the answers that are not
// records of the root package (BatchResult, List, reports). The records
// themselves (mlops.ModelVersion, mlops.Prediction, ...) are the root
// package's.
//
// The server decodes requests into these very types and generates its
// OpenAPI document (GET /openapi.json) from them, so a client that uses them
// cannot drift from the server. Their struct tags (doc, minimum, maximum,
// enum, default, ...) are that document's constraints; the package imports
// nothing but the root package and the standard library.
package api

import (
	"bytes"
	"encoding/json"
)

// Object is a JSON object kept verbatim: features, hyperparameters,
// parameters, metadata, details and results are free-form objects whose
// numbers are never reparsed. Nil (or empty) is sent as null, which the
// server reads as the field left out.
//
//	features := api.Object(`{"age": 42, "plan": "pro"}`)
type Object json.RawMessage

// MarshalJSON writes the object as is (null when empty).
func (o Object) MarshalJSON() ([]byte, error) {
	if len(o) == 0 {
		return []byte("null"), nil
	}
	return o, nil
}

// UnmarshalJSON keeps the raw text.
func (o *Object) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*o = nil
		return nil
	}
	*o = append((*o)[:0], b...)
	return nil
}

// List is the shape of every list: a page of items in the order its route
// names (newest first but for a few, such as the timeline), and the cursor
// of the next page (null on the last page).
type List[T any] struct {
	Items      []T     `json:"items" nullable:"false" doc:"This page of records, in the order the operation names (newest first unless it says otherwise)."`
	NextCursor *string `json:"next_cursor" doc:"Pass as cursor to get the next page; null on the last page."`
}

// Health is the answer of /healthz and /readyz.
type Health struct {
	Status   string          `json:"status" doc:"ok (healthz) or ready (readyz)."`
	Revision *int64          `json:"revision,omitempty" doc:"The migration revision the database is at (readyz)."`
	Replicas []ReplicaHealth `json:"replicas,omitempty" doc:"Each read replica of DATABASE_REPLICA_URL as the last check (once a second) found it (readyz; absent without replicas). A replica that is down or lagging leaves the server ready: its reads go to the primary."`
}

// ReplicaHealth is one read replica in the answer of /readyz.
type ReplicaHealth struct {
	Replica    string   `json:"replica" doc:"The replica's host:port."`
	Status     string   `json:"status" enum:"serving,lagging,down" doc:"serving: reads that may be slightly stale go to it; lagging: it is further behind than MLOPS_REPLICA_MAX_LAG; down: it does not answer, or is not a standby of the primary. Only serving replicas get reads."`
	LagSeconds *float64 `json:"lag_seconds,omitempty" doc:"How far behind the primary it is at most, in seconds; absent when it could not be measured."`
	Detail     string   `json:"detail,omitempty" doc:"Why it does not serve reads; absent when it does."`
}
