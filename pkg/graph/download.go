package graph

import (
	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	"golang.org/x/mod/module"

	"github.com/llbgen/llbgen/pkg/targets"
)

// modCache is where the downloaded modules are mounted in every stage.
const modCache = "/llbgen/gomod"

// moduleDir is the helper module's source inside the module cache.
func (hb *helperBuild) moduleDir() string {
	return modCache + "/" + hb.spec.CacheDir() + "@" + escapedVersion(hb.version())
}

// escapedVersion is version as the module cache writes it: capitals
// escaped ("v1.0.0-RC1" is "v1.0.0-!r!c1"). A list's version is a checked
// semantic version, which always escapes.
func escapedVersion(version string) string {
	v, err := module.EscapeVersion(version)
	if err != nil {
		return version
	}
	return v
}

// download fetches the helper module, then every module its build needs,
// into a fresh module cache. The checksum database stays on (CheckSumDB
// refuses settings that would skip it for the helper): the helper is checked
// against it, its dependencies against its go.sum, which `go mod download`
// run inside the module always consults.
func (b *builder) download(goImg llb.State, hb *helperBuild) llb.State {
	mod := ModuleKey(hb.h)
	base := goImg.With(b.goEnv(), b.passThrough()).
		AddEnv("GOMODCACHE", modCache).
		AddEnv("GOFLAGS", "-mod=mod")
	// Both run the go image's own go: placed at the helper: line (what is
	// fetched) and the go: line (what fetches it).
	fetch := base.Run(append([]llb.RunOption{
		llb.Args(append([]string{goBin, "mod", "download"}, append(b.traceFlag(), mod)...)),
		llb.AddMount("/tmp", llb.Scratch(), llb.Tmpfs()),
		llb.WithCustomName("download " + mod),
		b.mark(b.downloadStage(mod), hb.h.Lines, b.list.GoLines),
	}, b.proxySecret()...)...)
	mods := fetch.AddMount(modCache, llb.Scratch())
	deps := base.Run(append([]llb.RunOption{
		llb.Args(append([]string{goBin, "-C", hb.moduleDir(), "mod", "download"}, b.traceFlag()...)),
		llb.AddMount("/tmp", llb.Scratch(), llb.Tmpfs()),
		llb.WithCustomName("download the dependencies of " + mod),
		b.mark(b.downloadStage(mod), hb.h.Lines, b.list.GoLines),
	}, b.proxySecret()...)...)
	return deps.AddMount(modCache, mods)
}

// downloadStage marks the download of mod; in a list of several helpers
// it names the module, so a failure says which.
func (b *builder) downloadStage(mod string) Stage {
	if len(b.list.Helpers) > 1 {
		return Stage{Kind: KindDownload, Module: mod}
	}
	return Stage{Kind: KindDownload}
}

// traceFlag is -x, which prints every fetch (`# get URL`) to the progress
// output, when GOPROXY is plain text. Not when it comes from the secret:
// Go hides only a URL's password there, and in bake and the frontend
// llbgen never sees the secret to refuse a token in the user name. Nothing
// reads the trace (pkg/daemon's cause reads the last "go: " line, which Go
// prints either way).
func (b *builder) traceFlag() []string {
	if fromSecret, _ := b.proxyFromSecret(); fromSecret {
		return nil
	}
	return []string{"-x"}
}

// moduleFile is a file of the helper module in the module cache's download
// directory: ".info", ".ziphash", ...
func (hb *helperBuild) moduleFile(ext string) string {
	return modCache + "/" + ModuleFile(hb.h, ext)
}

// checkModule holds the build to the locked module hash, when there is one.
func (b *builder) checkModule(goImg, tool, modules llb.State, hb *helperBuild) llb.State {
	if hb.locked.Sum == "" {
		return modules
	}
	name := "check the helper module against the lock"
	if len(b.list.Helpers) > 1 {
		name = "check " + ModuleKey(hb.h) + " against the lock"
	}
	run := goImg.User("0:0").Dir("/").Network(pb.NetMode_NONE).Run(
		llb.Args([]string{toolBin, "modsum", "-ziphash", hb.moduleFile(".ziphash"), "-want", hb.locked.Sum}),
		llb.AddMount(toolDir, tool, llb.Readonly),
		llb.WithCustomName(name),
		b.mark(Stage{Kind: KindModuleCheck}, hb.h.Lines),
	)
	return run.AddMount(modCache, modules)
}

// passThrough copies the module-fetching settings given to llbgen, in a fixed
// order so the definition does not depend on map order. A GOPROXY that
// comes from a secret is left out: it is never plain text.
func (b *builder) passThrough() llb.StateOption {
	fromSecret, _ := b.proxyFromSecret()
	return func(s llb.State) llb.State {
		for _, k := range PassThroughEnv {
			if k == "GOPROXY" && fromSecret {
				continue
			}
			if v, ok := b.opt.Env[k]; ok && v != "" {
				s = s.AddEnv(k, v)
			}
		}
		return s
	}
}

// ModuleFile is the path, inside the module cache that Modules returns, of
// a file the module proxy served for the helper: ".info", ".ziphash", ...
func ModuleFile(h targets.Helper, ext string) string {
	return "cache/download/" + h.Spec().CacheDir() + "/@v/" + escapedVersion(h.Version) + ext
}

// Modules is the download stage of helper h alone: the module cache
// holding it and every module its build needs, checked against the Go
// checksum database. `llbgen lock` reads the helper's hash from it.
func Modules(list *targets.List, h targets.Helper, opt Options) (llb.State, error) {
	if opt.Platform.OS == "" {
		opt.Platform = DefaultPlatform()
	}
	if err := CheckSumDB(opt.Env, h.Spec().Module, false, ""); err != nil {
		return llb.State{}, err
	}
	opt.Platform = platforms.Normalize(opt.Platform)
	b := newBuilder(list, opt)
	goImg, err := b.image(list.Go, opt.Platform)
	if err != nil {
		return llb.State{}, err
	}
	return b.download(goImg, &helperBuild{h: h, spec: h.Spec()}), nil
}
