package store

import (
	"context"
	"database/sql"
	"hash/fnv"
	"time"

	"github.com/mlopsdev/mlops"
)

const modelColumns = `id, model_name, version, algorithm, accuracy, f1_score, "precision", recall, roc_auc,
	hyperparameters, feature_names, status, is_active, model_path, metadata_path, training_samples,
	created_at, activated_at`

func scanModel(sc scanner) (mlops.ModelVersion, error) {
	var (
		m                       mlops.ModelVersion
		acc, f1, prec, rec, auc sql.NullFloat64
		hyper, features         []byte
		samples                 sql.NullInt64
		activated               sql.NullTime
	)
	err := sc.Scan(&m.ID, &m.ModelName, &m.Version, &m.Algorithm, &acc, &f1, &prec, &rec, &auc,
		&hyper, &features, &m.Status, &m.IsActive, &m.ModelPath, &m.MetadataPath, &samples,
		&m.CreatedAt, &activated)
	if err != nil {
		return m, err
	}
	m.Accuracy, m.F1Score, m.Precision, m.Recall, m.ROCAUC = nullFloat(acc), nullFloat(f1), nullFloat(prec), nullFloat(rec), nullFloat(auc)
	m.Hyperparameters = rawJSON(hyper)
	if m.FeatureNames, err = stringList(features); err != nil {
		return m, err
	}
	m.TrainingSamples = nullInt(samples)
	m.CreatedAt = utc(m.CreatedAt)
	m.ActivatedAt = nullTime(activated)
	return m, nil
}

// ModelVersionCreate registers a model version (the seed's
// create_model_version). A duplicate (model_name, version) is ErrConflict.
func (s *Store) ModelVersionCreate(ctx context.Context, in mlops.NewModelVersion) (mlops.ModelVersion, error) {
	if err := in.Validate(); err != nil {
		return mlops.ModelVersion{}, err
	}
	status := in.Status
	if status == "" {
		status = mlops.ModelTraining
	}
	features := in.FeatureNames
	if features == nil {
		features = []string{}
	}
	return auditedRow(ctx, s, func(tx *Store) (mlops.ModelVersion, []change, error) {
		m, err := scanModel(tx.writer().QueryRowContext(ctx, `
			INSERT INTO model_versions (model_name, version, algorithm, accuracy, f1_score, "precision", recall,
				roc_auc, hyperparameters, feature_names, status, is_active, model_path, metadata_path,
				training_samples, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, false, $12, $13, $14, $15)
			RETURNING `+modelColumns,
			in.ModelName, in.Version, in.Algorithm, in.Metrics.Accuracy, in.Metrics.F1Score, in.Metrics.Precision,
			in.Metrics.Recall, in.Metrics.ROCAUC, jsonArg(in.Hyperparameters, "{}"), mustJSON(features), string(status),
			in.ModelPath, in.MetadataPath, in.TrainingSamples, tx.Now()))
		if err != nil {
			return m, nil, conflict(err, "model %q version %q is already registered", in.ModelName, in.Version)
		}
		return m, []change{{event: "model.registered", entityType: "model_version", entityID: entityID(m.ID), after: m}}, nil
	})
}

// ModelVersionGet returns one model version (the seed's get_model_version).
func (s *Store) ModelVersionGet(ctx context.Context, id int64) (mlops.ModelVersion, error) {
	return getOne(s.primary().QueryRowContext(ctx, `SELECT `+modelColumns+` FROM model_versions WHERE id = $1`, id), scanModel,
		"model version %d", id)
}

// ModelVersionFilter selects model versions for ModelVersionList.
type ModelVersionFilter struct {
	ModelName string            // empty: every model
	Status    mlops.ModelStatus // empty: every status
	Page
}

// ModelVersionList lists model versions newest first (the seed's
// get_model_versions) and returns the cursor of the next page ("" at the
// end).
func (s *Store) ModelVersionList(ctx context.Context, f ModelVersionFilter) ([]mlops.ModelVersion, string, error) {
	return listNewest(ctx, s, f.Page, f.where, `SELECT `+modelColumns+` FROM model_versions`, scanModel,
		func(m mlops.ModelVersion) Cursor { return Cursor{m.CreatedAt, m.ID} })
}

// where returns the filter's conditions.
func (f ModelVersionFilter) where() (query, error) {
	var q query
	if f.ModelName != "" {
		q.add("model_name = ?", f.ModelName)
	}
	err := whereOneOf(&q, "status", f.Status, mlops.ModelStatuses)
	return q, err
}

// ModelVersionActive returns the active version of modelName (the seed's
// get_active_model). With an empty modelName it returns the most recently
// activated version of any model. ErrNotFound when none is active.
func (s *Store) ModelVersionActive(ctx context.Context, modelName string) (mlops.ModelVersion, error) {
	var row *sql.Row
	if modelName == "" {
		row = s.primary().QueryRowContext(ctx, `SELECT `+modelColumns+` FROM model_versions
			WHERE is_active ORDER BY activated_at DESC, id DESC LIMIT 1`)
	} else {
		row = s.primary().QueryRowContext(ctx, `SELECT `+modelColumns+` FROM model_versions
			WHERE is_active AND model_name = $1`, modelName)
	}
	m, err := scanModel(row)
	if err != nil {
		if modelName == "" {
			return m, notFound(err, "active model version (no version has been activated yet)")
		}
		return m, notFound(err, "active version of model %q", modelName)
	}
	return m, nil
}

// ModelVersionActivate makes version id the active version of its model and
// sets its status to production; the previously active version becomes
// inactive and archived, in the same transaction (the seed's
// set_model_active). Activating the active version changes nothing.
//
// Concurrent activations of one model are serialised: on PostgreSQL by a
// transaction-scoped advisory lock on the model name, taken before any row
// lock (so no deadlock); on SQLite by its single writer. The partial unique
// index guarantees that no reader ever sees two active versions.
func (s *Store) ModelVersionActivate(ctx context.Context, id int64) (mlops.ModelVersion, error) {
	var out mlops.ModelVersion
	err := s.audited(ctx, func(tx *Store) ([]change, error) {
		w := tx.writer()
		before, err := scanModel(w.QueryRowContext(ctx, `SELECT `+modelColumns+` FROM model_versions WHERE id = $1`, id))
		if err != nil {
			return nil, notFound(err, "model version %d", id)
		}
		name := before.ModelName
		if tx.engine == Postgres {
			if _, err := w.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, modelLockKey(name)); err != nil {
				return nil, classify(err)
			}
			// Read again after the lock: another activation may have
			// committed meanwhile (SQLite's writer is exclusive already).
			if before, err = scanModel(w.QueryRowContext(ctx, `SELECT `+modelColumns+` FROM model_versions WHERE id = $1`, id)); err != nil {
				return nil, classify(err)
			}
		}
		if before.IsActive {
			out = before // re-activating changes nothing, and records nothing
			return nil, nil
		}
		now := tx.Now()
		if _, err := w.ExecContext(ctx, `UPDATE model_versions SET is_active = false, status = 'archived'
			WHERE model_name = $1 AND is_active AND id <> $2`, name, id); err != nil {
			return nil, classify(err)
		}
		m, err := scanModel(w.QueryRowContext(ctx, `UPDATE model_versions
			SET is_active = true, status = 'production', activated_at = $2
			WHERE id = $1 RETURNING `+modelColumns, id, now))
		if err != nil {
			return nil, classify(err)
		}
		if _, err := w.ExecContext(ctx, `INSERT INTO model_activations (model_name, model_id, at) VALUES ($1, $2, $3)`,
			name, id, now); err != nil {
			return nil, classify(err)
		}
		out = m
		return []change{{event: "model.activated", entityType: "model_version", entityID: entityID(id), before: before, after: m}}, nil
	})
	return out, err
}

// ModelVersionActiveAt returns the version of modelName that was active at
// time at, from the activation history; ErrNotFound when none was.
func (s *Store) ModelVersionActiveAt(ctx context.Context, modelName string, at time.Time) (mlops.ModelVersion, error) {
	var id int64
	err := s.primary().QueryRowContext(ctx, `SELECT model_id FROM model_activations WHERE model_name = $1 AND at <= $2
		ORDER BY at DESC, id DESC LIMIT 1`, modelName, at.UTC()).Scan(&id)
	if err != nil {
		return mlops.ModelVersion{}, notFound(err, "version of model %q active at %s (none had been activated by then)",
			modelName, at.UTC().Format(time.RFC3339))
	}
	return s.ModelVersionGet(ctx, id)
}

// modelLockKey is the advisory lock key of a model name. Collisions only
// serialise two unrelated models' activations; they never break anything.
func modelLockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("mlops.model_versions:"))
	h.Write([]byte(name))
	return int64(h.Sum64())
}
