// Command mlops is the mlops server and its administration commands. See
// README.md and docs/api.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/mlopsdev/mlops/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
