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
)

// Cache is a run's remote build cache, as buildctl's --import-cache and
// --export-cache give it (BuildKit's own parsers read the flags).
type Cache struct {
	// Imports are read by every session of the run.
	Imports []client.CacheOptionsEntry
	// Exports receive, once the binaries were built, the cache of every
	// binary that was written, in one session: a session of its own per
	// binary would replace the others' in one ref. An inline export rides
	// in the pushed images instead.
	Exports []client.CacheOptionsEntry
}

// remote is the cache exports other than inline.
func (c Cache) remote() []client.CacheOptionsEntry {
	var out []client.CacheOptionsEntry
	for _, e := range c.Exports {
		if e.Type != "inline" {
			out = append(out, e)
		}
	}
	return out
}

// inline is the inline cache export, for the image sessions; nil when none.
func (c Cache) inline() []client.CacheOptionsEntry {
	for _, e := range c.Exports {
		if e.Type == "inline" {
			return []client.CacheOptionsEntry{e}
		}
	}
	return nil
}

// exportCache exports the cache of every binary that was written: one
// session whose result holds each of them as a ref of its own.
func (s *solve) exportCache(ctx context.Context, ss sessions, p *prepared) error {
	exports := s.opt.Cache.remote()
	if len(exports) == 0 || !s.anyWritten() {
		return nil
	}
	err := ss.cacheSession(ctx, func(ctx context.Context, gc gateway.Client) (*gateway.Result, error) {
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
	}, exports)
	if err != nil {
		// BuildKit's client says "failed to solve: " first; the cause is
		// what follows.
		msg := strings.TrimPrefix(err.Error(), "failed to solve: ")
		return fmt.Errorf("exporting the build cache (%s): %s", cacheNames(exports), msg)
	}
	return nil
}

// cacheNames says where exports go, for messages: "registry
// ref=reg/x:cache".
func cacheNames(exports []client.CacheOptionsEntry) string {
	var out string
	for i, e := range exports {
		if i > 0 {
			out += ", "
		}
		out += e.Type
		for _, k := range []string{"ref", "dest", "src", "name"} {
			if v, ok := e.Attrs[k]; ok {
				out += " " + k + "=" + v
			}
		}
	}
	return out
}
