package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/llbgen/llbgen/pkg/build"
	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/outdir"
	"github.com/moby/buildkit/util/progress/progressui"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"
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
	list     listOptions
	out      string
	addr     string
	progress string
	tls      build.TLS
	print    bool
}

func (o *buildOptions) addFlags(fs *pflag.FlagSet) {
	o.list.addFlags(fs)
	fs.StringVarP(&o.out, "out", "o", "out", "output directory: each binary lands whole or not at all, other files are untouched")
	fs.StringVar(&o.addr, "addr", "", "BuildKit address: unix://, tcp://, docker-container://, kube-pod://, podman-container://, ssh:// (default $BUILDKIT_HOST, then "+build.DefaultAddr+")")
	fs.StringVar(&o.progress, "progress", "", "progress display: auto, tty, plain, rawjson or quiet (default $BUILDKIT_PROGRESS, then auto)")
	fs.StringVar(&o.tls.CACert, "tlscacert", "", "CA certificate for a tcp:// daemon")
	fs.StringVar(&o.tls.Cert, "tlscert", "", "client certificate for a tcp:// daemon")
	fs.StringVar(&o.tls.Key, "tlskey", "", "client key for a tcp:// daemon")
	fs.StringVar(&o.tls.ServerName, "tlsservername", "", "server name the daemon's certificate must carry (default: the address's host)")
	fs.BoolVar(&o.print, "print", false, "print the resolved targets as JSON on stdout and build nothing")
}

// addrSchemes are the address forms buildctl accepts.
var addrSchemes = []string{"unix", "tcp", "docker-container", "kube-pod", "podman-container", "nerdctl-container", "ssh", "npipe"}

// Validate fills defaults from the environment and refuses bad values
// before anything is contacted or written.
func (o *buildOptions) Validate(stderr io.Writer) error {
	addrFrom := "--addr"
	if o.addr == "" {
		o.addr, addrFrom = os.Getenv("BUILDKIT_HOST"), "BUILDKIT_HOST"
	}
	if o.addr == "" {
		o.addr = build.DefaultAddr
	}
	scheme, _, ok := strings.Cut(o.addr, "://")
	if !ok || !slices.Contains(addrSchemes, scheme) {
		return usagef("%s %q: want an address such as unix:///run/buildkit/buildkitd.sock, tcp://HOST:PORT, docker-container://NAME, kube-pod://NAME, podman-container://NAME or ssh://USER@HOST", addrFrom, o.addr)
	}
	progressFrom := "--progress"
	if o.progress == "" {
		o.progress, progressFrom = os.Getenv("BUILDKIT_PROGRESS"), "BUILDKIT_PROGRESS"
	}
	if o.progress == "" {
		o.progress = string(progressui.AutoMode)
	}
	switch progressui.DisplayMode(o.progress) {
	case progressui.AutoMode, progressui.PlainMode, progressui.RawJSONMode, progressui.QuietMode:
	case progressui.TtyMode:
		if f, ok := stderr.(*os.File); !ok || !term.IsTerminal(int(f.Fd())) {
			return usagef("%s tty: standard error is not a terminal; use auto or plain", progressFrom)
		}
	default:
		return usagef("%s %q: want auto, tty, plain, rawjson or quiet", progressFrom, o.progress)
	}
	if (o.tls.Cert == "") != (o.tls.Key == "") {
		return usagef("--tlscert and --tlskey go together")
	}
	for flag, path := range map[string]string{"--tlscacert": o.tls.CACert, "--tlscert": o.tls.Cert, "--tlskey": o.tls.Key} {
		if path == "" {
			continue
		}
		if _, err := os.Stat(path); err != nil {
			return usagef("%s: %v", flag, err)
		}
	}
	if strings.TrimSpace(o.out) == "" {
		return usagef("--out is empty")
	}
	if fi, err := os.Stat(o.out); err == nil && !fi.IsDir() {
		return usagef("--out %s exists and is not a directory", o.out)
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
A summary table follows on stderr. Exit status: 0 all verified, 1 some
target or the build failed, 2 bad input.`,
		Example: buildExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.Validate(stderr); err != nil {
				return err
			}
			list, err := opts.list.load(cmd.Flags())
			if err != nil {
				return err
			}
			if opts.print {
				return printPlan(stdout, list, opts.out)
			}
			out, err := outdir.Open(opts.out)
			if err != nil {
				return err
			}
			progressOut := io.Writer(stderr)
			outcome, err := build.Run(cmd.Context(), list, out, build.Options{
				Addr:        opts.addr,
				TLS:         opts.tls,
				Progress:    progressui.DisplayMode(opts.progress),
				ProgressOut: progressOut,
				Env:         graph.EnvFromOS(),
			})
			if err != nil {
				return err
			}
			writeSummary(stderr, outcome)
			if n := outcome.Failed(); n > 0 {
				return errTargetsFailed{n: n, of: len(outcome.Results)}
			}
			return nil
		},
	}
	opts.addFlags(cmd.Flags())
	return cmd
}

// errTargetsFailed ends a run whose summary already named each failure.
type errTargetsFailed struct{ n, of int }

func (e errTargetsFailed) Error() string {
	return fmt.Sprintf("%d of %d targets failed", e.n, e.of)
}
