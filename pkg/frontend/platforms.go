package frontend

import (
	"context"
	"fmt"
	"strings"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/frontend/dockerui"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/llbgen/llbgen/pkg/lock"
	"github.com/llbgen/llbgen/pkg/plan"
	"github.com/llbgen/llbgen/pkg/targets"
)

// solvePlatforms builds a multi-platform request (several --platform
// values, or buildx's multi-platform attribute, which a multi-node
// builder sets on the part each node builds) as BuildKit's multi-platform
// result, through dockerui's Build: one result per platform, each the
// output directory that platform's binaries make, with the names llbgen
// build gives them (a target that names no platforms keeps its plain
// name; one that names several, its -OS-ARCH name) and a SHA256SUMS of
// its own. BuildKit's local exporter writes each into a directory of the
// platform (out/linux_amd64/, out/linux_arm64/), which is also where each
// node of a multi-node builder writes its part.
//
// Each platform's part is planned as a build for that platform alone: the
// targets that name no platforms, and of the others their binary of that
// platform.
func solvePlatforms(ctx context.Context, c gateway.Client, bc *dockerui.Client, req request) (*gateway.Result, error) {
	_, part := c.BuildOpts().Opts["multi-platform"] // a node's part of a build
	if err := checkPlatforms(req, !part); err != nil {
		return nil, withSource(err, req.file, req.data)
	}
	if len(req.targets) > 1 {
		// A lock pins one build platform: refused as the plan refuses
		// several --platform values with one.
		lk, err := readLock(ctx, c, req.file)
		if err != nil {
			return nil, err
		}
		if lk != nil {
			return nil, &plan.Error{Err: fmt.Errorf("%s pins one platform, the build asks for %s; name the platforms in the list (platforms: [...]) and run llbgen lock", lock.Path(req.file), formatPlatforms(req.targets)), BadInput: true}
		}
	}
	rb, err := bc.Build(ctx, func(ctx context.Context, pf *ocispecs.Platform, _ int) (*dockerui.BuildResult, error) {
		target := req.platform
		if pf != nil {
			target = platforms.Normalize(*pf)
		}
		r := req
		r.targets = []ocispecs.Platform{target}
		r.only = &target
		p, err := makePlan(ctx, c, r)
		if err != nil {
			return nil, withSource(err, req.file, req.data)
		}
		res, err := solve(ctx, c, p)
		if err != nil {
			return nil, err
		}
		ref, err := res.SingleRef()
		if err != nil {
			return nil, err
		}
		img := &dockerspec.DockerOCIImage{Image: ocispecs.Image{Platform: target}}
		return &dockerui.BuildResult{Reference: ref, Image: img}, nil
	})
	if err != nil {
		return nil, err
	}
	return rb.Finalize()
}

func formatPlatforms(ps []ocispecs.Platform) string {
	var out []string
	for _, p := range ps {
		out = append(out, platforms.Format(platforms.Normalize(p)))
	}
	return strings.Join(out, ", ")
}

// onlyPlatform is list with the binaries built for p: the targets that
// name no platforms, and of the others their binary for p, under its name
// in the whole list.
func onlyPlatform(list *targets.List, p ocispecs.Platform) (*targets.List, error) {
	want := platforms.Format(platforms.Normalize(p))
	l := list.Only(func(b targets.Binary) bool {
		return b.Platform == nil || platforms.Format(platforms.Normalize(*b.Platform)) == want
	})
	if l == nil {
		return nil, &plan.Error{Err: fmt.Errorf("no target of %s is built for %s: each names its platforms, and none names it; leave it out of --platform, or add it to a target's platforms", list.File, platforms.Format(p)), BadInput: true}
	}
	return l, nil
}

// checkPlatforms holds the list, built for every platform asked for, to
// the limits a list is held to (plan.WithPlatforms: the binaries and setup
// steps of all parts together). With all, the build's every platform is
// here (not a node's part of it): a target that names platforms none of
// which the build asks for is refused, as it would be left out.
func checkPlatforms(req request, all bool) error {
	list, err := targets.Parse(req.file, req.data)
	if err != nil {
		return err
	}
	if list, err = Select(list, req.args); err != nil {
		return err
	}
	if _, err := plan.TargetPlatforms(req.targets); err != nil {
		return &plan.Error{Err: err, BadInput: true}
	}
	if _, err := plan.WithPlatforms(list, req.targets); err != nil {
		return &plan.Error{Err: err, BadInput: true}
	}
	if !all {
		return nil
	}
	asked := map[string]bool{}
	var names []string
	for _, p := range req.targets {
		asked[platforms.Format(platforms.Normalize(p))] = true
		names = append(names, platforms.Format(platforms.Normalize(p)))
	}
	for _, t := range list.Targets {
		var its, left []string
		for _, tp := range t.Platforms {
			its = append(its, tp.String())
			if !asked[tp.String()] {
				left = append(left, tp.String())
			}
		}
		if len(left) > 0 {
			return &plan.Error{
				Err: fmt.Errorf("target %s is for %s, and the build asks for %s: its %s binary would be left out; add its platforms to --platform, or build it on its own",
					t.Name, strings.Join(its, ", "), strings.Join(names, ", "), strings.Join(left, ", ")),
				Lines:    []targets.Pos{t.Pos},
				BadInput: true,
			}
		}
	}
	return nil
}
