// Package graph turns a target list into one BuildKit LLB graph.
//
// The graph, per list:
//
//	download   go image, network on: the helper module and its dependencies,
//	           checked against the Go checksum database, fetched once.
//	check      go image, network none, with a lock: the downloaded helper
//	           module must have the locked hash.
//	stage tool go image, network none: llbgen's small static program that
//	           the other stages run in place of a shell (it wraps go build,
//	           checks the module, runs and delivers binaries, writes
//	           SHA256SUMS), so images need no shell.
//	static     go image, network none, per platform: the helper compiled
//	           once, statically, with the one Go build cache the trusted
//	           stages share. Its binary is every static binary of the
//	           platform: a static compile runs nothing of a target image
//	           (no cgo, no VCS stamping, no go.work), so it would give the
//	           same bytes in every image.
//	setup      per cgo target: its setup commands, in its image, network on.
//	compile    per cgo binary, rooted in the target image's setup, on the
//	           binary's platform, network none, as root, no shell: the
//	           toolchain and modules mounted read-only, the image's C
//	           compiler, a build cache of its own.
//	finish     per cgo binary, in the go image: the binary with its build
//	           information, dated, by llbgen's stage tool, beside its check.
//	           A static compile finishes its binary itself.
//	verify     per binary, in the target image on the binary's platform: the
//	           binary must run and report the expected version. Only its
//	           verdict leaves the stage: the image's loader ran there.
//	deliver    per binary, a file op (no process): once its check passed,
//	           the finished binary and its build information under the
//	           binary's own name.
//	export     each delivered binary's own files, by path, plus SHA256SUMS.
//
// No stage that runs code from a target image (cgo setup and compile,
// verify, matrix cells) can write to anything another target, a later run
// or the export reads: a cgo compile has a build cache of its own, a
// verify stage's only writable place is its verdict, and what lands is
// written by the finish stage in the go image.
//
// Every vertex carries what it is, its Stage (stage.go): kind, the
// binaries it serves, platform and image, read back by digest with Stages.
// For a list read from a file, each also points at the lines of the list
// it comes from (sourcemap.go): a target's stages at the target, the shared
// toolchain stages at go:, the download at helper:. BuildKit shows those
// lines under a failing step's error. Dump renders a definition as text;
// testdata/*.golden hold the graphs of the repository's lists.
//
// Define returns that last state (and every binary's delivered state); the
// caller marshals it for buildctl or solves it directly. Nothing is built
// here: a graph is only a definition.
package graph

import (
	"fmt"
	"runtime"

	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/moby/buildkit/client/llb"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/llbgen/llbgen/pkg/targets"
)

// PassThroughEnv names the variables of llbgen's own environment that reach
// the download stage, so private module proxies and modules work.
var PassThroughEnv = []string{"GOPROXY", "GONOSUMDB", "GOPRIVATE", "GOINSECURE"}

// Options adjust a graph without changing what it builds.
type Options struct {
	// Platform is the daemon's: the toolchain runs on it, and targets that
	// name no platforms are built for it unless Target says otherwise. Zero
	// means DefaultPlatform().
	Platform ocispecs.Platform
	// Target, when set, is the platform targets that name none are built
	// for (a frontend's --platform); zero means Platform.
	Target ocispecs.Platform
	// CanRun, when set, says whether the daemon runs binaries of a platform,
	// natively or under emulation. A binary it cannot run is passed on
	// unverified, and Graph.Unverified says why. When nil every binary is
	// verified, and one the daemon cannot run fails its verify stage.
	CanRun func(ocispecs.Platform) bool
	// Env holds values for PassThroughEnv; other keys are ignored. A GOPROXY
	// with credentials is read from the secret ProxySecretID instead.
	Env map[string]string
	// ProxySecret: with no GOPROXY in Env, the download stage takes GOPROXY
	// from the secret ProxySecretID when the build has one (the frontend).
	ProxySecret bool
	// Images holds what a daemon resolved, by reference and platform.
	// A resolved image is pinned to its digest. Its config is not applied:
	// every stage runs as root in /, without a shell, with an environment of
	// llbgen's own, so an image's USER, WORKDIR or ENV (GOFLAGS, GOSUMDB=off,
	// ...) can change neither what is built nor how it is checked.
	// Unresolved images are used by reference.
	Images map[ImageKey]Resolved
	// Locked holds what a lock pins of each helper module version, by
	// ModuleKey; a helper without an entry is not locked.
	Locked map[string]LockedModule
	// OwnTool, when set, is the digest of a static executable for
	// Platform that runs the stage tool when started as "stagetool"
	// (llbgen itself): the stage tool is not compiled but is the local
	// source OwnToolLocal of the session, a directory holding that one
	// file under that name. The client that sets it provides the directory
	// (pkg/daemon, for `llbgen build`).
	OwnTool digest.Digest
	// SourceDateEpoch, when set (0 is 1970), dates every exported file;
	// otherwise they carry the helper version's time from the module proxy.
	SourceDateEpoch *int64
}

// ImageKey names an image on one platform.
type ImageKey struct {
	Ref      string // full reference
	Platform string // platforms.Format of a normalized platform
}

func (k ImageKey) String() string { return k.Ref + " (" + k.Platform + ")" }

// Resolved is an image as a daemon resolved it for one platform.
type Resolved struct {
	Digest digest.Digest
	Config []byte // the image config JSON, as BuildKit returns it (kept for reports)
}

// Graph is the built graph and the pieces callers and tests look at.
type Graph struct {
	// Output is what gets exported: the binaries and SHA256SUMS.
	Output llb.State
	// Delivered maps a binary's name (targets.Binary.Name) to its deliver
	// stage: the binary at /<file name> and its build information beside
	// it, once its verify stage passed. Binaries named in Unverified are
	// in it too, delivered without being run.
	Delivered map[string]llb.State
	// Unverified maps a binary's name to why it was passed on without
	// being run: "not verified: no emulator for linux/arm64".
	Unverified map[string]string
	// Compiled maps a binary's name to its compile output, the binary at
	// /docker-credential-<helper>, before any check: every static binary
	// of a platform has that platform's one static compile.
	Compiled map[string]llb.State
	// Finished maps a binary's name to the files its delivery copies: the
	// binary and its build information, dated, before they get the
	// binary's name. Every static binary of a helper and platform has the
	// same (its static compile).
	Finished map[string]Finished
	// Checks maps a binary's name to its verify stage's output, which
	// holds VerdictFile once the binary passed (naming the sha256 of the
	// binary it ran: stagetool.VerdictSum); a binary in Unverified has
	// none. A client that reads the binaries itself (`llbgen build`) may
	// solve the check and read Finished, instead of the delivery, which
	// copies the same files once per binary: it takes from the check its
	// verdict alone, as the delivery does, bounded (the image's code ran
	// there), and writes only the bytes it names.
	Checks map[string]llb.State

	b *builder
}

// Finished is a binary's finished files (Graph.Finished).
type Finished struct {
	State llb.State
	// Path is the binary's path in State; its build information is at
	// Path+BuildInfoSuffix.
	Path string
	// Users is how many binaries of the list have this State (the static
	// binaries of a helper and platform share their static compile; a cgo
	// binary's is its own).
	Users int
}

// VerdictFile is the file at the root of a check's output (Graph.Checks)
// once the binary passed.
const VerdictFile = "/" + verdictFile

// Verdict is binary name's verdict alone, copied out of its check (a file
// op: no process): what a cache export holds of a check, whose output the
// image's code could fill. False when the binary has no check.
func (g *Graph) Verdict(name string) (llb.State, bool) {
	check, ok := g.Checks[name]
	if !ok {
		return llb.State{}, false
	}
	var bin targets.Binary
	for _, b := range g.b.list.Binaries() {
		if b.Name == name {
			bin = b
		}
	}
	return llb.Scratch().File(copyAfter(nil, check, VerdictFile, VerdictFile),
		llb.WithCustomName("the verdict of "+name),
		g.b.mark(binary(KindVerdict, bin, g.b.platformOf(bin)), bin.Target.Lines)), true
}

// Define makes the graph for list.
func Define(list *targets.List, opt Options) (*Graph, error) {
	if len(list.Targets) == 0 {
		return nil, fmt.Errorf("no targets to build")
	}
	for _, h := range list.Helpers {
		if err := CheckSumDB(opt.Env, h.Spec().Module, opt.Locked[ModuleKey(h)].Sum != "", ""); err != nil {
			return nil, err
		}
	}
	if opt.Platform.OS == "" {
		opt.Platform = DefaultPlatform()
	}
	opt.Platform = platforms.Normalize(opt.Platform)
	if opt.Target.OS == "" {
		opt.Target = opt.Platform
	}
	opt.Target = platforms.Normalize(opt.Target)
	b := newBuilder(list, opt)
	g := &Graph{Delivered: map[string]llb.State{}, Unverified: map[string]string{}, Compiled: map[string]llb.State{},
		Finished: map[string]Finished{}, Checks: map[string]llb.State{}, b: b}
	goImg, err := b.image(list.Go, opt.Platform)
	if err != nil {
		return nil, err
	}
	b.goImg = goImg
	goPinned, err := b.pinned(list.Go.Full, opt.Platform)
	if err != nil {
		return nil, err
	}
	b.sharedCacheID = goBuildCacheID + "-" + cacheKey(goPinned)
	if opt.OwnTool != "" {
		b.toolSt = b.ownTool()
	} else {
		b.toolSt = b.stageTool(goImg)
	}
	b.helperBuilds(goImg)
	var bins []delivered
	for _, bin := range list.Binaries() {
		p := b.platformOf(bin)
		img, err := b.image(bin.Target.Image, p)
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", bin.Target.Name, err)
		}
		built, err := b.compile(bin, img, p)
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", bin.Target.Name, err)
		}
		g.Compiled[bin.Name] = built
		fin := b.finish(bin, p, built)
		users := 1
		if !bin.Cgo() {
			users = len(b.staticNames[staticKey(bin.Helper.FileName(), p)])
		}
		g.Finished[bin.Name] = Finished{State: fin, Path: "/" + b.helperOf(bin).binName(), Users: users}
		var v llb.State
		if b.opt.CanRun != nil && !b.opt.CanRun(p) {
			reason := "not verified: no emulator for " + platforms.Format(p)
			g.Unverified[bin.Name] = reason
			v = b.deliver(bin, fin, nil, fmt.Sprintf("pass %s on, %s", bin.Name, reason))
		} else {
			check := b.verify(bin, img, built)
			g.Checks[bin.Name] = check
			v = b.deliver(bin, fin, &check, fmt.Sprintf("deliver %s", bin.Name))
		}
		g.Delivered[bin.Name] = v
		bins = append(bins, delivered{st: v, file: bin.FileName()})
	}
	g.Output = b.export(goImg, b.toolSt, bins)
	return g, nil
}

type builder struct {
	list *targets.List
	opt  Options
	sm   *llb.SourceMap // the list file; nil for a list from --image flags
	// helpers holds the build of each helper, by name (Helper.FileName).
	helpers map[string]*helperBuild

	goImg llb.State // the toolchain image, on the daemon's platform
	// sharedCacheID names the build cache the trusted stages share.
	sharedCacheID string
	toolSt        llb.State // the stage tool, built for the daemon's platform
	// statics holds the static compile of each helper and platform,
	// staticNames the static binaries it serves (by staticKey).
	statics     map[string]llb.State
	staticNames map[string][]string
	// images and toolchains are made once each (by key, by platform), so
	// each vertex is placed in the list once.
	images     map[ImageKey]llb.State
	toolchains map[string]llb.State
}

// newBuilder starts the graph of list; opt's platforms are normalized.
func newBuilder(list *targets.List, opt Options) *builder {
	b := &builder{list: list, opt: opt, sm: newSourceMap(list), helpers: map[string]*helperBuild{},
		statics: map[string]llb.State{}, staticNames: map[string][]string{},
		images: map[ImageKey]llb.State{}, toolchains: map[string]llb.State{}}
	for _, bin := range list.Binaries() {
		if !bin.Cgo() {
			k := staticKey(bin.Helper.FileName(), b.platformOf(bin))
			b.staticNames[k] = append(b.staticNames[k], bin.Name)
		}
	}
	return b
}

// platformOf is the platform a binary is built for.
func (b *builder) platformOf(bin targets.Binary) ocispecs.Platform {
	if bin.Platform != nil {
		return *bin.Platform
	}
	return b.opt.Target
}

// image is img on platform p, pinned when the daemon resolved it. It is
// placed where the list names it: the go: line, each target of it.
func (b *builder) image(img targets.Image, p ocispecs.Platform) (llb.State, error) {
	k := ImageKey{Ref: img.Full, Platform: platforms.Format(p)}
	if st, ok := b.images[k]; ok {
		return st, nil
	}
	pinned, err := b.pinned(img.Full, p)
	if err != nil {
		return llb.State{}, err
	}
	var at []targets.Lines
	if img.Full == b.list.Go.Full {
		at = append(at, b.list.GoLines)
	}
	for _, t := range b.list.Targets {
		for _, bin := range t.Binaries() {
			if t.Image.Full == img.Full && platforms.Format(b.platformOf(bin)) == k.Platform {
				at = append(at, t.Lines)
				break
			}
		}
	}
	st := llb.Image(pinned, llb.Platform(p), llb.WithCustomName("image "+pinned+" ("+k.Platform+")"),
		b.mark(Stage{Kind: KindImage, Platform: k.Platform, Image: img.Ref}, at...))
	b.images[k] = st
	return st, nil
}

// pinned is ref with the digest the daemon resolved for platform p, or ref
// as it is when it was not resolved.
func (b *builder) pinned(ref string, p ocispecs.Platform) (string, error) {
	r, ok := b.opt.Images[ImageKey{Ref: ref, Platform: platforms.Format(p)}]
	if !ok {
		return ref, nil
	}
	return Pinned(ref, r.Digest)
}

// Pinned is ref by digest d (its tag dropped): what every stage and check
// pulls once a daemon resolved the image.
func Pinned(ref string, d digest.Digest) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", ref, err)
	}
	withDigest, err := reference.WithDigest(reference.TrimNamed(named), d)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", ref, err)
	}
	return withDigest.String(), nil
}

// DefaultPlatform is what a definition is marshalled for when no daemon was
// asked (the LLB pipe): linux on the architecture llbgen runs on.
func DefaultPlatform() ocispecs.Platform {
	return platforms.Normalize(ocispecs.Platform{OS: "linux", Architecture: runtime.GOARCH})
}
