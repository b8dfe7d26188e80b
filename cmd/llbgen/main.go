// Command llbgen builds docker-credential-ecr-login once per Docker image of a
// target list, in one BuildKit graph, and proves each binary runs in its image.
package main

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/llbgen/llbgen/pkg/graph/stagetool"
)

// stageToolExe is the executable `llbgen build` offers the daemon as the
// stage tool (daemon.Options.StageTool): this process's own, when it runs
// the stage tool under that name (main; TestMain in tests).
var stageToolExe string

func main() {
	if filepath.Base(os.Args[0]) == stagetool.Name {
		os.Exit(stagetool.Main(os.Args))
	}
	stageToolExe = "/proc/self/exe"
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, a second one ends the process at once.
	go func() { <-ctx.Done(); stop() }()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
