package api

import "github.com/mlopsdev/mlops"

// ModelMetrics are the evaluation figures of a new model version.
type ModelMetrics struct {
	Accuracy  *float64 `json:"accuracy,omitempty" minimum:"0" maximum:"1"`
	F1Score   *float64 `json:"f1_score,omitempty" minimum:"0" maximum:"1"`
	F1        *float64 `json:"f1,omitempty" minimum:"0" maximum:"1" doc:"Alias of f1_score (the seed's name); give one of them."`
	Precision *float64 `json:"precision,omitempty" minimum:"0" maximum:"1"`
	Recall    *float64 `json:"recall,omitempty" minimum:"0" maximum:"1"`
	ROCAUC    *float64 `json:"roc_auc,omitempty" minimum:"0" maximum:"1"`
}

// NewModelVersion is the body of POST /api/v1/models.
type NewModelVersion struct {
	ModelName       string            `json:"model_name" doc:"Name of the model; (model_name, version) is unique."`
	Version         string            `json:"version"`
	Algorithm       string            `json:"algorithm"`
	Metrics         *ModelMetrics     `json:"metrics,omitempty"`
	Hyperparameters Object            `json:"hyperparameters,omitempty"`
	FeatureNames    []string          `json:"feature_names,omitempty"`
	Status          mlops.ModelStatus `json:"status,omitempty" enum:"training,staging,production,archived" default:"training"`
	ModelPath       string            `json:"model_path,omitempty"`
	MetadataPath    string            `json:"metadata_path,omitempty"`
	TrainingSamples *int64            `json:"training_samples,omitempty" minimum:"0"`
}
