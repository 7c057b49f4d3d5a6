package store_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/store"
)

// openExample opens a migrated in-memory SQLite store, as a program would
// with DATABASE_URL=sqlite:///:memory:.
func openExample(ctx context.Context) *store.Store {
	s, err := store.Open(ctx, "sqlite:///:memory:", store.Options{})
	if err != nil {
		log.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	return s
}

// The seed's "With Training Pipeline": after training, register the new
// version and make it the active one, in one transaction (get_session()).
func ExampleStore_ModelVersionActivate() {
	ctx := context.Background()
	s := openExample(ctx)
	defer s.Close()

	accuracy, f1 := 0.91, 0.87
	samples := int64(8000)
	var model mlops.ModelVersion
	err := s.InTx(ctx, func(tx *store.Store) error {
		m, err := tx.ModelVersionCreate(ctx, mlops.NewModelVersion{
			ModelName:       "churn_classifier",
			Version:         "run-42",
			Algorithm:       "RandomForest",
			Metrics:         mlops.Metrics{Accuracy: &accuracy, F1Score: &f1},
			Hyperparameters: mlops.JSON(`{"n_estimators": 200, "max_depth": 8}`),
			FeatureNames:    []string{"tenure", "monthly_charges", "contract"},
			ModelPath:       "models/churn/run-42.joblib",
			MetadataPath:    "models/churn/run-42.json",
			TrainingSamples: &samples,
		})
		if err != nil {
			return err
		}
		model, err = tx.ModelVersionActivate(ctx, m.ID)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(model.ModelName, model.Version, model.Status, model.IsActive)

	active, err := s.ModelVersionActive(ctx, "churn_classifier")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("active:", active.Version, *active.Accuracy, active.FeatureNames)
	// Output:
	// churn_classifier run-42 production true
	// active: run-42 0.91 [tenure monthly_charges contract]
}

// The seed's "With API": a prediction service logs each prediction against
// the active model version, and records the ground truth when it arrives.
func ExampleStore_PredictionCreate() {
	ctx := context.Background()
	s := openExample(ctx)
	defer s.Close()
	m, err := s.ModelVersionCreate(ctx, mlops.NewModelVersion{ModelName: "churn_classifier", Version: "run-42", Algorithm: "RandomForest"})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := s.ModelVersionActivate(ctx, m.ID); err != nil {
		log.Fatal(err)
	}

	// In the /predict handler:
	current, err := s.ModelVersionActive(ctx, "churn_classifier")
	if err != nil {
		log.Fatal(err)
	}
	proba, latency := 0.83, 4.2
	p, err := s.PredictionCreate(ctx, mlops.NewPrediction{
		ModelID:     current.ID,
		Features:    mlops.JSON(`{"tenure": 3, "monthly_charges": 99.5}`),
		Prediction:  1,
		Probability: &proba,
		LatencyMS:   &latency,
	})
	if err != nil {
		log.Fatal(err)
	}

	// Later, when the customer's outcome is known:
	if _, err := s.PredictionSetActual(ctx, p.ID, 1); err != nil {
		log.Fatal(err)
	}
	recent, _, err := s.PredictionList(ctx, store.PredictionFilter{ModelID: current.ID,
		Since: s.Now().Add(-24 * time.Hour), Page: store.Page{Limit: -1}})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range recent {
		fmt.Printf("prediction %d probability %.2f actual %d\n", r.Prediction, *r.Probability, *r.Actual)
	}

	// A probability outside [0, 1] is refused, naming the field.
	bad := 1.7
	_, err = s.PredictionCreate(ctx, mlops.NewPrediction{ModelID: current.ID, Prediction: 1, Probability: &bad})
	fmt.Println(err)
	// Output:
	// prediction 1 probability 0.83 actual 1
	// invalid input: probability: must be within [0, 1], got 1.7
}

// The seed's "With Agent": the autonomous agent files an action that waits
// for a human's approval; a reviewer approves it and the agent records the
// outcome.
func ExampleStore_ActionCreate() {
	ctx := context.Background()
	s := openExample(ctx)
	defer s.Close()

	action, err := s.ActionCreate(ctx, mlops.NewAgentAction{
		ActionID:      "retrain-churn-0001",
		ActionType:    "retrain_model",
		Description:   "Retrain churn_classifier: 4 features drifted",
		RiskLevel:     mlops.RiskMedium,
		IssueID:       "drift-17",
		IssueType:     "data_drift",
		IssueSeverity: "high",
		Parameters:    mlops.JSON(`{"model_name": "churn_classifier"}`),
		// RequiresApproval nil means true.
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(action.ActionID, action.Status, action.RequiresApproval)

	pending, _, err := s.ActionList(ctx, store.ActionFilter{Status: mlops.ActionPending, OldestFirst: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("pending:", len(pending))

	approved, err := s.ActionApprove(ctx, "retrain-churn-0001", "alice", "go ahead")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(approved.Status, "by", *approved.ReviewedBy)

	// A second reviewer is too late: nothing changes.
	_, err = s.ActionReject(ctx, "retrain-churn-0001", "bob", "")
	fmt.Println("second review refused:", errors.Is(err, mlops.ErrInvalidTransition))

	done, err := s.ActionMarkExecuted(ctx, "retrain-churn-0001", mlops.JSON(`{"new_version": "run-43"}`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(done.Status, string(done.ExecutionResult))
	// Output:
	// retrain-churn-0001 pending true
	// pending: 1
	// approved by alice
	// second review refused: true
	// executed {"new_version": "run-43"}
}
