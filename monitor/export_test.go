package monitor

// SetBeforeFile makes m call fn after a model's rules have read what they
// need and before they write, with the model's lease held.
func SetBeforeFile(m *Monitor, fn func(modelName string)) { m.beforeFile = fn }
