package build

import (
	"context"
	"sync"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// ResolveImages resolves every image for platform on the daemon, in
// parallel, with the session's registry credentials. It returns what
// resolved and, per full reference, why the others did not.
func ResolveImages(ctx context.Context, c gateway.Client, refs []string, platform ocispecs.Platform) (map[string]graph.Resolved, map[string]error) {
	unique := map[string]bool{}
	for _, ref := range refs {
		unique[ref] = true
	}
	var mu sync.Mutex
	ok := map[string]graph.Resolved{}
	failed := map[string]error{}
	var wg sync.WaitGroup
	for ref := range unique {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := platform
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
