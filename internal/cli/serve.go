package cli

import (
	"context"
	"fmt"
)

// runServe is replaced by the HTTP API's serve; until then it migrates and
// reports readiness.
func runServe(ctx context.Context, e *Env, args []string) error {
	s, err := e.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "database %s is ready\n", s.Redacted())
	return nil
}
