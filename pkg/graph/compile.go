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

// binName is the binary's name inside a compile stage's output, and where
// a finished binary is: docker-credential-<helper>.
func (b *builder) binName() string { return b.spec.Binary() }

// staticCompile compiles the helper once for platform p, in the go image on
// the daemon's platform, with the one Go build cache the trusted stages
// share (locked): its binary is every static binary of p. A static binary
// runs nothing of its target image while it is made (no cgo, no VCS
// stamping, no go.work), so compiling it in each image would give the same
// bytes once per image; what each target needs of its own image is its
// check (verify).
func (b *builder) staticCompile(p ocispecs.Platform) llb.State {
	key := platforms.Format(p)
	if w, ok := b.statics[key]; ok {
		return w
	}
	name := "compile the helper once for " + key + ", for every static binary"
	stage := Stage{Kind: KindStatic, Binaries: b.staticNames[key], Platform: key, Image: b.list.Go.Ref}
	w := b.goBuild(b.goImg.Platform(b.opt.Platform), b.goImg, p, false, b.withBuildCache(llb.CacheMountLocked), name,
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
	if !bin.Target.Cgo {
		return b.staticCompile(p), nil
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
	return b.goBuild(root.Platform(p), goImg, p, true, withPrivateBuildCache(id), name+" with cgo", mark), nil
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
	return cacheKey(append([]string{bin.Name, pinned, platforms.Format(p), goPinned}, bin.Target.Setup...)...), nil
}

// goBuild runs upstream's release build for platform p in root, network
// none, as root, without a shell. The stage tool wraps go build to stamp the
// origin commit and date the binary, and, for a static compile, to write its
// build information beside it.
func (b *builder) goBuild(root, goImg llb.State, p ocispecs.Platform, cgo bool, cache llb.RunOption, name string, extra ...llb.RunOption) llb.State {
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
	out := binDir + "/" + b.binName()
	wrapper := []string{toolBin, "gobuild", "-info", b.moduleFile(".info")}
	if b.spec.CommitVar != "" {
		wrapper = append(wrapper, "-commit-var", b.spec.CommitVar)
	}
	wrapper = append(wrapper, "-out", out)
	if b.opt.SourceDateEpoch != nil {
		wrapper = append(wrapper, "-epoch", strconv.FormatInt(*b.opt.SourceDateEpoch, 10))
	}
	if b.opt.ModuleSum != "" {
		wrapper = append(wrapper, "-locked", "-commit", b.opt.LockedCommit, "-time", b.opt.LockedTime)
	}
	if !cgo {
		// nothing of a target image runs here: the compile finishes its
		// binary itself (finish)
		wrapper = append(wrapper, "-buildinfo")
	}
	opts := append([]llb.RunOption{
		llb.Args(append(wrapper, "--",
			goBin, "-C", b.moduleDir(), "build",
			"-trimpath",
			// A cgo compile's root is the target image: with a .git at
			// /llbgen or /, VCS stamping would run the image's git.
			"-buildvcs=false",
			"-ldflags", b.spec.LDFlags(b.list.Helper.Version),
			"-o", out,
			b.spec.Package,
		)),
		b.withToolchain(goImg, goPlatform),
		llb.AddMount(toolDir, b.toolSt, llb.Readonly),
		llb.AddMount(modCache, b.modules, llb.Readonly),
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
