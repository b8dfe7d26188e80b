package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb"
	gateway "github.com/moby/buildkit/frontend/gateway/client"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/lock"
	"github.com/llbgen/llbgen/pkg/targets"
)

// Lock resolves every input of list on the daemon: each image to its
// manifest digest for its platform (the daemon's, or a target's), and the
// helper module to its hash, as the download stage (checksum database on)
// fetched it. Every image must resolve, and the go image must hold a
// toolchain (plan.Make, with Locking).
func Lock(ctx context.Context, list *targets.List, opt Options) (*lock.File, error) {
	opt.Plan.Locking, opt.Provenance = true, false
	var f *lock.File
	var col *collector
	err := Session(ctx, opt, func(c *collector, d worker) gateway.BuildFunc {
		col = c
		return func(ctx context.Context, gc gateway.Client) (*gateway.Result, error) {
			var err error
			f, err = resolveLock(ctx, gc, list, opt, d)
			return nil, err
		}
	}, "")
	if err != nil {
		if cause, ok := col.stageCause(list, err); ok {
			return nil, errors.New(cause)
		}
		return nil, err
	}
	return f, nil
}

func resolveLock(ctx context.Context, gc gateway.Client, list *targets.List, opt Options, d worker) (*lock.File, error) {
	p, err := makePlan(ctx, opt.planInput(list), d.facts(gc))
	if err != nil {
		return nil, err
	}
	platform := p.Graph.Platform
	f := &lock.File{Platform: platforms.Format(platform), Images: map[string]string{}}
	var pins []lock.Helper
	seen := map[string]bool{}
	for _, h := range p.List.Helpers {
		if seen[graph.ModuleKey(h)] {
			continue // two helpers of one module version: one pin
		}
		seen[graph.ModuleKey(h)] = true
		pin, err := lockModule(ctx, gc, p.List, h, p.Graph)
		if err != nil {
			return nil, err
		}
		pins = append(pins, pin)
	}
	f.SetModules(pins)
	for k, r := range p.Graph.Images {
		f.Set(k, r.Digest.String())
	}
	return f, nil
}

// lockModule downloads helper h's module and reads its pin: its h1: hash,
// and its version's time and origin commit from the module proxy.
func lockModule(ctx context.Context, gc gateway.Client, list *targets.List, h targets.Helper, opt graph.Options) (lock.Helper, error) {
	mod := graph.ModuleKey(h)
	mods, err := graph.Modules(list, h, opt)
	if err != nil {
		return lock.Helper{}, err
	}
	def, err := mods.Marshal(ctx, llb.Platform(opt.Platform))
	if err != nil {
		return lock.Helper{}, fmt.Errorf("marshalling the download of %s: %w", mod, err)
	}
	res, err := gc.Solve(ctx, gateway.SolveRequest{Definition: def.ToPB(), Evaluate: true})
	if err != nil {
		return lock.Helper{}, fmt.Errorf("downloading the helper module %s: %w", mod, err)
	}
	ref, err := res.SingleRef()
	if err != nil {
		return lock.Helper{}, fmt.Errorf("downloading the helper module %s: %w", mod, err)
	}
	sum, err := ref.ReadFile(ctx, gateway.ReadRequest{Filename: graph.ModuleFile(h, ".ziphash")})
	if err != nil {
		return lock.Helper{}, fmt.Errorf("reading the hash of %s: %w", mod, err)
	}
	pin := lock.Helper{Module: h.Spec().Module, Version: h.Version, Sum: strings.TrimSpace(string(sum))}
	if data, err := ref.ReadFile(ctx, gateway.ReadRequest{Filename: graph.ModuleFile(h, ".info"), Range: &gateway.FileRange{Length: maxInfoBytes + 1}}); err == nil {
		if pin.Time, pin.Commit, err = proxyInfo(pin.Module, h.Version, data); err != nil {
			return lock.Helper{}, err
		}
	}
	return pin, nil
}

// maxInfoBytes bounds the module proxy's .info file (a version, a time and
// an origin: a few hundred bytes).
const maxInfoBytes = 64 << 10

// proxyInfo takes the version's time and origin commit from the module
// proxy's .info file, as the lock records them. The proxy is not trusted:
// a commit that is not a full hash (it would reach the linker's flags) or
// a time the exported files cannot carry fails the lock, naming the
// proxy's value, rather than being written into a lock that every build
// would then refuse. A missing commit is fine (proxy.golang.org reports
// none for the helper module); one that is there must be right.
func proxyInfo(mod, version string, data []byte) (when, commit string, err error) {
	what := fmt.Sprintf("the module proxy's %s@%s.info", mod, version)
	if len(data) > maxInfoBytes {
		return "", "", fmt.Errorf("%s is more than %d bytes; check GOPROXY", what, maxInfoBytes)
	}
	var info struct {
		Time   string
		Origin *struct{ Hash string }
	}
	if err := json.Unmarshal(data, &info); err != nil {
		return "", "", fmt.Errorf("%s: %v; check GOPROXY", what, err)
	}
	if info.Origin != nil {
		commit = info.Origin.Hash
	}
	if err := lock.CheckTime(info.Time); err != nil {
		return "", "", fmt.Errorf("%s: %w; check GOPROXY, no lock was written", what, err)
	}
	if err := lock.CheckCommit(commit); err != nil {
		return "", "", fmt.Errorf("%s: origin %w; check GOPROXY, no lock was written", what, err)
	}
	return info.Time, commit, nil
}
