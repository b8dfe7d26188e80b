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

// compile builds the helper in a stage rooted in the target image, so the
// binary is made where it will run. No shell: the image may have none. The
// verifier wraps go build to stamp the origin commit and date the binary.
func (b *builder) compile(t targets.Target, img, goImg, modules, verifier llb.State) llb.State {
	root := img.With(b.goEnv()).
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
	run := root.Run(
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
		withBuildCache(),
		withTmp(),
		llb.WithCustomName(fmt.Sprintf("compile %s in %s", t.Name, t.Image.Ref)),
	)
	return run.AddMount(binDir, llb.Scratch())
}
