package store

// WithoutAudit returns a copy of s that writes no audit events: the
// benchmarks' baseline of the same statements without the audit insert.
// Only tests can reach it.
func WithoutAudit(s *Store) *Store {
	c := *s
	c.noAudit = true
	return &c
}
