package graph

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"

	"github.com/llbgen/llbgen/pkg/targets"
)

// toolSource is a standard-library-only program, compiled inside the
// build so that checks run in images that have no shell.
//
//go:embed stagetool/*.go
var toolSource embed.FS

// BuildInfoSuffix names the file beside each binary that holds its Go build
// information (`go version -m`); the stage tool writes it.
const BuildInfoSuffix = targets.BuildInfoSuffix

const (
	toolDir   = "/llbgen/stagetool"
	toolBin   = toolDir + "/stagetool"
	verifyIn  = "/llbgen/in"
	verifyOut = "/llbgen/out"
	// verdictDir is where deliver reads the check's verdict, verdictFile.
	verdictDir  = "/llbgen/verdict"
	verdictFile = "verdict"
)

// stageTool compiles llbgen's stage tool, statically, in the go image.
func (b *builder) stageTool(goImg llb.State) llb.State {
	src := toolFiles(b.mark(Stage{Kind: KindToolSource}))
	run := goImg.With(b.goEnv()).
		AddEnv("GOPROXY", "off").
		AddEnv("CGO_ENABLED", "0").
		Network(pb.NetMode_NONE).
		Run(
			llb.Args([]string{goBin, "-C", "/llbgen/src", "build", "-trimpath", "-buildvcs=false", "-ldflags", "-s -buildid=", "-o", toolBin, "."}),
			llb.AddMount("/llbgen/src", src, llb.Readonly),
			b.withToolchain(goImg, b.opt.Platform),
			b.withBuildCache(llb.CacheMountLocked),
			withTmp(),
			llb.WithCustomName("compile llbgen's stage tool"),
			b.mark(Stage{Kind: KindStageTool, Platform: platforms.Format(b.opt.Platform), Image: b.list.Go.Ref}, b.list.GoLines),
		)
	return run.AddMount(toolDir, llb.Scratch())
}

// verify runs the binary in the target image on the binary's platform and
// passes it on only when it reports the expected version. The check runs
// on the daemon's platform (the stage tool is built for it); the binary runs
// natively or under the kernel's emulation, and when nothing can run it
// the stage tool says so. Its arguments carry the binary's name, so
// BuildKit's "process ... did not complete" error names it too.
//
// The image's loader and libc (its /etc/ld.so.preload too) run in the
// check, so only its verdict leaves it: the binary that lands is copied
// from the compile's output by a deliver stage in the toolchain image, and
// the export takes from that stage exactly this binary's files.
func (b *builder) verify(bin targets.Binary, img, built llb.State) llb.State {
	check := b.toolRoot(img).
		Run(
			llb.Args([]string{
				toolBin, "check",
				"-target", bin.Name,
				"-want", b.list.Helper.Bare(),
				"-in", verifyIn + "/" + binName,
				"-out", verifyOut + "/" + verdictFile,
			}),
			llb.AddMount(toolDir, b.toolSt, llb.Readonly),
			llb.AddMount(verifyIn, built, llb.Readonly),
			withTmp(),
			llb.WithCustomName(fmt.Sprintf("verify %s in %s%s", bin.Name, bin.Target.Image.Ref, b.platformNote(bin))),
			b.mark(binary(KindVerify, bin, b.platformOf(bin)), bin.Target.Lines),
		).
		AddMount(verifyOut, llb.Scratch())
	return b.deliver("deliver", bin, built,
		[]string{"-verdict", verdictDir + "/" + verdictFile},
		fmt.Sprintf("deliver %s", bin.Name),
		llb.AddMount(verdictDir, check, llb.Readonly))
}

// pass passes a binary on without running it, for a platform the daemon
// cannot run; reason says so in the build log.
func (b *builder) pass(bin targets.Binary, built llb.State, reason string) llb.State {
	return b.deliver("pass", bin, built, []string{"-reason", reason},
		fmt.Sprintf("pass %s on, %s", bin.Name, reason))
}

// toolRoot is img as the root of a stage that runs the stage tool (built
// for the daemon's platform): as root, in /, the standard PATH, no network.
// The image's own USER, WORKDIR and ENV are never applied.
func (b *builder) toolRoot(img llb.State) llb.State {
	return img.
		AddEnv("PATH", stdPath).
		User("0:0").
		Dir("/").
		Network(pb.NetMode_NONE).
		Platform(b.opt.Platform)
}

// platformNote is " (linux/arm64)" for a binary of a named platform.
func (b *builder) platformNote(bin targets.Binary) string {
	if bin.Platform == nil {
		return ""
	}
	return " (" + platforms.Format(*bin.Platform) + ")"
}

// deliver copies the built binary out, with its build information, dated,
// in the toolchain image on the daemon's platform: no code of a target
// image runs there, so its output holds exactly this binary's files.
func (b *builder) deliver(mode string, bin targets.Binary, built llb.State, extra []string, name string, opts ...llb.RunOption) llb.State {
	root := b.toolRoot(b.goImg)
	args := append([]string{
		toolBin, mode,
		"-target", bin.Name,
		"-in", verifyIn + "/" + binName,
		"-out", verifyOut + "/" + bin.FileName(),
		"-info", b.moduleFile(".info"),
	}, extra...)
	if b.opt.SourceDateEpoch != nil {
		args = append(args, "-epoch", strconv.FormatInt(*b.opt.SourceDateEpoch, 10))
	}
	if b.opt.ModuleSum != "" && b.opt.LockedTime != "" {
		args = append(args, "-time", b.opt.LockedTime)
	}
	run := root.Run(append([]llb.RunOption{
		llb.Args(args),
		llb.AddMount(toolDir, b.toolSt, llb.Readonly),
		llb.AddMount(modCache, b.modules, llb.Readonly),
		llb.AddMount(verifyIn, built, llb.Readonly),
		withTmp(),
		llb.WithCustomName(name),
		b.mark(binary(KindDeliver, bin, b.platformOf(bin)), bin.Target.Lines),
	}, opts...)...)
	return run.AddMount(verifyOut, llb.Scratch())
}

// toolFiles is the stage tool's source, tests left out, in name order.
func toolFiles(mark llb.ConstraintsOpt) llb.State {
	names, err := fs.Glob(toolSource, "stagetool/*.go")
	if err != nil {
		panic(err) // a constant pattern
	}
	sort.Strings(names)
	fa := llb.Mkfile("/go.mod", 0o644, []byte("module llbgen.invalid/stagetool\n\ngo 1.22\n"))
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		data, err := toolSource.ReadFile(n)
		if err != nil {
			panic(err) // embedded
		}
		fa = fa.Mkfile("/"+strings.TrimPrefix(n, "stagetool/"), 0o644, data)
	}
	return llb.Scratch().File(fa, llb.WithCustomName("stage tool source"), mark)
}
