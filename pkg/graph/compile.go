package graph

import (
	"fmt"
	"strconv"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/llbgen/llbgen/pkg/targets"
)

// binDir is the scratch mount a compile stage writes its binary to.
const binDir = "/llbgen/bin"

// staticKey keys the static compile of a helper for a platform.
func staticKey(helper string, p ocispecs.Platform) string { return helper + " " + platforms.Format(p) }

// staticCompile compiles the helper once for platform p, in the go image on
// the daemon's platform, with the one Go build cache the trusted stages
// share (locked): its binary is every static binary of p. A static binary
// runs nothing of its target image while it is made (no cgo, no VCS
// stamping, no go.work), so compiling it in each image would give the same
// bytes once per image; what each target needs of its own image is its
// check (verify).
func (b *builder) staticCompile(hb *helperBuild, p ocispecs.Platform) llb.State {
	key := staticKey(hb.name(), p)
	if w, ok := b.statics[key]; ok {
		return w
	}
	what := "the helper"
	stage := Stage{Kind: KindStatic, Binaries: b.staticNames[key], Platform: platforms.Format(p), Image: b.list.Go.Ref}
	if len(b.list.Helpers) > 1 {
		what, stage.Module = hb.binName(), ModuleKey(hb.h)
	}
	name := "compile " + what + " once for " + platforms.Format(p) + ", for every static binary"
	w := b.goBuild(hb, b.goImg.Platform(b.opt.Platform), b.goImg, p, false, b.withBuildCache(llb.CacheMountLocked), name,
		b.mark(stage, b.list.GoLines))
	b.statics[key] = w
	return w
}

// compile is the compile output of one binary, the binary at
// /docker-credential-<helper> (binName). A static binary is its platform's static
// compile. A cgo binary is compiled in a stage rooted in its target image
// (the result of the target's setup), on its own platform, with the
// image's C compiler and the toolchain image of that platform, so with a
// build cache of its own. No shell: the image may have none.
func (b *builder) compile(bin targets.Binary, img llb.State, p ocispecs.Platform) (llb.State, error) {
	hb := b.helperOf(bin)
	if !bin.Cgo() {
		return b.staticCompile(hb, p), nil
	}
	name := fmt.Sprintf("compile %s in %s", bin.Name, bin.Target.Image.Ref)
	if bin.Platform != nil {
		name += " (" + platforms.Format(p) + ")"
	}
	mark := b.mark(binary(KindCompile, bin, p), bin.Target.Lines)
	goImg := b.goImg
	if platforms.Format(p) != platforms.Format(b.opt.Platform) {
		var err error
		if goImg, err = b.image(b.list.Go, p); err != nil {
			return llb.State{}, err
		}
	}
	id, err := b.privateCacheID(bin, p)
	if err != nil {
		return llb.State{}, err
	}
	root := b.setup(bin, img, p)
	return b.goBuild(hb, root.Platform(p), goImg, p, true, withPrivateBuildCache(id), name+" with cgo", mark), nil
}

// privateCacheID keys a cgo compile's own build cache: the image's C
// compiler (and whatever setup installed) writes into it, so it is shared
// with nothing that differs in binary, pinned image, platform, setup or
// toolchain image.
func (b *builder) privateCacheID(bin targets.Binary, p ocispecs.Platform) (string, error) {
	pinned, err := b.pinned(bin.Target.Image.Full, p)
	if err != nil {
		return "", err
	}
	goPinned, err := b.pinned(b.list.Go.Full, p)
	if err != nil {
		return "", err
	}
	parts := []string{bin.Name, pinned, platforms.Format(p), goPinned}
	if bin.Helper.Name != "" {
		// another helper than a `helper:` list's: its compiles apart
		parts = append(parts, "helper="+ModuleKey(bin.Helper)+" "+bin.Helper.Spec().Package)
	}
	return cacheKey(append(parts, bin.Target.Setup...)...), nil
}

// goBuild runs upstream's release build for platform p in root, network
// none, as root, without a shell. The stage tool wraps go build to stamp the
// origin commit and date the binary, and, for a static compile, to write its
// build information beside it.
func (b *builder) goBuild(hb *helperBuild, root, goImg llb.State, p ocispecs.Platform, cgo bool, cache llb.RunOption, name string, extra ...llb.RunOption) llb.State {
	// A cgo compile runs on the binary's platform, with the go image of it.
	goPlatform := b.opt.Platform
	if cgo {
		goPlatform = p
	}
	root = root.With(b.goEnv(), goTarget(p, cgo)).
		AddEnv("GOMODCACHE", modCache).
		AddEnv("GOFLAGS", "-mod=mod").
		AddEnv("GOPROXY", "off").
		Network(pb.NetMode_NONE)
	out := binDir + "/" + hb.binName()
	wrapper := []string{toolBin, "gobuild", "-info", hb.moduleFile(".info")}
	if hb.spec.CommitVar != "" {
		wrapper = append(wrapper, "-commit-var", hb.spec.CommitVar)
	}
	wrapper = append(wrapper, "-out", out)
	if b.opt.SourceDateEpoch != nil {
		wrapper = append(wrapper, "-epoch", strconv.FormatInt(*b.opt.SourceDateEpoch, 10))
	}
	if l := hb.locked; l.Sum != "" {
		wrapper = append(wrapper, "-locked", "-commit", l.Commit, "-time", l.Time)
	}
	if !cgo {
		// nothing of a target image runs here: the compile finishes its
		// binary itself (finish)
		wrapper = append(wrapper, "-buildinfo")
	}
	opts := append([]llb.RunOption{
		llb.Args(append(wrapper, "--",
			goBin, "-C", hb.moduleDir(), "build",
			"-trimpath",
			// A cgo compile's root is the target image: with a .git at
			// /llbgen or /, VCS stamping would run the image's git.
			"-buildvcs=false",
			"-ldflags", hb.spec.LDFlags(hb.version()),
			"-o", out,
			hb.spec.Package,
		)),
		b.withToolchain(goImg, goPlatform),
		llb.AddMount(toolDir, b.toolSt, llb.Readonly),
		llb.AddMount(modCache, hb.modules, llb.Readonly),
		cache,
		withTmp(),
		llb.WithCustomName(name),
	}, extra...)
	return root.Run(opts...).AddMount(binDir, llb.Scratch())
}

// goTarget sets what go builds for: GOOS, GOARCH and the variant's
// setting, and whether cgo is on.
func goTarget(p ocispecs.Platform, cgo bool) llb.StateOption {
	return func(s llb.State) llb.State {
		s = s.AddEnv("GOOS", p.OS).AddEnv("GOARCH", p.Architecture)
		switch {
		case p.Architecture == "arm" && p.Variant != "":
			s = s.AddEnv("GOARM", p.Variant[1:])
		case p.Architecture == "amd64" && p.Variant != "" && p.Variant != "v1":
			s = s.AddEnv("GOAMD64", p.Variant)
		}
		if cgo {
			return s.AddEnv("CGO_ENABLED", "1")
		}
		return s.AddEnv("CGO_ENABLED", "0")
	}
}
