package api

import "github.com/mlopsdev/mlops"

// NewAgentAction is the body of POST /api/v1/actions.
type NewAgentAction struct {
	ActionID         string          `json:"action_id" doc:"Unique: a second one is 409."`
	ActionType       string          `json:"action_type"`
	Description      string          `json:"description,omitempty"`
	RiskLevel        mlops.RiskLevel `json:"risk_level" enum:"low,medium,high,critical"`
	RequiresApproval *bool           `json:"requires_approval,omitempty" default:"true" doc:"Status starts pending when true, else approved."`
	IssueID          string          `json:"issue_id,omitempty"`
	IssueType        string          `json:"issue_type,omitempty"`
	IssueSeverity    string          `json:"issue_severity,omitempty"`
	Parameters       Object          `json:"parameters,omitempty"`
}

// Review is the body of approve and reject.
type Review struct {
	Reviewer string `json:"reviewer,omitempty" doc:"Who decides. With authentication on it is the caller: leave it out, or give the caller's own name (anything else is 422). With it off, required."`
	Comment  string `json:"comment,omitempty"`
}

// Outcome is the body of executed and failed.
type Outcome struct {
	Result Object `json:"result,omitempty" doc:"What the execution produced."`
}
