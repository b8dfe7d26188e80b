package graph

import (
	"fmt"
	"strconv"

	"github.com/llbgen/llbgen/pkg/targets"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
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

// warm compiles the helper once, in the go image, filling the shared build
// cache. Every target's compile waits for it and then only links, all at
// once: without it, N compiles started together either all compile the
// same packages (shared cache) or queue behind one another (locked).
func (b *builder) warm(goImg, modules, verifier llb.State) llb.State {
	return b.goBuild(goImg, goImg, modules, verifier, llb.CacheMountLocked,
		"compile the helper once, into the shared build cache")
}

// compile builds the helper in a stage rooted in the target image, so the
// binary is made where it will run. No shell: the image may have none.
func (b *builder) compile(t targets.Target, img, goImg, modules, verifier, warm llb.State) llb.State {
	return b.goBuild(img, goImg, modules, verifier, llb.CacheMountShared,
		fmt.Sprintf("compile %s in %s", t.Name, t.Image.Ref),
		llb.AddMount("/llbgen/after-warm", warm, llb.Readonly))
}

// goBuild runs upstream's release build in root, network none, as root,
// without a shell. The verifier wraps go build to stamp the origin commit
// and date the binary.
func (b *builder) goBuild(root, goImg, modules, verifier llb.State, sharing llb.CacheMountSharingMode, name string, extra ...llb.RunOption) llb.State {
	root = root.With(b.goEnv()).
		AddEnv("GOMODCACHE", modCache).
		AddEnv("GOFLAGS", "-mod=mod").
		AddEnv("GOPROXY", "off").
		AddEnv("CGO_ENABLED", "0").
		Network(pb.NetMode_NONE)
	out := binDir + "/" + binName
	wrapper := []string{verifierBin, "gobuild",
		"-info", b.moduleFile(".info"),
		"-commit-var", targets.HelperModule + "/version.GitCommitSHA",
		"-out", out}
	if b.opt.SourceDateEpoch != 0 {
		wrapper = append(wrapper, "-epoch", strconv.FormatInt(b.opt.SourceDateEpoch, 10))
	}
	if b.opt.ModuleSum != "" {
		wrapper = append(wrapper, "-locked", "-commit", b.opt.LockedCommit, "-time", b.opt.LockedTime)
	}
	opts := append([]llb.RunOption{
		llb.Args(append(wrapper, "--",
			goBin, "-C", b.moduleDir(), "build",
			"-trimpath",
			"-ldflags", b.ldflags(),
			"-o", out,
			"./cli/docker-credential-ecr-login",
		)),
		withToolchain(goImg),
		llb.AddMount(verifierDir, verifier, llb.Readonly),
		llb.AddMount(modCache, modules, llb.Readonly),
		withBuildCache(sharing),
		withTmp(),
		llb.WithCustomName(name),
	}, extra...)
	return root.Run(opts...).AddMount(binDir, llb.Scratch())
}
