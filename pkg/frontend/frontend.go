// Package frontend runs llbgen inside BuildKit as a gateway frontend, so that
// `docker buildx bake` (or `buildx build -f targets.yaml`) builds a target
// list with nothing but Docker's tooling.
//
// The target list arrives as the build's "dockerfile". Build arguments:
//
//	TARGETS=name1,name2   build only these targets of the list
//	HELPER_VERSION=v...   override helper.version
//	GOPROXY, GONOSUMDB, GOPRIVATE, GOINSECURE   as llbgen's environment elsewhere
//
// The result is the same state the LLB path exports: every verified binary
// plus SHA256SUMS.
package frontend

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/llbgen/llbgen/pkg/build"
	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/targets"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/dockerui"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
)

// Build arguments the frontend reads.
const (
	ArgTargets       = "TARGETS"
	ArgHelperVersion = "HELPER_VERSION"
)

// Build is the gateway build function.
func Build(ctx context.Context, c gateway.Client) (*gateway.Result, error) {
	bc, err := dockerui.NewClient(c)
	if err != nil {
		return nil, fmt.Errorf("reading the build options: %w", err)
	}
	src, err := bc.ReadEntrypoint(ctx, "YAML")
	if err != nil {
		return nil, fmt.Errorf("reading the target list: %w", err)
	}
	list, err := targets.Parse(src.Filename, src.Data)
	if err != nil {
		return nil, err
	}
	if list, err = Select(list, bc.BuildArgs); err != nil {
		return nil, err
	}
	env := map[string]string{}
	for _, k := range graph.PassThroughEnv {
		if v, ok := bc.BuildArgs[k]; ok {
			env[k] = v
		}
	}

	refs := []string{list.Go.Full}
	for _, t := range list.Targets {
		refs = append(refs, t.Image.Full)
	}
	platform := graph.DefaultPlatform()
	switch {
	case len(bc.TargetPlatforms) > 0:
		platform = bc.TargetPlatforms[0]
	case len(bc.BuildPlatforms) > 0:
		platform = bc.BuildPlatforms[0]
	}
	resolved, unresolved := build.ResolveImages(ctx, c, refs, platform)
	if err, bad := unresolved[list.Go.Full]; bad {
		return nil, fmt.Errorf("%s", build.ImageCause("toolchain image", list.Go.Ref, err))
	}
	for _, t := range list.Targets {
		if err, bad := unresolved[t.Image.Full]; bad {
			return nil, fmt.Errorf("target %s: %s", t.Name, build.ImageCause("image", t.Image.Ref, err))
		}
	}
	g, err := graph.Build(list, graph.Options{Env: env, Images: resolved})
	if err != nil {
		return nil, err
	}
	def, err := g.Output.Marshal(ctx, llb.Platform(platform))
	if err != nil {
		return nil, fmt.Errorf("marshalling the graph: %w", err)
	}
	res, err := c.Solve(ctx, gateway.SolveRequest{Definition: def.ToPB()})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// Select applies the build arguments to a parsed list: TARGETS picks a
// subset (every name must exist), HELPER_VERSION overrides the version.
func Select(list *targets.List, args map[string]string) (*targets.List, error) {
	out := *list
	if v := strings.TrimSpace(args[ArgHelperVersion]); v != "" {
		if err := out.SetHelperVersion(v, "build-arg:"+ArgHelperVersion); err != nil {
			return nil, err
		}
	}
	names := strings.TrimSpace(args[ArgTargets])
	if names == "" {
		return &out, nil
	}
	byName := map[string]targets.Target{}
	for _, t := range list.Targets {
		byName[t.Name] = t
	}
	out.Targets = nil
	seen := map[string]bool{}
	for _, n := range strings.Split(names, ",") {
		n = strings.TrimSpace(n)
		if n == "" || seen[n] {
			continue
		}
		t, ok := byName[n]
		if !ok {
			known := make([]string, 0, len(byName))
			for k := range byName {
				known = append(known, k)
			}
			sort.Strings(known)
			return nil, fmt.Errorf("build-arg:%s names %q, which is not a target of %s; known targets: %s", ArgTargets, n, list.File, strings.Join(known, ", "))
		}
		seen[n] = true
		out.Targets = append(out.Targets, t)
	}
	return &out, nil
}
