package graph

import (
	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"

	"github.com/llbgen/llbgen/pkg/targets"
)

// modCache is where the downloaded modules are mounted in every stage.
const modCache = "/llbgen/gomod"

// moduleDir is the helper module's source inside the module cache.
func (b *builder) moduleDir() string {
	return modCache + "/" + b.spec.CacheDir() + "@" + b.list.Helper.Version
}

// download fetches the helper module, then every module its build needs,
// into a fresh module cache. The checksum database stays on (CheckSumDB
// refuses settings that would skip it for the helper): the helper is checked
// against it, its dependencies against its go.sum, which `go mod download`
// run inside the module always consults.
func (b *builder) download(goImg llb.State) llb.State {
	mod := b.spec.Module + "@" + b.list.Helper.Version
	base := goImg.With(b.goEnv(), b.passThrough()).
		AddEnv("GOMODCACHE", modCache).
		AddEnv("GOFLAGS", "-mod=mod")
	// Both run the go image's own go: placed at the helper: line (what is
	// fetched) and the go: line (what fetches it).
	fetch := base.Run(append([]llb.RunOption{
		llb.Args(append([]string{goBin, "mod", "download"}, append(b.traceFlag(), mod)...)),
		llb.AddMount("/tmp", llb.Scratch(), llb.Tmpfs()),
		llb.WithCustomName("download " + mod),
		b.mark(Stage{Kind: KindDownload}, b.list.Helper.Lines, b.list.GoLines),
	}, b.proxySecret()...)...)
	mods := fetch.AddMount(modCache, llb.Scratch())
	deps := base.Run(append([]llb.RunOption{
		llb.Args(append([]string{goBin, "-C", b.moduleDir(), "mod", "download"}, b.traceFlag()...)),
		llb.AddMount("/tmp", llb.Scratch(), llb.Tmpfs()),
		llb.WithCustomName("download the dependencies of " + mod),
		b.mark(Stage{Kind: KindDownload}, b.list.Helper.Lines, b.list.GoLines),
	}, b.proxySecret()...)...)
	return deps.AddMount(modCache, mods)
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
func (b *builder) moduleFile(ext string) string {
	return modCache + "/" + ModuleFile(b.list.Helper, ext)
}

// checkModule holds the build to the locked module hash, when there is one.
func (b *builder) checkModule(goImg, tool, modules llb.State) llb.State {
	if b.opt.ModuleSum == "" {
		return modules
	}
	run := goImg.User("0:0").Dir("/").Network(pb.NetMode_NONE).Run(
		llb.Args([]string{toolBin, "modsum", "-ziphash", b.moduleFile(".ziphash"), "-want", b.opt.ModuleSum}),
		llb.AddMount(toolDir, tool, llb.Readonly),
		llb.WithCustomName("check the helper module against the lock"),
		b.mark(Stage{Kind: KindModuleCheck}, b.list.Helper.Lines),
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
	return "cache/download/" + h.Spec().CacheDir() + "/@v/" + h.Version + ext
}

// Modules is the download stage alone: the module cache holding the helper
// and every module its build needs, checked against the Go checksum
// database. `llbgen lock` reads the helper's hash from it.
func Modules(list *targets.List, opt Options) (llb.State, error) {
	if opt.Platform.OS == "" {
		opt.Platform = DefaultPlatform()
	}
	if err := CheckSumDB(opt.Env, false, ""); err != nil {
		return llb.State{}, err
	}
	opt.Platform = platforms.Normalize(opt.Platform)
	b := newBuilder(list, opt)
	goImg, err := b.image(list.Go, opt.Platform)
	if err != nil {
		return llb.State{}, err
	}
	return b.download(goImg), nil
}
