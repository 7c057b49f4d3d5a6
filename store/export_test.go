package store

// WithoutAudit returns a copy of s that writes no audit events: the
// benchmarks' baseline of the same statements without the audit insert.
// Only tests can reach it.
func WithoutAudit(s *Store) *Store {
	c := *s
	c.noAudit = true
	return &c
}

// WithoutRollups returns a copy of s that keeps no metric rollups: the
// benchmarks' baseline of metric ingest without them. Only tests can reach
// it.
func WithoutRollups(s *Store) *Store {
	c := *s
	c.noRollups = true
	return &c
}
