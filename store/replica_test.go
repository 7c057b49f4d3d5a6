package store_test

import (
	"context"
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// The routing of reads to a real streaming replica is tested end to end,
// over HTTP, in internal/httpapi/replica_test.go. These tests need no
// replica.

func TestReplicasRefusedOnSQLite(t *testing.T) {
	_, err := store.Open(context.Background(), storetest.URL(t, store.SQLite),
		store.Options{Replicas: []string{"postgresql://mlops:secret@replica:5432/mlops"}})
	if err == nil || !strings.Contains(err.Error(), "read replicas are a PostgreSQL feature") {
		t.Fatalf("Open on SQLite with a replica: %v; want a refusal naming PostgreSQL", err)
	}
}

func TestReplicaURLsChecked(t *testing.T) {
	primary := storetest.URL(t, store.Postgres)
	u, err := url.Parse(primary)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("postgres", "hunter2")
	other := u.String()
	for _, tc := range []struct {
		name string
		opts store.Options
		want string
	}{
		{"not PostgreSQL", store.Options{Replicas: []string{"sqlite:///x.db"}}, "is not a PostgreSQL URL"},
		{"twice", store.Options{Replicas: []string{other, other}}, "names the replica " + u.Host + " twice"},
		{"limit too small", store.Options{Replicas: []string{other}, ReplicaMaxLag: 100e6}, "below 1s"},
	} {
		_, err := store.Open(context.Background(), primary, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: %v; want an error saying %q, without the password", tc.name, err, tc.want)
		}
	}
}

// TestReplicaNotAStandbyOrDown: a replica URL that names a server which is
// not a standby (here the primary itself), or where nothing listens, is
// reported down, and the reads it would serve go to the primary.
func TestReplicaNotAStandbyOrDown(t *testing.T) {
	primary := storetest.URL(t, store.Postgres)
	u, err := url.Parse(primary)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nobody := ln.Addr().String()
	ln.Close()
	dead := *u
	dead.Host = nobody

	s := storetest.OpenURL(t, primary, store.Options{Replicas: []string{primary, dead.String()}})
	got := s.Replicas()
	if len(got) != 2 {
		t.Fatalf("Replicas() = %+v; want two", got)
	}
	if got[0].Addr != u.Host || got[0].State != store.ReplicaDown || !strings.Contains(got[0].Problem, "not a standby") {
		t.Errorf("the primary as a replica: %+v; want down, not a standby", got[0])
	}
	if got[1].Addr != nobody || got[1].State != store.ReplicaDown || got[1].Problem != "does not answer" {
		t.Errorf("nothing listening: %+v; want down, does not answer", got[1])
	}
	m := storetest.Model(t, s, "churn", "1")
	items, _, err := s.ModelVersionList(context.Background(), store.ModelVersionFilter{})
	if err != nil || len(items) != 1 || items[0].ID != m.ID {
		t.Fatalf("list with every replica down: %+v, %v; want the version from the primary", items, err)
	}
	for _, r := range s.Replicas() {
		if r.Reads != 0 {
			t.Errorf("%s served %d reads while down", r.Addr, r.Reads)
		}
	}
}
