package graph

import (
	"github.com/llbgen/llbgen/pkg/targets"
	"github.com/moby/buildkit/client/llb"
)

// modCache is where the downloaded modules are mounted in every stage.
const modCache = "/llbgen/gomod"

// moduleDir is the helper module's source inside the module cache.
func (b *builder) moduleDir() string {
	return modCache + "/" + targets.HelperModule + "@" + b.list.Helper.Version
}

// download fetches the helper module, then every module its build needs,
// into a fresh module cache. The checksum database stays on: the helper is
// checked against it, its dependencies against its go.sum.
func (b *builder) download(goImg llb.State) llb.State {
	mod := targets.HelperModule + "@" + b.list.Helper.Version
	base := goImg.With(b.goEnv(), b.passThrough()).
		AddEnv("GOMODCACHE", modCache).
		AddEnv("GOFLAGS", "-mod=mod")
	fetch := base.Run(
		llb.Args([]string{goBin, "mod", "download", "-x", mod}),
		llb.AddMount("/tmp", llb.Scratch(), llb.Tmpfs()),
		llb.WithCustomName("download "+mod),
	)
	mods := fetch.AddMount(modCache, llb.Scratch())
	deps := base.Run(
		llb.Args([]string{goBin, "-C", b.moduleDir(), "mod", "download", "-x"}),
		llb.AddMount("/tmp", llb.Scratch(), llb.Tmpfs()),
		llb.WithCustomName("download the dependencies of "+mod),
	)
	return deps.AddMount(modCache, mods)
}

// passThrough copies the module-fetching settings given to llbgen, in a fixed
// order so the definition does not depend on map order.
func (b *builder) passThrough() llb.StateOption {
	return func(s llb.State) llb.State {
		for _, k := range PassThroughEnv {
			if v, ok := b.opt.Env[k]; ok && v != "" {
				s = s.AddEnv(k, v)
			}
		}
		return s
	}
}
