package daemon

import (
	"context"
	"fmt"
	"sync"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/targets"
)

// ResolveImages resolves every image on its platform on the daemon, in
// parallel, with the session's registry credentials. It returns what
// resolved and, per image, why the others did not.
func ResolveImages(ctx context.Context, c gateway.Client, keys []graph.ImageKey) (map[graph.ImageKey]graph.Resolved, map[graph.ImageKey]error) {
	unique := map[graph.ImageKey]bool{}
	for _, k := range keys {
		unique[k] = true
	}
	var mu sync.Mutex
	ok := map[graph.ImageKey]graph.Resolved{}
	failed := map[graph.ImageKey]error{}
	var wg sync.WaitGroup
	for k := range unique {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := resolveImage(ctx, c, k)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed[k] = err
				return
			}
			ok[k] = r
		}()
	}
	wg.Wait()
	return ok, failed
}

func resolveImage(ctx context.Context, c gateway.Client, k graph.ImageKey) (graph.Resolved, error) {
	p, err := platforms.Parse(k.Platform)
	if err != nil {
		return graph.Resolved{}, fmt.Errorf("platform %q: %w", k.Platform, err)
	}
	_, dgst, cfg, err := c.ResolveImageConfig(ctx, k.Ref, sourceresolver.Opt{
		ImageOpt: &sourceresolver.ResolveImageOpt{Platform: &p},
	})
	if err != nil {
		return graph.Resolved{}, err
	}
	return graph.Resolved{Digest: dgst, Config: cfg}, nil
}

// UnresolvedTarget names the first binary of list, in list order, one of
// whose images did not resolve, and why; nil when none. def is the
// daemon's platform, target (zero: def) the one of targets naming none.
func UnresolvedTarget(list *targets.List, def, target ocispecs.Platform, unresolved map[graph.ImageKey]error) error {
	for _, b := range list.Binaries() {
		for _, k := range imagesOf(list, b, def, target) {
			if err, bad := unresolved[k]; bad {
				return fmt.Errorf("target %s (%s): %s", b.Target.Name, k.Platform, ImageCause(imageRole(list, b.Target, k), k.Ref, err))
			}
		}
	}
	return nil
}
