package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// TestPruneSilences: prune's default kinds include the silences that ended
// before the cutoff; the silence in force stays.
func TestPruneSilences(t *testing.T) {
	storetest.EachURL(t, func(t *testing.T, url string) {
		clock := time.Now().UTC().Add(-60 * 24 * time.Hour)
		s := storetest.OpenURL(t, url, store.Options{Now: func() time.Time { return clock }})
		ctx := context.Background()
		silence := func(until time.Duration) mlops.Silence {
			t.Helper()
			sil, err := s.SilenceCreate(ctx, mlops.NewSilence{Matchers: mlops.SilenceMatchers{AlertType: new("drift")},
				Until: clock.Add(until), Comment: "maintenance"})
			if err != nil {
				t.Fatal(err)
			}
			return sil
		}
		silence(time.Hour)                      // ended 60 days ago
		inForce := silence(90 * 24 * time.Hour) // in force for 30 more days

		code, out, errs := run(t, url, "prune", "--older-than", "30d", "--dry-run")
		if code != 0 || !strings.Contains(out, "silences: 1 would be deleted") || !strings.Contains(out, "silences that ended before it") {
			t.Fatalf("prune --dry-run: code %d out %q err %q", code, out, errs)
		}
		code, out, errs = run(t, url, "prune", "--older-than", "30d")
		if code != 0 || !strings.Contains(out, "silences: 1 deleted") {
			t.Fatalf("prune: code %d out %q err %q", code, out, errs)
		}
		left, _, err := s.SilenceList(ctx, false, store.Page{Limit: -1})
		if err != nil || len(left) != 1 || left[0].ID != inForce.ID {
			t.Fatalf("silences left: %+v, %v; want only %d, in force", left, err, inForce.ID)
		}
	})
}
