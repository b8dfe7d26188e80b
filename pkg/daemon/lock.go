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
	mods, err := graph.Modules(p.List, p.Graph)
	if err != nil {
		return nil, err
	}
	def, err := mods.Marshal(ctx, llb.Platform(platform))
	if err != nil {
		return nil, fmt.Errorf("marshalling the download: %w", err)
	}
	res, err := gc.Solve(ctx, gateway.SolveRequest{Definition: def.ToPB(), Evaluate: true})
	if err != nil {
		return nil, fmt.Errorf("downloading the helper module: %w", err)
	}
	ref, err := res.SingleRef()
	if err != nil {
		return nil, fmt.Errorf("downloading the helper module: %w", err)
	}
	sum, err := ref.ReadFile(ctx, gateway.ReadRequest{Filename: graph.ModuleFile(list.Helper, ".ziphash")})
	if err != nil {
		return nil, fmt.Errorf("reading the helper module's hash: %w", err)
	}
	f := &lock.File{
		Helper: lock.Helper{
			Module:  targets.HelperModule,
			Version: list.Helper.Version,
			Sum:     strings.TrimSpace(string(sum)),
		},
		Platform: platforms.Format(platform),
		Images:   map[string]string{},
	}
	if data, err := ref.ReadFile(ctx, gateway.ReadRequest{Filename: graph.ModuleFile(list.Helper, ".info"), Range: &gateway.FileRange{Length: maxInfoBytes + 1}}); err == nil {
		if f.Helper.Time, f.Helper.Commit, err = proxyInfo(list.Helper.Version, data); err != nil {
			return nil, err
		}
	}
	for k, r := range p.Graph.Images {
		f.Set(k, r.Digest.String())
	}
	return f, nil
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
func proxyInfo(version string, data []byte) (when, commit string, err error) {
	what := fmt.Sprintf("the module proxy's %s@%s.info", targets.HelperModule, version)
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
