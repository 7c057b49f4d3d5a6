package store

import (
	"testing"
	"time"
)

func TestParseLSN(t *testing.T) {
	for in, want := range map[string]uint64{"0/0": 0, "0/16B3748": 0x16B3748, "16/B374D848": 0x16_B374D848, "FFFFFFFF/FFFFFFFF": 1<<64 - 1} {
		got, err := parseLSN(in)
		if err != nil || got != want {
			t.Errorf("parseLSN(%q) = %x, %v; want %x", in, got, err, want)
		}
	}
	for _, in := range []string{"", "16", "16/", "/1", "G/1", "1/100000000"} {
		if _, err := parseLSN(in); err == nil {
			t.Errorf("parseLSN(%q) accepted", in)
		}
	}
}

// TestLagOf: the lag is the age of the newest reading of the primary's
// position that the replica has replayed, so a replica of an idle primary
// is current however old the last change is, and one that stopped
// replaying falls behind from the first reading it has not reached.
func TestLagOf(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	busy := []lsnSample{{at(0), 100}, {at(1), 200}, {at(2), 300}, {at(3), 400}}
	idle := []lsnSample{{at(0), 100}, {at(1), 100}, {at(2), 100}, {at(3), 100}}
	for _, tc := range []struct {
		name    string
		history []lsnSample
		replay  uint64
		now     time.Time
		want    time.Duration
	}{
		{"current with a busy primary", busy, 400, at(3.1), 100 * time.Millisecond},
		{"ahead of the last reading", busy, 450, at(3.1), 100 * time.Millisecond},
		{"between two readings", busy, 250, at(3.1), 2100 * time.Millisecond},
		{"stopped at the first reading", busy, 100, at(3.1), 3100 * time.Millisecond},
		{"behind every reading", busy, 50, at(3.1), 3100 * time.Millisecond},
		{"current with an idle primary", idle, 100, at(3.1), 100 * time.Millisecond},
		{"clock stepped back", busy, 400, at(2.5), 0},
	} {
		if got := lagOf(tc.history, tc.replay, tc.now); got != tc.want {
			t.Errorf("%s: lag %s, want %s", tc.name, got, tc.want)
		}
	}
}
