package daemon

import (
	"context"
	"fmt"

	"github.com/containerd/platforms"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/targets"
)

// prepared is the graph of the binaries whose images resolved.
type prepared struct {
	g   *graph.Graph
	idx map[string]int // binary name -> index in results
}

// prepare resolves the images and makes the graph of what can be built;
// binaries whose images did not resolve get their cause. The graph is nil
// when nothing can be built.
func (s *solve) prepare(ctx context.Context, gc gateway.Client) (*prepared, error) {
	resolved, unresolved := s.images(ctx, gc)
	goKey := graph.ImageKey{Ref: s.list.Go.Full, Platform: platforms.Format(s.worker.platform)}
	if err, bad := unresolved[goKey]; bad {
		for i := range s.results {
			s.results[i].Cause = ImageCause("toolchain image", s.list.Go.Ref, err)
		}
		return nil, ctx.Err()
	}
	good := *s.list
	good.Targets = nil
	p := &prepared{idx: map[string]int{}}
	i := 0
	for _, t := range s.list.Targets {
		bins := t.Binaries()
		cause := ""
		for k, b := range bins {
			for _, key := range imagesOf(s.list, b, s.worker.platform) {
				if err, bad := unresolved[key]; bad && cause == "" {
					name := key.Ref
					if key.Platform != platforms.Format(s.worker.platform) {
						name += " (" + key.Platform + ")"
					}
					cause = ImageCause(imageRole(s.list, t, key), name, err)
				}
			}
			s.results[i+k].Digest = resolved[graph.ImageKey{Ref: t.Image.Full, Platform: s.results[i+k].Platform}].Digest
			if pl := s.results[i+k].Platform; t.Cgo && cause == "" && b.Platform != nil && !s.worker.canRun(*b.Platform) {
				cause = fmt.Sprintf("a cgo target compiles on its own platform, and the daemon cannot run %s (no emulator); give it QEMU user emulation, or build %s without cgo", pl, pl)
			}
		}
		if cause != "" {
			// A target's files are built together or not at all.
			for k := range bins {
				s.results[i+k].Cause = cause
			}
		} else {
			good.Targets = append(good.Targets, t)
			for k, b := range bins {
				p.idx[b.Name] = i + k
			}
		}
		i += len(bins)
	}
	if len(good.Targets) == 0 {
		return nil, ctx.Err()
	}
	g, err := graph.Define(&good, s.opt.graphOptions(s.worker, resolved))
	if err != nil {
		return nil, fmt.Errorf("making the graph: %w", err)
	}
	p.g = g
	return p, nil
}

// imageRole names what an image is to a target in messages: its own
// "image", or the "toolchain image" (the go image, unless it is the
// target's own).
func imageRole(list *targets.List, t targets.Target, k graph.ImageKey) string {
	if k.Ref == list.Go.Full && k.Ref != t.Image.Full {
		return "toolchain image"
	}
	return "image"
}

// imagesOf lists the images one binary's stages use, besides the
// toolchain on the daemon's platform.
func imagesOf(list *targets.List, b targets.Binary, def ocispecs.Platform, target ...ocispecs.Platform) []graph.ImageKey {
	one := *list
	t := b.Target
	if b.Platform != nil {
		t.Platforms = []targets.Platform{{Platform: *b.Platform}}
	}
	one.Targets = []targets.Target{t}
	return graph.Images(&one, def, target...)
}

// images resolves the list's images on the daemon, or takes them from the
// lock.
func (s *solve) images(ctx context.Context, gc gateway.Client) (map[graph.ImageKey]graph.Resolved, map[graph.ImageKey]error) {
	if s.opt.Lock != nil {
		return s.opt.Lock.Resolved(), nil
	}
	return ResolveImages(ctx, gc, graph.Images(s.list, s.worker.platform))
}
