package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/distribution/reference"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/llbgen/llbgen/pkg/daemon"
	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/outdir"
	"github.com/llbgen/llbgen/pkg/publish"
	"github.com/llbgen/llbgen/pkg/targets"
)

const buildExample = `  # build targets.yaml on the daemon at $BUILDKIT_HOST into ./out
  llbgen build

  # another list, another directory, a remote daemon over TLS
  llbgen build -f ci/targets.yaml --out /opt/ecr-login \
    --addr tcp://buildkit.internal:1234 --tlscacert ca.pem --tlscert cert.pem --tlskey key.pem

  # a daemon in a container or pod
  llbgen build --addr docker-container://buildkitd
  llbgen build --addr kube-pod://buildkitd-0

  # also push the job images and the helpers image the list's publish: names
  llbgen build --push

  # load only the job image of one target into Docker
  llbgen build --load --publish docker_19.03.12

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
	sbom       string // "", "true", "false" or "generator=IMAGE"
	strict     bool
	publish    daemon.Publish
	cache      cacheOptions
	noCache    bool
	metadata   string // --metadata-file
}

func (o *buildOptions) addFlags(fs *pflag.FlagSet) {
	o.list.addFlags(fs)
	fs.StringVarP(&o.out, "out", "o", "out", "output directory: each binary lands whole or not at all, other files are untouched")
	o.daemon.routable = true
	o.daemon.addFlags(fs)
	fs.BoolVar(&o.print, "print", false, "print the resolved targets as JSON on stdout and build nothing")
	fs.BoolVar(&o.locked, "locked", false, "require FILE.lock (see llbgen lock) and build from its pinned digests; without the flag a lock is used when it exists")
	fs.StringVar(&o.provenance, "provenance", "", "also write BuildKit's SLSA provenance attestation into the output directory: --provenance is mode=min; --provenance=max also records the build's definition and arguments")
	fs.Lookup("provenance").NoOptDefVal = "min"
	fs.StringVar(&o.sbom, "sbom", "", "also write an SPDX document of each binary, made by BuildKit's SBOM generator, beside it as FILE.spdx.json: --sbom takes BuildKit's default generator, --sbom=generator=IMAGE another")
	fs.Lookup("sbom").NoOptDefVal = "true"
	fs.BoolVar(&o.strict, "require-verified", false, "exit 1 when a binary was written without being run in its image (a platform the daemon cannot emulate)")
	fs.BoolVar(&o.publish.Push, "push", false, "push the images the list's publish: block names (job images, the helpers image) to their registries")
	fs.BoolVar(&o.publish.Load, "load", false, "load the images the list's publish: block names into Docker (the engine built on, or DOCKER_HOST's)")
	o.cache.addFlags(fs)
	fs.StringVar(&o.metadata, "metadata-file", "", "write what was built (per binary: target, line, platform, image digest, file, size, sha256, verified or why not) and the run (helper, go image, daemon, times) as JSON to this file, atomically, also when targets fail")
	fs.BoolVar(&o.noCache, "no-cache", false, "solve every step again, as buildctl's --no-cache (Go's build cache mount is kept)")
	fs.StringSliceVar(&o.publish.Images, "publish", nil, "with --push or --load, only these images: target names (their job images) and "+publish.HelpersImage+" (the helpers image); repeatable")
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
	if _, _, err := o.sbomOption(); err != nil {
		return err
	}
	if len(o.publish.Images) > 0 && !o.publish.Wanted() {
		return usagef("--publish says which images to push or load: add --push or --load")
	}
	if err := o.cache.Validate(); err != nil {
		return err
	}
	if err := checkMetadataPath(o.metadata, o.out); err != nil {
		return err
	}
	return o.checkRoutes()
}

// sbomOption reads --sbom: whether SBOMs are asked for, and the generator
// image ("" for BuildKit's default).
func (o *buildOptions) sbomOption() (bool, string, error) {
	switch v := o.sbom; {
	case v == "" || v == "false":
		return false, "", nil
	case v == "true":
		return true, "", nil
	case strings.HasPrefix(v, "generator="):
		gen := strings.TrimPrefix(v, "generator=")
		if _, err := reference.ParseNormalizedNamed(gen); err != nil {
			return false, "", usagef("--sbom=%s: %v; give an image, e.g. --sbom=generator=docker/buildkit-syft-scanner:stable-1", v, err)
		}
		return true, gen, nil
	}
	return false, "", usagef("--sbom=%s: want --sbom (BuildKit's default generator) or --sbom=generator=IMAGE", o.sbom)
}

// checkRoutes refuses, with --addr PLATFORM=ADDR, what is made of the
// whole run on one daemon: images (a job image of several platforms is
// one index, built where its binaries are), provenance (one attestation
// of one build) and a cache export (each daemon's would replace the
// other's under one name). Cache imports work on every daemon.
func (o *buildOptions) checkRoutes() error {
	if len(o.daemon.routes) == 0 {
		return nil
	}
	var what []string
	if o.publish.Push {
		what = append(what, "--push")
	}
	if o.publish.Load {
		what = append(what, "--load")
	}
	if o.provenance != "" {
		what = append(what, "--provenance")
	}
	if len(o.cache.cache.Exports) > 0 {
		what = append(what, "--cache-to (or $"+envCacheTo+")")
	}
	if len(what) == 0 {
		return nil
	}
	return usagef("%s: made on one daemon, and this run builds on several (--addr PLATFORM=ADDR, or a buildx builder of several nodes); build on them, then run again on one daemon (one --addr) with %s (the binaries come from the cache)", strings.Join(what, ", "), strings.Join(what, " "))
}

// checkPublish refuses --push and --load for a list that names no image,
// and --publish names it does not have, before anything is built; it
// notes the first multi-platform image it publishes.
func (o *buildOptions) checkPublish(list *targets.List) error {
	if !o.publish.Wanted() {
		return nil
	}
	imgs, err := publish.Images(list, func(targets.Binary) ocispecs.Platform { return graph.DefaultPlatform() })
	if err != nil {
		return err
	}
	if len(imgs) == 0 {
		return usagef("--push and --load publish the images a list's publish: block names, and %s has none; add e.g. `publish: {images: \"registry.example.com/ci/{repo}:{tag}-ecr-login\", helpers: \"registry.example.com/ci/ecr-login-helpers:{version}\"}`", list.File)
	}
	if _, err := publish.Select(imgs, o.publish.Images); err != nil {
		return usagef("--publish: %v", err)
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
			if err := opts.checkPublish(list); err != nil {
				return err
			}
			if opts.publish.Load {
				if err := daemon.CheckLoad(cmd.Context(), opts.daemon.addr); err != nil {
					return err
				}
			}
			opts.daemon.warnSetupReach(stderr, list)
			out, err := outdir.Open(opts.out)
			if err != nil {
				return err
			}
			bopt := opts.daemon.options(stderr, in)
			bopt.Provenance, bopt.ProvenanceMax = opts.provenance != "", opts.provenance == "max"
			bopt.SBOM, bopt.SBOMGenerator, _ = opts.sbomOption() // Validate read it
			bopt.Publish = opts.publish
			bopt.Cache = opts.cache.cache
			bopt.NoCache = opts.noCache
			bopt.ModuleSums = opts.metadata != ""
			started := time.Now()
			outcome, err := daemon.Run(cmd.Context(), list, out, bopt)
			var merr error
			if opts.metadata != "" && !badInput(err) {
				m := newMetadata(list, opts.out, started, outcome, err, opts.cache.cache)
				if bopt.SBOM {
					m.SBOMGenerator = &bopt.SBOMGenerator
				}
				merr = writeMetadata(opts.metadata, m)
			}
			if err != nil {
				if merr != nil {
					fmt.Fprintf(stderr, "llbgen: %v\n", merr)
				}
				return err
			}
			writeSummary(stderr, outcome)
			if merr != nil {
				return merr // the binaries were written; the summary said so
			}
			if n := outcome.Failed(); n > 0 {
				return errTargetsFailed{n: n, of: len(outcome.Results)}
			}
			if n := outcome.Unpublished(); n > 0 {
				return errTargetsFailed{n: n, of: len(outcome.Images), what: "images not published", images: true}
			}
			if outcome.CacheExport != "" {
				return errors.New("the build cache was not exported (the binaries were written)")
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
	n, of  int
	what   string // "failed" when empty
	images bool   // n of images, not binaries
}

func (e errTargetsFailed) Error() string {
	if e.what == "" {
		e.what = "failed"
	}
	if e.images {
		return fmt.Sprintf("%d of %d %s", e.n, e.of, e.what)
	}
	return fmt.Sprintf("%d of %d binaries %s", e.n, e.of, e.what)
}
