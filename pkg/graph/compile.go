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

const (
	// binDir is the scratch mount a compile stage writes its binary to.
	binDir = "/llbgen/bin"
	// binName is the binary's name inside a compile stage's output.
	binName = "docker-credential-ecr-login"
)

// ldflags are upstream's release flags.
func (b *builder) ldflags() string {
	return fmt.Sprintf("-s -buildid= -X %s/version.Version=%s", targets.HelperModule, b.list.Helper.Bare())
}

// warm compiles the helper once for platform p, in the go image on the
// daemon's platform, filling the shared build cache. Every static compile
// for p waits for it and then only links, all at once: without it, N
// compiles started together either all compile the same packages (shared
// cache) or queue behind one another (locked).
func (b *builder) warm(p ocispecs.Platform) llb.State {
	key := platforms.Format(p)
	if w, ok := b.warms[key]; ok {
		return w
	}
	name := "compile the helper once, into the shared build cache"
	if key != platforms.Format(b.opt.Platform) {
		name += " (for " + key + ")"
	}
	stage := Stage{Kind: KindWarm, Binaries: b.statics[key], Platform: key, Image: b.list.Go.Ref}
	w := b.goBuild(b.goImg.Platform(b.opt.Platform), b.goImg, p, false, b.withBuildCache(llb.CacheMountLocked), name,
		b.mark(stage, b.list.GoLines))
	b.warms[key] = w
	return w
}

// compile builds one binary in a stage rooted in the target image, so the
// binary is made where it will run. No shell: the image may have none.
//
// A static binary is cross-compiled: the stage runs on the daemon's
// platform whatever the image's, and waits for the warm stage. A cgo binary
// is compiled on its own platform, in the result of the target's setup,
// with the image's C compiler and the toolchain image of that platform.
func (b *builder) compile(bin targets.Binary, img llb.State, p ocispecs.Platform) (llb.State, error) {
	name := fmt.Sprintf("compile %s in %s", bin.Name, bin.Target.Image.Ref)
	if bin.Platform != nil {
		name += " (" + platforms.Format(p) + ")"
	}
	mark := b.mark(binary(KindCompile, bin, p), bin.Target.Lines)
	if !bin.Target.Cgo {
		return b.goBuild(img.Platform(b.opt.Platform), b.goImg, p, false, b.withBuildCache(llb.CacheMountShared), name,
			llb.AddMount("/llbgen/after-warm", b.warm(p), llb.Readonly), mark), nil
	}
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
// origin commit and date the binary.
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
	out := binDir + "/" + binName
	wrapper := []string{toolBin, "gobuild",
		"-info", b.moduleFile(".info"),
		"-commit-var", targets.HelperModule + "/version.GitCommitSHA",
		"-out", out}
	if b.opt.SourceDateEpoch != nil {
		wrapper = append(wrapper, "-epoch", strconv.FormatInt(*b.opt.SourceDateEpoch, 10))
	}
	if b.opt.ModuleSum != "" {
		wrapper = append(wrapper, "-locked", "-commit", b.opt.LockedCommit, "-time", b.opt.LockedTime)
	}
	opts := append([]llb.RunOption{
		llb.Args(append(wrapper, "--",
			goBin, "-C", b.moduleDir(), "build",
			"-trimpath",
			// The module's parents (/llbgen, /) come from the target image:
			// with a .git there, VCS stamping would run the image's git.
			"-buildvcs=false",
			"-ldflags", b.ldflags(),
			"-o", out,
			"./cli/docker-credential-ecr-login",
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
