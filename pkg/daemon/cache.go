package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	gateway "github.com/moby/buildkit/frontend/gateway/client"

	"github.com/llbgen/llbgen/pkg/plan"
)

// Cache is a run's remote build cache, as buildctl's --import-cache and
// --export-cache give it (BuildKit's own parsers read the flags).
type Cache struct {
	// Imports are read by every session of the run.
	Imports []client.CacheOptionsEntry
	// Exports receive, once the output directory was committed, the cache
	// of every binary that was written, in one session: a session of its
	// own per binary would replace the others' in one ref.
	Exports []client.CacheOptionsEntry
}

// exportCache exports the cache of every binary that was written: one
// session whose result holds each of them as a ref of its own.
func (s *solve) exportCache(ctx context.Context, ss sessions, p *prepared) error {
	exports := s.opt.Cache.Exports
	if len(exports) == 0 || !s.anyWritten() {
		return nil
	}
	err := ss.cacheSession(ctx, func(ctx context.Context, gc gateway.Client) (*gateway.Result, error) {
		return s.writtenResult(ctx, gc, p)
	}, exports)
	if err != nil {
		// BuildKit's client says "failed to solve: " first; the cause is
		// what follows.
		msg := strings.TrimPrefix(plan.FirstLine(err.Error()), "failed to solve: ")
		return fmt.Errorf("exporting the build cache (%s): %s", strings.Join(CacheNames(exports), ", "), msg)
	}
	return nil
}

// writtenResult solves every binary that was written, each as a ref of its
// own in one result, named by the binary's name, with its platform
// (exptypes.ExporterPlatformsKey): what a cache export or an SBOM
// generator takes per binary.
func (s *solve) writtenResult(ctx context.Context, gc gateway.Client, p *prepared) (*gateway.Result, error) {
	res := gateway.NewResult()
	var ps exptypes.Platforms // BuildKit wants each ref's platform
	for _, r := range s.results {
		i, ok := p.idx[r.Binary.Name]
		if !ok || s.errs[i] != nil || !r.Written() {
			continue
		}
		st := p.g.Delivered[r.Binary.Name]
		one, err := s.evaluate(ctx, gc, func() (llb.State, error) { return st, nil })
		if err != nil {
			return nil, err
		}
		ref, err := one.SingleRef()
		if err != nil {
			return nil, err
		}
		res.AddRef(r.Binary.Name, ref)
		ps.Platforms = append(ps.Platforms, exptypes.Platform{ID: r.Binary.Name, Platform: p.pl.PlatformOf(r.Binary)})
	}
	data, err := json.Marshal(ps)
	if err != nil {
		return nil, err
	}
	res.AddMeta(exptypes.ExporterPlatformsKey, data)
	return res, nil
}

// CacheNames says where caches are, for messages and records: "registry
// ref=reg/x:cache", one per entry; only the attributes that name a place.
func CacheNames(entries []client.CacheOptionsEntry) []string {
	var out []string
	for _, e := range entries {
		name := e.Type
		for _, k := range []string{"ref", "dest", "src"} {
			if v, ok := e.Attrs[k]; ok {
				name += " " + k + "=" + v
			}
		}
		out = append(out, name)
	}
	return out
}
