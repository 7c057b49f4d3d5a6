package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/mlopsdev/mlops"
)

const driftColumns = `id, model_id, drift_detected, drift_score, drifted_features, n_drifted_features,
	report_path, reference_size, current_size, details, created_at`

func scanDrift(sc scanner) (mlops.DriftReport, error) {
	var (
		d                 mlops.DriftReport
		score             sql.NullFloat64
		features, details []byte
		ref, cur          sql.NullInt64
	)
	err := sc.Scan(&d.ID, &d.ModelID, &d.DriftDetected, &score, &features, &d.NDriftedFeatures,
		&d.ReportPath, &ref, &cur, &details, &d.CreatedAt)
	if err != nil {
		return d, err
	}
	d.DriftScore = nullFloat(score)
	if d.DriftedFeatures, err = stringList(features); err != nil {
		return d, err
	}
	d.ReferenceSize, d.CurrentSize = nullInt(ref), nullInt(cur)
	d.Details = rawJSON(details)
	d.CreatedAt = utc(d.CreatedAt)
	return d, nil
}

// DriftReportCreate stores a drift report (the seed's create_drift_report)
// and records drift_report.created. n_drifted_features is derived from
// drifted_features.
func (s *Store) DriftReportCreate(ctx context.Context, in mlops.NewDriftReport) (mlops.DriftReport, error) {
	if err := in.Validate(); err != nil {
		return mlops.DriftReport{}, err
	}
	return auditedRow(ctx, s, func(tx *Store) (mlops.DriftReport, []change, error) {
		d, err := tx.driftReportInsert(ctx, in)
		if err != nil {
			return d, nil, err
		}
		return d, []change{driftReportChange(d)}, nil
	})
}

// driftReportInsert inserts a validated drift report; the caller records
// its event.
func (s *Store) driftReportInsert(ctx context.Context, in mlops.NewDriftReport) (mlops.DriftReport, error) {
	features := in.DriftedFeatures
	if features == nil {
		features = []string{}
	}
	d, err := scanDrift(s.writer().QueryRowContext(ctx, `
		INSERT INTO drift_reports (model_id, drift_detected, drift_score, drifted_features, n_drifted_features,
			report_path, reference_size, current_size, details, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING `+driftColumns,
		in.ModelID, in.DriftDetected, in.DriftScore, mustJSON(features), len(features), in.ReportPath,
		in.ReferenceSize, in.CurrentSize, nullJSONArg(in.Details), s.Now()))
	if err != nil {
		return d, modelRef(classify(err), "model_id", in.ModelID)
	}
	return d, nil
}

func driftReportChange(d mlops.DriftReport) change {
	return change{event: "drift_report.created", entityType: "drift_report", entityID: entityID(d.ID), after: d}
}

// DriftReportGet returns one drift report.
func (s *Store) DriftReportGet(ctx context.Context, id int64) (mlops.DriftReport, error) {
	return getOne(s.primary().QueryRowContext(ctx, `SELECT `+driftColumns+` FROM drift_reports WHERE id = $1`, id), scanDrift,
		"drift report %d", id)
}

// DriftReportLatest returns the newest drift report of a model (the seed's
// get_latest_drift_report); modelID 0 means any model.
func (s *Store) DriftReportLatest(ctx context.Context, modelID int64) (mlops.DriftReport, error) {
	var q query
	if modelID != 0 {
		q.add("model_id = ?", modelID)
	}
	d, err := scanDrift(s.primary().QueryRowContext(ctx, `SELECT `+driftColumns+` FROM drift_reports`+q.sql()+
		` ORDER BY created_at DESC, id DESC LIMIT 1`, q.args...))
	if err != nil {
		if modelID == 0 {
			return d, notFound(err, "drift report (none stored yet)")
		}
		return d, notFound(err, "drift report for model version %d", modelID)
	}
	return d, nil
}

// DriftReportFilter selects drift reports for DriftReportList.
type DriftReportFilter struct {
	ModelID int64     // 0: every model
	Since   time.Time // zero: no lower bound
	Page
}

// DriftReportList lists drift reports newest first (the seed's
// get_drift_reports with Since = now - days).
func (s *Store) DriftReportList(ctx context.Context, f DriftReportFilter) ([]mlops.DriftReport, string, error) {
	return listNewest(ctx, s, f.Page, f.where, `SELECT `+driftColumns+` FROM drift_reports`, scanDrift,
		func(d mlops.DriftReport) Cursor { return Cursor{d.CreatedAt, d.ID} })
}

// where returns the filter's conditions.
func (f DriftReportFilter) where() (query, error) {
	var q query
	if f.ModelID != 0 {
		q.add("model_id = ?", f.ModelID)
	}
	if !f.Since.IsZero() {
		q.add("created_at >= ?", f.Since.UTC())
	}
	return q, nil
}
