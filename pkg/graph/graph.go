// Package graph turns a target list into one BuildKit LLB graph.
//
// The graph, per list:
//
//	download   go image, network on: the helper module and its dependencies,
//	           checked against the Go checksum database, fetched once.
//	verifier   go image, network none: a tiny static program that checks
//	           binaries inside images that may have no shell.
//	warm       go image, network none: the helper compiled once, filling the
//	           one Go build cache every stage shares.
//	compile    per target, after warm, rooted in the target image, network
//	           none, as root, no shell: the toolchain and modules mounted
//	           read-only, the shared build cache; all targets link at once.
//	verify     per target, in the target image: the binary must run and report
//	           the expected version; only then is it copied out.
//	export     every verified binary plus SHA256SUMS.
//
// Build returns that last state; the caller marshals it for buildctl or
// solves it directly.
package graph

import (
	"fmt"
	"runtime"

	"github.com/distribution/reference"
	"github.com/llbgen/llbgen/pkg/targets"
	"github.com/moby/buildkit/client/llb"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// PassThroughEnv names the variables of llbgen's own environment that reach
// the download stage, so private module proxies and modules work.
var PassThroughEnv = []string{"GOPROXY", "GONOSUMDB", "GOPRIVATE", "GOINSECURE"}

// Options adjust a graph without changing what it builds.
type Options struct {
	// Env holds values for PassThroughEnv; other keys are ignored.
	Env map[string]string
	// Images holds what a daemon resolved, by the image's full reference.
	// A resolved image is pinned to its digest. Its config is not applied:
	// every stage runs as root in /, without a shell, with an environment of
	// llbgen's own, so an image's USER, WORKDIR or ENV (GOFLAGS, GOSUMDB=off,
	// ...) can change neither what is built nor how it is checked.
	// Unresolved images are used by reference.
	Images map[string]Resolved
	// ModuleSum is the helper module's locked h1: hash; when set, the build
	// fails unless the downloaded module has it, and the version's commit
	// and time come from LockedCommit and LockedTime, not from the proxy.
	ModuleSum    string
	LockedCommit string // origin commit the lock recorded; "" for none
	LockedTime   string // version time the lock recorded, RFC 3339
	// SourceDateEpoch, when not zero, dates every exported file; otherwise
	// they carry the helper version's time from the module proxy.
	SourceDateEpoch int64
}

// Resolved is an image as a daemon resolved it for the platform built.
type Resolved struct {
	Digest digest.Digest
	Config []byte // the image config JSON, as BuildKit returns it (kept for reports)
}

// Graph is the built graph and the pieces callers and tests look at.
type Graph struct {
	// Output is what gets exported: the binaries and SHA256SUMS.
	Output llb.State
	// Verified maps target name to its verified binary (one file at
	// /<file name>).
	Verified map[string]llb.State
}

// Build makes the graph for list.
func Build(list *targets.List, opt Options) (*Graph, error) {
	if len(list.Targets) == 0 {
		return nil, fmt.Errorf("no targets to build")
	}
	b := &builder{list: list, opt: opt}
	g := &Graph{Verified: map[string]llb.State{}}
	goImg, err := b.image(list.Go.Full)
	if err != nil {
		return nil, err
	}
	verifier := b.verifier(goImg)
	modules := b.checkModule(goImg, verifier, b.download(goImg))
	warm := b.warm(goImg, modules, verifier)
	var bins []llb.State
	for _, t := range list.Targets {
		img, err := b.image(t.Image.Full)
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", t.Name, err)
		}
		bin := b.compile(t, img, goImg, modules, verifier, warm)
		v := b.verify(t, img, bin, verifier, modules)
		g.Verified[t.Name] = v
		bins = append(bins, v)
	}
	g.Output = b.export(goImg, verifier, bins)
	return g, nil
}

type builder struct {
	list *targets.List
	opt  Options
}

func (b *builder) image(ref string) (llb.State, error) {
	r, ok := b.opt.Images[ref]
	if !ok {
		return llb.Image(ref, llb.WithCustomName("image "+ref)), nil
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return llb.State{}, fmt.Errorf("image %s: %w", ref, err)
	}
	pinned, err := reference.WithDigest(reference.TrimNamed(named), r.Digest)
	if err != nil {
		return llb.State{}, fmt.Errorf("image %s: %w", ref, err)
	}
	return llb.Image(pinned.String(), llb.WithCustomName("image "+pinned.String())), nil
}

// DefaultPlatform is what a definition is marshalled for when no daemon was
// asked (the LLB pipe): linux on the architecture llbgen runs on.
func DefaultPlatform() ocispecs.Platform {
	return ocispecs.Platform{OS: "linux", Architecture: runtime.GOARCH}
}
