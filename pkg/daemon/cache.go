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
// session whose result holds, as refs of their own, what the binaries'
// sessions solved (cacheParts). With mode=max an importing run of llbgen
// build finds every stage of them; with the default mode=min, the
// compiles and the verdicts, and runs the checks again.
func (s *solve) exportCache(ctx context.Context, ss sessions, p *prepared) error {
	exports := s.opt.Cache.Exports
	if len(exports) == 0 || !s.anyWritten() {
		return nil
	}
	err := ss.cacheSession(ctx, func(ctx context.Context, gc gateway.Client) (*gateway.Result, error) {
		return s.writtenResult(ctx, gc, p, cacheParts(p))
	}, exports)
	if err != nil {
		// BuildKit's client says "failed to solve: " first; the cause is
		// what follows.
		msg := strings.TrimPrefix(plan.FirstLine(err.Error()), "failed to solve: ")
		return fmt.Errorf("exporting the build cache (%s): %s", strings.Join(CacheNames(exports), ", "), msg)
	}
	return nil
}

// part is one state of a binary that a result holds as a ref, under id.
type part struct {
	id string
	st llb.State
}

// deliveredPart is a binary's delivery, its files under its name: what an
// SBOM generator scans.
func deliveredPart(p *prepared) func(Result) []part {
	return func(r Result) []part {
		return []part{{r.Binary.Name, p.g.Delivered[r.Binary.Name]}}
	}
}

// cacheParts are what llbgen build solved for a binary (binaryParts): its
// finished files, and its check, as its verdict alone (graph.Verdict): a
// check's output is the image's to fill, and a cache export, whatever its
// mode, holds its results.
func cacheParts(p *prepared) func(Result) []part {
	return func(r Result) []part {
		name := r.Binary.Name
		parts := []part{{name + " files", p.g.Finished[name].State}}
		if v, ok := p.g.Verdict(name); ok {
			parts = append(parts, part{name + " verdict", v})
		}
		return parts
	}
}

// writtenResult solves, for every binary that was written, the states
// parts gives, each as a ref of its own in one result, named by its id,
// with the binary's platform (exptypes.ExporterPlatformsKey): what a cache
// export or an SBOM generator takes per binary.
func (s *solve) writtenResult(ctx context.Context, gc gateway.Client, p *prepared, parts func(Result) []part) (*gateway.Result, error) {
	res := gateway.NewResult()
	var ps exptypes.Platforms // BuildKit wants each ref's platform
	for _, r := range s.results {
		i, ok := p.idx[r.Binary.Name]
		if !ok || s.errs[i] != nil || !r.Written() {
			continue
		}
		for _, pt := range parts(r) {
			one, err := s.evaluate(ctx, gc, func() (llb.State, error) { return pt.st, nil })
			if err != nil {
				return nil, err
			}
			ref, err := one.SingleRef()
			if err != nil {
				return nil, err
			}
			res.AddRef(pt.id, ref)
			ps.Platforms = append(ps.Platforms, exptypes.Platform{ID: pt.id, Platform: p.pl.PlatformOf(r.Binary)})
		}
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
