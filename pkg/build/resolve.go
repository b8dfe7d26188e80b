package build

import (
	"context"
	"sync"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
)

// ResolveImages resolves every image on the daemon (in parallel), with the
// session's registry credentials. It returns what resolved and, per full
// reference, why the others did not.
func ResolveImages(ctx context.Context, c gateway.Client, refs []string) (map[string]graph.Resolved, map[string]error) {
	p := graph.Platform()
	var mu sync.Mutex
	ok := map[string]graph.Resolved{}
	failed := map[string]error{}
	var wg sync.WaitGroup
	for _, ref := range refs {
		if _, seen := ok[ref]; seen {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, dgst, cfg, err := c.ResolveImageConfig(ctx, ref, sourceresolver.Opt{
				ImageOpt: &sourceresolver.ResolveImageOpt{Platform: &p},
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed[ref] = err
				return
			}
			ok[ref] = graph.Resolved{Digest: dgst, Config: cfg}
		}()
	}
	wg.Wait()
	return ok, failed
}
