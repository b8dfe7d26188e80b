package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/llbgen/llbgen/pkg/daemon"
	"github.com/llbgen/llbgen/pkg/outdir"
)

const buildExample = `  # build targets.yaml on the daemon at $BUILDKIT_HOST into ./out
  llbgen build

  # another list, another directory, a remote daemon over TLS
  llbgen build -f ci/targets.yaml --out /opt/ecr-login \
    --addr tcp://buildkit.internal:1234 --tlscacert ca.pem --tlscert cert.pem --tlskey key.pem

  # a daemon in a container or pod
  llbgen build --addr docker-container://buildkitd
  llbgen build --addr kube-pod://buildkitd-0

  # what would be built, as JSON, without building
  llbgen build --print`

// buildOptions are the flags of `llbgen build`.
type buildOptions struct {
	list       listOptions
	daemon     daemonOptions
	out        string
	print      bool
	locked     bool
	provenance string // "", "min" or "max"
	strict     bool
}

func (o *buildOptions) addFlags(fs *pflag.FlagSet) {
	o.list.addFlags(fs)
	fs.StringVarP(&o.out, "out", "o", "out", "output directory: each binary lands whole or not at all, other files are untouched")
	o.daemon.addFlags(fs)
	fs.BoolVar(&o.print, "print", false, "print the resolved targets as JSON on stdout and build nothing")
	fs.BoolVar(&o.locked, "locked", false, "require FILE.lock (see llbgen lock) and build from its pinned digests; without the flag a lock is used when it exists")
	fs.StringVar(&o.provenance, "provenance", "", "also write BuildKit's SLSA provenance attestation into the output directory: --provenance is mode=min; --provenance=max also records the build's definition and arguments")
	fs.Lookup("provenance").NoOptDefVal = "min"
	fs.BoolVar(&o.strict, "require-verified", false, "exit 1 when a binary was written without being run in its image (a platform the daemon cannot emulate)")
}

// Validate refuses bad values before anything is contacted or written.
func (o *buildOptions) Validate(stderr io.Writer) error {
	if err := o.daemon.Validate(stderr); err != nil {
		return err
	}
	if strings.TrimSpace(o.out) == "" {
		return usagef("--out is empty")
	}
	if fi, err := os.Stat(o.out); err == nil && !fi.IsDir() {
		return usagef("--out %s exists and is not a directory", o.out)
	}
	if o.provenance != "" && o.provenance != "min" && o.provenance != "max" {
		return usagef("--provenance=%s: want min (the default) or max", o.provenance)
	}
	return nil
}

func newBuildCmd(stdout, stderr io.Writer) *cobra.Command {
	var opts buildOptions
	cmd := &cobra.Command{
		Use:   "build [-f FILE | --image REF [--name NAME]...] [--out DIR] [--addr ADDR]",
		Short: "Build and verify every target on a BuildKit daemon, into an output directory",
		Long: `build solves the target list directly on a BuildKit daemon, showing
BuildKit's progress, and writes every verified binary into the output
directory with SHA256SUMS.

Images are resolved on the daemon with your registry credentials
(~/.docker/config.json or $DOCKER_CONFIG). All targets build in parallel.
When some fail, the others still land, a failed target keeps whatever file
it had, and SHA256SUMS always matches the list's binaries that are present.
A binary for a platform the daemon can neither run nor emulate is built
and written but not run; the summary says "NOT VERIFIED" and why, and it
is never counted as verified (--require-verified makes that exit 1).
A summary table follows on stderr. Exit status: 0 all written, 1 some
target or the build failed, 2 bad input.

A GOPROXY with credentials (https://user:token@host/) reaches the daemon
only as a BuildKit secret, never in the definition, its cache keys, the
build history or the provenance. --provenance=max records the whole
build definition and its arguments; --provenance (mode=min) does not.`,
		Example: buildExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.Validate(stderr); err != nil {
				return err
			}
			if opts.print {
				return printPlanned(cmd.Context(), stdout, &opts.list, cmd.Flags(), opts.locked, opts.out)
			}
			list, in, err := opts.list.planned(cmd.Flags(), opts.locked)
			if err != nil {
				return err
			}
			opts.daemon.warnSetupReach(stderr, list)
			out, err := outdir.Open(opts.out)
			if err != nil {
				return err
			}
			bopt := opts.daemon.options(stderr, in)
			bopt.Provenance, bopt.ProvenanceMax = opts.provenance != "", opts.provenance == "max"
			outcome, err := daemon.Run(cmd.Context(), list, out, bopt)
			if err != nil {
				return err
			}
			writeSummary(stderr, outcome)
			if n := outcome.Failed(); n > 0 {
				return errTargetsFailed{n: n, of: len(outcome.Results)}
			}
			if n := outcome.Unverified(); n > 0 && opts.strict {
				return errTargetsFailed{n: n, of: len(outcome.Results), what: "not verified (--require-verified)"}
			}
			return nil
		},
	}
	opts.addFlags(cmd.Flags())
	return cmd
}

// errTargetsFailed ends a run whose summary already named each failure.
type errTargetsFailed struct {
	n, of int
	what  string // "failed" when empty
}

func (e errTargetsFailed) Error() string {
	if e.what == "" {
		e.what = "failed"
	}
	return fmt.Sprintf("%d of %d binaries %s", e.n, e.of, e.what)
}
