package cli

import (
	"testing"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/monitor"
)

// TestPrintRulesResult: each outcome of a rules run is one line, a silenced
// one (which carries no alert) included.
func TestPrintRulesResult(t *testing.T) {
	silence := int64(4)
	e, out := loopEnv("")
	printRulesResult(e, monitor.RulesRunResult{Models: 2, Outcomes: []monitor.RuleOutcome{
		{Rule: "drift", ModelName: "churn", ModelID: 1, SilenceID: &silence},
		{Rule: "performance", ModelName: "fraud", ModelID: 2, Alert: &mlops.Alert{ID: 7, Occurrences: 3}},
	}})
	want := "rules evaluated for 2 model(s)\n" +
		"drift rule, churn (model version 1): silenced by silence 4: no alert raised\n" +
		"performance rule, fraud (model version 2): alert 7 seen again (3 occurrences)\n"
	if got := out.String(); got != want {
		t.Errorf("printed %q, want %q", got, want)
	}
}
