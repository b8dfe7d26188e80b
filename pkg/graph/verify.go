package graph

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/llbgen/llbgen/pkg/graph/stagetool"
	"github.com/llbgen/llbgen/pkg/targets"
)

// toolSource is the stage tool's package, standard library only,
// compiled inside the build (with toolMain) so that checks run in images
// that have no shell.
//
//go:embed stagetool/*.go
var toolSource embed.FS

// BuildInfoSuffix names the file beside each binary that holds its Go build
// information (`go version -m`); the stage tool writes it.
const BuildInfoSuffix = targets.BuildInfoSuffix

const (
	toolDir   = "/llbgen/stagetool"
	toolBin   = toolDir + "/" + stagetool.Name
	verifyIn  = "/llbgen/in"
	verifyOut = "/llbgen/out"
	// verdictFile is the file a check writes once the binary passed.
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
			llb.Args([]string{goBin, "-C", "/llbgen/src", "build", "-trimpath", "-buildvcs=false", "-ldflags", "-s -buildid=", "-o", toolBin, "./cmd"}),
			llb.AddMount("/llbgen/src", src, llb.Readonly),
			b.withToolchain(goImg, b.opt.Platform),
			b.withBuildCache(llb.CacheMountLocked),
			withTmp(),
			llb.WithCustomName("compile llbgen's stage tool"),
			b.mark(Stage{Kind: KindStageTool, Platform: platforms.Format(b.opt.Platform), Image: b.list.Go.Ref}, b.list.GoLines),
		)
	return run.AddMount(toolDir, llb.Scratch())
}

// OwnToolLocal names the local source of Options.OwnTool.
const OwnToolLocal = "llbgen-stage-tool"

// ownTool is the stage tool as the client sends it (Options.OwnTool):
// nothing compiles it, so the helper's compile, which the stage tool
// wraps, starts as soon as the modules are downloaded. Its digest makes
// the vertex its own (every session and run that sends these bytes shares
// it, no other) and names the daemon's copy (a daemon that has it is sent
// nothing again; one that has another tool keeps it apart). Another client
// of the daemon could send other bytes under this digest to a run it
// shares the vertex with; such a client can already write the shared Go
// build cache (README, "Security"), so that gives it nothing more.
func (b *builder) ownTool() llb.State {
	d := b.opt.OwnTool.String()
	return llb.Local(OwnToolLocal,
		llb.IncludePatterns([]string{stagetool.Name}),
		llb.SharedKeyHint(OwnToolLocal+"@"+d),
		llb.LocalUniqueID(d),
		llb.WithCustomName("llbgen's own executable, the stage tool"),
		b.mark(Stage{Kind: KindOwnTool, Platform: platforms.Format(b.opt.Platform)}))
}

// verify runs the binary in the target image on the binary's platform and
// writes a verdict only when it reports the expected version. The check
// runs on the daemon's platform (the stage tool is built for it); the binary
// runs natively or under the kernel's emulation, and when nothing can run it
// the stage tool says so. Its arguments carry the binary's name, so
// BuildKit's "process ... did not complete" error names it too.
//
// The image's loader and libc (its /etc/ld.so.preload too) run in the
// check, so only its verdict leaves it: the binary that lands is copied
// from the finish stage by deliver, and the export takes from that exactly
// this binary's files.
func (b *builder) verify(bin targets.Binary, img, built llb.State) llb.State {
	hb := b.helperOf(bin)
	return b.toolRoot(img).
		Run(
			llb.Args(append([]string{
				toolBin, "check",
				"-target", bin.Name,
				"-want", hb.spec.Want(hb.version()),
				"-in", verifyIn + "/" + hb.binName(),
				"-out", verifyOut + "/" + verdictFile,
			}, hb.checkArgs()...)),
			llb.AddMount(toolDir, b.toolSt, llb.Readonly),
			llb.AddMount(verifyIn, built, llb.Readonly),
			withTmp(),
			llb.WithCustomName(fmt.Sprintf("verify %s in %s%s", bin.Name, bin.Target.Image.Ref, b.platformNote(bin))),
			b.mark(binary(KindVerify, bin, b.platformOf(bin)), bin.Target.Lines),
		).
		AddMount(verifyOut, llb.Scratch())
}

// checkArgs are the stage tool's -arg flags for a helper whose check is
// not `version` (the stage tool's default).
func (hb *helperBuild) checkArgs() []string {
	var args []string
	for _, a := range hb.spec.CheckArgs {
		args = append(args, "-arg", a)
	}
	return args
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

// finish is a compile's binary with its build information beside it,
// dated, written by code llbgen trusts: a static compile (the go image,
// nothing of a target image) writes both itself; a cgo compile, where the
// image's C compiler ran, is finished by a stage of its own in the toolchain
// image on the daemon's platform, beside the binary's check.
func (b *builder) finish(bin targets.Binary, p ocispecs.Platform, built llb.State) llb.State {
	if !bin.Cgo() {
		return built
	}
	hb := b.helperOf(bin)
	args := []string{
		toolBin, "finish",
		"-in", verifyIn + "/" + hb.binName(),
		"-out", verifyOut + "/" + hb.binName(),
		"-info", hb.moduleFile(".info"),
	}
	if b.opt.SourceDateEpoch != nil {
		args = append(args, "-epoch", strconv.FormatInt(*b.opt.SourceDateEpoch, 10))
	}
	if l := hb.locked; l.Sum != "" && l.Time != "" {
		args = append(args, "-time", l.Time)
	}
	return b.toolRoot(b.goImg).Run(
		llb.Args(args),
		llb.AddMount(toolDir, b.toolSt, llb.Readonly),
		llb.AddMount(modCache, hb.modules, llb.Readonly),
		llb.AddMount(verifyIn, built, llb.Readonly),
		withTmp(),
		llb.WithCustomName("finish "+bin.Name+": its build information, dated"),
		b.mark(Stage{Kind: KindFinish, Binaries: []string{bin.Name}, Platform: platforms.Format(p), Image: b.list.Go.Ref}, bin.Target.Lines),
	).AddMount(verifyOut, llb.Scratch())
}

// deliver is a binary's own files, under its name: its finished binary and
// build information, copied by BuildKit (a file op: no process runs), once
// check, its verify stage, wrote its verdict; check is nil for a binary
// passed on without being run. The verdict is copied in and removed again:
// the copy makes the delivery wait for the check and fail with it, and only
// the binary's two files remain (the removal follows no link: a verdict a
// hostile loader replaced is removed as what it is).
//
// BuildKit matches a file op's inputs by content, and content checksums
// leave file times out, so the delivery's inputs must change whenever the
// files' time does, or a delivery of the same bytes dated otherwise comes
// from the cache. When the run fixes the time (a SOURCE_DATE_EPOCH, a
// lock's time), the copies set it. Otherwise the files carry the helper
// version's time from the module proxy's .info, which is copied in and
// removed like the verdict, so its content keys the delivery.
func (b *builder) deliver(bin targets.Binary, finished llb.State, check *llb.State, name string) llb.State {
	var fa *llb.FileAction
	// in copies one file of st in and removes it again: an input of the
	// delivery that lands nowhere.
	in := func(st llb.State, path, as string) {
		fa = copyAfter(fa, st, path, as).Rm(as, llb.WithAllowNotFound(true))
	}
	if check != nil {
		in(*check, "/"+verdictFile, "/.llbgen-verdict")
	}
	var opts []llb.CopyOption
	hb := b.helperOf(bin)
	if t := b.fileTime(hb); t != nil {
		opts = append(opts, llb.WithCreatedTime(*t))
	} else {
		in(hb.modules, strings.TrimPrefix(hb.moduleFile(".info"), modCache), "/.llbgen-info")
	}
	for _, f := range []string{"", BuildInfoSuffix} {
		fa = copyAfter(fa, finished, "/"+hb.binName()+f, "/"+bin.FileName()+f, opts...)
	}
	return llb.Scratch().File(fa, llb.WithCustomName(name), b.mark(binary(KindDeliver, bin, b.platformOf(bin)), bin.Target.Lines))
}

// fileTime is the time every delivered file gets when the run fixes it:
// SOURCE_DATE_EPOCH, else a lock's version time; nil when the files carry
// the helper version's time from the module proxy. A lock's time that does
// not parse leaves it nil: the compile (or finish) stage fails on it,
// saying so.
func (b *builder) fileTime(hb *helperBuild) *time.Time {
	switch {
	case b.opt.SourceDateEpoch != nil:
		t := time.Unix(*b.opt.SourceDateEpoch, 0).UTC()
		return &t
	case hb.locked.Sum != "" && hb.locked.Time != "":
		t, err := time.Parse(time.RFC3339, hb.locked.Time)
		if err != nil {
			return nil
		}
		return &t
	}
	return nil
}

// toolMain is the stage tool's command: its package, run as llbgen runs
// itself as the stage tool.
const toolMain = `package main

import (
	"os"

	"llbgen.invalid/stagetool"
)

func main() { os.Exit(stagetool.Main(os.Args)) }
`

// toolFiles is the stage tool's source, tests left out, in name order, and
// its command (toolMain) at cmd/main.go.
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
	fa = fa.Mkdir("/cmd", 0o755).Mkfile("/cmd/main.go", 0o644, []byte(toolMain))
	return llb.Scratch().File(fa, llb.WithCustomName("stage tool source"), mark)
}
