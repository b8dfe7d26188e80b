package graph

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/llbgen/llbgen/pkg/targets"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
)

// verifierSource is a standard-library-only program, compiled inside the
// build so that checks run in images that have no shell.
//
//go:embed verifier/*.go
var verifierSource embed.FS

// BuildInfoSuffix names the file beside each binary that holds its Go build
// information (`go version -m`); the verifier writes it.
const BuildInfoSuffix = ".buildinfo"

const (
	verifierDir = "/llbgen/verifier"
	verifierBin = verifierDir + "/verifier"
	verifyIn    = "/llbgen/in"
	verifyOut   = "/llbgen/out"
)

// verifier compiles the checking program, statically, in the go image.
func (b *builder) verifier(goImg llb.State) llb.State {
	src := verifierFiles()
	run := goImg.With(b.goEnv()).
		AddEnv("GOPROXY", "off").
		AddEnv("CGO_ENABLED", "0").
		Network(pb.NetMode_NONE).
		Run(
			llb.Args([]string{goBin, "-C", "/llbgen/src", "build", "-trimpath", "-ldflags", "-s -buildid=", "-o", verifierBin, "."}),
			llb.AddMount("/llbgen/src", src, llb.Readonly),
			withToolchain(goImg),
			withBuildCache(llb.CacheMountLocked),
			withTmp(),
			llb.WithCustomName("compile the verifier"),
		)
	return run.AddMount(verifierDir, llb.Scratch())
}

// verify runs the binary in the target image and passes it on only when it
// reports the expected version. The verifier's arguments carry the target
// name, so BuildKit's "process ... did not complete" error names it too.
func (b *builder) verify(t targets.Target, img, bin, verifier, modules llb.State) llb.State {
	root := img.
		AddEnv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").
		User("0:0").
		Dir("/").
		Network(pb.NetMode_NONE)
	args := []string{
		verifierBin, "check",
		"-target", t.Name,
		"-want", b.list.Helper.Bare(),
		"-in", verifyIn + "/" + binName,
		"-out", verifyOut + "/" + t.FileName(),
		"-info", b.moduleFile(".info"),
	}
	if b.opt.SourceDateEpoch != 0 {
		args = append(args, "-epoch", strconv.FormatInt(b.opt.SourceDateEpoch, 10))
	}
	if b.opt.ModuleSum != "" && b.opt.LockedTime != "" {
		args = append(args, "-time", b.opt.LockedTime)
	}
	run := root.Run(
		llb.Args(args),
		llb.AddMount(verifierDir, verifier, llb.Readonly),
		llb.AddMount(modCache, modules, llb.Readonly),
		llb.AddMount(verifyIn, bin, llb.Readonly),
		withTmp(),
		llb.WithCustomName(fmt.Sprintf("verify %s in %s", t.Name, t.Image.Ref)),
	)
	return run.AddMount(verifyOut, llb.Scratch())
}

// verifierFiles is the verifier's source, tests left out, in name order.
func verifierFiles() llb.State {
	names, err := fs.Glob(verifierSource, "verifier/*.go")
	if err != nil {
		panic(err) // a constant pattern
	}
	sort.Strings(names)
	fa := llb.Mkfile("/go.mod", 0o644, []byte("module llbgen.invalid/verifier\n\ngo 1.22\n"))
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		data, err := verifierSource.ReadFile(n)
		if err != nil {
			panic(err) // embedded
		}
		fa = fa.Mkfile("/"+strings.TrimPrefix(n, "verifier/"), 0o644, data)
	}
	return llb.Scratch().File(fa, llb.WithCustomName("verifier source"))
}
