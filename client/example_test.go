package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"sync"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/api"
	"github.com/mlopsdev/mlops/client"
)

// A training pipeline registers the version it trained, with its
// evaluation metrics, and activates it when it beats the active one.
func Example_trainingPipeline() {
	ctx := context.Background()
	base := exampleServer(nil) // the server's address: "http://mlops.internal:8080"
	c, err := client.New(base, client.WithToken(os.Getenv("MLOPS_TOKEN")))
	if err != nil {
		log.Fatal(err)
	}

	accuracy, f1, samples := 0.91, 0.85, int64(12000)
	mv, err := c.ModelVersionCreate(ctx, api.NewModelVersion{
		ModelName: "churn", Version: "run-42", Algorithm: "RandomForest",
		Metrics:         &api.ModelMetrics{Accuracy: &accuracy, F1Score: &f1},
		Hyperparameters: api.Object(`{"n_estimators": 100, "max_depth": 8}`),
		FeatureNames:    []string{"age", "plan", "monthly_spend"},
		ModelPath:       "s3://models/churn/run-42.pkl",
		TrainingSamples: &samples,
	},
		// The run's name as the key: a retried request, or a rerun of the
		// pipeline step, registers the version once.
		client.IdempotencyKey("churn/run-42"))
	if err != nil {
		log.Fatal(err)
	}

	active, err := c.ModelVersionActive(ctx, "churn")
	switch {
	case client.IsNotFound(err):
		// The first version of the model.
	case err != nil:
		log.Fatal(err)
	case active.Accuracy != nil && *active.Accuracy >= accuracy:
		fmt.Println("keeping", active.Version)
		return
	}
	mv, err = c.ModelVersionActivate(ctx, mv.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(mv.ModelName, mv.Version, mv.Status, "active:", mv.IsActive)
	// Output: churn run-42 production active: true
}

// A model server logs every prediction through a PredictionLogger, which
// sends them in batches in the background, and records the ground truth
// when it is known.
func Example_modelServer() {
	ctx := context.Background()
	base := exampleServer(withActiveModel("churn"))
	c, err := client.New(base, client.WithToken(os.Getenv("MLOPS_TOKEN")))
	if err != nil {
		log.Fatal(err)
	}
	// At start: the version to serve.
	mv, err := c.ModelVersionActive(ctx, "churn")
	if err != nil {
		log.Fatal(err)
	}

	// One logger for the process. OnStored hands back the ids, to record
	// the ground truth later; here they are kept in memory.
	var (
		mu  sync.Mutex
		ids []int64
	)
	logger := client.NewPredictionLogger(c, client.LoggerOptions{
		FlushInterval: time.Second,
		OnStored: func(stored []int64, _ []api.NewPrediction) {
			mu.Lock()
			defer mu.Unlock()
			ids = append(ids, stored...)
		},
		OnFailed: func(err error, preds []api.NewPrediction) {
			log.Printf("%d predictions refused: %v", len(preds), err)
		},
	})

	// In the request handler: predict, then Log, which does not wait for
	// the network.
	for _, spend := range []float64{12.5, 250, 31} {
		start := time.Now()
		churns, probability := int64(0), 0.2
		if spend > 100 {
			churns, probability = 1, 0.87
		}
		latency := float64(time.Since(start).Microseconds()) / 1000
		err := logger.Log(api.NewPrediction{
			ModelID:     mv.ID,
			Features:    api.Object(fmt.Sprintf(`{"monthly_spend": %g, "plan": "pro"}`, spend)),
			Prediction:  churns,
			Probability: &probability,
			LatencyMS:   &latency,
		})
		if err != nil {
			log.Print(err) // the queue stayed full: this prediction is not logged
		}
	}

	// On shutdown: send what is queued, for at most 10 seconds.
	shutdown, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := logger.Close(shutdown); err != nil {
		log.Print(err) // a *client.UnsentError lists the predictions not sent
	}
	fmt.Printf("%+v\n", logger.Stats())

	// Days later, the ground truth of the first prediction arrives.
	p, err := c.PredictionSetActual(ctx, ids[0], 0)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("prediction", p.Prediction, "actual", *p.Actual)
	// Output:
	// {Logged:3 Sent:3 Batches:1 Retried:0 Dropped:0 Rejected:0 Failed:0 Queued:0 InFlight:0}
	// prediction 0 actual 0
}

// A monitoring agent has the server check the active version for drift,
// proposes a retraining when it finds some, waits for a reviewer's
// decision, and reports how the retraining went.
func Example_monitoringAgent() {
	ctx := context.Background()
	base := exampleServer(withDriftingModel("fraud"))
	agent, err := client.New(base, client.WithToken(os.Getenv("MLOPS_AGENT_TOKEN")))
	if err != nil {
		log.Fatal(err)
	}

	mv, err := agent.ModelVersionActive(ctx, "fraud")
	if err != nil {
		log.Fatal(err)
	}
	// The last 24 hours against the 7 days before.
	report, err := agent.DriftCheck(ctx, mv.ID, api.DriftCheck{})
	if err != nil {
		log.Fatal(err)
	}
	if !report.DriftDetected {
		fmt.Println("no drift")
		return
	}
	fmt.Println("drift in", report.DriftedFeatures)

	// The action_id names the finding, so a retried proposal is one action.
	actionID := fmt.Sprintf("retrain-%s-%s-drift-%d", mv.ModelName, mv.Version, report.ID)
	action, err := agent.ActionCreate(ctx, api.NewAgentAction{
		ActionID: actionID, ActionType: "retrain_model", RiskLevel: mlops.RiskMedium,
		Description: "Retrain on the last 7 days: " + fmt.Sprint(report.DriftedFeatures) + " drifted",
		IssueType:   "drift", IssueSeverity: "high",
		Parameters: api.Object(fmt.Sprintf(`{"model_id": %d, "drift_report_id": %d}`, mv.ID, report.ID)),
	}, client.IdempotencyKey(actionID))
	if err != nil && !client.IsConflict(err) { // a conflict: proposed already
		log.Fatal(err)
	}

	// A reviewer decides, in the admin UI or through the API; here a
	// second client plays the reviewer.
	go func() {
		reviewer, _ := client.New(base, client.WithToken(os.Getenv("MLOPS_REVIEWER_TOKEN")))
		time.Sleep(300 * time.Millisecond)
		if _, err := reviewer.ActionApprove(ctx, actionID, api.Review{Reviewer: "rita", Comment: "go ahead"}); err != nil {
			log.Print(err)
		}
	}()

	// Wait for the decision: poll, backing off up to a minute, for at most
	// a day (a pending action expires after MLOPS_ACTION_TTL anyway).
	wait, cancel := context.WithTimeout(ctx, 24*time.Hour)
	defer cancel()
	for delay := 100 * time.Millisecond; action.Status == mlops.ActionPending || action.Status == ""; delay = min(2*delay, time.Minute) {
		select {
		case <-time.After(delay):
		case <-wait.Done():
			log.Fatal("no decision on ", actionID)
		}
		if action, err = agent.ActionGet(wait, actionID); err != nil {
			log.Fatal(err)
		}
	}
	if action.Status != mlops.ActionApproved {
		fmt.Println(actionID, "is", action.Status) // rejected or expired: nothing to do
		return
	}
	fmt.Println("approved by", *action.ReviewedBy)

	// Carry it out, and report how it went.
	if newVersion, err := retrain(ctx, mv); err != nil {
		action, err = agent.ActionMarkFailed(ctx, actionID, api.Object(fmt.Sprintf(`{"error": %q}`, err.Error())))
	} else {
		action, err = agent.ActionMarkExecuted(ctx, actionID, api.Object(fmt.Sprintf(`{"new_version": %q}`, newVersion)))
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(action.Status, string(action.ExecutionResult))
	// Output:
	// drift in [amount]
	// approved by rita
	// executed {"new_version":"2"}
}

// retrain stands for the agent's retraining job.
func retrain(context.Context, mlops.ModelVersion) (string, error) { return "2", nil }

// ModelVersionListAll follows the cursors: the loop sees every version,
// fetched a page at a time, and stops fetching when it breaks.
func ExampleClient_ModelVersionListAll() {
	ctx := context.Background()
	c, err := client.New(exampleServer(withActiveModel("churn")))
	if err != nil {
		log.Fatal(err)
	}
	for mv, err := range c.ModelVersionListAll(ctx, client.ModelVersionFilter{ModelName: "churn", Page: client.Page{Limit: 500}}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(mv.ModelName, mv.Version, mv.Status)
	}
	// Output: churn 1 production
}

// An answer other than 2xx is a *client.Error with the problem document.
func ExampleError() {
	ctx := context.Background()
	c, err := client.New(exampleServer(nil))
	if err != nil {
		log.Fatal(err)
	}
	probability := 1.5
	_, err = c.PredictionCreate(ctx, api.NewPrediction{ModelID: 1, Probability: &probability})
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Println(e.StatusCode, client.IsInvalid(err))
		for _, f := range e.Fields {
			fmt.Println(f.Location)
		}
	}
	// Output:
	// 422 true
	// body.probability
}
