package daemon

import (
	"context"
	"strings"

	"github.com/moby/buildkit/client/llb"
	gateway "github.com/moby/buildkit/frontend/gateway/client"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/targets"
)

// moduleSums reads, in one session, the h1: hash of each helper module a
// written binary was built from, from its download stage (solved already:
// the binaries' compiles mounted it), as `llbgen lock` reads it. What
// cannot be read is left out: the binaries are built, and the record says
// what it knows.
func (s *solve) moduleSums(ctx context.Context, ss sessions, p *prepared) map[string]string {
	helpers := map[string]targets.Helper{}
	for _, r := range s.results {
		key := graph.ModuleKey(r.Binary.Helper)
		if r.Written() && p.pl.Graph.Locked[key].Sum == "" { // a lock's is known
			helpers[key] = r.Binary.Helper
		}
	}
	if len(helpers) == 0 {
		return nil
	}
	sums := map[string]string{}
	_ = ss.session(ctx, func(ctx context.Context, gc gateway.Client) (*gateway.Result, error) {
		for key, h := range helpers {
			if sum, ok := s.moduleSum(ctx, gc, p, h); ok {
				sums[key] = sum
			}
		}
		return nil, nil
	}, sessionOpt{name: "llbgen module sums"})
	return sums
}

// moduleSum reads helper h's module hash; ok is false when it cannot.
func (s *solve) moduleSum(ctx context.Context, gc gateway.Client, p *prepared, h targets.Helper) (string, bool) {
	mods, err := graph.Modules(p.pl.List, h, p.pl.Graph)
	if err != nil {
		return "", false
	}
	res, err := s.evaluate(ctx, gc, func() (llb.State, error) { return mods, nil })
	if err != nil {
		return "", false
	}
	ref, err := res.SingleRef()
	if err != nil {
		return "", false
	}
	// the module cache's own file: "h1:" and 44 characters of base64
	data, err := ref.ReadFile(ctx, gateway.ReadRequest{Filename: graph.ModuleFile(h, ".ziphash"), Range: &gateway.FileRange{Length: 128}})
	if err != nil {
		return "", false
	}
	sum := strings.TrimSpace(string(data))
	if !strings.HasPrefix(sum, "h1:") || len(sum) != len("h1:")+44 {
		return "", false
	}
	return sum, true
}
