package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/moby/buildkit/util/stack"
	"github.com/sirupsen/logrus"

	"github.com/spf13/cobra"

	"github.com/llbgen/llbgen/pkg/daemon"
)

const rootExample = `  # build the images of targets.yaml on a BuildKit daemon
  llbgen | buildctl build --output type=local,dest=out

  # another list
  llbgen -f ci/targets.yaml | buildctl build --output type=local,dest=out

  # a build cache shared by CI runners: buildctl's own flags
  llbgen | buildctl build --output type=local,dest=out \
      --import-cache type=registry,ref=registry.example.com/ci/llbgen-cache \
      --export-cache type=registry,ref=registry.example.com/ci/llbgen-cache,mode=max

  # what the old ./build script did, without a list
  llbgen --image docker:19.03.12 \
         --image gitlab/gitlab-runner:v13.2.1 --name runner \
    | buildctl build --output type=local,dest=out`

// run is the whole program: parse args, do the work, return the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := newRootCmd(stdout)
	cmd.AddCommand(newBuildCmd(stdout, stderr), newMatrixCmd(stdout, stderr), newLockCmd(stderr), newSchemaCmd(stdout), newFrontendCmd())
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.SilenceErrors = true
	cmd.SilenceUsage = true
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	var debug bool
	cmd.PersistentFlags().BoolVar(&debug, "debug", false, "print BuildKit's debug log and, for a failure, the error with its whole chain and stack")
	cmd.PersistentPreRun = func(*cobra.Command, []string) {
		logrus.SetOutput(stderr) // BuildKit's client logs there, as llbgen writes
		if debug {
			logrus.SetLevel(logrus.DebugLevel)
		}
	}
	err := cmd.ExecuteContext(ctx)
	if err != nil && isCobraUsage(err) {
		err = usageError{err}
	}
	if err != nil && debug {
		debugChain(stderr, err)
	}
	return exitCode(err, stderr)
}

func newRootCmd(stdout io.Writer) *cobra.Command {
	var opts listOptions
	cmd := &cobra.Command{
		Use:   "llbgen [-f FILE | --image REF [--name NAME]...]",
		Short: "Build docker-credential-ecr-login once per Docker image, verified in that image",
		Long: `llbgen reads a target list (targets.yaml) and writes one BuildKit LLB
definition that builds docker-credential-ecr-login (or the list's helpers)
for every image in it: statically, once per platform, in the go image (a
cgo target in a stage rooted in its own image), each binary run in its
image with "version" to prove it works, and exported with a SHA256SUMS
file.

Pipe the definition into buildctl; the definition is binary, so llbgen
refuses to write it to a terminal.

When FILE.lock exists (see llbgen lock), the definition builds from its
pinned image digests and checks the helper module against its hash.

Environment: GOPROXY, GONOSUMDB, GOPRIVATE and GOINSECURE are passed to
the stage that downloads modules; SOURCE_DATE_EPOCH dates the exported
files (otherwise they carry the helper version's time). A GOPROXY with
credentials is not written into the definition: it is read from the
BuildKit secret GOPROXY (buildctl build --secret id=GOPROXY,env=GOPROXY).
A GONOSUMDB (or GOPRIVATE) that would skip the Go checksum database for
the helper module is refused unless FILE.lock pins its hash; GOSUMDB and
GOFLAGS are not passed.`,
		Example: rootExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return writeDefinition(cmd.Context(), &opts, cmd, stdout)
		},
	}
	opts.addFlags(cmd.Flags())
	cmd.Version = versionLine()
	cmd.SetVersionTemplate("{{.Version}}\n")
	return cmd
}

// maxChain bounds the layers --debug shows of an error.
const maxChain = 32

// debugChain shows err layer by layer (each wrapper's type and text, one
// line each), then the stacks BuildKit sent with it, as buildctl --debug
// shows them.
func debugChain(w io.Writer, err error) {
	for i, e := 0, err; e != nil && i < maxChain; i++ {
		fmt.Fprintf(w, "llbgen: debug: %d %T: %s\n", i, e, daemon.OneLine(e.Error()))
		e = errors.Unwrap(e)
	}
	if len(stack.Traces(err)) > 0 {
		fmt.Fprintf(w, "llbgen: debug: BuildKit's stack:\n%+v\n", stack.Formatter(err))
	}
}
