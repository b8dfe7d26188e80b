package frontend

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/moby/buildkit/client/llb"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/solver/pb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/plan"
	"github.com/llbgen/llbgen/pkg/publish"
)

// ArgPublish makes the build's result an image of the list's publish:
// block in place of the binaries: a target's name gives its job image,
// publish.HelpersImage the helpers image. The result carries the image's
// name, which an image exporter given name=* takes:
//
//	--output type=image,name=*,push=true,oci-mediatypes=true
const ArgPublish = "PUBLISH"

// publishArgs narrows the build to what PUBLISH needs: a job image needs
// its target alone.
func publishArgs(args map[string]string) (map[string]string, error) {
	what := strings.TrimSpace(args[ArgPublish])
	if what == "" {
		return args, nil
	}
	if what == publish.HelpersImage {
		if names := strings.TrimSpace(args[ArgTargets]); names != "" {
			return nil, &plan.Error{Err: fmt.Errorf("build-arg:%s=%s is every binary of the list, under the list's one name; build-arg:%s=%s would push some of them under it: leave %s out", ArgPublish, what, ArgTargets, names, ArgTargets), BadInput: true}
		}
		return args, nil
	}
	if names := strings.TrimSpace(args[ArgTargets]); names != "" {
		found := false
		for _, n := range strings.Split(names, ",") {
			found = found || strings.TrimSpace(n) == what
		}
		if !found {
			return nil, &plan.Error{Err: fmt.Errorf("build-arg:%s=%s names a target that build-arg:%s=%s leaves out", ArgPublish, what, ArgTargets, names), BadInput: true}
		}
	}
	out := make(map[string]string, len(args)+1)
	for k, v := range args {
		out[k] = v
	}
	out[ArgTargets] = what
	return out, nil
}

// image builds the image PUBLISH names as the build's result.
func image(ctx context.Context, c gateway.Client, p *plan.Plan, what string) (*gateway.Result, error) {
	g, err := graph.Define(p.List, p.Graph)
	if err != nil {
		return nil, err
	}
	imgs, err := publish.Images(p.List, p.PlatformOf)
	if err != nil {
		return nil, err
	}
	if len(imgs) == 0 {
		return nil, &plan.Error{Err: fmt.Errorf("build-arg:%s=%s: %s has no publish: block naming images; add e.g. `publish: {images: \"registry.example.com/ci/{repo}:{tag}-ecr-login\"}`", ArgPublish, what, p.List.File), BadInput: true}
	}
	sel, err := publish.Select(imgs, []string{what})
	if err != nil {
		return nil, &plan.Error{Err: fmt.Errorf("build-arg:%s: %w", ArgPublish, err), BadInput: true}
	}
	marshal := func(st llb.State, pf ocispecs.Platform) (*pb.Definition, error) {
		def, err := st.Marshal(ctx, llb.Platform(pf))
		if err != nil {
			return nil, fmt.Errorf("marshalling the graph: %w", err)
		}
		return def.ToPB(), nil
	}
	epoch := p.Graph.SourceDateEpoch
	if epoch == nil {
		// As llbgen build dates them: the binaries' own time (the
		// helper version's).
		if epoch, err = binaryTime(ctx, c, g, sel[0], marshal, p); err != nil {
			return nil, err
		}
	}
	parts, err := publish.Parts(publish.Inputs{
		List:     p.List,
		Graph:    g,
		Images:   p.Graph.Images,
		Epoch:    epoch,
		Marshal:  marshal,
		ReadFile: publish.FileReader(ctx, c, marshal),
		Hash:     publish.Hasher(ctx, c, marshal),
	}, sel[0])
	if err != nil {
		return nil, err
	}
	return publish.Result(ctx, c, sel[0], parts)
}

// binaryTime is the time of img's first binary as delivered: the time
// llbgen build dates the images by when SOURCE_DATE_EPOCH is unset.
func binaryTime(ctx context.Context, c gateway.Client, g *graph.Graph, img publish.Image, marshal func(llb.State, ocispecs.Platform) (*pb.Definition, error), p *plan.Plan) (*int64, error) {
	bin := img.Binaries[0]
	ref, err := publish.SolveRef(ctx, c, marshal, g.Delivered[bin.Name], p.PlatformOf(bin))
	if err != nil {
		return nil, err
	}
	st, err := ref.StatFile(ctx, gateway.StatRequest{Path: "/" + bin.FileName()})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", img.What(), err)
	}
	t := time.Unix(0, st.ModTime).Unix()
	return &t, nil
}
