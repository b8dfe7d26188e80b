package daemon

import (
	"context"
	"fmt"
	"strings"
	"time"

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
	ctx, cancel := context.WithTimeout(ctx, sumsTimeout)
	defer cancel()
	err := ss.session(ctx, func(ctx context.Context, gc gateway.Client) (*gateway.Result, error) {
		for key, h := range helpers {
			sum, err := s.moduleSum(ctx, gc, p, h)
			if err != nil {
				sums[key] = ""
				s.sumErrs[key] = OneLine(err.Error())
				continue
			}
			sums[key] = sum
		}
		return nil, nil
	}, sessionOpt{name: "llbgen module sums"})
	for key := range helpers {
		if _, ok := sums[key]; !ok && err != nil {
			s.sumErrs[key] = OneLine(err.Error())
		}
	}
	return sums
}

// sumsTimeout bounds the reading of the module hashes: the download is on
// the daemon already (the compiles mounted it), unless its result was
// loaded from an imported cache or collected; then it runs again.
const sumsTimeout = 2 * time.Minute

// moduleSum reads helper h's module hash.
func (s *solve) moduleSum(ctx context.Context, gc gateway.Client, p *prepared, h targets.Helper) (string, error) {
	mods, err := graph.Modules(p.pl.List, h, p.pl.Graph)
	if err != nil {
		return "", err
	}
	def, err := s.definition(ctx, func() (llb.State, error) { return mods, nil })
	if err != nil {
		return "", err
	}
	// not solveDef: a failure here is no binary's
	res, err := gc.Solve(ctx, gateway.SolveRequest{Definition: def, Evaluate: true})
	if err != nil {
		return "", fmt.Errorf("reading the module hash of %s: %w", graph.ModuleKey(h), err)
	}
	ref, err := res.SingleRef()
	if err != nil {
		return "", err
	}
	// the module cache's own file: "h1:" and 44 characters of base64
	data, err := ref.ReadFile(ctx, gateway.ReadRequest{Filename: graph.ModuleFile(h, ".ziphash"), Range: &gateway.FileRange{Length: 128}})
	if err != nil {
		return "", fmt.Errorf("reading the module hash of %s: %w", graph.ModuleKey(h), err)
	}
	sum := strings.TrimSpace(string(data))
	if !strings.HasPrefix(sum, "h1:") || len(sum) != len("h1:")+44 {
		return "", fmt.Errorf("the module hash of %s is not an h1: hash (%d bytes)", graph.ModuleKey(h), len(data))
	}
	return sum, nil
}
